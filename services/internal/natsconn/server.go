package natsconn

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// ShippedConfig is the config file with users that the repository ships, named
// in the error of a server that would listen beyond loopback without them.
const ShippedConfig = "deploy/nats/auth.conf"

// CheckEmbedded reads opts.ServerConfig and checks the embedded server opts
// describe as Connect would, without starting it: the file parses, and the
// server would not accept unauthenticated clients beyond loopback.
func CheckEmbedded(opts Options) error {
	opts.setDefaults()
	sopts, err := serverOptions(opts)
	if err != nil {
		return err
	}
	return checkExposure(sopts)
}

// serverOptions are the embedded server's options: those of
// opts.ServerConfig, if set, merged with the harvester's. The file wins for
// what it sets (its listen host and port, each on its own; store_dir;
// sync_interval; server_name; max_payload); the harvester fills in the rest
// (opts.Listen, opts.StoreDir, fsync before ack unless opts.FastSync, a 1 MiB
// max payload). JetStream is always on and signals are the process's.
func serverOptions(opts Options) (*server.Options, error) {
	host, portText, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("natsconn: listen address %q: %w", opts.Listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("natsconn: listen port %q: %w", portText, err)
	}
	sopts := &server.Options{}
	if opts.ServerConfig != "" {
		if sopts, err = server.ProcessConfigFile(opts.ServerConfig); err != nil {
			return nil, fmt.Errorf("natsconn: nats config %s: %w", opts.ServerConfig, configError(err))
		}
	}
	if sopts.Host == "" {
		sopts.Host = host
	}
	if sopts.Port == 0 {
		sopts.Port = port
	}
	if sopts.StoreDir == "" {
		sopts.StoreDir = opts.StoreDir
	}
	if !sopts.SyncAlways && sopts.SyncInterval == 0 {
		sopts.SyncAlways = !opts.FastSync
	}
	if sopts.ServerName == "" {
		sopts.ServerName = opts.Name
	}
	if sopts.MaxPayload == 0 {
		sopts.MaxPayload = 1 << 20
	}
	if sopts.StreamMaxBufferedSize == 0 {
		// A stream's ingest queue (default 128 MiB) must hold what one
		// object store Put keeps in flight: nats.go sends up to 4000
		// unacknowledged 128 KiB chunks (512 MiB). With fsync per write
		// on a slow disk the queue otherwise fills while a large
		// manifest is stored, and the Put fails with 429 too many
		// requests, again on every redelivery.
		sopts.StreamMaxBufferedSize = maxObjectInFlight
	}
	sopts.JetStream = true
	sopts.NoSigs = true
	return sopts, nil
}

// maxObjectInFlight is the embedded server's ingest queue per stream.
const maxObjectInFlight = 640 << 20

// configError is err without what follows "could not be parsed": nats-server
// quotes there the part of an environment variable's value it could not read,
// and such a variable is usually a password.
func configError(err error) error {
	msg := err.Error()
	i := strings.Index(msg, "could not be parsed")
	if i < 0 {
		return err
	}
	return errors.New(msg[:i] + "could not be parsed (value not shown): a password from the environment must be one " +
		"word (no spaces, ',', ';', '}'), and not a number, boolean or date; `openssl rand -hex 24` makes one")
}

// checkExposure refuses a server that accepts clients on an address other
// than loopback while any client may connect without credentials: anyone who
// reaches it could publish forged run events or delete the streams.
// Credentials are users or nkeys (in authorization or accounts), a token, an
// operator (JWT), auth callout or client certificates (tls verify); a
// no_auth_user counts only if its permissions are restricted.
func checkExposure(o *server.Options) error {
	if authRequired(o) {
		return nil
	}
	for _, l := range []struct {
		what string
		host string
		port int
	}{
		{"NATS clients", o.Host, o.Port},
		{"websocket clients", o.Websocket.Host, o.Websocket.Port},
		{"MQTT clients", o.MQTT.Host, o.MQTT.Port},
		{"leaf nodes", o.LeafNode.Host, o.LeafNode.Port},
	} {
		if l.port == 0 || isLoopback(l.host) {
			continue
		}
		addr := net.JoinHostPort(cmpOr(l.host, "0.0.0.0"), strconv.Itoa(max(l.port, 0)))
		return fmt.Errorf("natsconn: refusing to listen for %s on %s without authentication: anyone who reaches it "+
			"could publish forged run events or delete the streams. Give the embedded server users with "+
			"--nats-config FILE (env HARVESTER_NATS_CONFIG), e.g. %s (a harvester and a reader user; set "+
			"NATS_USER=harvester and NATS_PASSWORD for the services), or listen on 127.0.0.1 "+
			"(--nats-listen, env HARVESTER_NATS_LISTEN)", l.what, addr, ShippedConfig)
	}
	return nil
}

// authRequired reports whether every client connection must authenticate.
func authRequired(o *server.Options) bool {
	if o.NoAuthUser != "" {
		for _, u := range o.Users {
			if u.Username == o.NoAuthUser && u.Permissions == nil {
				return false // anonymous clients get full access
			}
		}
	}
	return o.Username != "" || o.Authorization != "" || len(o.Users) > 0 || len(o.Nkeys) > 0 ||
		len(o.TrustedOperators) > 0 || len(o.TrustedKeys) > 0 || o.AuthCallout != nil ||
		o.CustomClientAuthentication != nil || (o.TLSConfig != nil && o.TLSVerify)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
