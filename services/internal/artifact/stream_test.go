package artifact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// walkAll walks doc with s, reading resource-like sections entry by entry
// (nodes with Object, results with ElementsFunc and Object, the rest whole)
// and returns what it read as text. Each node's members as Object reads
// them must be those EachMember reads from the node's bytes where
// LastObjectAt says they are.
func walkAll(s *Stream, doc []byte) (string, error) {
	var out strings.Builder
	err := s.Walk(func(name string) error {
		fmt.Fprintf(&out, "%s:", name)
		switch name {
		case "nodes":
			_, err := s.MembersObject(func(key []byte) error {
				fmt.Fprintf(&out, "[%s", key)
				var read strings.Builder
				isObj, err := s.Object(func(k, v []byte) error {
					fmt.Fprintf(&read, " %s=%s", k, compact(v))
					return nil
				})
				out.WriteString(read.String())
				if isObj && err == nil {
					off, n := s.LastObjectAt()
					if off < 0 || n < 0 || off+int64(n) > int64(len(doc)) {
						return fmt.Errorf("LastObjectAt = %d, %d: outside the document", off, n)
					}
					var again strings.Builder
					_, err := EachMember(doc[off:off+int64(n)], func(k, v []byte) error {
						fmt.Fprintf(&again, " %s=%s", k, compact(v))
						return nil
					})
					if err != nil || again.String() != read.String() {
						return fmt.Errorf("at %d+%d EachMember reads %q, %v; Object read %q", off, n, again.String(), err, read.String())
					}
				}
				out.WriteString("]")
				return err
			})
			return err
		case "results":
			_, err := s.ElementsFunc(func() error {
				_, err := s.Object(func(k, v []byte) error {
					fmt.Fprintf(&out, " %s=%s", k, compact(v))
					return nil
				})
				return err
			})
			return err
		case "skip":
			return s.Skip()
		}
		v, err := s.Value()
		fmt.Fprintf(&out, "%s;", compact(v))
		return err
	})
	return out.String(), err
}

func compact(v []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return "!" + string(v)
	}
	return b.String()
}

func TestStreamBufferSizes(t *testing.T) {
	doc := `{"metadata": {"dbt_schema_version": "x"}, "nodes": {"a": {"k": "v\\\\", "q": "say \"hi\"", "n": [1, {"x": null}], "e": {}},
	  "b.c": {}}, "skip": {"deep": [[["]"]]]}, "results": [{"s": 1.5e3}, {"t": true}], "last": "\u00e9\""}`
	want, err := walkAll(NewStream(strings.NewReader(doc), KindManifest), []byte(doc))
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	for size := 1; size < 40; size++ {
		got, err := walkAll(newStreamSize(iotest.OneByteReader(strings.NewReader(doc)), KindManifest, size), []byte(doc))
		if err != nil || got != want {
			t.Fatalf("buffer %d: walk = %q, %v; want %q", size, got, err, want)
		}
	}
}

// FuzzStream walks arbitrary documents with tiny and large buffers: it must
// never panic, fail only with permanent errors, and read the same whatever
// the buffer size.
func FuzzStream(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte(`{"nodes": {"a": {"k": "v\\\\\"", "n": [1, {"x": null}]}}, "results": [{"s": 1}], "x": "\\"}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		want, werr := walkAll(NewStream(bytes.NewReader(doc), KindManifest), doc)
		if werr != nil && !retry.IsPermanent(werr) {
			t.Fatalf("walk = %v, want a permanent error", werr)
		}
		for _, size := range []int{1, 3, 16} {
			got, err := walkAll(newStreamSize(iotest.HalfReader(bytes.NewReader(doc)), KindManifest, size), doc)
			if (err == nil) != (werr == nil) || got != want {
				t.Fatalf("buffer %d: walk = %q, %v; want %q, %v", size, got, err, want, werr)
			}
		}
		if werr != nil && json.Valid(doc) && bytes.HasPrefix(bytes.TrimLeft(doc, " \t\r\n"), []byte("{")) {
			t.Fatalf("walk of a valid JSON object = %v", werr)
		}
		if werr == nil && !json.Valid(doc) {
			// The scanner tracks only strings and brackets: note, do not fail.
			t.Logf("lenient: accepted invalid JSON")
		}
	})
}

// FuzzRaw feeds arbitrary values to the raw readers.
func FuzzRaw(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = EachMember(raw, func(k, v []byte) error { RawText(v); RawTextList(v); RawNumber(v); Member(v, "x"); return nil })
		_, _ = EachElement(raw, func(v []byte) error { AppendCompact(nil, v); return nil })
		RawText(raw)
		RawTextList(raw)
		if out, ok := AppendCompact(nil, raw); ok && !json.Valid(out) {
			t.Fatalf("AppendCompact(%q) = %q, not valid JSON", raw, out)
		}
	})
}

func TestRawNumber(t *testing.T) {
	for _, s := range []string{"0", "1", "-2", "0.764", "1.5e3", "12345.678901", "123456789012345", "1234567890123456", "0.1", "-0.30000000000000004", `"12"`, "007", "1.", ".5"} {
		want, werr := strconv.ParseFloat(strings.Trim(s, `"`), 64)
		got := RawNumber([]byte(s))
		if got.Set != (werr == nil) || got.Set && got.Value != want {
			t.Errorf("RawNumber(%s) = %+v, want %v (%v)", s, got, want, werr)
		}
	}
	for _, s := range []string{"null", "true", "{}", "[1]", ""} {
		if got := RawNumber([]byte(s)); got.Set {
			t.Errorf("RawNumber(%s) = %+v, want unset", s, got)
		}
	}
}
