package artifact

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Text is a string that accepts any JSON value: a string as is, a number or
// boolean as its JSON text, null as "", an object or array as its compact JSON.
// dbt has changed the JSON type of several fields across versions (a model's
// version is 2 or "2"); Text keeps whatever was written.
type Text string

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (t *Text) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '{', '[':
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		*t = Text(v)
		return nil
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		*t = ""
	default:
		*t = Text(tok.String())
	}
	return nil
}

// TextList is a list of strings that also accepts a single string (dbt allows
// `tags: nightly` as well as `tags: [nightly]`) and null. Non-string items are
// kept as their JSON text.
type TextList []string

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (l *TextList) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		out := make([]string, 0, 4)
		for dec.PeekKind() != ']' {
			var t Text
			if err := t.UnmarshalJSONFrom(dec); err != nil {
				return err
			}
			out = append(out, string(t))
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		*l = out
		return nil
	case 'n':
		_, err := dec.ReadToken()
		*l = nil
		return err
	}
	var t Text
	if err := t.UnmarshalJSONFrom(dec); err != nil {
		return err
	}
	if t != "" {
		*l = TextList{string(t)}
	}
	return nil
}

// Time is a timestamp as dbt writes it: RFC 3339, or without a zone (UTC is
// assumed), or with a space for the T. Anything unparseable is left unset.
type Time struct {
	time.Time
	Set bool
}

// Ptr is the time as a pointer, nil when unset.
func (t Time) Ptr() *time.Time {
	if !t.Set {
		return nil
	}
	v := t.Time
	return &v
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (t *Time) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	var s Text
	if err := s.UnmarshalJSONFrom(dec); err != nil {
		return err
	}
	t.Time, t.Set = ParseTime(string(s))
	return nil
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (n *Number) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	var s Text
	if err := s.UnmarshalJSONFrom(dec); err != nil {
		return err
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
	n.Value, n.Set = f, err == nil
	return nil
}

// Object is a free-form JSON object (meta, kwargs, adapter_response). A value
// that is not an object (null, a list), and an empty object, leave it nil.
type Object map[string]any

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (o *Object) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	if b := dec.UnreadBuffer(); len(b) > 1 && b[0] == '{' && b[1] == '}' {
		return dec.SkipValue() // the common empty object, without allocating a map
	}
	var m map[string]any
	if err := json.UnmarshalDecode(dec, &m); err != nil {
		return err
	}
	*o = m
	return nil
}

// Owner is an owner as dbt writes it: an object with name and email
// (exposures, groups) or a plain string (meta.owner).
type Owner struct {
	Name  Text `json:"name"`
	Email Text `json:"email"`
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (o *Owner) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		return o.Name.UnmarshalJSONFrom(dec)
	}
	type plain Owner
	return json.UnmarshalDecode(dec, (*plain)(o))
}

// decodeEntry decodes the next value of dec into v. A semantic error (a
// field of an unexpected JSON type) does not stop the read: the rest of the
// value is skipped, v keeps what was decoded before the error, and the error
// is returned as skipped so that the caller can warn. Syntactic and I/O errors
// are returned as err.
func decodeEntry(dec *jsontext.Decoder, v any) (skipped, err error) {
	depth, before := dec.StackDepth(), dec.InputOffset()
	err = json.UnmarshalDecode(dec, v)
	if err == nil {
		return nil, nil
	}
	var se *json.SemanticError
	if !errors.As(err, &se) || isSyntactic(err) {
		return nil, err
	}
	if dec.StackDepth() == depth && dec.InputOffset() == before {
		if err := dec.SkipValue(); err != nil {
			return nil, err
		}
		return se, nil
	}
	for dec.StackDepth() > depth {
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
	}
	return se, nil
}

func isSyntactic(err error) bool {
	var syn *jsontext.SyntacticError
	return errors.As(err, &syn)
}
