package devcloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Run serves the simulator on listen (":0" picks a port) until ctx is
// done, then shuts down gracefully within 5 s. Once listening it calls
// ready with the base URL and, if cfg.WebhookURL is set, delivers
// job.run.started, then job.run.errored for an errored run, then
// job.run.completed; a failed delivery is logged, not returned.
func Run(ctx context.Context, cfg Config, listen string, ready func(baseURL string)) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("devcloud: listen: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	base := baseURL(ln.Addr())
	if len(s.cfg.Accounts) > 0 {
		s.log.Info("devcloud: serving", "url", base, "accounts", len(s.accounts), "runs", len(s.runs))
	} else {
		s.log.Info("devcloud: serving", "url", base, "account", s.cfg.AccountID, "job", s.cfg.JobID, "run", s.cfg.RunID)
	}
	if ready != nil {
		ready(base)
	}
	var wg sync.WaitGroup
	if s.cfg.WebhookURL != "" {
		wg.Go(func() { s.deliverRun(ctx) })
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("devcloud: serve: %w", serveErr)
	}
	if shutErr != nil {
		return fmt.Errorf("devcloud: shutdown: %w", shutErr)
	}
	return nil
}

// deliverRun sends the run's webhooks in the order dbt Cloud does.
func (s *Server) deliverRun(ctx context.Context) {
	events := []string{EventRunStarted}
	if s.cfg.RunStatus == statusError {
		events = append(events, EventRunErrored)
	}
	events = append(events, EventRunCompleted)
	for _, ev := range events {
		if _, err := s.Deliver(ctx, ev); err != nil {
			s.log.Error("devcloud: webhook not delivered", "event_type", ev, "err", err)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// baseURL is the http URL of addr, with a loopback host for a wildcard one.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
