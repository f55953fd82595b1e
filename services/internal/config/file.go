package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvConfigFile names the YAML configuration file (also --config).
const EnvConfigFile = "HARVESTER_CONFIG"

// WithFile returns getenv, except that HARVESTER_CONFIG answers path when
// path is not empty: how a --config flag overrides the environment.
func WithFile(getenv func(string) string, path string) func(string) string {
	if path == "" {
		return getenv
	}
	return func(k string) string {
		if k == EnvConfigFile {
			return path
		}
		return getenv(k)
	}
}

// Match is one entry of a filter list: a dbt Cloud ID or a name. A YAML
// integer is an ID; a string is a name, and a string of digits also matches
// that ID. Names match case-insensitively.
type Match struct {
	ID   int64
	Name string
}

// UnmarshalYAML reads an integer or a string.
func (m *Match) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) == "" {
		return fmt.Errorf("line %d: a filter entry is an ID or a name", n.Line)
	}
	v := strings.TrimSpace(n.Value)
	if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
		m.ID = id
		if n.Tag == "!!int" {
			return nil
		}
	}
	m.Name = v
	return nil
}

func (m Match) matches(id int64, name string) bool {
	if m.ID != 0 && m.ID == id {
		return true
	}
	return m.Name != "" && name != "" && strings.EqualFold(m.Name, strings.TrimSpace(name))
}

func (m Match) String() string {
	if m.Name != "" {
		return strconv.Quote(m.Name)
	}
	return strconv.FormatInt(m.ID, 10)
}

// Selector lists projects, environments and jobs by ID or name.
type Selector struct {
	Projects     []Match `yaml:"projects"`
	Environments []Match `yaml:"environments"`
	Jobs         []Match `yaml:"jobs"`
}

// Subject is what a filter judges: a run's IDs and, when known, names (from
// the webhook payload, or the run's job).
type Subject struct {
	ProjectID, EnvironmentID, JobID       int64
	ProjectName, EnvironmentName, JobName string
}

// Reasons a run of a configured account is not harvested.
const (
	ReasonProjectNotIncluded     = "project_not_included"
	ReasonEnvironmentNotIncluded = "environment_not_included"
	ReasonJobNotIncluded         = "job_not_included"
	ReasonProjectExcluded        = "project_excluded"
	ReasonEnvironmentExcluded    = "environment_excluded"
	ReasonJobExcluded            = "job_excluded"
)

// Filtered reports whether the account has any include or exclude filter.
func (a Account) Filtered() bool {
	for _, l := range [][]Match{a.Include.Projects, a.Include.Environments, a.Include.Jobs,
		a.Exclude.Projects, a.Exclude.Environments, a.Exclude.Jobs} {
		if len(l) > 0 {
			return true
		}
	}
	return false
}

// Skip reports why the account's filters leave s out ("" to harvest it).
// An empty include list admits everything of its kind; an exclude entry
// wins over an include entry.
func (a Account) Skip(s Subject) string {
	dims := []struct {
		include, exclude []Match
		id               int64
		name             string
		notIncluded, exc string
	}{
		{a.Include.Projects, a.Exclude.Projects, s.ProjectID, s.ProjectName, ReasonProjectNotIncluded, ReasonProjectExcluded},
		{a.Include.Environments, a.Exclude.Environments, s.EnvironmentID, s.EnvironmentName, ReasonEnvironmentNotIncluded, ReasonEnvironmentExcluded},
		{a.Include.Jobs, a.Exclude.Jobs, s.JobID, s.JobName, ReasonJobNotIncluded, ReasonJobExcluded},
	}
	for _, d := range dims {
		if anyMatch(d.exclude, d.id, d.name) {
			return d.exc
		}
		if len(d.include) > 0 && !anyMatch(d.include, d.id, d.name) {
			return d.notIncluded
		}
	}
	return ""
}

func anyMatch(list []Match, id int64, name string) bool {
	for _, m := range list {
		if m.matches(id, name) {
			return true
		}
	}
	return false
}

// secretRef is one secret in the file: an inline string, or {value|env|file: ...}.
type secretRef struct{ Value, Env, File string }

func (r *secretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		r.Value = n.Value
		return nil
	}
	var m struct {
		Value string `yaml:"value"`
		Env   string `yaml:"env"`
		File  string `yaml:"file"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	*r = secretRef(m)
	return nil
}

type fileAccount struct {
	ID             int64       `yaml:"id"`
	AccessURL      string      `yaml:"access_url"`
	Token          string      `yaml:"token"`
	TokenEnv       string      `yaml:"token_env"`
	TokenFile      string      `yaml:"token_file"`
	WebhookSecrets []secretRef `yaml:"webhook_secrets"`
	Include        Selector    `yaml:"include"`
	Exclude        Selector    `yaml:"exclude"`
}

type fileDoc struct {
	Accounts    []fileAccount   `yaml:"accounts"`
	OpenLineage fileOpenLineage `yaml:"openlineage"` // read by loadOpenLineage
}

// LoadFile reads the YAML configuration file at path: its accounts with
// their tokens and webhook secrets resolved (files relative to the config
// file's folder), and warnings about them (a retired access URL). Errors
// name the account and field, never a secret's value.
func LoadFile(path string, getenv func(string) string) ([]Account, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	var (
		accounts []Account
		warnings []string
		errs     []error
		seen     = map[int64]bool{}
	)
	for i, fa := range doc.Accounts {
		a, warn, err := fa.resolve(dir, getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %s: accounts[%d]: %w", path, i, err))
			continue
		}
		if seen[a.ID] {
			errs = append(errs, fmt.Errorf("config file %s: account %d is listed twice", path, a.ID))
			continue
		}
		seen[a.ID] = true
		accounts = append(accounts, a)
		if warn != "" {
			warnings = append(warnings, warn)
		}
	}
	return accounts, warnings, errors.Join(errs...)
}

func (fa fileAccount) resolve(dir string, getenv func(string) string) (Account, string, error) {
	if fa.ID <= 0 {
		return Account{}, "", errors.New("id: want the account's positive numeric ID")
	}
	a := Account{ID: fa.ID, AccessURL: strings.TrimRight(strings.TrimSpace(fa.AccessURL), "/"), Include: fa.Include, Exclude: fa.Exclude}
	warn, err := CheckAccessURL(a.AccessURL)
	if err != nil {
		return Account{}, "", fmt.Errorf("account %d: access_url: %w", fa.ID, err)
	}
	if warn != "" {
		warn = fmt.Sprintf("account %d: %s", fa.ID, warn)
	}
	tok, err := secretRef{Value: fa.Token, Env: fa.TokenEnv, File: fa.TokenFile}.read(dir, getenv)
	if err != nil {
		return Account{}, "", fmt.Errorf("account %d: token: %w", fa.ID, err)
	}
	if tok == "" {
		return Account{}, "", fmt.Errorf("account %d: one of token, token_env or token_file is required", fa.ID)
	}
	a.Token = Secret(tok)
	for j, ref := range fa.WebhookSecrets {
		s, err := ref.read(dir, getenv)
		if err != nil {
			return Account{}, "", fmt.Errorf("account %d: webhook_secrets[%d]: %w", fa.ID, j, err)
		}
		if s == "" {
			return Account{}, "", fmt.Errorf("account %d: webhook_secrets[%d] is empty", fa.ID, j)
		}
		a.WebhookSecrets = append(a.WebhookSecrets, Secret(s))
	}
	return a, warn, nil
}

// read resolves a secret from exactly one of its sources.
func (r secretRef) read(dir string, getenv func(string) string) (string, error) {
	n := 0
	for _, v := range []string{r.Value, r.Env, r.File} {
		if v != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return "", nil
	case n > 1:
		return "", errors.New("give one of an inline value, env or file")
	case r.Env != "":
		v := strings.TrimSpace(getenv(r.Env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", r.Env)
		}
		return v, nil
	case r.File != "":
		p := r.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err // names the file, not its content
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(r.Value), nil
}

// CheckAccessURL validates an account's access URL: https, or http to a
// loopback host (a local simulator), with no credentials or query. It warns
// about the retired shared region hosts with the message the API client
// gives on their 401.
func CheckAccessURL(raw string) (warning string, err error) {
	if raw == "" {
		return "", errors.New("required: the account's access URL, e.g. https://ab123.us1.dbt.com (Account settings → Access URLs)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not a URL such as https://ab123.us1.dbt.com", raw)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return "", fmt.Errorf("%q: use https (http is accepted only for a loopback host)", raw)
	default:
		return "", fmt.Errorf("%q: the scheme must be https", raw)
	}
	if h := strings.ToLower(u.Hostname()); IsRetiredHost(h) {
		return fmt.Sprintf("%s is a retired shared host: the account now has its own access URL "+
			"(ACCOUNT_PREFIX.<region>.dbt.com, shown in Account settings → Access URLs); set it as the access URL", h), nil
	}
	return "", nil
}

// IsRetiredHost reports whether host is one of the shared region hosts that
// account access URLs replaced (deprecated on 1 November 2026).
func IsRetiredHost(host string) bool {
	switch strings.ToLower(strings.TrimSuffix(host, ".")) {
	case "cloud.getdbt.com", "emea.dbt.com", "au.dbt.com":
		return true
	}
	return false
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
