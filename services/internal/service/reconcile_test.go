package service_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/reconcile"
	"github.com/dbt-harvester/harvester/services/internal/service"
	"github.com/dbt-harvester/harvester/services/internal/servicetest"
)

// TestReconcilerInServe runs serve with the reconciler on against an account
// that sent no webhook (no subscription): the reconciler's first pass
// harvests the run anyway.
func TestReconcilerInServe(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(5)); err != nil {
		t.Fatal(err)
	}
	cloud, err := devcloud.New(devcloud.Config{Token: testToken, ArtifactsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(cloud.Handler())
	t.Cleanup(api.Close)
	p := servicetest.Start(t, service.Options{
		Config:    config.Config{Accounts: []config.Account{{ID: 1, AccessURL: api.URL, Token: testToken}}},
		Reconcile: reconcile.Options{Interval: time.Hour},
	})
	ev := p.NextHarvest(t, 30*time.Second)
	if ev.Type() != events.TypeHarvestCompleted {
		t.Fatalf("harvest event %s: %s", ev.Type(), ev.Data())
	}
	if ref, _ := events.RefOf(ev); ref.RunID != 400 {
		t.Errorf("harvested run %d, want 400", ref.RunID)
	}
}
