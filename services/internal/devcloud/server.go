package devcloud

import (
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Run status codes, as in the Admin API.
const (
	statusRunning   = 3
	statusSuccess   = 10
	statusError     = 20
	statusCancelled = 30
)

// Server is a simulated dbt Cloud: its accounts, their runs and webhook
// subscriptions. It is safe for concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	hook      *http.Client
	faults    Faults      // the Config's
	counts    faultCounts // for the Config's "first N" faults
	layouts   layoutCache
	webhookID string // the WebhookURL subscription's ID

	mu        sync.Mutex
	accounts  []*account    // immutable after New, except their subs
	runs      []*run        // ascending IDs, every account's
	legacySub *subscription // WebhookURL's subscription, if any
}

// New checks cfg, builds the world (reading which artifacts exist, not
// their contents) and returns a Server.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, hook: &http.Client{}, faults: cfg.globalFaults()}
	s.layouts.m = map[layoutKey]*layoutEntry{}
	specs := cfg.Accounts
	if len(specs) == 0 {
		exists := func(name string) bool {
			fi, err := os.Stat(filepath.Join(cfg.ArtifactsDir, name))
			return err == nil && fi.Mode().IsRegular()
		}
		specs = cfg.legacyWorld(exists("catalog.json"), exists("sources.json"))
	}
	now := time.Now()
	if err := s.build(specs, now); err != nil {
		return nil, err
	}
	if cfg.WebhookURL != "" {
		sub, err := s.addSub(s.accounts[0], subInput{name: "devcloud", url: cfg.WebhookURL, active: true}, cfg.WebhookSecret, now)
		if err != nil {
			return nil, err
		}
		s.legacySub, s.webhookID = sub, sub.id
	}
	return s, nil
}

// Handler serves the Admin API (v2, and v3 projects, environments and
// webhook subscriptions) and GET /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	const v2 = "/api/v2/accounts/{account}/"
	mux.HandleFunc("GET "+v2+"{$}", s.getAccount)
	mux.HandleFunc("GET "+v2+"projects/{$}", s.listProjects)
	mux.HandleFunc("GET "+v2+"environments/{$}", s.listEnvironments)
	mux.HandleFunc("GET "+v2+"jobs/{$}", s.listJobs)
	mux.HandleFunc("GET "+v2+"jobs/{job}/{$}", s.getJob)
	mux.HandleFunc("GET "+v2+"runs/{$}", s.listRuns)
	mux.HandleFunc("GET "+v2+"runs/{run}/{$}", s.getRun)
	mux.HandleFunc("GET "+v2+"runs/{run}/artifacts/{$}", s.listArtifacts)
	mux.HandleFunc("GET "+v2+"runs/{run}/artifacts/{path...}", s.getArtifact)
	const v3 = "/api/v3/accounts/{account}/"
	mux.HandleFunc("GET "+v3+"projects/{$}", s.listProjects)
	mux.HandleFunc("GET "+v3+"projects/{project}/environments/{$}", s.listEnvironments)
	mux.HandleFunc("GET "+v3+"webhooks/subscriptions", s.listSubs)
	mux.HandleFunc("POST "+v3+"webhooks/subscriptions", s.createSub)
	mux.HandleFunc("GET "+v3+"webhooks/subscription/{sub}", s.getSub)
	mux.HandleFunc("PUT "+v3+"webhooks/subscription/{sub}", s.updateSub)
	mux.HandleFunc("DELETE "+v3+"webhooks/subscription/{sub}", s.deleteSub)
	mux.HandleFunc("GET "+v3+"webhooks/subscription/{sub}/test", s.testSub)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "The requested resource was not found.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		if !s.admit(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// admit applies the faults that precede routing (latency, the retired
// host, 429s, random 5xx), then the token and the account.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	rn := s.pathRun(r)
	var rf Faults
	if rn != nil {
		rf = rn.faults
	}
	if d := s.faults.Latency + rf.Latency; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	if s.cfg.RetiredHost && retiredHost(r.Host) {
		s.log.Debug("devcloud: fault: retired host", "host", r.Host)
		writeError(w, http.StatusUnauthorized, "Invalid token.")
		return false
	}
	limited := s.counts.api.Add(1) <= int64(s.faults.RateLimit)
	retryAfter := s.faults.RetryAfter
	if rn != nil && rn.counts.api.Add(1) <= int64(rf.RateLimit) {
		limited, retryAfter = true, rf.RetryAfter
	}
	if limited {
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		s.log.Debug("devcloud: fault: rate limited", "path", r.URL.Path)
		writeError(w, http.StatusTooManyRequests, "Too many requests. Please try again later.")
		return false
	}
	if rate := max(s.faults.Fail5xxRate, rf.Fail5xxRate); rate > 0 && mrand.Float64() < rate {
		s.log.Debug("devcloud: fault: random 503", "path", r.URL.Path)
		writeError(w, http.StatusServiceUnavailable, "Service temporarily unavailable.")
		return false
	}
	tokenAccounts := s.tokenAccounts(r.Header.Get("Authorization"))
	if len(tokenAccounts) == 0 {
		writeError(w, http.StatusUnauthorized, "Invalid token.")
		return false
	}
	seg, ok := accountSegment(r.URL.Path)
	if !ok {
		return true // the mux answers 404
	}
	id, err := strconv.ParseInt(seg, 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "The requested resource was not found.")
		return false
	}
	if !slices.Contains(tokenAccounts, id) {
		writeError(w, http.StatusForbidden, "Access denied: Token is not scoped to account.")
		return false
	}
	return true
}

// accountSegment is the account ID's text in an /api/v2 or /api/v3 path.
func accountSegment(p string) (string, bool) {
	for _, prefix := range []string{"/api/v2/accounts/", "/api/v3/accounts/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			seg, _, _ := strings.Cut(rest, "/")
			return seg, true
		}
	}
	return "", false
}

// pathRun is the run a .../runs/{id}/... request is about, if it exists.
func (s *Server) pathRun(r *http.Request) *run {
	_, rest, ok := strings.Cut(r.URL.Path, "/runs/")
	if !ok || !strings.HasPrefix(r.URL.Path, "/api/v2/accounts/") {
		return nil
	}
	seg, _, _ := strings.Cut(rest, "/")
	id, err := strconv.ParseInt(seg, 10, 64)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.findRun(id)
}

// requestAccount is the path's account, which admit checked exists.
func (s *Server) requestAccount(r *http.Request) *account {
	id, _ := strconv.ParseInt(r.PathValue("account"), 10, 64)
	return s.findAccount(id)
}

// retiredHost reports whether host (maybe with a port) is a shared region
// host that account access URLs replaced.
func retiredHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch strings.ToLower(host) {
	case "cloud.getdbt.com", "emea.dbt.com", "au.dbt.com":
		return true
	}
	return false
}

// tokenAccounts are the accounts whose token the Authorization header
// carries ("Token <t>" or "Bearer <t>", as dbt accepts).
func (s *Server) tokenAccounts(h string) []int64 {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || (!strings.EqualFold(scheme, "Token") && !strings.EqualFold(scheme, "Bearer")) {
		return nil
	}
	tok = strings.TrimSpace(tok)
	var ids []int64
	for _, a := range s.accounts {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(a.token)) == 1 {
			ids = append(ids, a.id)
		}
	}
	return ids
}

// status is dbt's envelope status object.
type status struct {
	Code             int     `json:"code"`
	IsSuccess        bool    `json:"is_success"`
	UserMessage      string  `json:"user_message"`
	DeveloperMessage *string `json:"developer_message"`
}

type envelope struct {
	Status status `json:"status"`
	Data   any    `json:"data"`
	Extra  any    `json:"extra,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeData(w http.ResponseWriter, data, extra any) {
	empty := ""
	writeJSON(w, http.StatusOK, envelope{
		Status: status{Code: http.StatusOK, IsSuccess: true, UserMessage: "Success!", DeveloperMessage: &empty},
		Data:   data, Extra: extra,
	})
}

// writeError answers with dbt's error body:
// {"status":{"code":401,"is_success":false,"user_message":"Invalid token.","developer_message":null},"data":null}
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, envelope{Status: status{Code: code, UserMessage: msg}})
}

// pathID reads a numeric path value; it answers 404 and returns false if
// it is not a number.
func pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "The requested resource was not found.")
		return 0, false
	}
	return id, true
}
