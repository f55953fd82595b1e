package artifact

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// The functions below read raw JSON values handed out by [Stream] without
// reflection. They never panic on malformed input: they report it.

var errMalformed = errors.New("malformed JSON value")

// trimWS strips leading and trailing JSON whitespace.
func trimWS(b []byte) []byte {
	for len(b) > 0 && isWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// valueEnd finds the end of the value starting at b[i].
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errMalformed
	}
	switch c := b[i]; {
	case c == '"':
		for j := i + 1; ; {
			j = quoteOrBackslash(b, j)
			if j >= len(b) {
				return 0, errMalformed
			}
			if b[j] == '"' {
				return j + 1, nil
			}
			j += 2
		}
	case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
		j := i + 1
		for j < len(b) && byteClass[b[j]] == '0' {
			j++
		}
		return j, nil
	}
	var sk skipper
	end, done, err := sk.scan(b, i)
	if err != nil {
		return 0, err
	}
	if !done {
		if end, ok := sk.atEOF(end); ok {
			return end, nil
		}
		return 0, errMalformed
	}
	return end, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// EachMember calls fn with each member of the object raw: the member name as
// written between its quotes (escapes undone when there are any) and the
// value's raw bytes. A value that is not an object is not iterated and
// reported as false (null too); fn's error stops the walk.
func EachMember(raw []byte, fn func(key []byte, val []byte) error) (bool, error) {
	it, ok := members(raw)
	if !ok {
		return false, nil
	}
	for {
		k, v, more, err := it.next()
		if err != nil || !more {
			return true, err
		}
		if err := fn(k, v); err != nil {
			return true, err
		}
	}
}

// memberIter walks an object's members without allocating.
type memberIter struct {
	raw   []byte
	i     int
	first bool
}

func members(raw []byte) (memberIter, bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return memberIter{}, false
	}
	return memberIter{raw: raw, i: skipWS(raw, i+1), first: true}, true
}

func (it *memberIter) next() (key, val []byte, more bool, err error) {
	raw, i := it.raw, it.i
	if i < len(raw) && raw[i] == '}' {
		return nil, nil, false, nil
	}
	if !it.first {
		if i >= len(raw) || raw[i] != ',' {
			return nil, nil, false, errMalformed
		}
		i = skipWS(raw, i+1)
	}
	it.first = false
	if i >= len(raw) || raw[i] != '"' {
		return nil, nil, false, errMalformed
	}
	end := quoteOrBackslash(raw, i+1)
	if end < len(raw) && raw[end] == '"' { // no escapes: the common case
		key, end = raw[i+1:end], end+1
	} else {
		if end, err = valueEnd(raw, i); err != nil {
			return nil, nil, false, err
		}
		s, ok := unquote(raw[i:end])
		if !ok {
			return nil, nil, false, errMalformed
		}
		key = []byte(s)
	}
	i = skipWS(raw, end)
	if i >= len(raw) || raw[i] != ':' {
		return nil, nil, false, errMalformed
	}
	i = skipWS(raw, i+1)
	if i >= len(raw) {
		return nil, nil, false, errMalformed
	}
	end, err = valueEnd(raw, i)
	if err != nil {
		return nil, nil, false, err
	}
	val = raw[i:end]
	it.i = skipWS(raw, end)
	if it.i >= len(raw) {
		return nil, nil, false, errMalformed
	}
	return key, val, true, nil
}

// EachElement calls fn with each element of the array raw; as EachMember.
func EachElement(raw []byte, fn func(val []byte) error) (bool, error) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false, nil
	}
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return true, nil
	}
	for i < len(raw) {
		end, err := valueEnd(raw, i)
		if err != nil {
			return true, err
		}
		if err := fn(raw[i:end]); err != nil {
			return true, err
		}
		i = skipWS(raw, end)
		if i >= len(raw) {
			break
		}
		switch raw[i] {
		case ']':
			return true, nil
		case ',':
			i = skipWS(raw, i+1)
		default:
			return true, errMalformed
		}
	}
	return true, errMalformed
}

// unquote decodes a JSON string literal.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return string(in), true
	}
	out, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return "", false
	}
	return string(out), true
}

// RawText is a raw value as text: a string's contents, null as "", a
// number or boolean as its JSON text, an object or array as its JSON. dbt
// has changed the JSON type of several fields across versions (a model's
// version is 2 or "2"); RawText keeps whatever was written.
func RawText(raw []byte) string {
	raw = trimWS(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		s, ok := unquote(raw)
		if !ok {
			return string(raw[1:max(1, len(raw)-1)])
		}
		return s
	case 'n':
		if string(raw) == "null" {
			return ""
		}
	}
	return string(raw)
}

// IsString reports whether raw is a JSON string.
func IsString(raw []byte) bool {
	raw = trimWS(raw)
	return len(raw) > 1 && raw[0] == '"'
}

// IsArray reports whether raw is a JSON array.
func IsArray(raw []byte) bool {
	raw = trimWS(raw)
	return len(raw) > 0 && raw[0] == '['
}

// IsObject reports whether raw is a JSON object.
func IsObject(raw []byte) bool {
	raw = trimWS(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// IsEmptyObject reports whether raw is an object without members (or not an object).
func IsEmptyObject(raw []byte) bool {
	raw = trimWS(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return true
	}
	return len(trimWS(raw[1:])) == 1
}

// RawTextList is a list of strings that also accepts a single string (dbt
// allows `tags: nightly` as well as `tags: [nightly]`) and null (nil).
// Items are read by [RawText].
func RawTextList(raw []byte) []string {
	raw = trimWS(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] != '[' {
		if t := RawText(raw); t != "" {
			return []string{t}
		}
		return nil
	}
	var out []string
	_, _ = EachElement(raw, func(v []byte) error { // leniently: the list ends where it cannot be read
		out = append(out, RawText(v))
		return nil
	})
	return out
}

// Number is a number read by [RawNumber]: Set is false when the value was
// not a number nor a numeric string.
type Number struct {
	Value float64
	Set   bool
}

// RawNumber reads a JSON number or a numeric string (dbt wrote some numbers
// as strings); null and anything else are unset.
func RawNumber(raw []byte) Number {
	raw = trimWS(raw)
	if len(raw) == 0 || raw[0] == 'n' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return Number{}
	}
	if f, ok := simpleDecimal(raw); ok {
		return Number{Value: f, Set: true}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(RawText(raw)), 64)
	return Number{Value: f, Set: err == nil}
}

// simpleDecimal parses -?d+(.d+)? of at most 15 digits exactly as
// strconv.ParseFloat does (both parts are exact in a float64, and one
// division rounds correctly), without allocating.
func simpleDecimal(b []byte) (float64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var mant uint64
	digits, frac, dot := 0, 0, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot && digits > 0:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 || dot && frac == 0 {
		return 0, false
	}
	f := float64(mant)
	if frac > 0 {
		f /= [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

// ParseTime parses a timestamp as dbt writes it: RFC 3339, or without a
// zone (UTC is assumed), or with a space for the T.
func ParseTime(s string) (time.Time, bool) {
	for _, layout := range [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// RawBool reads true; anything else is false.
func RawBool(raw []byte) bool {
	return string(trimWS(raw)) == "true"
}

// Member returns the raw value of the member named key of the object raw,
// nil when absent.
func Member(raw []byte, key string) []byte {
	it, ok := members(raw)
	if !ok {
		return nil
	}
	for {
		k, v, more, err := it.next()
		if err != nil || !more {
			return nil
		}
		if string(k) == key {
			return v
		}
	}
}

// AppendCompact appends raw compacted, when it is valid JSON; it reports
// false (appending nothing) when it is not.
func AppendCompact(dst, raw []byte) ([]byte, bool) {
	n := len(dst)
	dst = append(dst, raw...)
	v := jsontext.Value(dst[n:])
	if err := v.Compact(jsontext.AllowDuplicateNames(true)); err != nil {
		return dst[:n], false
	}
	return append(dst[:n], v...), true
}

// ParseMetadata reads an artifact's metadata member (raw, as [Stream.Value]
// hands it out) and routes its version: the artifact is read as the version
// it declares when known, else as the closest known one with
// [Version.Warning]; an artifact of another kind is an error. Metadata that
// is not an object (null) reads as empty; values of another JSON type than
// string are kept as [RawText] reads them.
func ParseMetadata(kind Kind, raw []byte) (Metadata, Version, error) {
	var m Metadata
	_, err := EachMember(raw, func(key, val []byte) error {
		switch string(key) {
		case "dbt_schema_version":
			m.SchemaVersion = RawText(val)
		case "dbt_version":
			m.DBTVersion = RawText(val)
		case "generated_at":
			m.GeneratedAt = RawText(val)
		case "invocation_id":
			m.InvocationID = RawText(val)
		case "adapter_type":
			m.AdapterType = RawText(val)
		case "project_name":
			m.ProjectName = RawText(val)
		case "env":
			m.Env = nil
			_, err := EachMember(val, func(k, v []byte) error {
				if m.Env == nil {
					m.Env = map[string]string{}
				}
				m.Env[string(k)] = RawText(v)
				return nil
			})
			return err
		}
		return nil
	})
	if err != nil {
		return m, Version{}, err
	}
	v, err := resolveVersion(kind, m.SchemaVersion)
	return m, v, err
}

// MissingVersion is the Version of an artifact without metadata.
func MissingVersion(kind Kind) Version {
	v, _ := resolveVersion(kind, "")
	return v
}
