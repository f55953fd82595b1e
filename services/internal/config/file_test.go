package config

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fullFile = `
accounts:
  - id: 70403103922125
    access_url: https://ab123.us1.dbt.com/
    token_env: PROD_TOKEN
    webhook_secrets:
      - inline-secret
      - env: HOOK_SECRET
      - file: hook.secret
    include:
      projects: [analytics, 70403103926818]
      environments: ["Production"]
    exclude:
      jobs: ["CI check", 42]
  - id: 2
    access_url: http://127.0.0.1:8090
    token_file: token.txt
    webhook_secrets: [{value: second-inline}]
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"h.yaml": fullFile, "hook.secret": "file-secret\n", "token.txt": " tok2 \n"})
	getenv := env(map[string]string{
		EnvConfigFile: filepath.Join(dir, "h.yaml"), "PROD_TOKEN": "tok1", "HOOK_SECRET": "env-secret",
		// The environment's account: 2 is in the file (the file wins), so it is not added twice.
		"DBT_CLOUD_ACCOUNT_ID": "2", "DBT_CLOUD_ACCESS_URL": "https://other.us1.dbt.com", "DBT_CLOUD_API_TOKEN": "envtok",
		"DBT_CLOUD_WEBHOOK_SECRET": "env-account-secret",
	})
	c, err := Load(getenv)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if len(c.Accounts) != 2 {
		t.Fatalf("accounts = %d, want 2", len(c.Accounts))
	}
	a, b := c.Accounts[0], c.Accounts[1]
	if a.ID != 70403103922125 || a.AccessURL != "https://ab123.us1.dbt.com" || a.Token.Reveal() != "tok1" {
		t.Errorf("account 1 = %d %s %q", a.ID, a.AccessURL, a.Token.Reveal())
	}
	if b.ID != 2 || b.AccessURL != "http://127.0.0.1:8090" || b.Token.Reveal() != "tok2" {
		t.Errorf("account 2 = %d %s %q", b.ID, b.AccessURL, b.Token.Reveal())
	}
	var got []string
	for _, s := range c.WebhookSecrets {
		got = append(got, s.Reveal())
	}
	if want := "env-account-secret,inline-secret,env-secret,file-secret,second-inline"; strings.Join(got, ",") != want {
		t.Errorf("webhook secrets = %v, want %s (the union)", got, want)
	}
	if len(a.Include.Projects) != 2 || a.Include.Projects[0].Name != "analytics" || a.Include.Projects[1].ID != 70403103926818 {
		t.Errorf("include projects = %+v", a.Include.Projects)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings = %q, want none", c.Warnings)
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, file, wantErr string
	}{
		{"unknown key", "accounts:\n  - id: 1\n    acess_url: https://x.us1.dbt.com\n    token: t\n", "acess_url"},
		{"no token", "accounts:\n  - id: 1\n    access_url: https://x.us1.dbt.com\n", "one of token"},
		{"two token sources", "accounts:\n  - id: 1\n    access_url: https://x.us1.dbt.com\n    token: a\n    token_env: B\n", "one of an inline value"},
		{"unset env", "accounts:\n  - id: 1\n    access_url: https://x.us1.dbt.com\n    token_env: NOPE\n", "NOPE is empty or unset"},
		{"missing file", "accounts:\n  - id: 1\n    access_url: https://x.us1.dbt.com\n    token_file: nope.txt\n", "nope.txt"},
		{"plain http", "accounts:\n  - id: 1\n    access_url: http://x.us1.dbt.com\n    token: t\n", "use https"},
		{"no url", "accounts:\n  - id: 1\n    token: t\n", "access_url: required"},
		{"bad id", "accounts:\n  - id: 0\n    access_url: https://x.us1.dbt.com\n    token: t\n", "positive"},
		{"twice", "accounts:\n  - {id: 1, access_url: 'https://x.us1.dbt.com', token: t}\n  - {id: 1, access_url: 'https://x.us1.dbt.com', token: t}\n", "listed twice"},
		{"bad filter", "accounts:\n  - id: 1\n    access_url: https://x.us1.dbt.com\n    token: t\n    include: {jobs: [[1]]}\n", "ID or a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"h.yaml": tt.file})
			_, err := Load(env(map[string]string{EnvConfigFile: filepath.Join(dir, "h.yaml")}))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	dir := writeFiles(t, map[string]string{"h.yaml": "accounts:\n  - id: 1\n    access_url: https://x.us1.dbt.com\n    token: sekrit-token\n    webhook_secrets: [sekrit-hook]\n"})
	c, err := Load(env(map[string]string{EnvConfigFile: filepath.Join(dir, "h.yaml")}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "accounts", c.Accounts, "secrets", c.WebhookSecrets)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", c, c, c), b.String()} {
		if strings.Contains(s, "sekrit") {
			t.Fatalf("a secret is printed: %s", s)
		}
	}
}

func TestAccessURLWarnings(t *testing.T) {
	tests := []struct {
		url, warn, err string
	}{
		{"https://ab123.us1.dbt.com", "", ""},
		{"https://ab123.eu2.dbt.com", "", ""},
		{"https://cloud.acme.getdbt.com", "", ""}, // single tenant
		{"http://localhost:8090", "", ""},
		{"http://[::1]:8090", "", ""},
		{"https://cloud.getdbt.com", "cloud.getdbt.com is a retired shared host", ""},
		{"https://emea.dbt.com", "emea.dbt.com is a retired shared host", ""},
		{"https://AU.dbt.com/", "au.dbt.com is a retired shared host", ""},
		{"http://10.0.0.1", "", "use https"},
		{"ftp://x.us1.dbt.com", "", "scheme"},
		{"https://user:pw@x.us1.dbt.com", "", "not a URL"},
	}
	for _, tt := range tests {
		warn, err := CheckAccessURL(strings.TrimRight(tt.url, "/"))
		if !strings.Contains(fmt.Sprint(err), tt.err) || (tt.err == "") != (err == nil) {
			t.Errorf("CheckAccessURL(%s) error = %v, want %q", tt.url, err, tt.err)
		}
		if !strings.Contains(warn, tt.warn) || (tt.warn == "") != (warn == "") {
			t.Errorf("CheckAccessURL(%s) warning = %q, want %q", tt.url, warn, tt.warn)
		}
	}
	// The environment's account is checked, and warned about, too.
	c, err := Load(env(map[string]string{"DBT_CLOUD_ACCOUNT_ID": "5", "DBT_CLOUD_ACCESS_URL": "https://cloud.getdbt.com", "DBT_CLOUD_API_TOKEN": "t"}))
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "account 5: cloud.getdbt.com is a retired shared host") {
		t.Errorf("Load retired env host = %v, warnings %q", err, c.Warnings)
	}
}

func TestSkip(t *testing.T) {
	a := Account{
		Include: Selector{Projects: []Match{{Name: "analytics"}, {ID: 7}}, Environments: []Match{{ID: 200, Name: "200"}}},
		Exclude: Selector{Jobs: []Match{{Name: "ci check"}, {ID: 42}}},
	}
	tests := []struct {
		name string
		s    Subject
		want string
	}{
		{"included by project name", Subject{ProjectID: 1, ProjectName: "Analytics", EnvironmentID: 200, JobID: 300}, ""},
		{"included by project ID", Subject{ProjectID: 7, EnvironmentID: 200, JobID: 300}, ""},
		{"project not included", Subject{ProjectID: 8, ProjectName: "other", EnvironmentID: 200, JobID: 300}, ReasonProjectNotIncluded},
		{"environment not included", Subject{ProjectID: 7, EnvironmentID: 201, EnvironmentName: "Staging", JobID: 300}, ReasonEnvironmentNotIncluded},
		{"job excluded by name", Subject{ProjectID: 7, EnvironmentID: 200, JobID: 300, JobName: "CI Check"}, ReasonJobExcluded},
		{"job excluded by ID", Subject{ProjectID: 7, EnvironmentID: 200, JobID: 42}, ReasonJobExcluded},
	}
	for _, tt := range tests {
		if got := a.Skip(tt.s); got != tt.want {
			t.Errorf("%s: Skip = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := (Account{}).Skip(Subject{ProjectID: 1}); got != "" {
		t.Errorf("no filters: Skip = %q, want harvest", got)
	}
}
