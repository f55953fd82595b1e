// Package replay re-harvests runs whose events DBT_RUNS already holds (after
// an upgrade that adds fields, say): it stores each completed run event of a
// range again as its run's next harvest generation, and the fetcher and the
// normalizer harvest it as they would a webhook.
//
// # What is owned and retried
//
// Replay owns nothing: it reads DBT_RUNS with an ordered consumer (no
// durable state) and the ledger, and publishes. The republished event's ID
// and Nats-Msg-Id are events.ReplayID(eventId, generation) and it carries
// the events.ExtGeneration extension (events.NewRunEvent makes both), so a
// replay interrupted and run again before the fetcher took it is absorbed by
// the duplicate window, while a later replay is a new generation. A failed publish stops the replay with
// how many were republished; nothing is retried here.
package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/publish"
)

// Range selects the run events of DBT_RUNS to re-harvest.
type Range struct {
	Since, Until   time.Time // by the time JetStream stored them
	FromSeq, ToSeq uint64    // by stream sequence; 0 is unbounded
	Subject        string    // a filter under dbt.run.>
}

// Validate says what is wrong with r, in terms of the command's flags.
func (r Range) Validate() error {
	switch {
	case r.Since.IsZero() == (r.FromSeq == 0):
		return errors.New("replay: give exactly one of --since and --from-seq")
	case !r.Until.IsZero() && r.ToSeq > 0:
		return errors.New("replay: give at most one of --until and --to-seq")
	case !r.Since.IsZero() && !r.Until.IsZero() && r.Until.Before(r.Since):
		return errors.New("replay: --until is before --since")
	case r.ToSeq > 0 && r.ToSeq < r.FromSeq:
		return errors.New("replay: --to-seq is below --from-seq")
	case r.Subject != events.RunSubjects && !strings.HasPrefix(r.Subject, "dbt.run."):
		return fmt.Errorf("replay: subject %q is not under %s", r.Subject, events.RunSubjects)
	}
	return nil
}

// Replay republishes every completed run event in r, once per run, as the
// run's next harvest generation (ledger.Next); it returns how many it
// republished.
func Replay(ctx context.Context, js jetstream.JetStream, l *ledger.Ledger, r Range) (int, error) {
	stream, err := js.Stream(ctx, events.StreamRuns)
	if err != nil {
		return 0, fmt.Errorf("replay: stream %s: %w (is `harvester serve` running, and NATS_URL right?)", events.StreamRuns, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("replay: stream %s info: %w", events.StreamRuns, err)
	}
	end := info.State.LastSeq // republished events land after it and are not read again
	if r.ToSeq > 0 {
		end = min(end, r.ToSeq)
	}
	if end == 0 || end < r.FromSeq {
		return 0, nil
	}
	picked, err := collect(ctx, js, r, end)
	if err != nil {
		return 0, err
	}
	for i, m := range picked {
		gen, err := l.Next(ctx, m.ref.AccountID, m.ref.RunID)
		if err != nil {
			return i, fmt.Errorf("replay: %w", err)
		}
		if err := republish(ctx, js, m, gen); err != nil {
			return i, err
		}
	}
	return len(picked), nil
}

// runEvent is one stored completed run event.
type runEvent struct {
	ev   event.Event
	ref  events.RunRef // account and run only
	hook events.RunWebhook
}

// collect reads the completed run events of r up to sequence end, keeping
// the first event of each run.
func collect(ctx context.Context, js jetstream.JetStream, r Range, end uint64) ([]runEvent, error) {
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{r.Subject}}
	if r.FromSeq > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, r.FromSeq
	} else {
		since := r.Since
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, events.StreamRuns, cc)
	if err != nil {
		return nil, fmt.Errorf("replay: read %s: %w", events.StreamRuns, err)
	}
	seen := map[events.RunRef]bool{}
	var out []runEvent
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("replay: read %s: %w", events.StreamRuns, err)
		}
		got, done := 0, false
		for msg := range batch.Messages() {
			got++
			meta, err := msg.Metadata()
			if err != nil || done {
				continue
			}
			if meta.Sequence.Stream > end || (!r.Until.IsZero() && meta.Timestamp.After(r.Until)) {
				done = true
				continue
			}
			if m, ok := completed(msg.Data()); ok && !seen[m.ref] {
				seen[m.ref] = true
				out = append(out, m)
			}
			done = meta.NumPending == 0 || meta.Sequence.Stream == end
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("replay: read %s: %w", events.StreamRuns, err)
		}
		if done || got == 0 || ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
}

// completed reads a stored message as a job.run.completed event.
func completed(data []byte) (runEvent, bool) {
	ev, err := events.Decode(data)
	if err != nil || ev.Type() != events.TypeRunCompleted {
		return runEvent{}, false
	}
	w, err := events.ParseRunWebhook(ev.Data())
	if err != nil {
		return runEvent{}, false
	}
	ref := w.Ref()
	ref.ProjectID, ref.EnvironmentID, ref.JobID = 0, 0, 0 // one per run
	return runEvent{ev: ev, ref: ref, hook: w}, true
}

// republish stores m again as a run event of generation gen: same subject,
// data, time and trace, ID and Nats-Msg-Id events.ReplayID, so that the
// stream's duplicate window does not swallow it and the fetcher harvests it
// as a new generation.
func republish(ctx context.Context, js jetstream.JetStream, m runEvent, gen int) error {
	msg, err := events.NewRunEvent(m.hook, m.ev.Data(), m.ev.Time(), gen, events.TraceOf(m.ev))
	if err != nil {
		return fmt.Errorf("replay run %d: %w", m.ref.RunID, err)
	}
	if _, err := publish.Event(ctx, js, msg); err != nil {
		return fmt.Errorf("replay run %d: %w", m.ref.RunID, err)
	}
	return nil
}
