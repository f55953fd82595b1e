package dbtcloud

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"none", http.Header{}, DefaultCooldown},
		{"seconds", http.Header{"Retry-After": {"42"}}, 42 * time.Second},
		{"zero", http.Header{"Retry-After": {"0"}}, 0},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, DefaultCooldown},
		{"scim header", http.Header{"X-Rate-Limit-Retry-After-Seconds": {"7"}}, 7 * time.Second},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now, DefaultCooldown); got != tt.want {
			t.Errorf("retryAfter(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestTokenNotPrinted checks that formatting a Client never shows the token.
func TestTokenNotPrinted(t *testing.T) {
	const tok = "dbtu_SECRET-token-value"
	c, err := New(Options{AccessURL: "https://ab123.us1.dbt.com", AccountID: 1, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, tok) {
			t.Errorf("formatted client shows the token: %s", s)
		}
	}
}
