package fetcher

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
)

// harvesterBin is the harvester binary TestMain builds for the subprocess test.
var harvesterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fetch-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	harvesterBin = filepath.Join(dir, "harvester")
	if runtime.GOOS == "windows" {
		harvesterBin += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", harvesterBin, "github.com/dbt-harvester/harvester/services/harvester").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build harvester: %v\n%s", err, out)
		harvesterBin = "" // the subprocess test fails; the others run
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// A fetcher killed (SIGKILL) in the middle of a download leaves no half
// object and no event; the redelivered message, taken by another fetcher
// process, completes the harvest once.
func TestFetcherKilledMidDownload(t *testing.T) {
	if harvesterBin == "" {
		t.Fatal("the harvester binary did not build (see TestMain's output)")
	}
	conn, _ := natstest.Run(t)
	dir := artifactsDir(t, 40, nil)
	manifest, err := os.Stat(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The manifest takes about 2 s to download; the harness itself does not consume.
	h := newHarnessOn(t, conn, harnessOpts{noConsumer: true, dir: dir,
		cloud: devcloud.Config{SlowBodyBPS: int(manifest.Size() / 2)}})
	env := []string{"NATS_URL=" + conn.ClientURL(), "DBT_CLOUD_ACCOUNT_ID=1", "DBT_CLOUD_ACCESS_URL=" + h.api.URL,
		"DBT_CLOUD_API_TOKEN=" + testToken, "HARVESTER_FETCHER_ACK_WAIT=2s", "HARVESTER_LOG_LEVEL=debug", "PATH=" + os.Getenv("PATH")}
	start := func(name string) *exec.Cmd {
		cmd := exec.Command(harvesterBin, "fetcher")
		cmd.Env = env
		logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log:\n%s", name, b)
			}
		})
		return cmd
	}
	first := start("first")
	h.complete(t, legacyRef, "Nightly production build")
	select {
	case <-h.downloading("manifest.json"):
	case <-time.After(20 * time.Second):
		t.Fatal("the first fetcher never started downloading the manifest")
	}
	time.Sleep(500 * time.Millisecond) // mid-download
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if n := h.msgs(t, events.StreamArtifacts); n != 0 {
		t.Fatalf("DBT_ARTIFACTS holds %d events after the kill, want 0", n)
	}
	if _, err := h.f.Store.GetInfo(t.Context(), events.ObjectKey(1, 400, 5, events.ManifestJSON)); err == nil {
		t.Fatal("a half-downloaded manifest is visible in the object store")
	}

	second := start("second")
	fetched, failed := h.outcome(t, legacyRef, 30*time.Second)
	if failed != nil {
		t.Fatalf("harvest failed: %+v", failed)
	}
	_ = second
	time.Sleep(300 * time.Millisecond) // a duplicate publish, if any, would land now
	if n := h.msgs(t, events.StreamArtifacts); n != 1 {
		t.Errorf("DBT_ARTIFACTS holds %d events, want exactly 1", n)
	}
	infos, err := h.f.Store.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]events.StoredArtifact{}
	for _, a := range fetched.Artifacts {
		want[a.Key] = a
	}
	for _, info := range infos {
		a, ok := want[info.Name]
		if !ok {
			t.Errorf("object %s is not in the artifacts event", info.Name)
			continue
		}
		if int64(info.Size) != a.Size {
			t.Errorf("object %s holds %d bytes, the event says %d", info.Name, info.Size, a.Size)
		}
		delete(want, info.Name)
	}
	if len(want) > 0 {
		t.Errorf("objects missing from the store: %v", want)
	}
	if m := stored(fetched, events.ManifestJSON); len(m) != 1 || m[0].Size != manifest.Size() {
		t.Errorf("stored manifest = %+v, want all %d bytes", m, manifest.Size())
	}
}
