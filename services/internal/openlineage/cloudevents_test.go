package openlineage

import (
	"bytes"

	"github.com/dbt-harvester/harvester/events"
)

// CloudEvents, the oracle of Messages in tests, wraps a harvest's events, in order, each in the message of
// events.NewOpenLineageRun (type events.TypeOpenLineageRun, its
// deterministic ID, the trace context tr); notes say which events were cut
// to fit a message (see Fit). Messages writes the same messages
// directly, for speed.
func CloudEvents(ref events.RunRef, generation int, evs []Event, tr events.Trace) ([]events.Message, []string, error) {
	out := make([]events.Message, 0, len(evs))
	var notes []string
	for _, e := range evs {
		data, note, at, node, err := prepare(new(bytes.Buffer), e) // the message keeps data
		if err != nil {
			return nil, notes, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		m, err := events.NewOpenLineageRun(ref, max(generation, 1), node, e.RunEvent.EventType, e.RunEvent.Job.Name, at, data, tr)
		if err != nil {
			return nil, notes, err
		}
		out = append(out, m)
	}
	return out, notes, nil
}
