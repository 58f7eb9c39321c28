package simrun

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/scenario"
)

// BenchmarkContainer measures one accepted container through the whole
// pipeline (sim, fsm, rules, ledger commit, outbox) with no mechanical
// delay; sessions of 50 containers.
func BenchmarkContainer(b *testing.B) {
	cat := sampleCatalog(b)
	var steps []scenario.Step
	for i := 0; i < b.N; i++ {
		steps = append(steps, scenario.Step{Op: scenario.OpInsert, EAN: "5900449000287", Barcode: "ok", Gap: time.Second})
		if i%50 == 49 {
			steps = append(steps, scenario.Step{Op: scenario.OpFinish, Payout: "voucher"})
		}
	}
	zero := sim.ZeroTiming()
	o := Options{Catalog: cat, DBPath: filepath.Join(b.TempDir(), "l.db"), Timing: &zero}
	o.Machine.BagMaxContainers = 5000
	o.Machine.BagMaxMass = 1e15
	r, err := Start(context.Background(), nil, o)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	b.ResetTimer()
	if err := r.Play(context.Background(), steps); err != nil {
		b.Fatal(err)
	}
}
