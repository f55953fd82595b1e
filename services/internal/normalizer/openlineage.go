package normalizer

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
	"github.com/dbt-harvester/harvester/services/internal/openlineage"
	"github.com/dbt-harvester/harvester/services/internal/retry"
	"github.com/nats-io/nats.go"
)

// withoutCode is an asset's JSON without raw_code and compiled_code: the
// normalizer always reads the code, for the OpenLineage SQL facet, and
// asset events carry it only with IncludeCode. A new slice.
func withoutCode(asset []byte) ([]byte, error) {
	out := make([]byte, 0, len(asset))
	out = append(out, '{')
	_, err := artifact.EachMember(asset, func(k, v []byte) error {
		if s := string(k); s == "raw_code" || s == "compiled_code" {
			return nil
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = strconv.AppendQuote(out, string(k))
		out = append(out, ':')
		out = append(out, v...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drop code from asset: %w", err)
	}
	return append(out, '}'), nil
}

// publishLineage publishes the harvest's OpenLineage run events on
// DBT_OPENLINEAGE, in order, and waits until JetStream stored them all: they
// follow the asset events and precede the harvest event. It returns notes
// for the harvest's warnings (events cut to fit a message).
func (n *Normalizer) publishLineage(ctx context.Context, fetched events.ArtifactsFetched, sum normalize.Summary,
	c *openlineage.Collector, trace events.Trace) ([]string, error) {
	h := openlineage.Harvest{Run: fetched.Run, Generation: fetched.Generation, Project: sum.Project}
	if sum.Project != nil {
		h.InvocationID = sum.Project.InvocationID
	}
	plan := openlineage.NewPlan(h, c, n.OpenLineage)
	for _, w := range plan.Warnings() {
		n.log().Warn(w, "account", fetched.Run.AccountID, "environment", fetched.Run.EnvironmentID)
	}
	ref := fetched.Run.RunRef
	// Built and encoded on every CPU while published; an encoding error is
	// permanent (an event over the message limit even when cut).
	batch := n.Batch(ctx, events.StreamOpenLineage) // atomic batches when the server fsyncs each write, as the assets
	var pubErr error
	notes, err := openlineage.EachMessage(ref, fetched.Generation, plan.Len(), plan.Event, trace, func(m *nats.Msg) error {
		pubErr = batch.AddMsg(ctx, m)
		return pubErr
	})
	switch {
	case pubErr != nil:
		return nil, pubErr
	case err != nil:
		return nil, retry.Permanent(err)
	}
	if err := batch.Wait(ctx); err != nil {
		return nil, err
	}
	return notes, nil
}
