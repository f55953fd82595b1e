package publish

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// ObjectChunk is the size of an object's chunks, nats.go's default.
const ObjectChunk = 128 << 10

// objectWindow is how many chunks may await their acks at once (8 MiB).
const objectWindow = 64

// settleWait bounds how long a failed put waits for its chunks in flight
// before it purges them: a chunk stored after the purge is an orphan, for
// the sweep.
const settleWait = 15 * time.Second

// Object stores what r reads under meta.Name in the object store bucket, in
// the object store's own layout (ADR-20: chunks on $O.<bucket>.C.<nuid>,
// then the object's info on $O.<bucket>.M.<base64url(name)> with a subject
// rollup, then the chunks of the object it replaced purged), so that
// jetstream.ObjectStore reads it as one of its own. It returns the object's
// size and digest as the store records them.
//
// It exists for one difference from ObjectStore.Put: a chunk that JetStream
// answers "no responders" (the stream's leader is being elected, as when a
// NATS node dies) fails the put. ObjectStore.Put sends such a chunk again
// 250 ms later while the next chunks are being stored, so the object's
// chunks land out of order: its size and digest are right, its bytes are
// not, and every read fails with "received a corrupt object, digests do not
// match". Here a failed put leaves no object (its chunks are purged, else
// swept later) and the caller tries again. r's read error fails the put the
// same way.
func Object(ctx context.Context, js jetstream.JetStream, store jetstream.ObjectStore, bucket string,
	meta jetstream.ObjectMeta, r io.Reader) (*jetstream.ObjectInfo, error) {
	old, err := store.GetInfo(ctx, meta.Name, jetstream.GetObjectInfoShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("object %s: %w", meta.Name, err)
	}
	id := nuid.Next()
	chunks := fmt.Sprintf("$O.%s.C.%s", bucket, id)
	info := &jetstream.ObjectInfo{ObjectMeta: meta, Bucket: bucket, NUID: id}
	info.Opts = &jetstream.ObjectMetaOptions{ChunkSize: ObjectChunk}
	w := chunkWriter{js: js, subject: chunks}
	hash := sha256.New()
	for {
		buf := w.buffer()
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			hash.Write(buf[:n])
			info.Size += uint64(n)
			info.Chunks++
			if err := w.send(ctx, buf[:n]); err != nil {
				return nil, abandon(ctx, js, bucket, chunks, &w, err)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, abandon(ctx, js, bucket, chunks, &w, rerr)
		}
	}
	if err := w.wait(ctx, 0); err != nil {
		return nil, abandon(ctx, js, bucket, chunks, &w, err)
	}
	info.Digest = "SHA-256=" + base64.URLEncoding.EncodeToString(hash.Sum(nil))
	m := nats.NewMsg(fmt.Sprintf("$O.%s.M.%s", bucket, base64.URLEncoding.EncodeToString([]byte(meta.Name))))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if m.Data, err = json.Marshal(info); err != nil {
		return nil, abandon(ctx, js, bucket, chunks, &w, err)
	}
	if _, err := js.PublishMsg(ctx, m); err != nil {
		// The info may be stored all the same (its ack was lost): its chunks
		// stay, for the sweep, rather than be purged under a visible object.
		return nil, fmt.Errorf("object %s: store its info: %w", meta.Name, err)
	}
	if old != nil && !old.Deleted && old.NUID != id {
		_ = purge(ctx, js, bucket, fmt.Sprintf("$O.%s.C.%s", bucket, old.NUID)) // else swept later
	}
	return info, nil
}

// chunkWriter publishes an object's chunks, at most objectWindow awaiting
// their acks; a chunk's buffer is reused once its chunk was stored.
type chunkWriter struct {
	js      jetstream.JetStream
	subject string
	pending []jetstream.PubAckFuture // oldest first
	free    [][]byte
}

func (w *chunkWriter) buffer() []byte {
	if n := len(w.free); n > 0 {
		b := w.free[n-1]
		w.free = w.free[:n-1]
		return b[:cap(b)]
	}
	return make([]byte, ObjectChunk)
}

func (w *chunkWriter) send(ctx context.Context, data []byte) error {
	if err := w.wait(ctx, objectWindow-1); err != nil {
		return err
	}
	f, err := w.js.PublishMsgAsync(&nats.Msg{Subject: w.subject, Data: data}, jetstream.WithRetryAttempts(0))
	if err != nil {
		return fmt.Errorf("publish chunk: %w", err)
	}
	w.pending = append(w.pending, f)
	return nil
}

// wait waits until at most keep chunks await their acks.
func (w *chunkWriter) wait(ctx context.Context, keep int) error {
	for len(w.pending) > keep {
		f := w.pending[0]
		select {
		case <-f.Ok():
			w.free = append(w.free, f.Msg().Data)
			w.pending = w.pending[1:]
		case err := <-f.Err():
			w.pending = w.pending[1:] // settled: its error is read once
			return fmt.Errorf("publish chunk: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("publish chunk: %w", ctx.Err())
		}
	}
	return nil
}

// abandon ends a failed put: once every chunk sent is settled (acked,
// failed, or past settleWait), it purges the chunks, best effort (an orphan
// is swept later), and returns cause.
func abandon(ctx context.Context, js jetstream.JetStream, bucket, chunks string, w *chunkWriter, cause error) error {
	deadline := time.After(settleWait)
settle:
	for _, f := range w.pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			_ = err // the put fails for cause; this chunk is not stored either
		case <-ctx.Done():
			break settle
		case <-deadline:
			break settle
		}
	}
	_ = purge(context.WithoutCancel(ctx), js, bucket, chunks)
	return fmt.Errorf("object put: %w", cause)
}

func purge(ctx context.Context, js jetstream.JetStream, bucket, subject string) error {
	s, err := js.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		return err
	}
	return s.Purge(ctx, jetstream.WithPurgeSubject(subject))
}
