package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
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

// pipelineFetcher is a fetcher for one account writing into the running
// pipeline's object store, streams and ledger; with tracing, each run starts
// a trace.
func pipelineFetcher(ctx context.Context, js jetstream.JetStream, c *dbtcloud.Client, tracing bool, log *slog.Logger) (*fetcher.Fetcher, error) {
	const hint = " (is `harvester serve` running against this NATS? `harvester doctor` checks it)"
	store, err := js.ObjectStore(ctx, events.BucketArtifacts)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w%s", events.BucketArtifacts, err, hint)
	}
	l, err := ledger.Open(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, hint)
	}
	return &fetcher.Fetcher{JS: js, Store: store, Ledger: l, Clients: map[int64]*dbtcloud.Client{c.AccountID(): c},
		Log: log, Tracing: tracing}, nil
}
