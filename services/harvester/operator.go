package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
)

// defaultNATSURL is where the operator commands find a running `harvester
// serve` when NATS_URL is not set.
const defaultNATSURL = "nats://127.0.0.1:4222"

// connectNATS connects an operator command to NATS_URL (default
// defaultNATSURL), never to an embedded server: the commands work on the
// pipeline a running serve (or cluster) owns.
func connectNATS(ctx context.Context, cfg config.Config, name string) (jetstream.JetStream, func(), error) {
	opts := cfg.NATS
	opts.URL = cmp.Or(opts.URL, defaultNATSURL)
	opts.Name = name
	conn, closeFn, err := natsconn.Connect(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(conn.NC)
	if err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, closeFn, nil
}

// pickAccount returns the configured account id, or the only one when id is 0.
func pickAccount(cfg config.Config, id int64) (config.Account, error) {
	switch {
	case len(cfg.Accounts) == 0:
		return config.Account{}, errors.New("no dbt Cloud account configured: set DBT_CLOUD_ACCOUNT_ID, DBT_CLOUD_ACCESS_URL and DBT_CLOUD_API_TOKEN (or the config file)")
	case id == 0 && len(cfg.Accounts) == 1:
		return cfg.Accounts[0], nil
	case id == 0:
		return config.Account{}, fmt.Errorf("%d accounts are configured: choose one with --account", len(cfg.Accounts))
	}
	for _, a := range cfg.Accounts {
		if a.ID == id {
			return a, nil
		}
	}
	return config.Account{}, fmt.Errorf("account %d is not configured", id)
}

// newClient is the Admin API client of a configured account.
func newClient(a config.Account) (*dbtcloud.Client, error) {
	c, err := dbtcloud.New(dbtcloud.Options{AccessURL: a.AccessURL, AccountID: a.ID, Token: a.Token.Reveal()})
	if err != nil {
		return nil, fmt.Errorf("account %d: %w", a.ID, err)
	}
	return c, nil
}

// accountClient loads the configuration and returns the chosen account's client.
func accountClient(getenv func(string) string, id int64) (config.Config, *dbtcloud.Client, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, nil, err
	}
	a, err := pickAccount(cfg, id)
	if err != nil {
		return cfg, nil, err
	}
	c, err := newClient(a)
	return cfg, c, err
}

// parseTime reads a date (2006-01-02, midnight UTC), an RFC 3339 time, or a
// duration before now (72h, 30d).
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02), an RFC 3339 time or a duration ago (72h, 30d)", s)
}

// timeFlag is a flag.Value for parseTime.
type timeFlag struct {
	t   time.Time
	now func() time.Time
}

func (f *timeFlag) String() string {
	if f == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	t, err := parseTime(s, f.now())
	if err != nil {
		return err
	}
	f.t = t
	return nil
}

// configFlag adds --config (env HARVESTER_CONFIG) to fs; call the result
// after parsing for getenv with the flag applied.
func configFlag(fs *flag.FlagSet, getenv func(string) string) func() func(string) string {
	path := fs.String("config", getenv(config.EnvConfigFile), "YAML configuration file with the dbt Cloud accounts (env HARVESTER_CONFIG)")
	return func() func(string) string { return config.WithFile(getenv, *path) }
}

// newFlagSet is a flag set that reports to stderr and shows usage, then flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: harvester %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseIDs reads a comma-separated list of dbt Cloud IDs.
func parseIDs(s string) ([]int64, error) {
	var ids []int64
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a dbt Cloud ID", part)
		}
		ids = append(ids, n)
	}
	return ids, nil
}
