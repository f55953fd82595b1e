package events_test

import (
	"fmt"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// A subscriber reads an asset event from DBT_METADATA.
func ExampleDataAs() {
	r := events.RunRef{AccountID: 1, ProjectID: 100, EnvironmentID: 200, JobID: 300, RunID: 400}
	m, _ := events.NewAssetHarvested(events.Asset{
		AssetID: events.StableAssetID(1, 100, 200, "model.shop.orders"), RunRef: r,
		UniqueID: "model.shop.orders", ResourceType: "model", Name: "orders",
	}, 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), events.Trace{})
	payload, _ := events.Encode(m.Event) // what the NATS message on m.Subject carries

	got, _ := events.Decode(payload)
	asset, _ := events.DataAs[events.Asset](got)
	fmt.Println(m.Subject)
	fmt.Println(got.ID())
	fmt.Println(got.DataSchema())
	fmt.Println(asset.AssetID, asset.Name)
	// Output:
	// dbt.metadata.1.100.200.asset.model
	// 1/400/g1/asset/model.shop.orders
	// https://dbt-harvester.dev/schemas/data/dbt.harvester.asset.harvested.v1.json
	// 1/100/200/model.shop.orders orders
}

// dbt Cloud's webhook body is read tolerantly: IDs as strings or numbers.
func ExampleParseRunWebhook() {
	w, err := events.ParseRunWebhook([]byte(`{"accountId":1,"eventId":"wev_2L6Z","eventType":"job.run.completed",
		"data":{"jobId":"300","runId":"400","environmentId":"200","projectId":"100","runStatus":"Success"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(events.RunSubject(w.Ref(), events.RunKind(w.EventType)), w.Data.RunStatus)
	// Output: dbt.run.1.100.200.300.completed Success
}
