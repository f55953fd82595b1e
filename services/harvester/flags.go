package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/config"
)

// parseTime reads a date (2006-01-02, midnight UTC), an RFC 3339 time, or a
// duration before now (72h, 30d).
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02), an RFC 3339 time or a duration ago (72h, 30d)", s)
}

// timeFlag is a flag.Value for parseTime.
type timeFlag struct {
	t   time.Time
	now func() time.Time
}

func (f *timeFlag) String() string {
	if f == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	t, err := parseTime(s, f.now())
	if err != nil {
		return err
	}
	f.t = t
	return nil
}

// configFlag adds --config (env HARVESTER_CONFIG) to fs; call the result
// after parsing for getenv with the flag applied.
func configFlag(fs *flag.FlagSet, getenv func(string) string) func() func(string) string {
	path := fs.String("config", getenv(config.EnvConfigFile), "YAML configuration file with the dbt Cloud accounts (env HARVESTER_CONFIG)")
	return func() func(string) string { return config.WithFile(getenv, *path) }
}

// newFlagSet is a flag set that reports to stderr and shows usage, then flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: harvester %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseIDs reads a comma-separated list of dbt Cloud IDs.
func parseIDs(s string) ([]int64, error) {
	var ids []int64
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a dbt Cloud ID", part)
		}
		ids = append(ids, n)
	}
	return ids, nil
}
