package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchAsset is the JSON of an asset with n columns and code of codeBytes.
func benchAsset(b *testing.B, n, codeBytes int) (RunRef, Asset, []byte) {
	r := RunRef{AccountID: 70403103922125, ProjectID: 70403103926818, EnvironmentID: 70403103931988, JobID: 70403103936332, RunID: 70403110257794}
	a := Asset{AssetID: StableAssetID(r.AccountID, r.ProjectID, r.EnvironmentID, "model.shop.orders"), RunRef: r,
		UniqueID: "model.shop.orders", ResourceType: "model", Name: "orders", PackageName: "shop",
		Description: strings.Repeat("Orders placed by customers. ", 8), Tags: []string{"finance", "daily"},
		Meta: map[string]any{"owner": "data-team"}, DependsOn: []string{"model.shop.stg_orders", "model.shop.stg_payments"},
		RawCode: strings.Repeat("select * from x\n", codeBytes/16), Result: &Result{Status: "success", ExecutionTime: 1.5}}
	for i := range n {
		a.Columns = append(a.Columns, Column{Name: fmt.Sprintf("column_%d", i), DataType: "bigint",
			Description: "A column of the orders table, with a description.", Index: i + 1, InCatalog: true, InManifest: true})
	}
	data, err := json.Marshal(a)
	if err != nil {
		b.Fatal(err)
	}
	return r, a, data
}

// BenchmarkAssetEvent is the normalizer's hot loop per asset: an asset
// event from the asset's JSON, encoded as the NATS message carries it.
func BenchmarkAssetEvent(b *testing.B) {
	at := time.Date(2026, 3, 2, 6, 0, 9, 0, time.UTC)
	tr := NewTrace()
	for _, size := range []struct {
		name          string
		columns, code int
	}{{"small", 10, 0}, {"medium", 60, 4 << 10}, {"large", 400, 256 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			r, a, data := benchAsset(b, size.columns, size.code)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				m, err := NewAssetHarvestedJSON(r, 1, a.UniqueID, a.ResourceType, data, at, tr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Encode(m.Event); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
