package dbtcloud_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// fast are client options for fault tests: short in-client backoff.
var fast = dbtcloud.Options{RetryBackoff: 5 * time.Millisecond}

func TestRateLimit(t *testing.T) {
	ctx := t.Context()
	t.Run("Retry-After delays the next request", func(t *testing.T) {
		c, calls := setup(t, devcloud.Config{RateLimit: 1, RetryAfter: 1}, fast)
		_, err := c.GetRun(ctx, 400)
		if d, ok := retry.Delay(err); !ok || d != time.Second || retry.IsPermanent(err) || !errors.Is(err, dbtcloud.ErrRateLimited) {
			t.Fatalf("GetRun under rate limit = %v (delay %v, %v), want After(1s) wrapping ErrRateLimited", err, d, ok)
		}
		start := time.Now()
		if _, err := c.GetRun(ctx, 400); err != nil {
			t.Fatalf("GetRun after the cooldown: %v", err)
		}
		if waited := time.Since(start); waited < 900*time.Millisecond {
			t.Errorf("GetRun during the cooldown started after %v, want about 1s", waited)
		}
		if got := calls.Load(); got != 2 {
			t.Errorf("requests = %d, want 2 (none retried in the client)", got)
		}
	})
	t.Run("no Retry-After: dbt's five minutes", func(t *testing.T) {
		c, _ := setup(t, devcloud.Config{RateLimit: 1}, fast)
		_, _, err := c.Artifact(ctx, 400, "manifest.json", 0)
		if d, ok := retry.Delay(err); !ok || d != dbtcloud.DefaultCooldown {
			t.Errorf("Artifact under rate limit = %v (delay %v, %v), want After(5m)", err, d, ok)
		}
	})
	t.Run("a deadline inside the cooldown returns at once", func(t *testing.T) {
		c, calls := setup(t, devcloud.Config{RateLimit: 1}, fast)
		if _, err := c.GetRun(ctx, 400); err == nil {
			t.Fatal("GetRun under rate limit = nil error")
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.ListArtifacts(dctx, 400, 0)
		d, ok := retry.Delay(err)
		if !ok || d < 4*time.Minute || !errors.Is(err, dbtcloud.ErrRateLimited) || time.Since(start) > time.Second {
			t.Errorf("ListArtifacts during a 5m cooldown = %v (delay %v) after %v, want an immediate After(~5m)", err, d, time.Since(start))
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("requests = %d, want 1 (the second never sent)", got)
		}
	})
	t.Run("every concurrent request waits for the cooldown", func(t *testing.T) {
		c, _ := setup(t, devcloud.Config{RateLimit: 1}, dbtcloud.Options{Cooldown: 300 * time.Millisecond})
		if _, err := c.GetJob(ctx, 300); !errors.Is(err, dbtcloud.ErrRateLimited) {
			t.Fatalf("GetJob = %v, want a 429", err)
		}
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		earliest := time.Hour
		for range 4 {
			wg.Go(func() {
				_, err := c.GetJob(ctx, 300)
				mu.Lock()
				defer mu.Unlock()
				earliest = min(earliest, time.Since(start))
				if err != nil {
					t.Errorf("GetJob after the cooldown: %v", err)
				}
			})
		}
		wg.Wait()
		if earliest < 250*time.Millisecond {
			t.Errorf("first request after a 300ms cooldown returned after %v", earliest)
		}
	})
	t.Run("steady rate", func(t *testing.T) {
		c, _ := setup(t, devcloud.Config{}, dbtcloud.Options{RequestsPerSecond: 20})
		start := time.Now()
		for range 5 {
			if _, err := c.GetJob(ctx, 300); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d < 190*time.Millisecond {
			t.Errorf("5 requests at 20/s took %v, want at least 200ms", d)
		}
	})
}

func Test5xxRetries(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name      string
		fail      int
		attempts  int
		wantErr   bool
		wantCalls int64
	}{
		{"two 503s, three attempts", 2, 0, false, 3},
		{"five 503s, three attempts", 5, 0, true, 3},
		{"retries off", 2, 1, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fast
			opts.MaxAttempts = tt.attempts
			c, calls := setup(t, devcloud.Config{Fail5xx: tt.fail}, opts)
			body, _, err := c.Artifact(ctx, 400, "manifest.json", 0)
			if tt.wantErr {
				var apiErr *dbtcloud.APIError
				_, delayed := retry.Delay(err)
				if err == nil || retry.IsPermanent(err) || delayed || !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
					t.Errorf("Artifact = %v, want a transient 503", err)
				}
			} else if err != nil {
				t.Errorf("Artifact = %v, want success after retries", err)
			} else {
				body.Close()
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("requests = %d, want %d", got, tt.wantCalls)
			}
		})
	}
	t.Run("JSON calls too, then transient", func(t *testing.T) {
		c, calls := setup(t, devcloud.Config{Fail5xxRate: 1}, fast)
		_, err := c.GetRun(ctx, 400)
		if err == nil || retry.IsPermanent(err) || !strings.Contains(err.Error(), "after 3 attempts") {
			t.Errorf("GetRun always 503 = %v, want a transient error after 3 attempts", err)
		}
		if got := calls.Load(); got != 3 {
			t.Errorf("requests = %d, want 3", got)
		}
	})
	t.Run("POST is not retried", func(t *testing.T) {
		c, calls := setup(t, devcloud.Config{Fail5xxRate: 1}, fast)
		_, err := c.CreateSubscription(ctx, dbtcloud.SubscriptionInput{Name: "n", ClientURL: "http://x.test/h", EventTypes: []string{dbtcloud.EventRunCompleted}, Active: true})
		if err == nil || retry.IsPermanent(err) || calls.Load() != 1 {
			t.Errorf("CreateSubscription under 503s = %v after %d requests, want one transient failure", err, calls.Load())
		}
	})
}

func TestTimeoutsAndResets(t *testing.T) {
	ctx := t.Context()
	t.Run("timeouts are retried, then transient", func(t *testing.T) {
		opts := fast
		opts.HTTP = &http.Client{Timeout: 30 * time.Millisecond}
		c, calls := setup(t, devcloud.Config{Latency: 200 * time.Millisecond}, opts)
		_, err := c.GetRun(ctx, 400)
		if err == nil || retry.IsPermanent(err) || calls.Load() != 3 {
			t.Errorf("GetRun timing out = %v after %d requests, want transient after 3", err, calls.Load())
		}
	})
	t.Run("a reset connection is retried", func(t *testing.T) {
		sim, err := devcloud.New(devcloud.Config{Token: token, ArtifactsDir: artifactsDir(t)})
		if err != nil {
			t.Fatal(err)
		}
		var n atomic.Int64
		h := sim.Handler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					if tc, ok := conn.(*net.TCPConn); ok {
						_ = tc.SetLinger(0) // RST, not FIN
					}
					conn.Close()
				}
				return
			}
			h.ServeHTTP(w, r)
		}))
		defer srv.Close()
		c, err := dbtcloud.New(dbtcloud.Options{AccessURL: srv.URL, AccountID: 1, Token: token, RetryBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetRun(ctx, 400); err != nil || n.Load() != 2 {
			t.Errorf("GetRun after a reset = %v after %d requests, want success on the second", err, n.Load())
		}
	})
	t.Run("a deadline is not retried", func(t *testing.T) {
		c, calls := setup(t, devcloud.Config{Latency: time.Second}, fast)
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.GetRun(dctx, 400)
		if !errors.Is(err, context.DeadlineExceeded) || retry.IsPermanent(err) || calls.Load() != 1 {
			t.Errorf("GetRun past its deadline = %v after %d requests, want one transient deadline error", err, calls.Load())
		}
	})
}

func TestArtifactFaults(t *testing.T) {
	ctx := t.Context()
	t.Run("truncated body: not retried, io.ErrUnexpectedEOF", func(t *testing.T) {
		c, _ := setup(t, devcloud.Config{TruncateArtifacts: 1}, fast)
		body, n, err := c.Artifact(ctx, 400, "manifest.json", 0)
		if err != nil {
			t.Fatalf("Artifact: %v", err)
		}
		b, err := io.ReadAll(body)
		body.Close()
		if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(b)) >= n {
			t.Errorf("reading a truncated artifact = %d of %d bytes, %v; want io.ErrUnexpectedEOF", len(b), n, err)
		}
		body, n, err = c.Artifact(ctx, 400, "manifest.json", 0)
		if err != nil {
			t.Fatalf("Artifact after the fault: %v", err)
		}
		b, err = io.ReadAll(body)
		body.Close()
		if err != nil || int64(len(b)) != n {
			t.Errorf("Artifact after the fault read %d of %d bytes, %v", len(b), n, err)
		}
	})
	t.Run("slow body: bounded by the caller's ctx", func(t *testing.T) {
		c, _ := setup(t, devcloud.Config{SlowBodyBPS: 100}, fast)
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		body, _, err := c.Artifact(dctx, 400, "manifest.json", 0)
		if err != nil {
			t.Fatalf("Artifact: %v", err)
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		if err == nil || retry.IsPermanent(err) || len(b) == 0 {
			t.Errorf("reading a slow body past the deadline = %d bytes, %v; want some bytes then a transient error", len(b), err)
		}
	})
	t.Run("artifacts appear late: 404 first", func(t *testing.T) {
		c, _ := setup(t, devcloud.Config{ArtifactDelay: 300 * time.Millisecond}, fast)
		_, _, err := c.Artifact(ctx, 400, "manifest.json", 0)
		if !errors.Is(err, dbtcloud.ErrNotFound) || retry.IsPermanent(err) {
			t.Fatalf("Artifact before it appears = %v, want ErrNotFound", err)
		}
		time.Sleep(350 * time.Millisecond)
		body, _, err := c.Artifact(ctx, 400, "manifest.json", 0)
		if err != nil {
			t.Fatalf("Artifact after it appeared: %v", err)
		}
		body.Close()
	})
	t.Run("step ignored: always the last step's", func(t *testing.T) {
		c, _ := setup(t, devcloud.Config{IgnoreStep: true}, fast)
		for _, step := range []int{0, 4, 5} {
			if which := runResultsWhich(t, c, 400, step); which != "generate" {
				t.Errorf("run_results.json step %d args.which = %q, want generate (the docs step's)", step, which)
			}
		}
	})
	t.Run("retired host: 401 with the access-URL hint", func(t *testing.T) {
		sim, err := devcloud.New(devcloud.Config{Token: token, ArtifactsDir: artifactsDir(t), RetiredHost: true})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(sim.Handler())
		defer srv.Close()
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		}}}
		for _, tt := range []struct {
			host    string
			wantErr bool
		}{{"http://cloud.getdbt.com", true}, {"http://emea.dbt.com", true}, {"http://ab123.us1.dbt.com", false}} {
			c, err := dbtcloud.New(dbtcloud.Options{AccessURL: tt.host, AccountID: 1, Token: token, HTTP: hc})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetRun(ctx, 400)
			if tt.wantErr && (!retry.IsPermanent(err) || !strings.Contains(err.Error(), "own access URL") || strings.Contains(err.Error(), token)) {
				t.Errorf("GetRun via %s = %v, want a permanent error about the account's access URL", tt.host, err)
			}
			if !tt.wantErr && err != nil {
				t.Errorf("GetRun via %s = %v, want success", tt.host, err)
			}
		}
	})
}
