package dbtcloud

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2021-09-10 16:28:07.062296+00:00", utc("2021-09-10T16:28:07.062296Z")},
		{"2021-09-10 16:28:07+00:00", utc("2021-09-10T16:28:07Z")},
		{"2021-09-10 18:28:07.062296+02:00", utc("2021-09-10T16:28:07.062296Z")},
		{"2021-11-18T15:19:03.185668+00:00", utc("2021-11-18T15:19:03.185668Z")},
		{"2023-01-31T19:29:35.789265936Z", utc("2023-01-31T19:29:35.789265936Z")},
		{"2023-01-31T19:28:07Z", utc("2023-01-31T19:28:07Z")},
		{"2021-09-10 16:28:07.062296", utc("2021-09-10T16:28:07.062296Z")},
		{"", time.Time{}},
		{"null", time.Time{}},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v in UTC", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"yesterday", "1642377765", "2021-13-40 10:00:00+00:00"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) = nil error, want one", bad)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2021-09-10 16:28:07.062296+00:00", "2021-11-18T15:19:03.185668+00:00",
		"2023-01-31T19:29:35.789265936Z", "", "null", "2021-09-10 16:28:07", "9999-12-31 23:59:59.999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			return
		}
		if got.IsZero() || got.Year() > 9999 { // a +hh:mm offset can push 9999-12-31 into year 10000
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) location = %v, want UTC", s, got.Location())
		}
		// What parsed must survive a JSON round trip through our decoder.
		b, _ := json.Marshal(got.Format(time.RFC3339Nano))
		var ts timestamp
		if err := ts.UnmarshalJSON(b); err != nil || !time.Time(ts).Equal(got) {
			t.Fatalf("round trip of %q via %s = %v, %v; want %v", s, b, time.Time(ts), err, got)
		}
	})
}

// TestDecodeRealRun decodes captured Admin API responses.
func TestDecodeRealRun(t *testing.T) {
	var env struct {
		Data Run `json:"data"`
	}
	b, err := os.ReadFile("testdata/run_get_response.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("decode run_get_response.json: %v", err)
	}
	r := env.Data
	if r.ID != 36053848 || r.JobDefinitionID != 43167 || r.Status != StatusSuccess || !r.IsSuccess || r.StatusMessage != "" {
		t.Errorf("run = %+v", r)
	}
	if want := time.Date(2021, 12, 7, 10, 34, 1, 982824000, time.UTC); !r.StartedAt.Equal(want) {
		t.Errorf("StartedAt = %v, want %v", r.StartedAt, want)
	}
	if r.Trigger != nil || r.Job != nil || len(r.Steps) != 0 {
		t.Errorf("related objects = %v %v %v, want none", r.Trigger, r.Job, r.Steps)
	}
	var jenv struct {
		Data Job `json:"data"`
	}
	b, err = os.ReadFile("testdata/job_get_response.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &jenv); err != nil {
		t.Fatalf("decode job_get_response.json: %v", err)
	}
	if j := jenv.Data; j.ID != 43167 || j.Name != "Do nothing!" || len(j.ExecuteSteps) != 1 || j.GenerateDocs {
		t.Errorf("job = %+v", j)
	}
}
