// Command benchtable turns the output of BenchmarkNormalize (package gen)
// into a table: per project size, the encoding/json baseline and the
// normalizer side by side, with the throughput ratio and the peak heap
// against the manifest's size; and that of BenchmarkHarvest and
// BenchmarkReceiver (package service) into the end-to-end tables. It reads
// `go test -bench` output on stdin, copies it to stderr, and prints the
// tables on stdout.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// row is one sub-benchmark's figures by unit (MB/s, cpu-MB/s, ...).
type row map[string]float64

var line = regexp.MustCompile(`^BenchmarkNormalize/models=(\d+)/(decode-map|normalize|paired)(?:-\d+)?\s+\d+\s+(.*)$`)

func main() {
	in, err := io.ReadAll(io.TeeReader(os.Stdin, os.Stderr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	rows, err := parse(bytes.NewReader(in))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	e2e, err := parseE2E(bytes.NewReader(in))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(rows) == 0 && len(e2e) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no BenchmarkNormalize, BenchmarkHarvest or BenchmarkReceiver results")
		os.Exit(1)
	}
	if len(rows) > 0 {
		print(os.Stdout, rows)
	}
	printE2E(os.Stdout, e2e)
}

func parse(r io.Reader) (map[int]map[string]row, error) {
	rows := map[int]map[string]row{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		models, _ := strconv.Atoi(m[1])
		f := strings.Fields(m[3])
		rw := row{}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				rw[f[i+1]] = v
			}
		}
		if rows[models] == nil {
			rows[models] = map[string]row{}
		}
		rows[models][m[2]] = rw
	}
	return rows, sc.Err()
}

func print(w io.Writer, rows map[int]map[string]row) {
	var sizes []int
	for s := range rows {
		sizes = append(sizes, s)
	}
	sort.Ints(sizes)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-7s | %-24s | %-38s | %-21s | %s\n", "models", "encoding/json map", "normalize (parse, join, build, encode)", "ratio", "normalize peak heap")
	fmt.Fprintf(w, "%-7s | %8s %15s | %8s %8s %8s %11s | %6s %6s %6s | %9s %s\n",
		"", "MB/s", "peak heap MB", "MB/s", "cpu-MB/s", "allocs", "asset MB", "paired", "wall", "cpu", "MB", "/ manifest")
	for _, s := range sizes {
		d, n, p := rows[s]["decode-map"], rows[s]["normalize"], rows[s]["paired"]
		fmt.Fprintf(w, "%-7d | %8.1f %15.1f | %8.1f %8.1f %8.0f %11.1f | %5.2fx %5.2fx %5.2fx | %9.1f %.3f (target < 0.25)\n",
			s, d["MB/s"], d["peak-heap-MB"], n["MB/s"], n["cpu-MB/s"], n["allocs/op"], n["asset-MB"],
			p["ratio"], ratio(n["MB/s"], d["MB/s"]), ratio(n["cpu-MB/s"], d["cpu-MB/s"]), n["peak-heap-MB"], n["heap/manifest"])
	}
	fmt.Fprintln(w, "\nratio (target >= 4x), normalize's throughput over the baseline's in the same run: paired, the two run in")
	fmt.Fprintln(w, "turn, each after a collection, and their summed times compared (the figure to judge by); wall, the")
	fmt.Fprintln(w, "sub-benchmarks' MB/s, run one after the other; cpu, the same per CPU second.")
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
