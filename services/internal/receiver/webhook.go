// Package receiver is the receiver stage (binary "receiver"): it takes dbt
// Cloud's job run webhooks over HTTP and stores each one on stream DBT_RUNS
// as a CloudEvent.
//
// POST /webhooks/dbt-cloud answers
//   - 202 once JetStream stored the event, 200 when it already had it (dbt
//     Cloud retries with the same eventId; the duplicate is stored once);
//   - 401 when the Authorization header is not the hex HMAC-SHA256 of the raw
//     body under any configured secret (several are valid during rotation);
//     nothing is stored;
//   - 400 for a body that is not a run webhook we can route, 413 for a body
//     over the size cap;
//   - 503 when JetStream cannot take the event in time, so that dbt retries.
//
// GET /healthz answers 200 while the process runs; GET /readyz answers 200
// only while JetStream answers. The handler never logs secrets or signatures.
package receiver

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/metrics"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/tracing"
)

// Receiver verifies and stores webhooks.
type Receiver struct {
	Secrets        [][]byte // any one of them may sign; empty rejects everything
	JS             jetstream.JetStream
	Log            *slog.Logger
	MaxBody        int64         // default 256 KiB
	PublishTimeout time.Duration // default 5s: dbt Cloud gives up after 10s
	Now            func() time.Time
	// Tracing starts a W3C trace for a webhook that comes without a
	// traceparent header; one that comes with it is always continued.
	Tracing bool
	// Metrics counts webhooks by outcome and times their publish; nil: none.
	Metrics *metrics.Metrics
	// Tracer exports a "receive" span per stored webhook; nil: none.
	Tracer *tracing.Tracer
}

func (r *Receiver) setDefaults() {
	if r.MaxBody <= 0 {
		r.MaxBody = 256 << 10
	}
	if r.PublishTimeout <= 0 {
		r.PublishTimeout = 5 * time.Second
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.Now == nil {
		r.Now = time.Now
	}
}

// Handler is the receiver's HTTP API.
func (r *Receiver) Handler() http.Handler {
	r.setDefaults()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST(dbtcloud.WebhookPath, r.handle, r.count)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", r.ready)
	return e
}

func (r *Receiver) handle(c echo.Context) error {
	req := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, r.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", r.MaxBody))
		}
		return echo.NewHTTPError(http.StatusBadRequest, "cannot read body")
	}
	if !ValidSignature(r.Secrets, body, req.Header.Get("Authorization")) {
		r.Log.Warn("webhook rejected: bad signature", "remote", c.RealIP(), "bytes", len(body))
		return echo.NewHTTPError(http.StatusUnauthorized, "signature does not match any configured webhook secret")
	}
	w, err := events.ParseRunWebhook(body)
	if err != nil {
		r.Log.Warn("webhook rejected: unroutable", "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	ref := w.Ref()
	at := w.Timestamp
	if at.IsZero() {
		at = r.Now()
	}
	trace := events.ParseTrace(req.Header.Get(events.ExtTraceParent), req.Header.Get(events.ExtTraceState))
	own := trace.Continue(r.Tracing)
	m, err := events.NewRunEvent(w, body, at, 1, own)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	ctx, span := r.Tracer.Start(req.Context(), "receive", trace, own, attribute.String("dbt.event_id", w.EventID),
		attribute.String("dbt.event_type", w.EventType), attribute.Int64("dbt.run_id", ref.RunID))
	ctx, cancel := context.WithTimeout(ctx, r.PublishTimeout)
	defer cancel()
	start := time.Now()
	ack, err := publish.Event(ctx, r.JS, m)
	r.Metrics.WebhookPublished(time.Since(start))
	tracing.End(span, err)
	if err != nil {
		r.Log.Error("webhook not stored; dbt Cloud will retry", "event_id", w.EventID, "err", err)
		return echo.NewHTTPError(http.StatusServiceUnavailable, "event store unavailable; retry later")
	}
	r.Log.Info("webhook stored", "event_id", w.EventID, "type", w.EventType, "account", ref.AccountID,
		"job", ref.JobID, "run", ref.RunID, "seq", ack.Sequence, "duplicate", ack.Duplicate)
	if ack.Duplicate {
		return c.JSON(http.StatusOK, map[string]any{"event_id": w.EventID, "duplicate": true})
	}
	return c.JSON(http.StatusAccepted, map[string]any{"event_id": w.EventID, "stream_seq": ack.Sequence})
}

// count is the webhook route's middleware that counts each answer by outcome.
func (r *Receiver) count(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		code := c.Response().Status
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code = he.Code
		} else if err != nil {
			code = http.StatusInternalServerError
		}
		r.Metrics.Webhook(metrics.WebhookOutcome(code))
		return err
	}
}

func (r *Receiver) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if _, err := r.JS.Stream(ctx, events.StreamRuns); err != nil {
		return c.String(http.StatusServiceUnavailable, "jetstream unavailable\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

// ValidSignature reports whether header is the lowercase (or uppercase) hex
// HMAC-SHA256 of body under any of secrets, compared in constant time.
func ValidSignature(secrets [][]byte, body []byte, header string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(header))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := false
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, s)
		mac.Write(body)
		if hmac.Equal(got, mac.Sum(nil)) {
			ok = true // keep going: the time taken does not say which secret matched
		}
	}
	return ok
}

// Sign is the Authorization header dbt Cloud sends for body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// ServeOptions say where and how Serve listens.
type ServeOptions struct {
	Addr string // host:port; port 0 picks a free one
	// CertFile and KeyFile (PEM) make Serve answer HTTPS only; both or neither.
	CertFile, KeyFile string
	// ReadHeaderTimeout bounds the wait for a request's headers (default 5s),
	// ReadTimeout for the whole request with its body (default 15s): a client
	// that dribbles either is cut off then, and holds only its own goroutine
	// and connection meanwhile.
	ReadHeaderTimeout, ReadTimeout time.Duration
	Log                            *slog.Logger
	// Ready, if set, gets the bound address once Serve accepts connections.
	Ready func(net.Addr)
}

// Serve runs h as o says until ctx is cancelled, then stops taking requests
// and waits up to 10s for those in flight.
func Serve(ctx context.Context, h http.Handler, o ServeOptions) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cmp.Or(o.ReadHeaderTimeout, 5*time.Second),
		ReadTimeout:       cmp.Or(o.ReadTimeout, 15*time.Second),
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return errors.New("webhook: TLS needs both a certificate and a key file")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return fmt.Errorf("webhook: load TLS certificate %s and key %s: %w", o.CertFile, o.KeyFile, err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("webhook: listen on %s: %w", o.Addr, err)
	}
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("webhook: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("webhook: shutdown: %w", err)
	}
	return nil
}
