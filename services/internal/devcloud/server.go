package devcloud

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Run status codes, as in the Admin API.
const (
	statusRunning   = 3
	statusSuccess   = 10
	statusError     = 20
	statusCancelled = 30
)

// Server is one simulated dbt Cloud account. It is safe for concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	runs      []runSpec // ascending IDs; the configured run is last
	steps     []stepSpec
	arts      []stepArtifacts // by step index-1
	hasDocs   bool
	hasSrc    bool
	webhookID string
	hook      *http.Client

	apiRequests   atomic.Int64 // for RateLimit
	artifactGets  atomic.Int64 // for Fail5xx
	artifactSends atomic.Int64 // for TruncateArtifacts
}

// New checks cfg, reads which artifacts exist (not their contents) and
// returns a Server.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, webhookID: "wsu_" + ksuid(), hook: &http.Client{}}
	if err := s.loadArtifacts(); err != nil {
		return nil, err
	}
	s.runs = makeRuns(cfg, time.Now())
	return s, nil
}

// Handler serves the Admin API and GET /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	const acct = "GET /api/v2/accounts/{account}/"
	mux.HandleFunc(acct+"runs/{$}", s.listRuns)
	mux.HandleFunc(acct+"runs/{run}/{$}", s.getRun)
	mux.HandleFunc(acct+"runs/{run}/artifacts/{$}", s.listArtifacts)
	mux.HandleFunc(acct+"runs/{run}/artifacts/{path...}", s.getArtifact)
	mux.HandleFunc(acct+"jobs/{job}/{$}", s.getJob)
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

// admit applies latency, the rate-limit fault, the token and the account.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Latency > 0 {
		t := time.NewTimer(s.cfg.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	if s.apiRequests.Add(1) <= int64(s.cfg.RateLimit) {
		if s.cfg.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(s.cfg.RetryAfter))
		}
		s.log.Debug("devcloud: fault: rate limited", "path", r.URL.Path)
		writeError(w, http.StatusTooManyRequests, "Too many requests. Please try again later.")
		return false
	}
	if !s.validToken(r.Header.Get("Authorization")) {
		writeError(w, http.StatusUnauthorized, "Invalid token.")
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v2/accounts/")
	if !ok {
		return true // the mux answers 404
	}
	seg, _, _ := strings.Cut(rest, "/")
	id, err := strconv.ParseInt(seg, 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "The requested resource was not found.")
		return false
	}
	if id != s.cfg.AccountID {
		writeError(w, http.StatusForbidden, "Access denied: Token is not scoped to account.")
		return false
	}
	return true
}

// validToken accepts "Token <t>" and "Bearer <t>", as dbt does.
func (s *Server) validToken(h string) bool {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || (!strings.EqualFold(scheme, "Token") && !strings.EqualFold(scheme, "Bearer")) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.Token)) == 1
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

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "job")
	if !ok {
		return
	}
	if id != s.cfg.JobID {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Job definition with id %d was not found.", id))
		return
	}
	writeData(w, s.jobJSON(), nil)
}
