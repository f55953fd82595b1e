// Package natsconn connects a service to NATS: to an external server or
// cluster when a URL is given, else to a nats-server embedded in the process
// with JetStream on local disk.
//
// The embedded server fsyncs every JetStream write before acknowledging it
// (sync_interval: always) unless Options.FastSync is set, so that "acked"
// means "on disk" (see ARCHITECTURE, Scale and failure). It listens for other
// NATS clients on Options.Listen so that subscribers can attach.
//
// With Options.ServerConfig the embedded server takes a nats-server config
// file (authorization, accounts, users with permissions, nkeys, TLS), read
// with nats-server's own parser and merged with what the harvester needs (see
// serverOptions). The embedded server refuses to listen on an address other
// than loopback unless clients must authenticate (see checkExposure), and the
// in-process connection of the services authenticates like an external one:
// with User and Password, NKeyFile or CredsFile.
//
// Connect returns a close function that owns the teardown: it drains the
// connection (pending publishes are flushed, subscriptions finish their
// buffered messages), waits for the drain, then shuts the embedded server
// down and waits for it.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options says where NATS is. The zero value embeds a server storing in ./data
// and listening on 127.0.0.1:4222.
type Options struct {
	// URL of an external NATS server or cluster (comma-separated); empty embeds one.
	URL string
	// Name of the client connection, shown in server monitoring.
	Name string
	// User and Password, CredsFile (a JWT and nkey seed) or NKeyFile (an nkey
	// seed) authenticate the services, to an external server or to the
	// embedded one when ServerConfig defines users.
	User                string
	Password            Password
	CredsFile, NKeyFile string
	// TLSCA verifies an external server's certificate; TLSCert and TLSKey are
	// the client certificate for servers that ask for one.
	TLSCA, TLSCert, TLSKey string
	// ServerConfig is a nats-server config file for the embedded server
	// (users, accounts, permissions, TLS). Its listen address, store_dir and
	// sync_interval win over Listen, StoreDir and FastSync; JetStream is always on.
	ServerConfig string
	// StoreDir is the embedded server's JetStream directory (default ./data).
	StoreDir string
	// Listen is the embedded server's client address (default 127.0.0.1:4222;
	// port -1 picks a free port).
	Listen string
	// FastSync turns off fsync-before-ack on the embedded server: faster, but
	// acknowledged messages can be lost on an OS crash or power loss.
	FastSync bool
	// Logger receives the embedded server's notices and the connection's events.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	o.Name = cmpOr(o.Name, "dbt-harvester")
	o.StoreDir = cmpOr(o.StoreDir, "./data")
	o.Listen = cmpOr(o.Listen, "127.0.0.1:4222")
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Password is a NATS password: it prints as "[redacted]" (with %v, %+v, %#v,
// slog and encoding/json) so that Options can be logged.
type Password string

// String is "[redacted]".
func (Password) String() string { return "[redacted]" }

// GoString is "[redacted]".
func (Password) GoString() string { return "[redacted]" }

// LogValue is "[redacted]".
func (Password) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalText is "[redacted]".
func (Password) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Conn is a connection and, when embedded, its server.
type Conn struct {
	NC     *nats.Conn
	Server *server.Server // nil when external
}

// ClientURL is where other processes reach this NATS: the embedded server's
// listen URL, or the external URL.
func (c *Conn) ClientURL() string {
	if c.Server != nil {
		return c.Server.ClientURL()
	}
	return c.NC.ConnectedUrl()
}

// Connect connects as opts say. The returned close function drains the
// connection and stops the embedded server; call it once.
func Connect(ctx context.Context, opts Options) (*Conn, func(), error) {
	opts.setDefaults()
	if opts.URL != "" {
		return connectExternal(ctx, opts)
	}
	return connectEmbedded(opts)
}

func connectExternal(ctx context.Context, opts Options) (*Conn, func(), error) {
	copts, err := authOptions(opts)
	if err != nil {
		return nil, nil, err
	}
	copts = append(clientOptions(opts), copts...)
	if opts.TLSCA != "" {
		copts = append(copts, nats.RootCAs(opts.TLSCA))
	}
	if opts.TLSCert != "" || opts.TLSKey != "" {
		copts = append(copts, nats.ClientCert(opts.TLSCert, opts.TLSKey))
	}
	var nc *nats.Conn
	for attempt := 1; ; attempt++ { // the server may still be starting
		nc, err = nats.Connect(opts.URL, copts...)
		if err == nil || attempt == 5 || ctx.Err() != nil {
			break
		}
		opts.Logger.Warn("nats connect failed; retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("natsconn: connect to %s: %w", redactURL(opts.URL), err)
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	return &Conn{NC: nc}, func() { drain(nc, closed) }, nil
}

// authOptions are the client options that authenticate the services.
func authOptions(opts Options) ([]nats.Option, error) {
	var copts []nats.Option
	if opts.User != "" {
		copts = append(copts, nats.UserInfo(opts.User, string(opts.Password)))
	}
	if opts.CredsFile != "" {
		copts = append(copts, nats.UserCredentials(opts.CredsFile))
	}
	if opts.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(opts.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("natsconn: read nkey seed file: %w", err)
		}
		copts = append(copts, o)
	}
	return copts, nil
}

func connectEmbedded(opts Options) (*Conn, func(), error) {
	sopts, err := serverOptions(opts)
	if err != nil {
		return nil, nil, err
	}
	if err := checkExposure(sopts); err != nil {
		return nil, nil, err
	}
	auth, err := authOptions(opts)
	if err != nil {
		return nil, nil, err
	}
	if authRequired(sopts) && len(auth) == 0 {
		return nil, nil, fmt.Errorf("natsconn: the embedded server's config %s requires authentication: %s", opts.ServerConfig, inProcessHint)
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, nil, fmt.Errorf("natsconn: new embedded server: %w", err)
	}
	ns.SetLoggerV2(serverLogger{opts.Logger}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, nil, errors.New("natsconn: embedded server not ready after 30s")
	}
	closed := make(chan struct{})
	copts := append(clientOptions(opts), nats.InProcessServer(ns),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	copts = append(copts, auth...)
	// In process there is no TLS (the server allows that), whatever the URL
	// other clients use: a tls:// URL would make the client insist on it.
	nc, err := nats.Connect("nats://"+strings.TrimPrefix(ns.ClientURL(), "tls://"), copts...)
	if err != nil {
		ns.Shutdown()
		if authRequired(sopts) && (errors.Is(err, nats.ErrAuthorization) || errors.Is(err, io.ErrClosedPipe)) {
			err = fmt.Errorf("%w (credentials refused? %s)", err, inProcessHint)
		}
		return nil, nil, fmt.Errorf("natsconn: connect in process: %w", err)
	}
	return &Conn{NC: nc, Server: ns}, func() {
		drain(nc, closed)
		ns.Shutdown()
		ns.WaitForShutdown()
	}, nil
}

const inProcessHint = "the services connect in process as NATS_USER with NATS_PASSWORD (or NATS_PASSWORD_FILE), " +
	"or with NATS_NKEY or NATS_CREDS: give them a user the config file defines"

func clientOptions(opts Options) []nats.Option {
	log := opts.Logger
	return []nats.Option{
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", redactURL(nc.ConnectedUrl())) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats async error", "subject", subject, "err", err)
		}),
	}
}

// drain flushes and closes nc, waiting at most nats.DrainTimeout (30s).
func drain(nc *nats.Conn, closed <-chan struct{}) {
	if nc.IsClosed() {
		return
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	<-closed
}

// redactURL drops passwords and tokens from (comma-separated) NATS URLs.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		u.User = url.User("***")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// serverLogger sends the embedded server's log to slog.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) {
	l.log.Info("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Warnf(format string, v ...any) {
	l.log.Warn("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Fatalf(format string, v ...any) {
	l.log.Error("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Errorf(format string, v ...any) {
	l.log.Error("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Debugf(format string, v ...any) {
	l.log.Debug("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Tracef(format string, v ...any) {}
