package openlineage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
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
// Notes say which events were cut to fit a message (see Fit).
func Messages(ref events.RunRef, generation int, evs []Event, tr events.Trace) ([]*nats.Msg, []string, error) {
	out := make([]*nats.Msg, 0, len(evs))
	notes, err := EachMessage(ref, generation, len(evs), func(i int) Event { return evs[i] }, tr, func(m *nats.Msg) error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, notes, err
	}
	return out, notes, nil
}

// eachChunk is how many events a worker of EachMessage encodes at a time.
const eachChunk = 256

// EachMessage is Messages of the n events that event returns (Plan.Event:
// it is called from several goroutines), calling fn with each message, in
// order, as soon as it and those before it are encoded: the events are
// built and encoded in chunks on every CPU while fn publishes those ready,
// and none is held once published (a harvest of 20,000 models has 200,000
// events). An event that cannot be encoded stops it with that error, after
// fn had the events before it; so does fn's error.
func EachMessage(ref events.RunRef, generation int, n int, event func(int) Event, tr events.Trace, fn func(*nats.Msg) error) ([]string, error) {
	subject := events.OpenLineageSubject(ref)
	type chunk struct {
		msgs  []*nats.Msg
		notes []string
		err   error
		done  chan struct{}
	}
	chunks := make([]chunk, (n+eachChunk-1)/eachChunk)
	next := make(chan int, len(chunks)) // the chunks to encode, in order
	for i := range chunks {
		chunks[i].done = make(chan struct{})
		next <- i
	}
	close(next)
	stop := make(chan struct{})
	defer close(stop)
	for range max(1, min(runtime.GOMAXPROCS(0), len(chunks))) {
		go func() {
			buf := new(bytes.Buffer) // the worker's, for every event's encoding
			for i := range next {
				select {
				case <-stop: // fn failed: no one reads the rest
					return
				default:
				}
				c := &chunks[i]
				for j := i * eachChunk; j < min((i+1)*eachChunk, n); j++ {
					m, note, err := message(buf, ref, generation, subject, event(j), tr)
					if note != "" {
						c.notes = append(c.notes, note)
					}
					if err != nil {
						c.err = err
						break
					}
					c.msgs = append(c.msgs, m)
				}
				close(c.done)
			}
		}()
	}
	var notes []string
	for i := range chunks {
		c := &chunks[i]
		<-c.done
		notes = append(notes, c.notes...)
		for _, m := range c.msgs {
			if err := fn(m); err != nil {
				return notes, err
			}
		}
		if c.err != nil {
			return notes, c.err
		}
		c.msgs = nil // published: the batch holds what it still needs
	}
	return notes, nil
}

// message is one event's message, and its note when it was cut to fit;
// the event is encoded in buf, then copied into the message.
func message(buf *bytes.Buffer, ref events.RunRef, generation int, subject string, e Event, tr events.Trace) (*nats.Msg, string, error) {
	data, note, at, node, err := prepare(buf, e)
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
func prepare(buf *bytes.Buffer, e Event) (data []byte, note string, at time.Time, node string, err error) {
	if data, note, err = fitInto(buf, e.RunEvent, MaxRunEvent); err != nil {
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
