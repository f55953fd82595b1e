package openlineage

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/publish"
)

// Messages are a harvest's events as NATS messages for DBT_OPENLINEAGE, in
// order: each the structured-mode CloudEvent that events.NewOpenLineageRun builds (same
// attributes, same data), with the headers publish.Msg sets, written
// directly rather than through the CloudEvents SDK, which compacts each
// event's data twice more (a harvest of 1,000 models has 10,000 events).
// Notes say which events were cut to fit a message (see Fit). The events
// are encoded on every CPU.
func Messages(ref events.RunRef, generation int, evs []Event, tr events.Trace) ([]*nats.Msg, []string, error) {
	subject := events.OpenLineageSubject(ref)
	out, notes := make([]*nats.Msg, len(evs)), make([]string, len(evs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(evs)/256))
	errs := make([]error, workers)
	per := (len(evs) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w * per; i < min((w+1)*per, len(evs)); i++ {
				if out[i], notes[i], errs[w] = message(ref, generation, subject, evs[i], tr); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	notes = slices.DeleteFunc(notes, func(n string) bool { return n == "" })
	for _, err := range errs { // the first event's error
		if err != nil {
			return nil, notes, err
		}
	}
	return out, notes, nil
}

// message is one event's message, and its note when it was cut to fit.
func message(ref events.RunRef, generation int, subject string, e Event, tr events.Trace) (*nats.Msg, string, error) {
	data, note, at, node, err := prepare(e)
	if err != nil {
		return nil, "", err
	}
	id := events.OpenLineageID(ref, max(generation, 1), node, e.RunEvent.EventType)
	body := envelope(id, ref, e.RunEvent.Job.Name, at, tr, data)
	if len(body) > publish.MaxPayload-4096 {
		return nil, note, fmt.Errorf("openlineage: event %s is %d bytes: %w", id, len(body), publish.ErrTooLarge)
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set("Content-Type", events.ContentType)
	msg.Header.Set(jetstream.MsgIDHeader, id)
	if tr.Parent != "" {
		msg.Header.Set(events.ExtTraceParent, tr.Parent)
		if tr.State != "" {
			msg.Header.Set(events.ExtTraceState, tr.State)
		}
	}
	return msg, note, nil
}

// prepare is what an event's message is made of: its data cut to fit a
// message (with the note saying what was cut), its time, and the node its
// ID names ("run" for the dbt Cloud run itself).
func prepare(e Event) (data []byte, note string, at time.Time, node string, err error) {
	if data, note, err = Fit(e.RunEvent, MaxRunEvent); err != nil {
		return nil, "", at, "", err
	}
	if at, err = time.Parse(time.RFC3339Nano, e.RunEvent.EventTime); err != nil {
		return nil, "", at, "", fmt.Errorf("openlineage: eventTime %q: %w", e.RunEvent.EventTime, err)
	}
	node = e.Node
	if node == "" {
		node = "run"
	}
	return data, note, at, node, nil
}

// envelope is the structured-mode CloudEvent of type
// events.TypeOpenLineageRun around data (a compact JSON RunEvent), with the
// attributes events.NewOpenLineage sets.
func envelope(id string, r events.RunRef, subject string, at time.Time, tr events.Trace, data []byte) []byte {
	b := make([]byte, 0, len(data)+640)
	str := func(k, v string) {
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":`...)
		q, _ := json.Marshal(v) // a string always encodes
		b = append(b, q...)
		b = append(b, ',')
	}
	b = append(b, '{')
	str("specversion", "1.0")
	str("id", id)
	str("source", events.Source(r.AccountID))
	str("type", events.TypeOpenLineageRun)
	if subject != "" {
		str("subject", subject)
	}
	str("datacontenttype", "application/json")
	str("dataschema", events.OpenLineageRunEventSchema)
	str("time", at.UTC().Format(time.RFC3339Nano))
	str(events.ExtAccount, strconv.FormatInt(r.AccountID, 10))
	str(events.ExtProject, strconv.FormatInt(r.ProjectID, 10))
	str(events.ExtEnvironment, strconv.FormatInt(r.EnvironmentID, 10))
	str(events.ExtJob, strconv.FormatInt(r.JobID, 10))
	str(events.ExtRun, strconv.FormatInt(r.RunID, 10))
	if tr.Parent != "" {
		str(events.ExtTraceParent, tr.Parent)
		if tr.State != "" {
			str(events.ExtTraceState, tr.State)
		}
	}
	b = append(b, `"data":`...)
	b = append(b, data...)
	return append(b, '}')
}
