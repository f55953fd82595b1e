package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
)

// OrphanAge is how long a chunk with no object has been last written to
// before Sweep removes it: far longer than any download takes, so an upload
// in progress (its chunks come before its object) is never touched.
const OrphanAge = time.Hour

// Sweep removes the chunks of DBT_ARTIFACTS that belong to no object and
// were last written more than olderThan ago: what a fetcher killed in the
// middle of a download leaves behind (the object store shows an object only
// once all its chunks are written, so nobody sees them, but they take disk
// until the bucket's max age, if any). It returns how many chunk subjects
// it purged. Objects, and chunks written since olderThan, are not touched.
func Sweep(ctx context.Context, js jetstream.JetStream, olderThan time.Duration) (int, error) {
	store, err := js.ObjectStore(ctx, events.BucketArtifacts)
	if err != nil {
		return 0, fmt.Errorf("sweep: object store: %w", err)
	}
	owned := map[string]bool{}
	infos, err := store.List(ctx)
	switch {
	case errors.Is(err, jetstream.ErrNoObjectsFound):
	case err != nil:
		return 0, fmt.Errorf("sweep: list objects: %w", err)
	}
	for _, info := range infos {
		owned[info.NUID] = true
	}
	stream, err := js.Stream(ctx, "OBJ_"+events.BucketArtifacts)
	if err != nil {
		return 0, fmt.Errorf("sweep: stream: %w", err)
	}
	prefix := "$O." + events.BucketArtifacts + ".C."
	si, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return 0, fmt.Errorf("sweep: stream info: %w", err)
	}
	purged := 0
	for subject := range si.State.Subjects {
		if owned[strings.TrimPrefix(subject, prefix)] {
			continue
		}
		last, err := stream.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			return purged, fmt.Errorf("sweep: last chunk of %s: %w", subject, err)
		}
		if time.Since(last.Time) < olderThan {
			continue // an upload may still be writing it
		}
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			return purged, fmt.Errorf("sweep: purge %s: %w", subject, err)
		}
		purged++
	}
	return purged, nil
}

// SweepEvery runs Sweep at once and then every interval until ctx is
// cancelled, logging what it removed and what failed (tried again next time).
func SweepEvery(ctx context.Context, js jetstream.JetStream, interval time.Duration, log *slog.Logger) {
	for {
		n, err := Sweep(ctx, js, OrphanAge)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("sweeping orphan artifact chunks failed; trying again later", "err", err)
		case n > 0:
			log.Info("removed chunks of downloads that never finished", "subjects", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
