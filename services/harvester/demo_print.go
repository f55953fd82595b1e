package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/proc"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func countsLine(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return strings.Join(parts, ", ")
}

// subscribe reads DBT_METADATA from its start with an ordered consumer, as any
// subscriber would.
func subscribe(ctx context.Context, nc *nats.Conn) (jetstream.MessagesContext, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cons, err := js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.MetadataSubjects}})
	if err != nil {
		return nil, fmt.Errorf("demo: subscribe to %s: %w", events.StreamMetadata, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("demo: subscribe to %s: %w", events.StreamMetadata, err)
	}
	return it, nil
}

func printHarvest(ctx context.Context, it jetstream.MessagesContext, w io.Writer, show int, children ...*proc.Child) error {
	stopOnDone := context.AfterFunc(ctx, it.Stop)
	defer stopOnDone()
	assets, perType := 0, map[string]int{}
	for {
		msg, err := it.Next()
		if err != nil {
			for _, c := range children {
				if cerr := c.Exited(); cerr != nil {
					return cerr
				}
			}
			return fmt.Errorf("demo: no completed harvest: %w", errors.Join(err, ctx.Err()))
		}
		ev, err := events.Decode(msg.Data())
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		switch ev.Type() {
		case events.TypeAssetHarvested:
			assets++
			a, err := events.DataAs[events.Asset](ev)
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			perType[a.ResourceType]++
			switch n := perType[a.ResourceType]; {
			case a.ResourceType == "model" && n == 1:
				fmt.Fprintf(w, "%s  %s\n%s\n", msg.Subject(), ev.Type(), indent(ev.Data(), 3000))
			case n <= show:
				fmt.Fprintf(w, "%-45s %s\n", msg.Subject(), assetLine(a))
			case n == show+1:
				fmt.Fprintf(w, "%-45s ... more %s assets\n", msg.Subject(), a.ResourceType)
			}
		case events.TypeHarvestCompleted:
			fmt.Fprintf(w, "\n%s  %s (after %d asset events)\n%s\n", msg.Subject(), ev.Type(), assets, indent(ev.Data(), 4000))
			return nil
		case events.TypeHarvestFailed:
			fmt.Fprintf(w, "\n%s  %s\n%s\n", msg.Subject(), ev.Type(), indent(ev.Data(), 4000))
			hf, _ := events.DataAs[events.HarvestFailed](ev)
			return fmt.Errorf("demo: harvest failed: %s", hf.Reason)
		}
	}
}

// assetLine is one line about an asset: what a catalog would show first.
func assetLine(a events.Asset) string {
	var b strings.Builder
	b.WriteString(a.UniqueID)
	if a.RelationName != "" {
		fmt.Fprintf(&b, "  %s", a.RelationName)
	}
	if len(a.Columns) > 0 {
		fmt.Fprintf(&b, "  %d columns", len(a.Columns))
	}
	if len(a.DependsOn) > 0 {
		fmt.Fprintf(&b, "  %d upstream", len(a.DependsOn))
	}
	if len(a.Tests) > 0 {
		fmt.Fprintf(&b, "  %d tests", len(a.Tests))
	}
	if a.Result != nil {
		fmt.Fprintf(&b, "  result %s in %.2fs", a.Result.Status, a.Result.ExecutionTime)
	}
	return b.String()
}

// indent pretty-prints JSON, cut at max bytes.
func indent(data []byte, max int) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "  ", "  "); err != nil {
		return string(data)
	}
	s := "  " + buf.String()
	if len(s) > max {
		return s[:max] + "\n  ... (cut)"
	}
	return s
}
