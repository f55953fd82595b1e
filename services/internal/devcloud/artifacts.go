package devcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// stepArtifacts is what one step left in target/: files served from disk
// (paths relative to root) and synthesized ones.
type stepArtifacts struct {
	root  string
	files map[string]bool
	synth map[string][]byte
}

func (a stepArtifacts) has(name string) bool { return a.files[name] || a.synth[name] != nil }

func (a stepArtifacts) list() []string {
	out := make([]string, 0, len(a.files)+len(a.synth))
	for p := range a.files {
		out = append(out, p)
	}
	for p := range a.synth {
		if !a.files[p] {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// layoutCache holds the artifacts of each (folder, job) pair, computed once.
type layoutCache struct {
	mu sync.Mutex
	m  map[layoutKey]*layoutEntry
}

type layoutKey struct {
	dir string
	job int64
}

type layoutEntry struct {
	once sync.Once
	arts []stepArtifacts
	err  error
}

// layout is what each step of j's runs serves from dir, by step index-1.
func (s *Server) layout(dir string, j *job) ([]stepArtifacts, error) {
	s.layouts.mu.Lock()
	e := s.layouts.m[layoutKey{dir, j.id}]
	if e == nil {
		e = &layoutEntry{}
		s.layouts.m[layoutKey{dir, j.id}] = e
	}
	s.layouts.mu.Unlock()
	e.once.Do(func() { e.arts, e.err = loadLayout(dir, j) })
	return e.arts, e.err
}

// runArtifacts is r's layout, or nil when it has none.
func (s *Server) runArtifacts(r *run) []stepArtifacts {
	if r.dir == "" {
		return nil
	}
	arts, err := s.layout(r.dir, r.job)
	if err != nil {
		return nil
	}
	return arts
}

// loadLayout assigns the folder's files to j's steps. With step-N/
// subfolders, step N serves exactly its folder. Otherwise every step
// serves from the one folder what its command leaves in target/:
//
//   - freshness: manifest.json, sources.json
//   - a command: manifest.json, compiled/** and run/**, and, for commands
//     that write one, run_results.json: the file itself when its args.which
//     is the command's, else a copy with the command's args.which and its
//     own invocation_id (so a job of "dbt run" then "dbt test" has two
//     different run_results.json)
//   - docs generate: manifest.json, catalog.json, compiled/**, and a
//     near-empty run_results.json with args.which "generate"
//
// It reads no file except run_results.json, and holds a copy only when it
// must rewrite one for a command.
func loadLayout(dir string, j *job) ([]stepArtifacts, error) {
	arts := make([]stepArtifacts, len(j.steps))
	if fi, err := os.Stat(filepath.Join(dir, "step-1")); err == nil && fi.IsDir() {
		for i := range arts {
			root := filepath.Join(dir, fmt.Sprintf("step-%d", i+1))
			files, err := walkFiles(root, ".")
			if err != nil {
				return nil, err
			}
			arts[i] = stepArtifacts{root: root, files: map[string]bool{}, synth: map[string][]byte{}}
			for _, f := range files {
				arts[i].files[f] = true
			}
		}
		return arts, nil
	}
	exists := func(name string) bool {
		fi, err := os.Stat(filepath.Join(dir, name))
		return err == nil && fi.Mode().IsRegular()
	}
	var compiled []string // compiled/** and run/**
	for _, sub := range []string{"compiled", "run"} {
		files, err := walkFiles(dir, sub)
		if err != nil {
			return nil, err
		}
		compiled = append(compiled, files...)
	}
	rrFile := filepath.Join(dir, "run_results.json")
	fileWhich := ""
	if exists("run_results.json") {
		w, err := runResultsWhich(rrFile)
		if err != nil {
			return nil, err
		}
		fileWhich = w
	}
	for i, st := range j.steps {
		a := stepArtifacts{root: dir, files: map[string]bool{}, synth: map[string][]byte{}}
		add := func(names ...string) {
			for _, n := range names {
				if exists(n) {
					a.files[n] = true
				}
			}
		}
		invocation := fmt.Sprintf("%08x-%04x-4000-8000-%012x", j.id, i+1, j.id*31+int64(i+1))
		switch st.kind {
		case kindFreshness:
			add("manifest.json", "sources.json")
		case kindCommand:
			add("manifest.json")
			add(compiled...)
			if !writesRunResults(st.which) || !exists("run_results.json") {
				break
			}
			if st.which == fileWhich {
				a.files["run_results.json"] = true
				break
			}
			b, err := rewriteRunResults(rrFile, st.which, invocation)
			if err != nil {
				return nil, err
			}
			a.synth["run_results.json"] = b
		case kindDocs:
			add("manifest.json", "catalog.json")
			add(compiled...)
			if exists("run_results.json") {
				b, err := docsRunResults(rrFile, invocation)
				if err != nil {
					return nil, err
				}
				a.synth["run_results.json"] = b
			}
		}
		arts[i] = a
	}
	return arts, nil
}

// walkFiles lists the regular files under root/sub, relative to root, with
// slashes; a missing sub is empty.
func walkFiles(root, sub string) ([]string, error) {
	var out []string
	err := fs.WalkDir(os.DirFS(root), sub, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("devcloud: list %s: %w", filepath.Join(root, sub), err)
	}
	return out, nil
}

// writesRunResults reports whether a command writes run_results.json.
func writesRunResults(which string) bool {
	switch which {
	case "build", "clone", "compile", "generate", "retry", "run", "seed", "show", "snapshot", "test", "run-operation":
		return true
	}
	return false
}

// runResultsWhich reads args.which from a run_results.json, streamed.
func runResultsWhich(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("devcloud: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", fmt.Errorf("devcloud: %s is not a JSON object", file)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("devcloud: read %s: %w", file, err)
		}
		if key != "args" {
			if err := skipValue(dec); err != nil {
				return "", fmt.Errorf("devcloud: read %s: %w", file, err)
			}
			continue
		}
		var args struct {
			Which string `json:"which"`
		}
		if err := dec.Decode(&args); err != nil {
			return "", fmt.Errorf("devcloud: read %s: %w", file, err)
		}
		return args.Which, nil
	}
	return "", nil
}

// rewriteRunResults is a copy of file with args.which and
// metadata.invocation_id replaced; the results are kept as they are.
func rewriteRunResults(file, which, invocation string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("devcloud: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("devcloud: read %s: %w", file, err)
	}
	var meta, args map[string]any
	_ = json.Unmarshal(top["metadata"], &meta)
	_ = json.Unmarshal(top["args"], &args)
	if meta == nil {
		meta = map[string]any{}
	}
	if args == nil {
		args = map[string]any{}
	}
	meta["invocation_id"], args["which"] = invocation, which
	if top["metadata"], err = json.Marshal(meta); err != nil {
		return nil, err
	}
	if top["args"], err = json.Marshal(args); err != nil {
		return nil, err
	}
	return json.Marshal(top)
}

// docsRunResults synthesizes the run_results.json of a `dbt docs generate`
// step from the build step's: same metadata (new invocation_id), the same
// args with which "generate", no results.
func docsRunResults(file, invocation string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("devcloud: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	var out struct {
		Metadata    map[string]any `json:"metadata"`
		Results     []any          `json:"results"`
		ElapsedTime float64        `json:"elapsed_time"`
		Args        map[string]any `json:"args"`
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("devcloud: %s is not a JSON object", file)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("devcloud: read %s: %w", file, err)
		}
		switch key {
		case "metadata":
			err = dec.Decode(&out.Metadata)
		case "args":
			err = dec.Decode(&out.Args)
		default:
			err = skipValue(dec)
		}
		if err != nil {
			return nil, fmt.Errorf("devcloud: read %s: %w", file, err)
		}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]any{}
	}
	if out.Args == nil {
		out.Args = map[string]any{}
	}
	out.Metadata["invocation_id"] = invocation
	out.Args["which"] = "generate"
	out.Results = []any{}
	out.ElapsedTime = 4.2
	return json.Marshal(out)
}

// skipValue reads one JSON value token by token, holding none of it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// stepFor resolves the run and ?step= (absent: the last step the run
// ran; ignored under the IgnoreStep fault). A run that is not complete, or
// whose artifacts are still delayed, has none yet: 404.
func (s *Server) stepFor(w http.ResponseWriter, r *http.Request) (*run, stepArtifacts, bool) {
	id, ok := pathID(w, r, "run")
	if !ok {
		return nil, stepArtifacts{}, false
	}
	now := time.Now()
	s.mu.Lock()
	rn := s.findRun(id)
	if rn != nil && rn.job.acct() != s.requestAccount(r) {
		rn = nil
	}
	var steps []stepSpec
	var complete bool
	var readyAt time.Time
	if rn != nil {
		steps, _, _ = runSteps(rn, now)
		complete, readyAt = rn.complete(), rn.readyAt
	}
	s.mu.Unlock()
	switch {
	case rn == nil:
		writeError(w, http.StatusNotFound, fmt.Sprintf("Run with id %d was not found.", id))
		return nil, stepArtifacts{}, false
	case !complete || now.Before(readyAt):
		writeError(w, http.StatusNotFound, fmt.Sprintf("The artifacts of run %d are not available yet.", id))
		return nil, stepArtifacts{}, false
	}
	step := len(steps)
	if v := r.URL.Query().Get("step"); v != "" && !s.faults.IgnoreStep && !rn.faults.IgnoreStep {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid step: %q", v))
			return nil, stepArtifacts{}, false
		}
		if n < 1 || n > len(steps) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("Run %d has no step %d.", id, n))
			return nil, stepArtifacts{}, false
		}
		step = n
	}
	arts := s.runArtifacts(rn)
	if step-1 >= len(arts) {
		return rn, stepArtifacts{}, true
	}
	return rn, arts[step-1], true
}

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) {
	_, arts, ok := s.stepFor(w, r)
	if !ok {
		return
	}
	writeData(w, arts.list(), nil)
}

// getArtifact streams one file, applying the 5xx, truncation and slow-body
// faults.
func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) {
	rn := s.pathRun(r)
	fail := s.counts.gets.Add(1) <= int64(s.faults.Fail5xx)
	if rn != nil && rn.counts.gets.Add(1) <= int64(rn.faults.Fail5xx) {
		fail = true
	}
	if fail {
		s.log.Debug("devcloud: fault: 503", "path", r.URL.Path)
		writeError(w, http.StatusServiceUnavailable, "Service temporarily unavailable.")
		return
	}
	rn, arts, ok := s.stepFor(w, r)
	if !ok {
		return
	}
	name := path.Clean(r.PathValue("path"))
	var content io.ReadSeeker
	var size int64
	switch {
	case arts.synth[name] != nil:
		b := arts.synth[name]
		content, size = bytes.NewReader(b), int64(len(b))
	case arts.files[name]:
		f, err := os.OpenInRoot(arts.root, filepath.FromSlash(name))
		if err != nil {
			s.log.Error("devcloud: open artifact", "path", name, "err", err)
			writeError(w, http.StatusInternalServerError, "Internal server error.")
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			writeError(w, http.StatusInternalServerError, "Internal server error.")
			return
		}
		content, size = f, fi.Size()
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("The artifact %s was not found for run %d.", name, rn.id))
		return
	}
	cut := s.counts.sends.Add(1) <= int64(s.faults.TruncateArtifacts)
	if rn.counts.sends.Add(1) <= int64(rn.faults.TruncateArtifacts) {
		cut = true
	}
	if cut {
		s.truncate(w, name, content, size)
		return
	}
	if bps := max(s.faults.SlowBodyBPS, rn.faults.SlowBodyBPS); bps > 0 {
		w = &slowWriter{ResponseWriter: w, done: r.Context().Done(), chunk: max(1, bps/10)}
	}
	http.ServeContent(w, r, name, rn.finished.Truncate(time.Second), content)
}

// slowWriter writes at most chunk bytes every 100 ms: bodies at about
// 10·chunk bytes a second.
type slowWriter struct {
	http.ResponseWriter
	done  <-chan struct{} // the request's context's
	chunk int
}

func (sw *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), sw.chunk)
		m, err := sw.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		_ = http.NewResponseController(sw.ResponseWriter).Flush()
		p = p[k:]
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-sw.done:
			t.Stop()
			return n, context.Canceled
		case <-t.C:
		}
	}
	return n, nil
}

// truncate declares the full length, sends half and aborts the connection.
func (s *Server) truncate(w http.ResponseWriter, name string, content io.Reader, size int64) {
	s.log.Debug("devcloud: fault: truncated artifact", "path", name)
	declared, send := size, size/2
	if size < 2 {
		declared, send = size+1, size
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Content-Length", strconv.FormatInt(declared, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.CopyN(w, content, send)
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler) // net/http closes the connection without logging
}
