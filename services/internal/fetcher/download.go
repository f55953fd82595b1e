package fetcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/tracing"
)

// ErrCorrupt is wrapped by the error of a download that is not one complete
// JSON value of its declared length (cut short, or garbled); the error says
// at which byte. The file is downloaded again at once, up to
// CorruptAttempts downloads in all; when they all fail the check, the
// error is permanent (the harvest fails with the last one as its reason),
// as a body that dbt Cloud or a proxy keeps garbling will not heal with
// redeliveries.
var ErrCorrupt = errors.New("the download was truncated or corrupt")

// CorruptAttempts is how many downloads of one artifact may fail the check
// before the failure is permanent.
const CorruptAttempts = 3

// Sink stores downloaded artifacts. Put reads r to its end; when reading r
// fails, Put fails and leaves no new object visible under key (an earlier
// complete one may remain).
type Sink interface {
	Put(ctx context.Context, key, description string, r io.Reader) error
}

// ObjectSink stores artifacts in the JetStream object store DBT_ARTIFACTS
// (with publish.Object: a chunk refused while a NATS node dies fails the
// put rather than land out of order). An object is visible only once all
// its chunks are written, so a fetcher killed mid-download leaves no half
// object behind a key.
type ObjectSink struct {
	JS    jetstream.JetStream
	Store jetstream.ObjectStore
}

// Put implements Sink.
func (s ObjectSink) Put(ctx context.Context, key, description string, r io.Reader) error {
	_, err := publish.Object(ctx, s.JS, s.Store, events.BucketArtifacts, jetstream.ObjectMeta{Name: key, Description: description}, r)
	return err
}

// DirSink stores artifacts as files under Dir, at their key's path; a file
// appears (by rename) only once complete.
type DirSink struct{ Dir string }

// Put implements Sink.
func (s DirSink) Put(_ context.Context, key, _ string, r io.Reader) error {
	dst := filepath.Join(s.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// Path is where DirSink keeps the artifact stored under key.
func (s DirSink) Path(key string) string { return filepath.Join(s.Dir, filepath.FromSlash(key)) }

// inspection is what the stream check read from an artifact's top level.
type inspection struct {
	SchemaVersion string // metadata.dbt_schema_version
	InvocationID  string // metadata.invocation_id
	Which         string // args.which (run_results.json)
}

// store streams one artifact from dbt Cloud into sink under its object key,
// hashing, counting and checking it on the way: the body must have its
// Content-Length and be exactly one JSON value. It never holds the
// artifact in memory. A short or garbled body wraps ErrCorrupt.
func (f *Fetcher) store(ctx context.Context, client *dbtcloud.Client, sink Sink, run dbtcloud.Run, want Want, step int) (_ events.StoredArtifact, _ inspection, err error) {
	ctx, span := tracing.Child(ctx, "download", attribute.String("dbt.artifact", want.Name), attribute.Int("dbt.step", step))
	defer func() { tracing.End(span, err) }()
	body, length, err := client.Artifact(ctx, run.ID, want.Name, step)
	if err != nil {
		return events.StoredArtifact{}, inspection{}, err
	}
	defer body.Close()
	key := events.ObjectKey(run.AccountID, run.ID, step, want.Name)
	pr, pw := io.Pipe()
	done := make(chan inspected, 1)
	go func() {
		info, err := inspect(pr)
		pr.CloseWithError(err) // a failed check fails the next write, so the sink aborts at once
		done <- inspected{info, err}
	}()
	vr := &verifyReader{body: body, hash: sha256.New(), pw: pw, done: done}
	putErr := sink.Put(ctx, key, fmt.Sprintf("%s of run %d step %d", want.Name, run.ID, step), vr)
	pw.CloseWithError(errAbandoned) // no-op once closed; unblocks the check
	res := vr.result()
	where := fmt.Sprintf("store %s of run %d step %d", want.Name, run.ID, step)
	switch {
	case errors.Is(vr.bodyErr, io.ErrUnexpectedEOF):
		return events.StoredArtifact{}, inspection{}, fmt.Errorf("%s: %w: cut at byte %d of %d: %w", where, ErrCorrupt, vr.n, length, vr.bodyErr)
	case vr.bodyErr != nil: // reset, timeout: transient
		return events.StoredArtifact{}, inspection{}, fmt.Errorf("%s: download: %w", where, vr.bodyErr)
	case res.err != nil && !errors.Is(res.err, errAbandoned):
		return events.StoredArtifact{}, inspection{}, fmt.Errorf("%s: %w: %w", where, ErrCorrupt, res.err)
	case putErr != nil:
		return events.StoredArtifact{}, inspection{}, fmt.Errorf("%s: %w", where, putErr)
	case length >= 0 && vr.n != length:
		return events.StoredArtifact{}, inspection{}, fmt.Errorf("%s: %w: cut at byte %d of %d", where, ErrCorrupt, vr.n, length)
	}
	f.Metrics.ArtifactBytes(vr.n)
	span.SetAttributes(attribute.Int64("dbt.artifact_bytes", vr.n))
	return events.StoredArtifact{
		Name: want.Name, Step: step, StepName: want.StepName, Command: want.Command, Bucket: events.BucketArtifacts, Key: key,
		Size: vr.n, SHA256: hex.EncodeToString(vr.hash.Sum(nil)), SchemaVersion: res.info.SchemaVersion,
		InvocationID: res.info.InvocationID,
	}, res.info, nil
}

var errAbandoned = errors.New("download abandoned")

type inspected struct {
	info inspection
	err  error
}

// verifyReader is the download on its way to the sink: it hashes and counts
// the body and feeds the JSON check; at the body's end it waits for the
// check and turns a failed one into a read error, so the sink never commits
// a truncated or garbled object.
type verifyReader struct {
	body    io.Reader
	hash    hash.Hash
	n       int64
	bodyErr error // reading the body failed (not EOF)
	pw      *io.PipeWriter
	done    <-chan inspected
	res     *inspected
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.body.Read(p)
	if n > 0 {
		v.hash.Write(p[:n])
		v.n += int64(n)
		if _, werr := v.pw.Write(p[:n]); werr != nil {
			return n, werr // the check failed: abort
		}
	}
	switch {
	case err == io.EOF:
		v.pw.Close()
		if res := v.result(); res.err != nil {
			return n, res.err
		}
	case err != nil:
		v.bodyErr = err
		v.pw.CloseWithError(err)
	}
	return n, err
}

// result waits for the check once and remembers its outcome.
func (v *verifyReader) result() inspected {
	if v.res == nil {
		r := <-v.done
		v.res = &r
	}
	return *v.res
}

// inspect reads r as exactly one JSON value followed by nothing, holding
// no more of it than its largest token, and picks metadata.dbt_schema_version,
// metadata.invocation_id and args.which from a top-level object on the way.
func inspect(r io.Reader) (inspection, error) {
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	var info inspection
	fail := func(err error) (inspection, error) {
		return info, fmt.Errorf("not one complete JSON value (at byte %d): %w", dec.InputOffset(), err)
	}
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return fail(err)
		}
	} else {
		if _, err := dec.ReadToken(); err != nil {
			return fail(err)
		}
		for dec.PeekKind() == '"' {
			name, err := dec.ReadToken()
			if err != nil {
				return fail(err)
			}
			switch name.String() {
			case "metadata":
				err = readStrings(dec, map[string]*string{"dbt_schema_version": &info.SchemaVersion, "invocation_id": &info.InvocationID})
			case "args":
				err = readStrings(dec, map[string]*string{"which": &info.Which})
			default:
				err = dec.SkipValue()
			}
			if err != nil {
				return fail(err)
			}
		}
		if _, err := dec.ReadToken(); err != nil { // the closing '}'
			return fail(err)
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the JSON value")
		}
		return fail(err)
	}
	return info, nil
}

// readStrings reads one value; if it is an object, it sets the wanted
// string members and skips the rest.
func readStrings(dec *jsontext.Decoder, want map[string]*string) error {
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if dst, ok := want[name.String()]; ok && dec.PeekKind() == '"' {
			v, err := dec.ReadToken()
			if err != nil {
				return err
			}
			*dst = v.String()
			continue
		}
		if err := dec.SkipValue(); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}
