package daemon

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
)

// rvmd run -sim -hal pins: the live loop drives the real drivers on the
// simulated machine's pins; simulated customers' containers are decided
// and recorded, and the daemon stops cleanly.
func TestRunPins(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ledger.db")
	ps, _ := catalog.Parse(sample.JSON())
	cat, _ := catalog.New(1, ps)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: config.Default(), DBPath: db, SimState: db + ".sim", Catalog: cat,
			Customers: true, Fast: true, Seed: 1, HAL: simrun.HALPins})
	}()
	led, err := sql.Open("sqlite3", "file:"+db+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	n := 0
	// The bound only keeps a broken rig from hanging the run.
	for deadline := time.Now().Add(90 * time.Second); n < 50; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d containers recorded after 90 s; want 50", n)
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended early: %v", err)
		default:
		}
		led.QueryRow(`SELECT count(*) FROM containers`).Scan(&n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want a clean stop", err)
	}
}
