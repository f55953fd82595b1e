package schematest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/dbt-harvester/harvester/events"
)

// asyncAPI is the part of schemas/asyncapi.yaml the test checks.
type asyncAPI struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Address    string         `yaml:"address"`
		Parameters map[string]any `yaml:"parameters"`
		Messages   map[string]struct {
			Ref string `yaml:"$ref"`
		} `yaml:"messages"`
		JetStream struct {
			Stream         string `yaml:"stream"`
			StreamSubjects string `yaml:"streamSubjects"`
		} `yaml:"x-jetstream"`
	} `yaml:"channels"`
	Operations map[string]struct {
		Action  string `yaml:"action"`
		Channel struct {
			Ref string `yaml:"$ref"`
		} `yaml:"channel"`
		Messages []struct {
			Ref string `yaml:"$ref"`
		} `yaml:"messages"`
	} `yaml:"operations"`
	Components struct {
		Parameters map[string]struct {
			Description string   `yaml:"description"`
			Enum        []string `yaml:"enum"`
		} `yaml:"parameters"`
		Messages map[string]struct {
			Name        string `yaml:"name"`
			ContentType string `yaml:"contentType"`
			Headers     struct {
				Ref string `yaml:"$ref"`
			} `yaml:"headers"`
			Payload struct {
				SchemaFormat string `yaml:"schemaFormat"`
				Schema       struct {
					Ref string `yaml:"$ref"`
				} `yaml:"schema"`
			} `yaml:"payload"`
			DataSchema string `yaml:"x-dataschema"`
		} `yaml:"messages"`
		Schemas map[string]any `yaml:"schemas"`
	} `yaml:"components"`
}

func loadAsyncAPI(t *testing.T) asyncAPI {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(t), "asyncapi.yaml"))
	if err != nil {
		t.Fatalf("read asyncapi.yaml: %v", err)
	}
	var doc asyncAPI
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse asyncapi.yaml: %v", err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Fatalf("asyncapi.yaml: asyncapi = %q, want 3.0.0", doc.AsyncAPI)
	}
	return doc
}

// TestAsyncAPIMessages: every event type has a message whose payload is its
// message schema file and whose x-dataschema is its events' dataschema, and
// every message is on a channel.
func TestAsyncAPIMessages(t *testing.T) {
	doc := loadAsyncAPI(t)
	onChannel := map[string]bool{}
	for _, ch := range doc.Channels {
		for _, m := range ch.Messages {
			onChannel[strings.TrimPrefix(m.Ref, "#/components/messages/")] = true
		}
	}
	byType := map[string]string{}
	for key, m := range doc.Components.Messages {
		byType[m.Name] = key
		if want := "./" + events.SchemaFile(m.Name); m.Payload.Schema.Ref != want {
			t.Errorf("message %s: payload $ref %q, want %q", key, m.Payload.Schema.Ref, want)
		}
		if want := events.DataSchema(m.Name); m.DataSchema != want {
			t.Errorf("message %s: x-dataschema %q, want the dataschema its events carry, %q", key, m.DataSchema, want)
		}
		if m.Payload.SchemaFormat != "application/schema+json;version=draft-2020-12" {
			t.Errorf("message %s: schemaFormat %q, want JSON Schema 2020-12", key, m.Payload.SchemaFormat)
		}
		if m.ContentType != events.ContentType {
			t.Errorf("message %s: contentType %q, want %q", key, m.ContentType, events.ContentType)
		}
		if name := strings.TrimPrefix(m.Headers.Ref, "#/components/schemas/"); doc.Components.Schemas[name] == nil {
			t.Errorf("message %s: headers $ref %q names no component schema", key, m.Headers.Ref)
		}
		if _, err := os.Stat(filepath.Join(Dir(t), filepath.FromSlash(m.Payload.Schema.Ref))); err != nil {
			t.Errorf("message %s: payload schema: %v", key, err)
		}
		if !onChannel[key] {
			t.Errorf("message %s is on no channel", key)
		}
	}
	for _, typ := range eventTypes() {
		if _, ok := byType[typ]; !ok {
			t.Errorf("no message named %s in asyncapi.yaml", typ)
		}
	}
}

// TestAsyncAPIChannels: the channel addresses are the subjects the events
// package builds, on the streams that hold them, with every parameter defined.
func TestAsyncAPIChannels(t *testing.T) {
	doc := loadAsyncAPI(t)
	ref := events.RunRef{AccountID: 11, ProjectID: 22, EnvironmentID: 33, JobID: 44, RunID: 55}
	values := map[string]string{"account": "11", "project": "22", "environment": "33", "job": "44", "kind": events.RunCompleted, "resource_type": "model"}
	want := map[string]string{ // subject -> stream
		events.RunSubject(ref, events.RunCompleted): events.StreamRuns,
		events.ArtifactsSubject(ref):                events.StreamArtifacts,
		events.AssetSubject(ref, "model"):           events.StreamMetadata,
		events.HarvestSubject(ref):                  events.StreamMetadata,
		events.OpenLineageSubject(ref):              events.StreamOpenLineage,
	}
	filters := map[string]string{
		events.StreamRuns:        events.RunSubjects,
		events.StreamArtifacts:   events.ArtifactsSubjects,
		events.StreamMetadata:    events.MetadataSubjects,
		events.StreamOpenLineage: events.OpenLineageSubjects,
	}
	param := regexp.MustCompile(`\{([a-z_]+)\}`)
	got := map[string]bool{}
	for name, ch := range doc.Channels {
		subject := param.ReplaceAllStringFunc(ch.Address, func(m string) string {
			p := strings.Trim(m, "{}")
			if ch.Parameters[p] == nil {
				t.Errorf("channel %s: address parameter %s is not in its parameters", name, p)
			}
			if _, ok := doc.Components.Parameters[p]; !ok {
				t.Errorf("channel %s: parameter %s is not in components.parameters", name, p)
			}
			return values[p]
		})
		got[subject] = true
		stream, ok := want[subject]
		if !ok {
			t.Errorf("channel %s: address %s gives subject %s, which no events subject builder produces", name, ch.Address, subject)
			continue
		}
		if ch.JetStream.Stream != stream {
			t.Errorf("channel %s: x-jetstream.stream %q, want %q", name, ch.JetStream.Stream, stream)
		}
		if ch.JetStream.StreamSubjects != filters[stream] {
			t.Errorf("channel %s: x-jetstream.streamSubjects %q, want %q", name, ch.JetStream.StreamSubjects, filters[stream])
		}
		if !subjectMatches(filters[stream], subject) {
			t.Errorf("channel %s: subject %s is outside stream %s (%s)", name, subject, stream, filters[stream])
		}
	}
	for subject := range want {
		if !got[subject] {
			t.Errorf("no channel for subjects like %s", subject)
		}
	}
	kinds := doc.Components.Parameters["kind"].Enum
	if wantKinds := []string{events.RunStarted, events.RunCompleted, events.RunErrored}; !slices.Equal(kinds, wantKinds) {
		t.Errorf("parameter kind enum %q, want %q", kinds, wantKinds)
	}
}

// TestAsyncAPIOperations: operations name existing channels and messages of
// those channels.
func TestAsyncAPIOperations(t *testing.T) {
	doc := loadAsyncAPI(t)
	for name, op := range doc.Operations {
		if op.Action != "send" && op.Action != "receive" {
			t.Errorf("operation %s: action %q, want send or receive", name, op.Action)
		}
		chName := strings.TrimPrefix(op.Channel.Ref, "#/channels/")
		ch, ok := doc.Channels[chName]
		if !ok {
			t.Errorf("operation %s: channel %q does not exist", name, op.Channel.Ref)
			continue
		}
		for _, m := range op.Messages {
			msg, ok := strings.CutPrefix(m.Ref, "#/channels/"+chName+"/messages/")
			if _, exists := ch.Messages[msg]; !ok || !exists {
				t.Errorf("operation %s: message %q is not a message of channel %s", name, m.Ref, chName)
			}
		}
	}
}

// subjectMatches reports whether NATS subject s matches filter f (with * and >).
func subjectMatches(f, s string) bool {
	ft, st := strings.Split(f, "."), strings.Split(s, ".")
	for i, tok := range ft {
		if tok == ">" {
			return len(st) > i
		}
		if i >= len(st) || (tok != "*" && tok != st[i]) {
			return false
		}
	}
	return len(ft) == len(st)
}
