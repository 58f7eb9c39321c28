package daemon

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// TestBatchesWaitForTheBroker: with the broker away, a container waits
// for a full batch or its transaction, not for the batch's age; once the
// publisher is connected again, the batch past its age goes.
func TestBatchesWaitForTheBroker(t *testing.T) {
	b := testbroker.Start(t)
	b.Stop()
	db := filepath.Join(t.TempDir(), "rvmd.db")
	led, err := ledger.Open(db) // registered: intake open
	if err != nil {
		t.Fatal(err)
	}
	led.SetMeta(context.Background(), "rvm_id", "6283cb0c-ee81-42bf-9fef-7fb6aadeb4ba")
	led.Close()
	cfg := config.Default()
	cfg.Serial = serial
	cfg.ContainerBatchEvery = 100 * time.Millisecond
	ps, _ := catalog.Parse(sample.JSON())
	cat, _ := catalog.New(1, ps)
	rig := simrun.NewRig(simrun.RigOptions{Seed: 1, SimState: db + ".sim"})
	ready := make(chan *Daemon, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, DBPath: db, Rig: rig, Catalog: cat, MQTT: b.URL(), Seed: 1,
			Ready: func(d *Daemon) { ready <- d }})
	}()
	d := <-ready
	unbatched := func() int {
		var n int
		if err := d.led.DB().QueryRow(`SELECT count(*) FROM unbatched`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := d.simStep(ctx, rig, scenario.Step{Op: scenario.OpInsert, EAN: "5900541000178"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the container noted for its batch", func() bool { return unbatched() == 1 })
	time.Sleep(10 * cfg.ContainerBatchEvery)
	if n := unbatched(); n != 1 {
		t.Errorf("containers waiting for a batch, ten batch ages offline = %d; want 1", n)
	}
	b.Restart()
	waitFor(t, "the batch once the broker is back", func() bool { return unbatched() == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
