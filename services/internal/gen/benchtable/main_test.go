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

func TestE2ETable(t *testing.T) {
	in := `BenchmarkHarvest/models=1000/fsync=always-2         	       3	6252697369 ns/op	      5347 assets	         1.406 e2e-s	         0.3100 fetch-s	     26046 norm-msgs/s	         1.096 normalize-s	     31511 path-msgs/s	         5.266 path-ratio	         4.356 publish-ratio	      5994 raw-msgs/s
BenchmarkHarvest/models=1000/fsync=off-2            	       3	1992524884 ns/op	      5347 assets	         0.8726 e2e-s	         0.2229 fetch-s	     38446 norm-msgs/s	         0.6497 normalize-s	     60476 path-msgs/s	         0.7183 path-ratio	         0.4576 publish-ratio	     84051 raw-msgs/s
BenchmarkReceiver-2                                 	       1	7832386677 ns/op	       107.8 naive-p99-ms	       664.9 naive-req/s	       108.2 receiver-p99-ms	       414.6 receiver-req/s
`
	rows, err := parseE2E(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printE2E(&out, rows)
	for _, want := range []string{
		"1000    5347    | always |    1.41    0.31    1.10 |      5994     31511     26046 |  5.27x  4.36x",
		"1000    5347    | off    |    0.87    0.22    0.65 |     84051     60476     38446 |  0.72x  0.46x",
		"harvester receiver           |       415     108.2",
		"naive echo+HMAC+sync publish |       665     107.8",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
