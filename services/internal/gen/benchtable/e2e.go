package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// e2eRows are the figures of BenchmarkHarvest (by models, then fsync
// mode) and BenchmarkReceiver (under models 0, mode "receiver") of package
// service.
type e2eRows map[int]map[string]row

var e2eLine = regexp.MustCompile(`^Benchmark(?:Harvest/models=(\d+)/fsync=(always|off)|(Receiver))(?:-\d+)?\s+\d+\s+(.*)$`)

func parseE2E(r io.Reader) (e2eRows, error) {
	rows := e2eRows{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := e2eLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		models, mode := 0, "receiver"
		if m[3] == "" {
			models, _ = strconv.Atoi(m[1])
			mode = m[2]
		}
		rw := row{}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				rw[f[i+1]] = v
			}
		}
		if rows[models] == nil {
			rows[models] = map[string]row{}
		}
		rows[models][mode] = rw
	}
	return rows, sc.Err()
}

func printE2E(w io.Writer, rows e2eRows) {
	var sizes []int
	for s := range rows {
		if s > 0 {
			sizes = append(sizes, s)
		}
	}
	sort.Ints(sizes)
	if len(sizes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%-7s %-7s | %-6s | %7s %7s %7s | %9s %9s %9s | %6s %6s\n",
			"models", "assets", "fsync", "e2e s", "fetch s", "norm s", "raw m/s", "path m/s", "norm m/s", "path", "norm")
		for _, s := range sizes {
			for _, mode := range []string{"always", "off"} {
				r, ok := rows[s][mode]
				if !ok {
					continue
				}
				fmt.Fprintf(w, "%-7d %-7.0f | %-6s | %7.2f %7.2f %7.2f | %9.0f %9.0f %9.0f | %5.2fx %5.2fx\n", s, r["assets"], mode,
					r["e2e-s"], r["fetch-s"], r["normalize-s"], r["raw-msgs/s"], r["path-msgs/s"], r["norm-msgs/s"],
					r["path-ratio"], r["publish-ratio"])
			}
		}
		fmt.Fprintln(w, "\ne2e: one signed webhook to harvest.completed stored (targets: 1k <= 2 s, 20k <= 30 s, fsync always);")
		fmt.Fprintln(w, "fetch: webhook to the normalizer's start; norm s: the harvest's own time. The rates are of the same")
		fmt.Fprintln(w, "messages (asset events, DBT_ASSETS puts, OpenLineage events) in the same run: raw, plain async")
		fmt.Fprintln(w, "publishing; path, the normalizer's publish path (atomic batches with fsync always) replaying them;")
		fmt.Fprintln(w, "norm, the harvest itself, normalizing while it publishes. Ratios over raw (target >= 0.8x).")
	}
	if r, ok := rows[0]["receiver"]; ok {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%-28s | %9s %9s\n", "webhook handler (fsync on)", "req/s", "p99 ms")
		fmt.Fprintf(w, "%-28s | %9.0f %9.1f\n", "harvester receiver", r["receiver-req/s"], r["receiver-p99-ms"])
		fmt.Fprintf(w, "%-28s | %9.0f %9.1f\n", "naive echo+HMAC+sync publish", r["naive-req/s"], r["naive-p99-ms"])
	}
}
