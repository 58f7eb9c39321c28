package daemon

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// bareRig is a machine as it leaves the factory floor: devices, and no
// calibration anywhere.
type bareRig struct{ m *sim.Machine }

func (r *bareRig) Open(ctx context.Context, led *ledger.Ledger, last time.Time) (machine.Devices, clock.Clock, error) {
	clk := clock.NewFake(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	m, err := sim.New(clk, sim.DefaultConfig(1))
	r.m = m
	return machine.Devices{Chamber: m.ChamberCell(), Bag: m.BagCell(), Metal: m.MetalSensor(), Conveyor: m.Conveyor()}, clk, err
}
func (*bareRig) Tune(*machine.Options) {}
func (*bareRig) Run(context.Context, func(context.Context, machine.ActFunc) (any, error)) error {
	return nil
}
func (*bareRig) Close() error { return nil }

// TestUncalibrated: with no calibration in the ledger the daemon runs, but
// refuses intake and says why; once the technician's calibration is in the
// ledger, intake opens.
func TestUncalibrated(t *testing.T) {
	db := filepath.Join(t.TempDir(), "rvmd.db")
	ready := make(chan *Daemon, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: config.Default(), DBPath: db, Rig: &bareRig{}, Seed: 1, Ready: func(d *Daemon) { ready <- d }})
	}()
	var d *Daemon
	select {
	case d = <-ready:
	case err := <-done:
		t.Fatalf("Run = %v before it was ready", err)
	}
	if st := d.status(); !st.IntakeBlocked || st.BlockReason != "scale not calibrated" {
		t.Errorf("status without calibration: blocked %v, reason %q; want true, %q", st.IntakeBlocked, st.BlockReason, "scale not calibrated")
	}
	for _, cell := range []string{machine.CellChamber, machine.CellBag} {
		cal := ledger.Cal{Offset: 8_388_000, CountsPerKg: 420_000, ResolutionMg: 100, At: time.Now(), By: "technician"}
		if err := d.led.SetCalibration(ctx, cell, cal, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) { return nil, c.Recalibrate(ctx) }); err != nil {
		t.Fatalf("Recalibrate: %v", err)
	}
	if st := d.status(); st.IntakeBlocked {
		t.Errorf("status after calibration: blocked for %q; want open", st.BlockReason)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil", err)
	}
}
