package fetcher_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// TestSweep: chunks that belong to no object (a download killed before its
// object was written) are purged once old enough; objects, and recent
// chunks that an upload may still be writing, are kept.
func TestSweep(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	if err := topology.Ensure(ctx, js, topology.Config{}); err != nil {
		t.Fatal(err)
	}
	store, err := js.ObjectStore(ctx, events.BucketArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat(`{"nodes": {}}`, 20000) // several chunks
	if _, err := store.PutString(ctx, "1/400/1/manifest.json", body); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // what a killed upload leaves: chunks, no object
		if _, err := js.Publish(ctx, "$O."+events.BucketArtifacts+".C.killedupload", []byte(strings.Repeat("x", 1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := fetcher.Sweep(ctx, js, time.Hour); err != nil || n != 0 {
		t.Fatalf("Sweep of fresh chunks = %d, %v; want 0 (an upload may be writing them)", n, err)
	}
	if n, err := fetcher.Sweep(ctx, js, 0); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the one orphan purged", n, err)
	}
	stream, err := js.Stream(ctx, "OBJ_"+events.BucketArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.GetLastMsgForSubject(ctx, "$O."+events.BucketArtifacts+".C.killedupload"); err == nil {
		t.Error("the orphan's chunks are still stored")
	}
	r, err := store.Get(ctx, "1/400/1/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != body {
		t.Fatalf("object after the sweep: %d bytes, %v; want it whole", len(got), err)
	}
	if n, err := fetcher.Sweep(ctx, js, 0); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want nothing left to purge", n, err)
	}
}
