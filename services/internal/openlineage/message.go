package openlineage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dbt-harvester/harvester/services/internal/publish"
)

// MaxRunEvent is the largest RunEvent a message carries: the CloudEvent
// envelope and the NATS headers fit in the rest of NATS's 1 MiB.
const MaxRunEvent = publish.MaxPayload - 64<<10

// Encode is the JSON of a RunEvent (HTML characters unescaped, so SQL reads
// as written), without a trailing newline.
func Encode(ev RunEvent) ([]byte, error) {
	return encodeInto(new(bytes.Buffer), ev)
}

// encodeInto is Encode writing into buf (reset first): the bytes returned
// are buf's, valid until its next use.
func encodeInto(buf *bytes.Buffer, ev RunEvent) ([]byte, error) {
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("openlineage: encode %s %s: %w", ev.Job.Name, ev.EventType, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Fit encodes ev within limit bytes. A RunEvent over it is cut, step by
// step, until it fits: the SQL facet's query is truncated (to what fits,
// keeping at least a quarter of the limit, with a note at its end saying
// so), then the inputs' schema facets are dropped, the outputs' schema
// facets, every dataset facet, and last the SQL facet. The note returned
// says what was cut ("" when nothing was).
func Fit(ev RunEvent, limit int) ([]byte, string, error) {
	return fitInto(new(bytes.Buffer), ev, limit)
}

// fitInto is Fit encoding into buf: the bytes returned are buf's, valid
// until its next use.
func fitInto(buf *bytes.Buffer, ev RunEvent, limit int) ([]byte, string, error) {
	b, err := encodeInto(buf, ev)
	if err != nil || len(b) <= limit {
		return b, "", err
	}
	size := len(b)
	var cut []string
	steps := []struct {
		what string
		do   func() bool // false: nothing to cut at this step
	}{
		{"truncated its SQL", func() bool {
			sql := ev.Job.Facets.SQL
			if sql == nil {
				return false
			}
			keep := len(sql.Query) - (len(b) - limit) - 256 // removing n bytes removes at least n encoded ones
			keep = max(keep, min(len(sql.Query), limit/4))
			if keep >= len(sql.Query) {
				return false
			}
			q := *sql
			q.Query = truncateUTF8(sql.Query, keep) + fmt.Sprintf("\n-- [dbt-harvester: compiled code truncated from %d to %d bytes to fit a 1 MiB message]", len(sql.Query), keep)
			ev.Job.Facets.SQL = &q
			return true
		}},
		{"dropped its inputs' schemas", func() bool {
			ev.Inputs = append([]InputDataset(nil), ev.Inputs...)
			for i := range ev.Inputs {
				if f := ev.Inputs[i].Facets; f != nil {
					g := *f
					g.Schema = nil
					ev.Inputs[i].Facets = &g
				}
			}
			return len(ev.Inputs) > 0
		}},
		{"dropped its outputs' schemas", func() bool {
			ev.Outputs = append([]OutputDataset(nil), ev.Outputs...)
			for i := range ev.Outputs {
				if f := ev.Outputs[i].Facets; f != nil {
					g := *f
					g.Schema = nil
					ev.Outputs[i].Facets = &g
				}
			}
			return len(ev.Outputs) > 0
		}},
		{"dropped its dataset facets", func() bool {
			for i := range ev.Inputs {
				ev.Inputs[i].Facets = nil
			}
			for i := range ev.Outputs {
				ev.Outputs[i].Facets = nil
			}
			return len(ev.Inputs)+len(ev.Outputs) > 0
		}},
		{"dropped its SQL", func() bool {
			had := ev.Job.Facets.SQL != nil
			ev.Job.Facets.SQL = nil
			return had
		}},
		{"truncated its documentation", func() bool {
			doc := ev.Job.Facets.Documentation
			if doc == nil {
				return false
			}
			keep := max(len(doc.Description)-(len(b)-limit)-256, 0)
			if keep >= len(doc.Description) {
				return false
			}
			d := *doc
			d.Description = truncateUTF8(doc.Description, keep) + fmt.Sprintf(" [dbt-harvester: description truncated from %d to %d bytes to fit a 1 MiB message]", len(doc.Description), keep)
			ev.Job.Facets.Documentation = &d
			return true
		}},
	}
	for _, s := range steps {
		if !s.do() {
			continue
		}
		cut = append(cut, s.what)
		if b, err = encodeInto(buf, ev); err != nil || len(b) <= limit {
			return b, note(ev, size, cut), err
		}
	}
	return nil, "", fmt.Errorf("openlineage: %s %s is %d bytes even without facets, over %d: %w",
		ev.Job.Name, ev.EventType, len(b), limit, publish.ErrTooLarge)
}

func note(ev RunEvent, size int, cut []string) string {
	return fmt.Sprintf("OpenLineage event %s %s was %d bytes, over the 1 MiB message limit: %s", ev.Job.Name, ev.EventType, size, strings.Join(cut, ", "))
}

// truncateUTF8 is s cut to at most n bytes, not inside a UTF-8 sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
