package dbtcloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// timeLayouts are the timestamp layouts seen in Admin API v2 responses: runs
// use Python's str(datetime) ("2021-09-10 16:28:07.062296+00:00"), jobs use
// isoformat ("2021-11-18T15:19:03.185668+00:00"), and RFC 3339 is accepted
// defensively. Fractional seconds are optional in every layout.
func timeLayouts() [4]string {
	return [...]string{
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
	}
}

// ParseTime parses a dbt Cloud API timestamp in any layout the API is known
// to use; "" and "null" give the zero time. The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "null" || s == "None" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts() {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return time.Time{}, fmt.Errorf("dbtcloud: unrecognised timestamp %q", s)
}

// timestamp decodes a JSON string or null with ParseTime.
type timestamp time.Time

func (t *timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*t = timestamp{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("dbtcloud: timestamp is not a string: %w", err)
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = timestamp(v)
	return nil
}
