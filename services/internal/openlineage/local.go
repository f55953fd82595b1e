package openlineage

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/dbt-harvester/harvester/services/internal/normalize"
)

// FromArtifacts normalizes a run's artifacts (a dbt Core target/ folder, or
// a dbt Cloud run's files) and builds its OpenLineage events, as the
// normalizer does for a harvest: h names the run (its zero RunFacts for dbt
// Core); h.Project is filled from the manifest. The code is always read,
// for the SQL facet.
func FromArtifacts(ctx context.Context, in normalize.Input, h Harvest, opts Options) ([]Event, normalize.Summary, []string, error) {
	c := &Collector{}
	sum, err := normalize.JSON(ctx, in, normalize.Options{Ref: h.Run.RunRef, IncludeCode: true}, func(e normalize.Encoded) error {
		if !Wants(e.ResourceType) {
			return nil
		}
		a, err := DecodeAsset(e.JSON)
		if err != nil {
			return err
		}
		c.Add(a)
		return nil
	})
	if err != nil {
		return nil, sum, nil, err
	}
	h.Project = sum.Project
	evs, warnings := Build(h, c, opts)
	return evs, sum, warnings, nil
}

// WriteNDJSON writes each event's RunEvent on a line of its own, each cut
// to fit a 1 MiB message as on DBT_OPENLINEAGE (see Fit); it returns the
// notes of what was cut.
func WriteNDJSON(w io.Writer, evs []Event) ([]string, error) {
	out := bufio.NewWriterSize(w, 256<<10)
	var notes []string
	for _, e := range evs {
		b, note, err := Fit(e.RunEvent, MaxRunEvent)
		if err != nil {
			return notes, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		if _, err := out.Write(append(b, '\n')); err != nil {
			return notes, fmt.Errorf("openlineage: write: %w", err)
		}
	}
	if err := out.Flush(); err != nil {
		return notes, fmt.Errorf("openlineage: write: %w", err)
	}
	return notes, nil
}
