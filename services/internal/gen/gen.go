package gen

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Options says what to generate. The zero value, after defaults, writes
// only manifest.json for a 20-model project; DefaultOptions turns on every
// artifact.
type Options struct {
	Models       int       // number of models (default 20)
	Seed         int64     // default 1; the same Options give byte-identical output
	ProjectName  string    // default "jaffle_demo"
	Adapter      string    // default "postgres"; naming and data types follow it
	DBTVersion   string    // default "1.9.4"
	Catalog      bool      // write catalog.json
	RunResults   bool      // write run_results.json
	Sources      bool      // write sources.json
	FailingTests int       // how many tests fail in run_results.json (default 0)
	InvocationID string    // default: a UUID derived from Seed
	GeneratedAt  time.Time // default 2026-01-15T06:00:00Z, for determinism
}

// DefaultOptions is Options for the given number of models with every
// artifact turned on.
func DefaultOptions(models int) Options {
	return Options{Models: models, Catalog: true, RunResults: true, Sources: true}
}

func (o *Options) setDefaults() {
	if o.Models == 0 {
		o.Models = 20
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.ProjectName == "" {
		o.ProjectName = "jaffle_demo"
	}
	if o.Adapter == "" {
		o.Adapter = "postgres"
	}
	if o.DBTVersion == "" {
		o.DBTVersion = "1.9.4"
	}
	if o.GeneratedAt.IsZero() {
		o.GeneratedAt = time.Date(2026, 1, 15, 6, 0, 0, 0, time.UTC)
	}
	o.GeneratedAt = o.GeneratedAt.UTC()
	if o.InvocationID == "" {
		o.InvocationID = uuid(rand.New(rand.NewPCG(uint64(o.Seed), 0xc0ffee)))
	}
}

func (o *Options) validate() error {
	switch {
	case o.Models < 1:
		return fmt.Errorf("gen: Models = %d, want at least 1", o.Models)
	case o.FailingTests < 0:
		return fmt.Errorf("gen: FailingTests = %d, want 0 or more", o.FailingTests)
	}
	return nil
}

// Summary reports what Write produced.
type Summary struct {
	// Counts maps resource_type to how many assets the manifest holds:
	// model, seed, snapshot, test, source, exposure, metric, semantic_model,
	// saved_query, unit_test and analysis (zero counts included). Disabled
	// nodes are not counted.
	Counts map[string]int
	// Files maps each file name written to its size in bytes.
	Files map[string]int64
}

// Write generates the project described by opts and writes manifest.json,
// plus catalog.json, run_results.json and sources.json as opts asks, into
// dir, creating it if needed. Files are streamed: memory stays proportional
// to the project's skeleton, not to the size of the files.
func Write(dir string, opts Options) (Summary, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return Summary{}, err
	}
	d, err := dialectFor(opts.Adapter)
	if err != nil {
		return Summary{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("gen: create %s: %w", dir, err)
	}
	p := newPlan(opts, d)
	sum := Summary{Counts: p.counts(), Files: map[string]int64{}}
	files := []struct {
		name  string
		on    bool
		write func(*jsonWriter)
	}{
		{"manifest.json", true, p.writeManifest},
		{"catalog.json", opts.Catalog, p.writeCatalog},
		{"run_results.json", opts.RunResults, p.writeRunResults},
		{"sources.json", opts.Sources, p.writeSourceFreshness},
	}
	for _, f := range files {
		if !f.on {
			continue
		}
		n, err := writeFile(filepath.Join(dir, f.name), f.write)
		if err != nil {
			return Summary{}, err
		}
		sum.Files[f.name] = n
	}
	return sum, nil
}

// writeFile streams one document into path and returns its size.
func writeFile(path string, write func(*jsonWriter)) (size int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("gen: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("gen: close %s: %w", path, cerr)
		}
	}()
	cw := &countingWriter{w: f}
	j := newJSONWriter(cw)
	write(j)
	j.raw("\n")
	if err := j.flush(); err != nil {
		return 0, fmt.Errorf("gen: write %s: %w", path, err)
	}
	return cw.n, nil
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// uuid formats 16 random bytes as a version 4 UUID.
func uuid(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// timestamp formats t as dbt does: microseconds and a Z.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}
