package service

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
	"github.com/dbt-harvester/harvester/services/internal/openlineage"
	"github.com/dbt-harvester/harvester/services/internal/publish"
)

// TestOpenLineageHTTPTransport: the normalizer role with
// HARVESTER_OPENLINEAGE_URL set harvests a run and a real HTTP server
// receives its RunEvents, in order, with the API key as a Bearer token.
func TestOpenLineageHTTPTransport(t *testing.T) {
	var mu sync.Mutex
	var got []openlineage.RunEvent
	var auth []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev openlineage.RunEvent
		if r.URL.Path != openlineage.LineagePath || json.Unmarshal(body, &ev) != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got, auth = append(got, ev), append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer backend.Close()

	ctx, cancel := context.WithCancel(context.Background())
	ol := config.OpenLineage{URL: backend.URL, APIKey: "ol-key", DatasetNamespace: "postgres://db:5432"}
	cfg := config.Config{NATS: natsconn.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1"}, OpenLineage: ol}
	ready, done := make(chan Info, 1), make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Roles: Roles{Normalizer: true}, Ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run not ready after 30s")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel = %v", err)
		}
	}()
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(3)); err != nil {
		t.Fatal(err)
	}
	store, err := js.ObjectStore(t.Context(), events.BucketArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	ref := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	fetched := events.ArtifactsFetched{Run: events.RunFacts{RunRef: ref, Status: "Success"}, Generation: 1, FetchedAt: time.Now().UTC()}
	files := map[string][]byte{}
	for _, name := range []string{events.ManifestJSON, events.RunResultsJSON, events.CatalogJSON} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
		key := events.ObjectKey(ref.AccountID, ref.RunID, 1, name)
		if _, err := store.PutBytes(t.Context(), key, b); err != nil {
			t.Fatal(err)
		}
		fetched.Artifacts = append(fetched.Artifacts, events.StoredArtifact{Name: name, Step: 1, Bucket: events.BucketArtifacts, Key: key})
	}
	m, err := events.NewArtifactsFetched(fetched, events.Trace{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := publish.Event(t.Context(), js, m); err != nil {
		t.Fatal(err)
	}

	want, _, _, err := openlineage.FromArtifacts(t.Context(), normalize.Input{Manifest: bytes.NewReader(files[events.ManifestJSON]),
		RunResults: bytes.NewReader(files[events.RunResultsJSON]), Catalog: bytes.NewReader(files[events.CatalogJSON])},
		openlineage.Harvest{Run: fetched.Run, Generation: 1}, openlineage.Options{DatasetNamespace: ol.DatasetNamespace})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	key := func(e openlineage.RunEvent) string { return e.Run.RunID + "/" + e.EventType }
	var g, w []string
	for _, e := range got {
		g = append(g, key(e))
	}
	for _, e := range want {
		w = append(w, key(e.RunEvent))
	}
	if !slices.Equal(g, w) {
		t.Errorf("backend received %d events %v\nwant %d %v", len(g), g, len(w), w)
	}
	for _, a := range auth {
		if a != "Bearer ol-key" {
			t.Errorf("Authorization = %q, want Bearer ol-key", a)
			break
		}
	}
}
