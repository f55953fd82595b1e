// Package config reads the harvester's configuration from the environment
// (flags in main may override single values). Secrets (API tokens, webhook
// secrets) are held as [Secret], which never prints: not with %v, %+v, %#v,
// nor through slog or encoding/json.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/topology"
	"github.com/dbt-harvester/harvester/services/internal/tracing"
)

// Secret is a credential. Reveal returns it; everything else prints "[redacted]".
type Secret string

const redacted = "[redacted]"

// String, GoString, LogValue and MarshalText are "[redacted]", so that a
// Secret printed, logged or encoded by mistake says nothing.
func (s Secret) String() string { return redacted }

// GoString is "[redacted]" (see String).
func (s Secret) GoString() string { return redacted }

// LogValue is "[redacted]" (see String).
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText is "[redacted]" (see String).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Reveal is the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// Account is one dbt Cloud account the harvester fetches from.
type Account struct {
	ID        int64
	AccessURL string
	Token     Secret
	// WebhookSecrets are the secrets of this account's webhook
	// subscriptions; Config.WebhookSecrets holds every account's.
	WebhookSecrets []Secret
	// Include and Exclude filter the runs harvested (see Skip); empty
	// harvests every run of the account.
	Include, Exclude Selector
	// Cooldown is how long the account's requests wait after a 429 without
	// Retry-After (HARVESTER_DBT_COOLDOWN); 0 is dbt's five minutes.
	Cooldown time.Duration
}

// Config is everything the services need.
type Config struct {
	Accounts       []Account
	WebhookSecrets []Secret
	HTTPAddr       string
	// TLSCert and TLSKey (HARVESTER_TLS_CERT, HARVESTER_TLS_KEY) make the
	// receiver serve HTTPS; both or neither.
	TLSCert, TLSKey string
	NATS            natsconn.Options
	Topology        topology.Config
	IncludeCode     bool
	Tracing         bool // HARVESTER_TRACING (or OTel on): start a W3C trace per run that comes without one
	// MetricsAddr is HARVESTER_METRICS_ADDR: an address for /metrics,
	// /healthz and /readyz beside the receiver's port ("" for none).
	MetricsAddr string
	// OTel is where spans are exported (OTEL_EXPORTER_OTLP_ENDPOINT ...);
	// the zero value exports none.
	OTel        tracing.Options
	OpenLineage OpenLineage
	LogLevel    slog.Level
	LogJSON     bool
	// Warnings are problems worth logging at start that do not stop it
	// (an access URL on a retired shared host).
	Warnings []string
}

// Load reads the configuration from getenv. A value NAME may also come from
// the file named by NAME_FILE (for the token and webhook secrets). With
// HARVESTER_CONFIG, the accounts of that YAML file are added (see LoadFile);
// the environment's account is added too unless the file has its ID, and
// WebhookSecrets is the union of every account's and the environment's.
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	c := Config{
		HTTPAddr:    cmp.Or(getenv("HARVESTER_HTTP_ADDR"), ":8080"),
		TLSCert:     getenv("HARVESTER_TLS_CERT"),
		TLSKey:      getenv("HARVESTER_TLS_KEY"),
		IncludeCode: isTrue(getenv("HARVESTER_INCLUDE_CODE")),
		Tracing:     isTrue(getenv("HARVESTER_TRACING")),
		MetricsAddr: strings.TrimSpace(getenv("HARVESTER_METRICS_ADDR")),
		OTel:        tracing.FromEnv(getenv, ""),
		LogJSON:     getenv("HARVESTER_LOG_FORMAT") == "json",
		NATS: natsconn.Options{
			URL:          getenv("NATS_URL"),
			User:         getenv("NATS_USER"),
			ServerConfig: getenv("HARVESTER_NATS_CONFIG"),
			CredsFile:    getenv("NATS_CREDS"),
			NKeyFile:     getenv("NATS_NKEY"),
			TLSCA:        getenv("NATS_CA"),
			TLSCert:      getenv("NATS_CERT"),
			TLSKey:       getenv("NATS_KEY"),
			StoreDir:     cmp.Or(getenv("HARVESTER_STORE_DIR"), "./data"),
			Listen:       cmp.Or(getenv("HARVESTER_NATS_LISTEN"), "127.0.0.1:4222"),
		},
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("HARVESTER_TLS_CERT and HARVESTER_TLS_KEY go together: set both (HTTPS) or neither (HTTP)"))
	}
	natsPassword, err := secretVar(getenv, "NATS_PASSWORD")
	errs = append(errs, err)
	c.NATS.Password = natsconn.Password(natsPassword)
	c.Tracing = c.Tracing || c.OTel.Enabled() // exported spans need a trace for every run
	switch v := strings.ToLower(getenv("HARVESTER_NATS_SYNC")); v {
	case "", "always":
	case "default", "fast":
		c.NATS.FastSync = true
	default:
		errs = append(errs, fmt.Errorf("HARVESTER_NATS_SYNC=%q: want always or default", v))
	}
	if err := c.LogLevel.UnmarshalText([]byte(cmp.Or(getenv("HARVESTER_LOG_LEVEL"), "info"))); err != nil {
		errs = append(errs, fmt.Errorf("HARVESTER_LOG_LEVEL: %w", err))
	}
	c.Topology.Replicas = intVar(getenv, "HARVESTER_STREAM_REPLICAS", &errs)
	c.Topology.RunsMaxAge = durVar(getenv, "HARVESTER_RUNS_MAX_AGE", &errs)
	c.Topology.ArtifactsMaxAge = durVar(getenv, "HARVESTER_ARTIFACTS_MAX_AGE", &errs)
	c.Topology.MetadataMaxAge = durVar(getenv, "HARVESTER_METADATA_MAX_AGE", &errs)
	c.Topology.MetadataMaxBytes = int64(intVar(getenv, "HARVESTER_METADATA_MAX_BYTES", &errs))
	c.Topology.FetcherAckWait = durVar(getenv, "HARVESTER_FETCHER_ACK_WAIT", &errs)
	c.Topology.FetcherMaxDeliver = intVar(getenv, "HARVESTER_FETCHER_MAX_DELIVER", &errs)
	c.Topology.OpenLineageMaxAge = durVar(getenv, "HARVESTER_OPENLINEAGE_MAX_AGE", &errs)
	ol, err := loadOpenLineage(getenv)
	errs = append(errs, err)
	c.OpenLineage, c.Topology.OpenLineageHTTP = ol, ol.URL != ""
	c.Topology.NormalizerAckWait = durVar(getenv, "HARVESTER_NORMALIZER_ACK_WAIT", &errs)

	secrets, err := secretVar(getenv, "DBT_CLOUD_WEBHOOK_SECRET")
	errs = append(errs, err)
	for _, s := range strings.Split(secrets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.WebhookSecrets = append(c.WebhookSecrets, Secret(s))
		}
	}
	if path := getenv(EnvConfigFile); path != "" {
		accounts, warnings, err := LoadFile(path, getenv)
		errs = append(errs, err)
		c.Accounts = append(c.Accounts, accounts...)
		c.Warnings = append(c.Warnings, warnings...)
	}
	acct, warn, err := account(getenv)
	errs = append(errs, err)
	if acct != nil && !slices.ContainsFunc(c.Accounts, func(a Account) bool { return a.ID == acct.ID }) {
		c.Accounts = append(c.Accounts, *acct)
		if warn != "" {
			c.Warnings = append(c.Warnings, warn)
		}
	}
	cooldown := durVar(getenv, "HARVESTER_DBT_COOLDOWN", &errs)
	for i := range c.Accounts {
		c.Accounts[i].Cooldown = cooldown
	}
	for _, a := range c.Accounts {
		for _, s := range a.WebhookSecrets {
			if !slices.Contains(c.WebhookSecrets, s) {
				c.WebhookSecrets = append(c.WebhookSecrets, s)
			}
		}
	}
	return c, errors.Join(errs...)
}

// account reads the one account of the environment, if DBT_CLOUD_ACCOUNT_ID
// is set, and a warning about its access URL.
func account(getenv func(string) string) (*Account, string, error) {
	idText := getenv("DBT_CLOUD_ACCOUNT_ID")
	if idText == "" {
		return nil, "", nil
	}
	id, err := strconv.ParseInt(strings.TrimSpace(idText), 10, 64)
	if err != nil || id <= 0 {
		return nil, "", fmt.Errorf("DBT_CLOUD_ACCOUNT_ID=%q: want a positive integer", idText)
	}
	token, err := secretVar(getenv, "DBT_CLOUD_API_TOKEN")
	if err != nil {
		return nil, "", err
	}
	a := &Account{ID: id, AccessURL: strings.TrimRight(strings.TrimSpace(getenv("DBT_CLOUD_ACCESS_URL")), "/"), Token: Secret(strings.TrimSpace(token))}
	switch {
	case a.AccessURL == "":
		return nil, "", errors.New("DBT_CLOUD_ACCESS_URL is required with DBT_CLOUD_ACCOUNT_ID (your account's access URL, e.g. https://ab123.us1.dbt.com, from Account settings)")
	case a.Token == "":
		return nil, "", errors.New("DBT_CLOUD_API_TOKEN (or DBT_CLOUD_API_TOKEN_FILE) is required with DBT_CLOUD_ACCOUNT_ID")
	}
	warn, err := CheckAccessURL(a.AccessURL)
	if err != nil {
		return nil, "", fmt.Errorf("DBT_CLOUD_ACCESS_URL: %w", err)
	}
	if warn != "" {
		warn = fmt.Sprintf("account %d: %s", id, warn)
	}
	return a, warn, nil
}

// secretVar reads NAME, or the file named by NAME_FILE.
func secretVar(getenv func(string) string, name string) (string, error) {
	if v := getenv(name); v != "" {
		return v, nil
	}
	path := getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func intVar(getenv func(string) string, name string, errs *[]error) int {
	v := getenv(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a non-negative integer", name, v))
	}
	return n
}

func durVar(getenv func(string) string, name string, errs *[]error) time.Duration {
	v := getenv(name)
	if v == "" {
		return 0
	}
	if strings.HasSuffix(v, "d") { // days, for retention
		n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
		if err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a duration such as 720h or 30d", name, v))
	}
	return d
}

func isTrue(v string) bool {
	b, _ := strconv.ParseBool(v)
	return b
}

// NewLogger is the process's logger: text (or JSON) on w at the configured level.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
