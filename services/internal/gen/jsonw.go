package gen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
)

// jsonWriter streams one JSON document. Errors are sticky: after the first
// failure every call is a no-op and err reports it.
type jsonWriter struct {
	w   *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
	err error
}

func newJSONWriter(w io.Writer) *jsonWriter {
	j := &jsonWriter{w: bufio.NewWriterSize(w, 1<<18)}
	j.enc = json.NewEncoder(&j.buf)
	j.enc.SetEscapeHTML(false) // dbt (Python's json) does not escape <, > and &
	return j
}

// raw writes s verbatim.
func (j *jsonWriter) raw(s string) {
	if j.err != nil {
		return
	}
	_, j.err = j.w.WriteString(s)
}

// value writes v encoded as compact JSON.
func (j *jsonWriter) value(v any) {
	if j.err != nil {
		return
	}
	j.buf.Reset()
	if j.err = j.enc.Encode(v); j.err != nil {
		return
	}
	b := j.buf.Bytes()
	_, j.err = j.w.Write(b[:len(b)-1]) // Encode appends a newline
}

func (j *jsonWriter) flush() error {
	if j.err != nil {
		return j.err
	}
	return j.w.Flush()
}

// object streams the members of one JSON object.
type object struct {
	j *jsonWriter
	n int
}

// open writes "{" (or `"key":{` when key is not empty) and returns the object.
func (j *jsonWriter) open(key string) *object {
	if key != "" {
		j.value(key)
		j.raw(":")
	}
	j.raw("{")
	return &object{j: j}
}

// key writes the separator and key of the next member; the caller writes its value.
func (o *object) key(k string) {
	if o.n > 0 {
		o.j.raw(",")
	}
	o.n++
	o.j.value(k)
	o.j.raw(":")
}

// member writes one "k": v member.
func (o *object) member(k string, v any) {
	o.key(k)
	o.j.value(v)
}

// nested opens a member whose value is an object streamed by the caller.
func (o *object) nested(k string) *object {
	o.key(k)
	o.j.raw("{")
	return &object{j: o.j}
}

func (o *object) close() { o.j.raw("}") }

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// marshalNoEscape is json.Marshal without HTML escaping, as dbt writes JSON.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}
