package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{"defaults", nil, "", func(t *testing.T, c Config) {
			if c.HTTPAddr != ":8080" || c.NATS.StoreDir != "./data" || c.NATS.Listen != "127.0.0.1:4222" || c.NATS.FastSync || len(c.Accounts) != 0 || c.Tracing {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{"one account, rotated secrets", map[string]string{
			"DBT_CLOUD_ACCOUNT_ID": "70403103922125", "DBT_CLOUD_ACCESS_URL": "https://ab123.us1.dbt.com/",
			"DBT_CLOUD_API_TOKEN": "tok", "DBT_CLOUD_WEBHOOK_SECRET": "a, b", "HARVESTER_METADATA_MAX_AGE": "30d",
		}, "", func(t *testing.T, c Config) {
			a := c.Accounts[0]
			if a.ID != 70403103922125 || a.AccessURL != "https://ab123.us1.dbt.com" || a.Token.Reveal() != "tok" {
				t.Errorf("account = %#v (token %q)", a, a.Token.Reveal())
			}
			if len(c.WebhookSecrets) != 2 || c.WebhookSecrets[1].Reveal() != "b" {
				t.Errorf("secrets = %d", len(c.WebhookSecrets))
			}
			if c.Topology.MetadataMaxAge != 30*24*time.Hour {
				t.Errorf("metadata max age = %v", c.Topology.MetadataMaxAge)
			}
		}},
		{"token from file", map[string]string{
			"DBT_CLOUD_ACCOUNT_ID": "1", "DBT_CLOUD_ACCESS_URL": "https://x.us1.dbt.com", "DBT_CLOUD_API_TOKEN_FILE": secretFile,
		}, "", func(t *testing.T, c Config) {
			if got := c.Accounts[0].Token.Reveal(); got != "file-token" {
				t.Errorf("token = %q, want file-token", got)
			}
		}},
		{"no access url", map[string]string{"DBT_CLOUD_ACCOUNT_ID": "1", "DBT_CLOUD_API_TOKEN": "t"}, "DBT_CLOUD_ACCESS_URL is required", nil},
		{"bad account", map[string]string{"DBT_CLOUD_ACCOUNT_ID": "x"}, "want a positive integer", nil},
		{"bad sync", map[string]string{"HARVESTER_NATS_SYNC": "never"}, "want always or default", nil},
		{"tracing", map[string]string{"HARVESTER_TRACING": "1"}, "", func(t *testing.T, c Config) {
			if !c.Tracing {
				t.Error("Tracing = false, want true")
			}
		}},
		{"NATS credentials and server config", map[string]string{
			"NATS_USER": "harvester", "NATS_PASSWORD_FILE": secretFile, "HARVESTER_NATS_CONFIG": "deploy/nats/auth.conf",
			"NATS_NKEY": "/run/nk", "NATS_CREDS": "/run/creds", "NATS_CA": "ca.pem", "NATS_CERT": "c.pem", "NATS_KEY": "k.pem",
		}, "", func(t *testing.T, c Config) {
			n := c.NATS
			if n.User != "harvester" || n.Password != "file-token" || n.ServerConfig != "deploy/nats/auth.conf" ||
				n.NKeyFile != "/run/nk" || n.CredsFile != "/run/creds" || n.TLSCA != "ca.pem" || n.TLSCert != "c.pem" || n.TLSKey != "k.pem" {
				t.Errorf("NATS options = %+v (password %q)", n, string(n.Password))
			}
		}},
		{"receiver TLS", map[string]string{"HARVESTER_TLS_CERT": "cert.pem", "HARVESTER_TLS_KEY": "key.pem"}, "", func(t *testing.T, c Config) {
			if c.TLSCert != "cert.pem" || c.TLSKey != "key.pem" {
				t.Errorf("TLS files = %q, %q", c.TLSCert, c.TLSKey)
			}
		}},
		{"receiver TLS cert without key", map[string]string{"HARVESTER_TLS_CERT": "cert.pem"}, "HARVESTER_TLS_CERT and HARVESTER_TLS_KEY go together", nil},
		{"fast sync", map[string]string{"HARVESTER_NATS_SYNC": "default"}, "", func(t *testing.T, c Config) {
			if !c.NATS.FastSync {
				t.Error("FastSync = false, want true")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := Config{Accounts: []Account{{ID: 1, Token: "sekrit-token"}}, WebhookSecrets: []Secret{"sekrit-hook"}}
	c.NATS.Password = "sekrit-nats"
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("cfg", "cfg", c, "tok", c.Accounts[0].Token)
	j, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), sb.String(), string(j)} {
		if strings.Contains(out, "sekrit") {
			t.Errorf("secret printed: %s", out)
		}
	}
}
