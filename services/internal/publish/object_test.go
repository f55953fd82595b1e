package publish

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/natstest"
)

// TestObject writes objects with Object and reads them with the object
// store's own reader: same bytes, and the same size, chunks and digest as
// ObjectStore.Put records for them.
func TestObject(t *testing.T) {
	_, js := natstest.Run(t)
	ctx := t.Context()
	store, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "B"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"one chunk", ObjectChunk},
		{"three and a half chunks", 3*ObjectChunk + ObjectChunk/2},
		{"more chunks than the window", (objectWindow+9)*ObjectChunk + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(rng.UintN(256))
			}
			info, err := Object(ctx, js, store, "B", jetstream.ObjectMeta{Name: "ours/" + tc.name, Description: "d"}, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Object: %v", err)
			}
			theirs, err := store.PutBytes(ctx, "theirs/"+tc.name, data)
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != theirs.Size || info.Chunks != theirs.Chunks || info.Digest != theirs.Digest {
				t.Errorf("Object recorded size %d, %d chunks, %s; ObjectStore.Put %d, %d, %s",
					info.Size, info.Chunks, info.Digest, theirs.Size, theirs.Chunks, theirs.Digest)
			}
			got, err := store.GetBytes(ctx, "ours/"+tc.name)
			if err != nil {
				t.Fatalf("GetBytes: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("read back %d bytes, not the %d written", len(got), len(data))
			}
			stored, err := store.GetInfo(ctx, "ours/"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Description != "d" || stored.NUID != info.NUID || stored.Digest != info.Digest {
				t.Errorf("stored info %+v, want the one returned %+v", stored, info)
			}
		})
	}
}

// TestObjectReplaceAndFail: a second put under a name purges the first
// one's chunks; a put whose reader fails, or whose bucket is gone, fails
// and leaves no object and no chunks.
func TestObjectReplaceAndFail(t *testing.T) {
	_, js := natstest.Run(t)
	ctx := t.Context()
	store, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "B"})
	if err != nil {
		t.Fatal(err)
	}
	chunkSubjects := func() int {
		t.Helper()
		s, err := js.Stream(ctx, "OBJ_B")
		if err != nil {
			t.Fatal(err)
		}
		si, err := s.Info(ctx, jetstream.WithSubjectFilter("$O.B.C.>"))
		if err != nil {
			t.Fatal(err)
		}
		return len(si.State.Subjects)
	}
	big := bytes.Repeat([]byte("x"), 5*ObjectChunk)
	for range 2 {
		if _, err := Object(ctx, js, store, "B", jetstream.ObjectMeta{Name: "a"}, bytes.NewReader(big)); err != nil {
			t.Fatal(err)
		}
	}
	if n := chunkSubjects(); n != 1 {
		t.Errorf("after replacing an object: %d chunk subjects, want 1", n)
	}

	broken := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(big), &failing{err: broken})
	if _, err := Object(ctx, js, store, "B", jetstream.ObjectMeta{Name: "b"}, r); !errors.Is(err, broken) {
		t.Errorf("Object with a failing reader = %v, want %v", err, broken)
	}
	if _, err := store.GetInfo(ctx, "b"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Errorf("GetInfo after a failed put = %v, want not found", err)
	}
	if n := chunkSubjects(); n != 1 {
		t.Errorf("after a failed put: %d chunk subjects, want 1 (its chunks purged)", n)
	}

	// The bucket's stream goes away once the put has begun: its chunks are
	// answered "no responders", which fails the put (not resent out of
	// order, not waited on forever).
	var once sync.Once
	gone := readFunc(func(p []byte) (int, error) {
		once.Do(func() {
			if err := js.DeleteStream(ctx, "OBJ_B"); err != nil {
				t.Error(err)
			}
		})
		return copy(p, big[:len(p)]), nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := Object(ctx, js, store, "B", jetstream.ObjectMeta{Name: "c"}, io.LimitReader(gone, int64(len(big))))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Errorf("Object into a bucket deleted under it = %v, want %v", err, jetstream.ErrNoStreamResponse)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Object into a bucket deleted under it did not return within 30 s")
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
