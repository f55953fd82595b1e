package normalize

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// knownArtifacts are the files OpenPaths reads.
func knownArtifacts() []string {
	return []string{events.ManifestJSON, events.RunResultsJSON, events.CatalogJSON, events.SourcesJSON, events.SemanticManifestJSON}
}

// OpenPaths opens local artifacts as an Input: each path is a dbt target/
// folder (the known artifacts in it), or an artifact file recognised by its
// name, else by its dbt_schema_version. A manifest.json is required; two
// files of one kind are an error. The returned function closes the files.
func OpenPaths(paths []string) (Input, func(), error) {
	files, err := findArtifacts(paths)
	if err != nil {
		return Input{}, nil, err
	}
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	readers := map[string]io.Reader{}
	for name, path := range files {
		f, err := os.Open(path)
		if err != nil {
			closeAll()
			return Input{}, nil, fmt.Errorf("normalize: %w", err)
		}
		opened = append(opened, f)
		readers[name] = bufio.NewReaderSize(f, 256<<10)
	}
	in := Input{
		Manifest:         readers[events.ManifestJSON],
		RunResults:       readers[events.RunResultsJSON],
		Catalog:          readers[events.CatalogJSON],
		Sources:          readers[events.SourcesJSON],
		SemanticManifest: readers[events.SemanticManifestJSON],
		ReopenManifest: func() (io.ReadCloser, error) {
			f, err := os.Open(files[events.ManifestJSON])
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{bufio.NewReaderSize(f, 256<<10), f}, nil
		},
	}
	return in, closeAll, nil
}

// findArtifacts maps artifact file names (manifest.json, ...) to paths.
func findArtifacts(paths []string) (map[string]string, error) {
	files := map[string]string{}
	add := func(name, path string) error {
		if prev, ok := files[name]; ok && prev != path {
			return fmt.Errorf("normalize: two %s: %s and %s", name, prev, path)
		}
		files[name] = path
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("normalize: %w", err)
		}
		if st.IsDir() {
			for _, name := range knownArtifacts() {
				if _, err := os.Stat(filepath.Join(p, name)); err == nil {
					if err := add(name, filepath.Join(p, name)); err != nil {
						return nil, err
					}
				}
			}
			continue
		}
		name, err := artifactName(p)
		if err != nil {
			return nil, err
		}
		if err := add(name, p); err != nil {
			return nil, err
		}
	}
	if files[events.ManifestJSON] == "" {
		return nil, fmt.Errorf("normalize: no manifest.json in %s", strings.Join(paths, ", "))
	}
	return files, nil
}

// artifactName recognises a file by its name, else by its content.
func artifactName(path string) (string, error) {
	if base := filepath.Base(path); slices.Contains(knownArtifacts(), base) {
		return base, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("normalize: %w", err)
	}
	defer f.Close()
	kind, err := artifact.Sniff(bufio.NewReader(f))
	if err != nil {
		return "", fmt.Errorf("normalize: %s: %w", path, err)
	}
	name := kind.FileName()
	if kind == "" || !slices.Contains(knownArtifacts(), name) {
		return "", fmt.Errorf("normalize: %s is not a dbt artifact this command reads", path)
	}
	return name, nil
}
