package daemon

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// TestOutboxBudget: with the broker away and the outbox over its disk
// budget, the machine blocks intake (and says why) instead of dropping a
// money event; once the broker is back and the outbox drains, intake opens.
func TestOutboxBudget(t *testing.T) {
	b := testbroker.Start(t)
	b.Stop()
	db := filepath.Join(t.TempDir(), "rvmd.db")
	led, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	led.SetMeta(ctx, "rvm_id", "6283cb0c-ee81-42bf-9fef-7fb6aadeb4ba")
	big := map[string]string{"pad": strings.Repeat("x", 64<<10)}
	for i := 0; i < 20; i++ { // 1.3 MB waiting
		if err := led.AppendEvent(ctx, "test", time.Now(), "", big); err != nil {
			t.Fatal(err)
		}
	}
	led.Close()

	cfg := config.Default()
	cfg.Serial, cfg.OutboxBudgetBytes = serial, 1<<20
	ps, _ := catalog.Parse(sample.JSON())
	cat, _ := catalog.New(1, ps)
	ready := make(chan *Daemon, 1)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(rctx, Options{Config: cfg, DBPath: db, Rig: simrun.NewRig(simrun.RigOptions{Seed: 1, SimState: db + ".sim"}), Catalog: cat, MQTT: b.URL(), Seed: 1,
			Ready: func(d *Daemon) { ready <- d }})
	}()
	d := <-ready
	blocked := func() []string {
		v, err := d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) { return c.Status().Blocked, nil })
		if err != nil {
			t.Fatal(err)
		}
		return v.([]string)
	}
	waitFor(t, "intake blocked for the outbox", func() bool { return slices.Contains(blocked(), machine.BlockOutbox) })
	if st := d.status(); !st.IntakeBlocked || st.BlockReason != machine.BlockOutbox {
		t.Errorf("status %+v; want blocked for %q", st, machine.BlockOutbox)
	}
	b.Restart()
	waitFor(t, "intake open after the drain", func() bool { return !slices.Contains(blocked(), machine.BlockOutbox) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
