package openlineage

import (
	"encoding/json"
	"fmt"
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
	subject := events.OpenLineageSubject(ref)
	out := make([]*nats.Msg, 0, len(evs))
	var notes []string
	for _, e := range evs {
		data, note, at, node, err := prepare(e)
		if err != nil {
			return nil, notes, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		id := events.OpenLineageID(ref, max(generation, 1), node, e.RunEvent.EventType)
		body := envelope(id, ref, e.RunEvent.Job.Name, at, tr, data)
		if len(body) > publish.MaxPayload-4096 {
			return nil, notes, fmt.Errorf("openlineage: event %s is %d bytes: %w", id, len(body), publish.ErrTooLarge)
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
		out = append(out, msg)
	}
	return out, notes, nil
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
