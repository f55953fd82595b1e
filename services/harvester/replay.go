package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/fetch"
	"github.com/dbt-harvester/harvester/services/internal/harvest"
	"github.com/dbt-harvester/harvester/services/internal/publish"
)

// replayRange selects the run events of DBT_RUNS to re-harvest.
type replayRange struct {
	Since, Until   time.Time // by the time JetStream stored them
	FromSeq, ToSeq uint64    // by stream sequence; 0 is unbounded
	Subject        string    // a filter under dbt.run.>
}

// runReplay is `harvester replay`: it re-harvests completed run events
// already in DBT_RUNS by republishing each as a new harvest generation.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "replay --since T | --from-seq N [--until T | --to-seq N] [--subject FILTER]", stderr)
	withConfig := configFlag(fs, getenv)
	since, until := &timeFlag{now: time.Now}, &timeFlag{now: time.Now}
	fs.Var(since, "since", "replay run events stored since this time (2006-01-02, RFC 3339, or 72h / 30d ago)")
	fs.Var(until, "until", "… and up to this time (default: now)")
	fromSeq := fs.Uint64("from-seq", 0, "replay from this DBT_RUNS stream sequence")
	toSeq := fs.Uint64("to-seq", 0, "… up to this sequence (default: the last one)")
	subject := fs.String("subject", events.RunCompletedSubjects, "subject filter under dbt.run.> (e.g. dbt.run.1.*.*.300.completed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getenv = withConfig()
	r := replayRange{Since: since.t, Until: until.t, FromSeq: *fromSeq, ToSeq: *toSeq, Subject: *subject}
	if err := r.validate(); err != nil {
		fs.Usage()
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	js, closeNATS, err := connectNATS(ctx, cfg, "harvester-replay")
	if err != nil {
		return err
	}
	defer closeNATS()
	n, err := replay(ctx, js, r)
	fmt.Fprintf(stdout, "replayed %d completed run event(s), each as its run's next harvest generation\n", n)
	return err
}

func (r replayRange) validate() error {
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

// replay republishes every completed run event in r, once per run, as the
// run's next harvest generation (see harvest.NextGeneration); it returns how
// many it republished.
func replay(ctx context.Context, js jetstream.JetStream, r replayRange) (int, error) {
	records, err := js.KeyValue(ctx, events.BucketHarvests)
	if err != nil {
		return 0, fmt.Errorf("replay: kv %s: %w", events.BucketHarvests, err)
	}
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
	picked, err := collectRunEvents(ctx, js, r, end)
	if err != nil {
		return 0, err
	}
	for i, m := range picked {
		req, err := fetch.RequestOf(m.data)
		if err != nil {
			return i, fmt.Errorf("replay: %w", err)
		}
		rec, ok, err := harvest.Lookup(ctx, records, req.Ref.AccountID, req.Ref.RunID)
		if err != nil {
			return i, fmt.Errorf("replay: %w", err)
		}
		if err := republish(ctx, js, m, harvest.NextGeneration(rec, ok)); err != nil {
			return i, err
		}
	}
	return len(picked), nil
}

// runEvent is one stored run event.
type runEvent struct {
	subject string
	data    []byte
}

// collectRunEvents reads the completed run events of r up to sequence end,
// keeping the first event of each run.
func collectRunEvents(ctx context.Context, js jetstream.JetStream, r replayRange, end uint64) ([]runEvent, error) {
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
	seen := map[string]bool{}
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
			if key, ok := completedRun(msg.Data()); ok && !seen[key] {
				seen[key] = true
				out = append(out, runEvent{subject: msg.Subject(), data: msg.Data()})
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

// completedRun returns the run's key when data is a job.run.completed event.
func completedRun(data []byte) (string, bool) {
	ev, err := events.Decode(data)
	if err != nil || ev.Type() != events.TypeRunCompleted {
		return "", false
	}
	req, err := fetch.RequestOf(data)
	if err != nil {
		return "", false
	}
	return events.HarvestKey(req.Ref.AccountID, req.Ref.RunID), true
}

// republish stores m again as a run event of generation gen: same subject and
// data, ID and Nats-Msg-Id <eventId>/g<gen>, so that the stream's duplicate
// window does not swallow it and the fetcher harvests it as a new generation.
func republish(ctx context.Context, js jetstream.JetStream, m runEvent, gen int) error {
	ev, err := events.Decode(m.data)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	req, err := fetch.RequestOf(m.data)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	ev.SetID(fmt.Sprintf("%s/g%d", req.WebhookEventID, gen))
	ev.SetExtension(fetch.ExtGeneration, strconv.Itoa(gen))
	if _, err := publish.Event(ctx, js, m.subject, ev); err != nil {
		return fmt.Errorf("replay run %d: %w", req.Ref.RunID, err)
	}
	return nil
}
