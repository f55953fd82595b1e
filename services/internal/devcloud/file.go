package devcloud

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// File is the YAML form of a world, for `harvester devcloud --config`:
//
//	token: dbtc_...            # optional; else --token or DBT_CLOUD_API_TOKEN
//	deactivate_after: 5
//	faults: {rate_limit: 2, retry_after: 1, artifact_delay: 10s}
//	accounts:
//	  - id: 1
//	    name: Acme
//	    webhooks: [{name: harvester, url: http://127.0.0.1:8080/webhooks/dbt-cloud, secret: s3cret}]
//	    projects:
//	      - id: 100
//	        name: analytics
//	        environments:
//	          - id: 200
//	            name: Production
//	            deployment_type: production
//	            jobs:
//	              - id: 300
//	                name: Nightly
//	                execute_steps: [dbt run, dbt test]
//	                generate_docs: true
//	                run_generate_sources: true
//	                artifacts: ./target          # relative to the file
//	                runs: [{id: 401}, {id: 402, status: 20, faults: {ignore_step: true}}]
//
// Field names are those of AccountSpec and below (their yaml tags) and of
// Faults; unknown fields are an error.
type File struct {
	Token           string        `yaml:"token"`
	DeactivateAfter int           `yaml:"deactivate_after"`
	Faults          Faults        `yaml:"faults"`
	RetiredHost     bool          `yaml:"retired_host"`
	Accounts        []AccountSpec `yaml:"accounts"`
}

// LoadFile reads a YAML world. Relative artifact folders are resolved
// against the file's folder.
func LoadFile(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("devcloud: %w", err)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return File{}, fmt.Errorf("devcloud: %s: %w", path, err)
	}
	if len(f.Accounts) == 0 {
		return File{}, fmt.Errorf("devcloud: %s: no accounts", path)
	}
	base := filepath.Dir(path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for ai := range f.Accounts {
		for pi := range f.Accounts[ai].Projects {
			p := &f.Accounts[ai].Projects[pi]
			for ei := range p.Environments {
				for ji := range p.Environments[ei].Jobs {
					j := &p.Environments[ei].Jobs[ji]
					abs(&j.ArtifactsDir)
					for ri := range j.Runs {
						abs(&j.Runs[ri].ArtifactsDir)
					}
				}
			}
		}
	}
	return f, nil
}

// Apply puts the file's world, token and faults into cfg; a fault already
// set in cfg (by a flag, say) wins.
func (f File) Apply(cfg *Config) error {
	if len(f.Accounts) == 0 {
		return errors.New("devcloud: the world has no accounts")
	}
	cfg.Accounts = f.Accounts
	if cfg.Token == "" {
		cfg.Token = f.Token
	}
	if cfg.DeactivateAfter == 0 {
		cfg.DeactivateAfter = f.DeactivateAfter
	}
	cfg.RetiredHost = cfg.RetiredHost || f.RetiredHost
	ff := f.Faults
	cfg.Latency = cmp.Or(cfg.Latency, ff.Latency)
	cfg.ArtifactDelay = cmp.Or(cfg.ArtifactDelay, ff.ArtifactDelay)
	cfg.Fail5xxRate = cmp.Or(cfg.Fail5xxRate, ff.Fail5xxRate)
	for _, p := range []struct {
		dst *int
		v   int
	}{
		{&cfg.Fail5xx, ff.Fail5xx}, {&cfg.RateLimit, ff.RateLimit}, {&cfg.RetryAfter, ff.RetryAfter},
		{&cfg.TruncateArtifacts, ff.TruncateArtifacts}, {&cfg.SlowBodyBPS, ff.SlowBodyBPS},
	} {
		if *p.dst == 0 {
			*p.dst = p.v
		}
	}
	cfg.IgnoreStep = cfg.IgnoreStep || ff.IgnoreStep
	return nil
}
