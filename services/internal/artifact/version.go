package artifact

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind names an artifact as its dbt_schema_version URL does:
// https://schemas.getdbt.com/dbt/<kind>/v<N>.json.
type Kind string

// The artifact kinds this package reads.
const (
	KindManifest         Kind = "manifest"
	KindRunResults       Kind = "run-results"
	KindCatalog          Kind = "catalog"
	KindSources          Kind = "sources"
	KindSemanticManifest Kind = "semantic-manifest"
)

// FileName is the file dbt writes an artifact of kind k to.
func (k Kind) FileName() string {
	switch k {
	case KindManifest:
		return "manifest.json"
	case KindRunResults:
		return "run_results.json"
	case KindCatalog:
		return "catalog.json"
	case KindSources:
		return "sources.json"
	case KindSemanticManifest:
		return "semantic_manifest.json"
	}
	return string(k)
}

// KnownVersions lists the schema versions of kind k read natively, in
// ascending order. Manifest v20 is the Fusion engine's, which matches v12.
func KnownVersions(k Kind) []int {
	switch k {
	case KindManifest:
		return []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20}
	case KindRunResults:
		return []int{1, 2, 3, 4, 5, 6}
	case KindCatalog:
		return []int{1}
	case KindSources:
		return []int{1, 2, 3}
	case KindSemanticManifest:
		return []int{1}
	}
	return nil
}

// Metadata is an artifact's metadata object, as [ParseMetadata] reads it.
type Metadata struct {
	SchemaVersion string // dbt_schema_version
	DBTVersion    string // dbt_version
	GeneratedAt   string // generated_at
	InvocationID  string // invocation_id
	AdapterType   string // adapter_type
	ProjectName   string // project_name
	Env           map[string]string
}

// Version is a parsed dbt_schema_version.
type Version struct {
	Kind Kind
	// Written is the version number the artifact declares (0 when absent or unparseable).
	Written int
	// Read is the known version the artifact is read as: Written when known,
	// else the closest known one.
	Read int
	// Warning says why Read differs from Written; empty when it does not.
	Warning string
}

// ParseSchemaVersion splits a dbt_schema_version URL into kind and number.
func ParseSchemaVersion(url string) (Kind, int, bool) {
	rest, ok := strings.CutPrefix(url, "https://schemas.getdbt.com/dbt/")
	if !ok {
		rest, ok = strings.CutPrefix(url, "http://schemas.getdbt.com/dbt/")
	}
	if !ok {
		return "", 0, false
	}
	kind, file, ok := strings.Cut(rest, "/")
	if !ok {
		return "", 0, false
	}
	num, ok := strings.CutPrefix(strings.TrimSuffix(file, ".json"), "v")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return "", 0, false
	}
	return Kind(kind), n, true
}

// resolveVersion routes an artifact expected to be of kind want on its
// declared schema version. A different kind is an error; an unknown or
// missing version is read as the closest known one, with a warning.
func resolveVersion(want Kind, url string) (Version, error) {
	known := KnownVersions(want)
	latest := 0
	if len(known) > 0 {
		latest = known[len(known)-1]
	}
	if url == "" {
		return Version{Kind: want, Read: latest,
			Warning: fmt.Sprintf("%s has no metadata.dbt_schema_version; read as v%d", want.FileName(), latest)}, nil
	}
	kind, n, ok := ParseSchemaVersion(url)
	if !ok {
		return Version{Kind: want, Read: latest,
			Warning: fmt.Sprintf("%s: schema version %q not understood; read as v%d", want.FileName(), url, latest)}, nil
	}
	if kind != want {
		return Version{}, fmt.Errorf("%s: dbt_schema_version %q is a %s artifact, not %s", want.FileName(), url, kind, want)
	}
	v := Version{Kind: kind, Written: n, Read: closest(known, n)}
	if v.Read != n {
		v.Warning = fmt.Sprintf("%s: unknown schema version v%d; read as v%d", want.FileName(), n, v.Read)
	}
	return v, nil
}

// closest is the known version nearest to n, the lower one on a tie.
func closest(known []int, n int) int {
	best := 0
	for _, k := range known {
		if best == 0 || abs(k-n) < abs(best-n) {
			best = k
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Sniff reads just enough of an artifact to tell its kind: its
// metadata.dbt_schema_version, or, for semantic_manifest.json (which has no
// metadata), its project_configuration member. It returns "" when the
// document says neither, and a retry.Permanent error when it is not a JSON
// object.
func Sniff(r io.Reader) (Kind, error) {
	s := NewStream(r, "artifact")
	var kind Kind
	err := s.Walk(func(name string) error {
		switch name {
		case "metadata":
			raw, err := s.Value()
			if err != nil {
				return err
			}
			if k, _, ok := ParseSchemaVersion(RawText(Member(raw, "dbt_schema_version"))); ok {
				kind = k
				return errSniffed
			}
		case "project_configuration":
			kind = KindSemanticManifest
			return errSniffed
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSniffed) {
		return "", err
	}
	return kind, nil
}

// errSniffed stops Sniff's walk once the kind is known.
var errSniffed = errors.New("kind found")
