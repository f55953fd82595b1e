package devcloud

import (
	"bytes"
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
	"time"
)

// stepArtifacts is what one step left in target/: files served from disk
// (paths relative to ArtifactsDir) and synthesized ones.
type stepArtifacts struct {
	files map[string]bool
	synth map[string][]byte
}

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

// loadArtifacts sees which files exist and assigns them to steps. It reads
// no file except run_results.json's metadata and args, streamed, to
// synthesize the docs step's run_results.json.
func (s *Server) loadArtifacts() error {
	dir := s.cfg.ArtifactsDir
	exists := func(name string) bool {
		fi, err := os.Stat(filepath.Join(dir, name))
		return err == nil && fi.Mode().IsRegular()
	}
	s.hasSrc, s.hasDocs = exists("sources.json"), exists("catalog.json")
	var compiled []string // compiled/** and run/**
	for _, sub := range []string{"compiled", "run"} {
		err := fs.WalkDir(os.DirFS(dir), sub, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fs.SkipDir
				}
				return err
			}
			if d.Type().IsRegular() {
				compiled = append(compiled, p)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("devcloud: list %s: %w", sub, err)
		}
	}
	s.steps = makeSteps(s.hasSrc, s.hasDocs)
	s.arts = make([]stepArtifacts, len(s.steps))
	for i, st := range s.steps {
		a := stepArtifacts{files: map[string]bool{}, synth: map[string][]byte{}}
		add := func(names ...string) {
			for _, n := range names {
				if exists(n) {
					a.files[n] = true
				}
			}
		}
		switch st.kind {
		case kindFreshness:
			add("manifest.json", "sources.json")
		case kindBuild:
			add("manifest.json", "run_results.json")
			add(compiled...)
		case kindDocs:
			add("manifest.json", "catalog.json")
			add(compiled...)
			if exists("run_results.json") {
				b, err := docsRunResults(filepath.Join(dir, "run_results.json"), s.cfg.RunID, i+1)
				if err != nil {
					return err
				}
				a.synth["run_results.json"] = b
			}
		}
		s.arts[i] = a
	}
	return nil
}

// docsRunResults synthesizes the run_results.json of a `dbt docs generate`
// step from the build step's: same metadata (new invocation_id), the same
// args with which "generate", no results.
func docsRunResults(file string, runID int64, step int) ([]byte, error) {
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
	out.Metadata["invocation_id"] = fmt.Sprintf("%08x-%04x-4000-8000-%012x", runID, step, runID*31+int64(step))
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

// stepFor resolves ?step=: absent means the last step the run ran.
func (s *Server) stepFor(w http.ResponseWriter, r *http.Request) (runSpec, stepArtifacts, bool) {
	id, ok := pathID(w, r, "run")
	if !ok {
		return runSpec{}, stepArtifacts{}, false
	}
	run, ok := s.findRun(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Run with id %d was not found.", id))
		return runSpec{}, stepArtifacts{}, false
	}
	steps, _ := s.runSteps(run)
	step := len(steps)
	if v := r.URL.Query().Get("step"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid step: %q", v))
			return runSpec{}, stepArtifacts{}, false
		}
		if n < 1 || n > len(steps) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("Run %d has no step %d.", id, n))
			return runSpec{}, stepArtifacts{}, false
		}
		step = n
	}
	return run, s.arts[step-1], true
}

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) {
	_, arts, ok := s.stepFor(w, r)
	if !ok {
		return
	}
	writeData(w, arts.list(), nil)
}

// getArtifact streams one file, applying the 5xx and truncation faults.
func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) {
	if s.artifactGets.Add(1) <= int64(s.cfg.Fail5xx) {
		s.log.Debug("devcloud: fault: 503", "path", r.URL.Path)
		writeError(w, http.StatusServiceUnavailable, "Service temporarily unavailable.")
		return
	}
	run, arts, ok := s.stepFor(w, r)
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
		f, err := os.OpenInRoot(s.cfg.ArtifactsDir, filepath.FromSlash(name))
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
		writeError(w, http.StatusNotFound, fmt.Sprintf("The artifact %s was not found for run %d.", name, run.id))
		return
	}
	if s.artifactSends.Add(1) <= int64(s.cfg.TruncateArtifacts) {
		s.truncate(w, name, content, size)
		return
	}
	http.ServeContent(w, r, name, run.finished.Truncate(time.Second), content)
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
