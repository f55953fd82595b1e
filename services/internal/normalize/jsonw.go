package normalize

import (
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// obj appends the members of one JSON object, writing the commas.
type obj struct {
	b     []byte
	first bool
}

func (o *obj) open() { o.b = append(o.b, '{'); o.first = true }

func (o *obj) close() { o.b = append(o.b, '}') }

func (o *obj) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *obj) str(k, v string) { o.key(k); o.b = appendString(o.b, v) }

// strOmit writes a string member unless it is empty (omitempty).
func (o *obj) strOmit(k, v string) {
	if v != "" {
		o.str(k, v)
	}
}

// text writes a raw value as a string member (see artifact.RawText).
func (o *obj) text(k string, raw []byte) { o.key(k); o.b = appendRawText(o.b, raw) }

func (o *obj) textOmit(k string, raw []byte) {
	if isEmptyText(raw) {
		return
	}
	o.text(k, raw)
}

func (o *obj) int(k string, v int64) { o.key(k); o.b = strconv.AppendInt(o.b, v, 10) }

func (o *obj) float(k string, v float64) { o.key(k); o.b = appendFloat(o.b, v) }

func (o *obj) boolean(k string, v bool) { o.key(k); o.b = strconv.AppendBool(o.b, v) }

func (o *obj) strings(k string, list []string) {
	o.key(k)
	o.b = append(o.b, '[')
	for i, s := range list {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendString(o.b, s)
	}
	o.b = append(o.b, ']')
}

func (o *obj) stringsOmit(k string, list []string) {
	if len(list) > 0 {
		o.strings(k, list)
	}
}

// raw writes a member whose value is already JSON.
func (o *obj) raw(k, v string) { o.key(k); o.b = append(o.b, v...) }

func (o *obj) time(k string, unixNano int64) {
	if unixNano == 0 {
		return
	}
	o.key(k)
	o.b = append(o.b, '"')
	o.b = time.Unix(0, unixNano).UTC().AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
}

// isEmptyText reports whether raw reads as "" (absent, null or "").
func isEmptyText(raw []byte) bool {
	switch string(raw) {
	case "", "null", `""`:
		return true
	}
	return false
}

// appendRawText appends raw (a JSON value) as a JSON string holding what
// artifact.RawText reads; a plain string is copied as it is.
func appendRawText(dst, raw []byte) []byte {
	if len(raw) > 1 && raw[0] == '"' && raw[len(raw)-1] == '"' && plain(raw[1:len(raw)-1]) {
		return append(dst, raw...)
	}
	return appendString(dst, artifact.RawText(raw))
}

// plain reports whether s needs no escaping as encoding/json writes strings.
func plain(s []byte) bool {
	return special(s, 0) == len(s)
}

// special is the index of the first byte of s from i that a JSON string
// cannot hold as it is, as encoding/json writes strings (a control byte, a
// quote, a backslash, <, >, &, or any non-ASCII byte), or len(s). It tests
// eight bytes at a time.
func special[T string | []byte](s T, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		var w [8]byte
		copy(w[:], s[i:i+8])
		x := binary.LittleEndian.Uint64(w[:])
		q, b, l, g, a := x^(lo*'"'), x^(lo*'\\'), x^(lo*'<'), x^(lo*'>'), x^(lo*'&')
		m := x | (x-lo*0x20)&^x | (q-lo)&^q | (b-lo)&^b | (l-lo)&^l | (g-lo)&^g | (a-lo)&^a
		if m&hi != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return i
		}
	}
	return i
}

// appendString appends s as a JSON string exactly as encoding/json does
// (HTML characters and U+2028/U+2029 escaped, invalid UTF-8 as U+FFFD).
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if j := special(s, i); j > i {
			i = j
			continue
		}
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendFloat formats f as encoding/json does.
func appendFloat(dst []byte, f float64) []byte {
	abs := f
	if abs < 0 {
		abs = -abs
	}
	fmt := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmt = 'e'
	}
	dst = strconv.AppendFloat(dst, f, fmt, -1, 64)
	if fmt == 'e' {
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// textsOmit writes a raw list (or single value, as artifact.RawTextList
// reads it) as a list of strings, unless it is empty.
func (o *obj) textsOmit(k string, raw []byte) error {
	if !artifact.IsArray(raw) {
		if list := artifact.RawTextList(raw); len(list) > 0 {
			o.strings(k, list)
		}
		return nil
	}
	n, first := len(o.b), o.first
	o.key(k)
	m := len(o.b)
	var err error
	o.b, err = appendUnion(o.b, raw, nil)
	if len(o.b) == m+2 {
		o.b, o.first = o.b[:n], first
	}
	return err
}

// appendUnion appends the items of the raw lists a, then those of b not in
// a, as a list of strings ([] when none); a single value counts as a list.
// A list it cannot read is an error; what it read is written.
func appendUnion(dst, a, b []byte) ([]byte, error) {
	dst = append(dst, '[')
	start := len(dst)
	item := func(v []byte) error {
		if len(dst) > start {
			dst = append(dst, ',')
		}
		dst = appendRawText(dst, v)
		return nil
	}
	err := each(a, item)
	if len(b) > 0 && err == nil {
		err = each(b, func(v []byte) error {
			found := false
			_ = each(a, func(x []byte) error { // a was read whole above
				found = found || string(x) == string(v)
				return nil
			})
			if !found {
				return item(v)
			}
			return nil
		})
	}
	return append(dst, ']'), err
}

// each calls fn with each element of a raw list, or with a single non-null,
// non-empty value; it returns fn's error or the list's.
func each(raw []byte, fn func([]byte) error) error {
	if artifact.IsArray(raw) {
		_, err := artifact.EachElement(raw, fn)
		return err
	}
	if !isEmptyText(raw) {
		return fn(raw)
	}
	return nil
}
