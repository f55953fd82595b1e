package doctor

import (
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
)

func TestResolve(t *testing.T) {
	all := []named{{100, "analytics"}, {101, "Marketing"}, {102, "marketing"}}
	tests := []struct {
		entry  config.Match
		status Status
		detail string
	}{
		{config.Match{ID: 100}, Pass, `is project 100 "analytics"`},
		{config.Match{Name: "ANALYTICS"}, Pass, "100"},
		{config.Match{Name: "finance"}, Fail, "matches no project"},
		{config.Match{Name: "marketing"}, Warn, "matches 2 projects"},
	}
	for _, tt := range tests {
		r := &report{account: "1"}
		resolve(r, "project", "include", []config.Match{tt.entry}, all)
		if len(r.checks) != 1 || r.checks[0].Status != tt.status || !strings.Contains(r.checks[0].Detail, tt.detail) {
			t.Errorf("resolve(%v) = %+v, want %s containing %q", tt.entry, r.checks, tt.status, tt.detail)
		}
	}
}

func TestAdmits(t *testing.T) {
	n := named{200, "Production"}
	tests := []struct {
		include, exclude []config.Match
		want             bool
	}{
		{nil, nil, true},
		{[]config.Match{{Name: "production"}}, nil, true},
		{[]config.Match{{ID: 201}}, nil, false},
		{nil, []config.Match{{ID: 200}}, false},
		{[]config.Match{{ID: 200}}, []config.Match{{Name: "Production"}}, false},
	}
	for _, tt := range tests {
		if got := admits(tt.include, tt.exclude, n); got != tt.want {
			t.Errorf("admits(%v, %v) = %v, want %v", tt.include, tt.exclude, got, tt.want)
		}
	}
}

func TestCheckOne(t *testing.T) {
	jobs := []dbtcloud.Job{{ID: 300, Name: "Nightly"}, {ID: 301, Name: "Hourly"}}
	tests := []struct {
		name   string
		sub    dbtcloud.Subscription
		status Status
		fix    string
	}{
		{"healthy", dbtcloud.Subscription{Active: true, EventTypes: []string{dbtcloud.EventRunCompleted}, HTTPStatusCode: "202"}, Pass, ""},
		{"no completed", dbtcloud.Subscription{Active: true, EventTypes: []string{dbtcloud.EventRunStarted}}, Fail, "--events completed"},
		{"inactive", dbtcloud.Subscription{EventTypes: []string{dbtcloud.EventRunCompleted}}, Fail, "reactivate"},
		{"last 401", dbtcloud.Subscription{Active: true, EventTypes: []string{dbtcloud.EventRunCompleted}, HTTPStatusCode: "401"}, Warn, "DBT_CLOUD_WEBHOOK_SECRET_FILE"},
		{"job left out", dbtcloud.Subscription{Active: true, EventTypes: []string{dbtcloud.EventRunCompleted}, JobIDs: []int64{300}}, Warn, "--jobs 300,301"},
	}
	for _, tt := range tests {
		r := &report{account: "1"}
		tt.sub.ClientURL = "https://h/webhooks/dbt-cloud"
		checkOne(r, tt.sub, jobs)
		if len(r.checks) != 1 || r.checks[0].Status != tt.status || !strings.Contains(r.checks[0].Fix, tt.fix) {
			t.Errorf("%s: %+v, want %s with fix containing %q", tt.name, r.checks, tt.status, tt.fix)
		}
	}
}
