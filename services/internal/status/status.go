// Package status gathers what `harvester status` reports about a running
// pipeline: the streams and their sizes, each durable consumer's backlog
// and redeliveries, the last harvest of every environment with its outcome
// and age (the last event on its DBT_METADATA harvest subject), the runs
// whose latest harvest failed and why (KV DBT_HARVESTS, through package
// ledger), and the health of the dbt Cloud webhook subscriptions that
// deliver to this harvester.
//
// It only reads: nothing is acked, published or changed. What it cannot
// read is listed in Report.Problems and the rest is still gathered.
package status

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// Report is the pipeline's state at At.
type Report struct {
	At        time.Time  `json:"at"`
	Streams   []Stream   `json:"streams"`
	Consumers []Consumer `json:"consumers"`
	// LastHarvests has the last harvest of each environment, most recent first.
	LastHarvests []Harvest `json:"last_harvests"`
	// Failed has the runs whose latest harvest failed, most recent first,
	// at most Options.MaxFailed; FailedTotal counts them all.
	Failed      []Harvest `json:"failed_harvests"`
	FailedTotal int       `json:"failed_total"`
	Webhooks    []Webhook `json:"webhooks"`
	Problems    []string  `json:"problems,omitempty"`
}

// Stream is one stream's size.
type Stream struct {
	Name     string     `json:"name"`
	Messages uint64     `json:"messages"`
	Bytes    uint64     `json:"bytes"`
	FirstAt  *time.Time `json:"first_at,omitempty"`
	LastAt   *time.Time `json:"last_at,omitempty"`
}

// Consumer is one durable consumer's backlog.
type Consumer struct {
	Name   string `json:"name"`
	Stream string `json:"stream"`
	// Pending is not yet delivered; InFlight delivered and not yet acked;
	// Redelivered delivered more than once and not yet acked.
	Pending       uint64     `json:"pending"`
	InFlight      int        `json:"in_flight"`
	Redelivered   int        `json:"redelivered"`
	LastDelivered *time.Time `json:"last_delivered,omitempty"`
}

// Harvest is how one run's harvest ended.
type Harvest struct {
	Run             events.RunRef `json:"run"`
	EnvironmentName string        `json:"environment_name,omitempty"`
	JobName         string        `json:"job_name,omitempty"`
	Generation      int           `json:"generation"`
	Outcome         string        `json:"outcome"` // completed | failed
	Assets          int           `json:"assets,omitempty"`
	Stage           string        `json:"stage,omitempty"`
	Reason          string        `json:"reason,omitempty"`
	Fix             string        `json:"fix,omitempty"`
	At              time.Time     `json:"at"`
	AgeSeconds      int64         `json:"age_seconds"`
}

// Webhook is the health of one subscription that delivers to this
// harvester, or of an account's subscriptions as a whole (ID empty) when
// none does or they cannot be read.
type Webhook struct {
	Account    int64  `json:"account_id"`
	ID         string `json:"id,omitempty"`
	Name       string `json:"name,omitempty"`
	URL        string `json:"url,omitempty"`
	Active     bool   `json:"active"`
	LastStatus string `json:"last_status,omitempty"` // the HTTP status the receiver last answered
	// Trouble says why dbt Cloud is not delivering ("" when healthy).
	Trouble string `json:"trouble,omitempty"`
}

// Options say where to look.
type Options struct {
	JS       jetstream.JetStream
	Topology topology.Config
	// Clients are the configured accounts' API clients (none: the webhook
	// section is empty). WebhookURL is the receiver's public URL; empty
	// accepts any subscription to a URL with the receiver's path.
	Clients    []*dbtcloud.Client
	WebhookURL string
	MaxFailed  int // default 20
	Now        func() time.Time
}

// Gather reads the report.
func Gather(ctx context.Context, o Options) Report {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	r := &Report{At: now().UTC(), Streams: []Stream{}, Consumers: []Consumer{}, LastHarvests: []Harvest{},
		Failed: []Harvest{}, Webhooks: []Webhook{}}
	topo := o.Topology.Defaults()
	consumers := topo.Consumers()
	for _, sc := range topo.Streams() { // in pipeline order
		r.stream(ctx, o.JS, sc.Name)
	}
	for _, sc := range topo.Streams() {
		if cc, ok := consumers[sc.Name]; ok {
			r.consumer(ctx, o.JS, sc.Name, cc.Durable)
		}
	}
	r.lastHarvests(ctx, o.JS)
	r.failed(ctx, o.JS, cmp.Or(o.MaxFailed, 20))
	for _, c := range o.Clients {
		r.webhooks(ctx, c, o.WebhookURL)
	}
	for i := range r.LastHarvests {
		r.LastHarvests[i].AgeSeconds = int64(r.At.Sub(r.LastHarvests[i].At).Seconds())
	}
	for i := range r.Failed {
		r.Failed[i].AgeSeconds = int64(r.At.Sub(r.Failed[i].At).Seconds())
	}
	return *r
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) stream(ctx context.Context, js jetstream.JetStream, name string) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		r.problem("stream %s: %v", name, err)
		return
	}
	info, err := s.Info(ctx)
	if err != nil {
		r.problem("stream %s: %v", name, err)
		return
	}
	st := Stream{Name: name, Messages: info.State.Msgs, Bytes: info.State.Bytes}
	if info.State.Msgs > 0 {
		first, last := info.State.FirstTime.UTC(), info.State.LastTime.UTC()
		st.FirstAt, st.LastAt = &first, &last
	}
	r.Streams = append(r.Streams, st)
}

func (r *Report) consumer(ctx context.Context, js jetstream.JetStream, stream, durable string) {
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		r.problem("consumer %s on %s: %v", durable, stream, err)
		return
	}
	info, err := c.Info(ctx)
	if err != nil {
		r.problem("consumer %s on %s: %v", durable, stream, err)
		return
	}
	r.Consumers = append(r.Consumers, Consumer{Name: durable, Stream: stream, Pending: info.NumPending,
		InFlight: info.NumAckPending, Redelivered: info.NumRedelivered, LastDelivered: info.Delivered.Last})
}

// lastHarvests reads the last event of every environment's harvest subject.
func (r *Report) lastHarvests(ctx context.Context, js jetstream.JetStream) {
	s, err := js.Stream(ctx, events.StreamMetadata)
	if err != nil {
		r.problem("stream %s: %v", events.StreamMetadata, err)
		return
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("dbt.metadata.*.*.*.harvest"))
	if err != nil {
		r.problem("harvest subjects of %s: %v", events.StreamMetadata, err)
		return
	}
	for _, subject := range slices.Sorted(maps.Keys(info.State.Subjects)) {
		msg, err := s.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			r.problem("last harvest on %s: %v", subject, err)
			continue
		}
		h, err := harvestOf(msg.Data)
		if err != nil {
			r.problem("last harvest on %s: %v", subject, err)
			continue
		}
		r.LastHarvests = append(r.LastHarvests, h)
	}
	slices.SortStableFunc(r.LastHarvests, func(a, b Harvest) int { return b.At.Compare(a.At) })
}

// harvestOf reads a harvest.completed or harvest.failed event.
func harvestOf(data []byte) (Harvest, error) {
	ev, err := events.Decode(data)
	if err != nil {
		return Harvest{}, err
	}
	switch ev.Type() {
	case events.TypeHarvestCompleted:
		d, err := events.DataAs[events.HarvestCompleted](ev)
		return Harvest{Run: d.Run.RunRef, EnvironmentName: d.Run.EnvironmentName, JobName: d.Run.JobName,
			Generation: d.Generation, Outcome: ledger.Completed, Assets: d.Assets, At: d.CompletedAt}, err
	case events.TypeHarvestFailed:
		d, err := events.DataAs[events.HarvestFailed](ev)
		return Harvest{Run: d.Run.RunRef, EnvironmentName: d.Run.EnvironmentName, JobName: d.Run.JobName,
			Generation: d.Generation, Outcome: ledger.Failed, Stage: d.Stage, Reason: d.Reason, Fix: d.Fix, At: d.FailedAt}, err
	}
	return Harvest{}, fmt.Errorf("event %s is a %s, not a harvest event", ev.ID(), ev.Type())
}

// failed lists the runs whose latest harvest failed, from DBT_HARVESTS.
func (r *Report) failed(ctx context.Context, js jetstream.JetStream, maxFailed int) {
	l, err := ledger.Open(ctx, js)
	if err != nil {
		r.problem("%v", err)
		return
	}
	var all []Harvest
	err = l.Each(ctx, func(rec ledger.Record) error {
		if rec.Status == ledger.Failed {
			all = append(all, Harvest{Run: rec.Run, Generation: rec.Generation, Outcome: ledger.Failed,
				Stage: rec.Stage, Reason: rec.Reason, At: rec.At})
		}
		return nil
	})
	if err != nil {
		r.problem("%v", err)
	}
	slices.SortStableFunc(all, func(a, b Harvest) int { return b.At.Compare(a.At) })
	r.FailedTotal = len(all)
	r.Failed = append(r.Failed, all[:min(len(all), maxFailed)]...)
}

// webhooks reports the account's subscriptions that deliver to us.
func (r *Report) webhooks(ctx context.Context, c *dbtcloud.Client, webhookURL string) {
	subs, err := c.ListSubscriptions(ctx)
	if err != nil {
		r.Webhooks = append(r.Webhooks, Webhook{Account: c.AccountID(), Trouble: "cannot list webhook subscriptions: " + err.Error()})
		return
	}
	found := false
	for _, s := range subs {
		if !dbtcloud.Ours(s, webhookURL) {
			continue
		}
		found = true
		r.Webhooks = append(r.Webhooks, Webhook{Account: c.AccountID(), ID: s.ID, Name: s.Name, URL: s.ClientURL,
			Active: s.Active, LastStatus: s.HTTPStatusCode, Trouble: dbtcloud.Trouble(s)})
	}
	if !found {
		where := webhookURL
		if where == "" {
			where = "a URL ending in " + dbtcloud.WebhookPath
		}
		r.Webhooks = append(r.Webhooks, Webhook{Account: c.AccountID(),
			Trouble: fmt.Sprintf("no subscription delivers to %s (%d in the account): runs arrive only through the reconciler", where, len(subs))})
	}
}
