package main

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	in := `BenchmarkNormalize/models=1000/decode-map-2 	 5	 458447904 ns/op	  40.00 MB/s	 35.29 cpu-MB/s	 5.476 heap/manifest	 111.3 peak-heap-MB	156779320 B/op	 1450280 allocs/op
BenchmarkNormalize/models=1000/normalize-2 	 5	 99756249 ns/op	 200.00 MB/s	 13.36 asset-MB	 125.4 cpu-MB/s	 0.1871 heap/manifest	 3.803 peak-heap-MB	 6222248 B/op	 26263 allocs/op
BenchmarkNormalize/models=1000/paired-2 	 5	 744006080 ns/op	 33.01 decode-map-MB/s	 174.2 normalize-MB/s	 5.279 ratio
BenchmarkOther 	 1	 1 ns/op
`
	rows, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	print(&out, rows)
	line := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "1000 ") {
			line = l
		}
	}
	for _, want := range []string{"40.0", "200.0", "5.28x", "5.00x", "3.55x", "26263", "0.187"} {
		if !strings.Contains(line, want) {
			t.Errorf("row %q lacks %s", line, want)
		}
	}
}
