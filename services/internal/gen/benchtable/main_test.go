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
	in := `BenchmarkHarvest/models=1000/fsync=always-2         	       1	16995670276 ns/op	      5347 assets	         9.182 e2e-s	         1.465 fetch-s	      1483 norm-msgs/s	         7.717 normalize-s	         0.8308 publish-ratio	      1786 raw-msgs/s
BenchmarkHarvest/models=1000/fsync=off-2            	       1	6191904252 ns/op	      5347 assets	         3.939 e2e-s	         0.5821 fetch-s	      4089 norm-msgs/s	         3.357 normalize-s	         0.3679 publish-ratio	     11114 raw-msgs/s
BenchmarkReceiver-2                                 	       1	7832386677 ns/op	       107.8 naive-p99-ms	       664.9 naive-req/s	       108.2 receiver-p99-ms	       414.6 receiver-req/s
`
	rows, err := parseE2E(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printE2E(&out, rows)
	for _, want := range []string{
		"1000    5347    | always |    9.18    1.47    7.72 |      1483      1786  0.83x",
		"1000    5347    | off    |    3.94    0.58    3.36 |      4089     11114  0.37x",
		"harvester receiver           |       415     108.2",
		"naive echo+HMAC+sync publish |       665     107.8",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
