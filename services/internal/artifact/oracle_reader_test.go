package artifact

// The typed readers of these oracle_*_test.go files decode dbt artifacts
// with go-json-experiment's jsontext decoder into structs of lenient types:
// the way this package read artifacts before [Stream]. Production code
// never calls them; tests use them as an independent oracle for what the
// streaming reader and the raw readers (RawText, RawNumber, ...) must read
// from the same documents (see TestCorpusOracle).

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dbt-harvester/harvester/services/internal/retry"
	"github.com/go-json-experiment/json/jsontext"
)

// maxEntryWarnings caps the per-entry warnings an artifact reports one by
// one; the rest are counted in a single warning.
const maxEntryWarnings = 20

// reader walks one artifact with a jsontext.Decoder. Its methods return
// decoding errors already classified as Permanent with the byte offset;
// errors from callbacks pass through them unchanged.
type reader struct {
	ctxErr  func() error // the context's Err
	dec     *jsontext.Decoder
	kind    Kind
	info    Info
	skipped int
	sawMeta bool
	onMeta  func(Metadata, Version) error
}

func newReader(ctx context.Context, r io.Reader, kind Kind) *reader {
	return &reader{
		ctxErr: ctx.Err,
		dec:    jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)),
		kind:   kind,
		info:   Info{Entries: map[string]int{}},
	}
}

// malformed classifies a decoding error: the artifact cannot be read, and
// reading it again will not help.
func (rd *reader) malformed(err error) error {
	offset := rd.dec.InputOffset()
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		offset = syn.ByteOffset
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return retry.Permanent(fmt.Errorf("read %s: malformed at byte %d: %w", rd.kind.FileName(), offset, err))
}

func (rd *reader) token() (jsontext.Token, error) {
	tok, err := rd.dec.ReadToken()
	if err != nil {
		return tok, rd.malformed(err)
	}
	return tok, nil
}

func (rd *reader) skip() error {
	if err := rd.dec.SkipValue(); err != nil {
		return rd.malformed(err)
	}
	return nil
}

// entry decodes the next value into v, warning (not failing) on fields of an
// unexpected type.
func (rd *reader) entry(where string, v any) error {
	skipped, err := decodeEntry(rd.dec, v)
	if err != nil {
		return rd.malformed(err)
	}
	if skipped != nil {
		rd.skipped++
		if rd.skipped <= maxEntryWarnings {
			rd.warnf("%s: %s: part of the entry not understood and skipped: %v", rd.kind.FileName(), where, skipped)
		}
	}
	return nil
}

func (rd *reader) warnf(format string, args ...any) {
	rd.info.Warnings = append(rd.info.Warnings, fmt.Sprintf(format, args...))
}

// walk reads the top-level object, calling member for each member name;
// member reports whether it consumed the value (else it is skipped).
// metadata is handled here.
func (rd *reader) walk(member func(name string) (bool, error)) error {
	if err := rd.open(); err != nil {
		return err
	}
	for {
		tok, err := rd.token()
		if err != nil {
			return err
		}
		if tok.Kind() == '}' {
			break
		}
		name := tok.String()
		if name == "metadata" {
			if err := rd.metadata(); err != nil {
				return err
			}
			continue
		}
		done, err := member(name)
		if err != nil {
			return err
		}
		if !done {
			if err := rd.skip(); err != nil {
				return err
			}
		}
	}
	if _, err := rd.dec.ReadToken(); err != io.EOF {
		return rd.malformed(fmt.Errorf("data after the top-level object: %v", err))
	}
	if !rd.sawMeta {
		return rd.version("")
	}
	return nil
}

// open reads the opening brace of the top-level object.
func (rd *reader) open() error {
	start := rd.dec.InputOffset()
	tok, err := rd.token()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return retry.Permanent(fmt.Errorf("read %s: malformed at byte %d: top-level value is %v, not an object",
			rd.kind.FileName(), start, tok.Kind()))
	}
	return nil
}

// oracleMetadata is Metadata decoded by the lenient types.
type oracleMetadata struct {
	SchemaVersion Text              `json:"dbt_schema_version"`
	DBTVersion    Text              `json:"dbt_version"`
	GeneratedAt   Text              `json:"generated_at"`
	InvocationID  Text              `json:"invocation_id"`
	AdapterType   Text              `json:"adapter_type"`
	ProjectName   Text              `json:"project_name"`
	Env           map[string]string `json:"env"`
}

func (rd *reader) metadata() error {
	var m oracleMetadata
	if err := rd.entry("metadata", &m); err != nil {
		return err
	}
	rd.info.Metadata = Metadata{SchemaVersion: string(m.SchemaVersion), DBTVersion: string(m.DBTVersion),
		GeneratedAt: string(m.GeneratedAt), InvocationID: string(m.InvocationID), AdapterType: string(m.AdapterType),
		ProjectName: string(m.ProjectName), Env: m.Env}
	rd.sawMeta = true
	if err := rd.version(string(rd.info.Metadata.SchemaVersion)); err != nil {
		return err
	}
	if rd.onMeta != nil {
		return rd.onMeta(rd.info.Metadata, rd.info.Version)
	}
	return nil
}

func (rd *reader) version(url string) error {
	v, err := resolveVersion(rd.kind, url)
	if err != nil {
		return retry.Permanent(fmt.Errorf("read %s: %w", rd.kind.FileName(), err))
	}
	rd.info.Version = v
	if v.Warning != "" {
		rd.info.Warnings = append(rd.info.Warnings, v.Warning)
	}
	return nil
}

// finish completes the Info after a successful walk.
func (rd *reader) finish() Info {
	if rd.skipped > maxEntryWarnings {
		rd.warnf("%s: %d more entries partly not understood", rd.kind.FileName(), rd.skipped-maxEntryWarnings)
	}
	return rd.info
}

// members calls fn for each member of the object that is the next value,
// with the member name; fn must consume the member's value. null is an empty
// object; any other value is skipped with a warning.
func (rd *reader) members(section string, fn func(key string) error) error {
	switch rd.dec.PeekKind() {
	case 'n':
		_, err := rd.token()
		return err
	case '{':
	default:
		rd.warnf("%s: %s is not an object; skipped", rd.kind.FileName(), section)
		return rd.skip()
	}
	if _, err := rd.token(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		tok, err := rd.token()
		if err != nil {
			return err
		}
		if tok.Kind() == '}' {
			return nil
		}
		if err := rd.tick(n); err != nil {
			return err
		}
		if err := fn(tok.String()); err != nil {
			return err
		}
		rd.info.Entries[section]++
	}
}

// elements calls fn for each element of the array that is the next value;
// fn must consume the element. null is an empty array; any other value is
// skipped with a warning.
func (rd *reader) elements(section string, fn func() error) error {
	switch rd.dec.PeekKind() {
	case 'n':
		_, err := rd.token()
		return err
	case '[':
	default:
		rd.warnf("%s: %s is not an array; skipped", rd.kind.FileName(), section)
		return rd.skip()
	}
	if _, err := rd.token(); err != nil {
		return err
	}
	for n := 0; rd.dec.PeekKind() != ']'; n++ {
		if err := rd.tick(n); err != nil {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
		rd.info.Entries[section]++
	}
	_, err := rd.token()
	return err
}

// tick checks for cancellation every 512 entries.
func (rd *reader) tick(n int) error {
	if n%512 == 0 {
		return rd.ctxErr()
	}
	return nil
}
