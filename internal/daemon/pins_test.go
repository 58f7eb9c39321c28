package daemon

import (
	"bytes"
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
// simulated machine's pins and pseudo-terminals; simulated customers'
// containers are decided and recorded, and the daemon stops cleanly. The
// printer's stream (-printer-out) holds one ticket, with its code, for
// every voucher the ledger says was printed.
func TestRunPins(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ledger.db")
	ps, _ := catalog.Parse(sample.JSON())
	cat, _ := catalog.New(1, ps)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var printed bytes.Buffer // written by the fake printer until Run returns
	go func() {
		done <- Run(ctx, Options{Config: config.Default(), DBPath: db, SimState: db + ".sim", Catalog: cat,
			Customers: true, Fast: true, Seed: 1, HAL: simrun.HALPins, PrinterOut: &printed})
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
	rows, err := led.Query(`SELECT voucher_id FROM voucher_prints WHERE printed_at IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		t.Fatalf("no voucher printed for %d containers", n)
	}
	if got := bytes.Count(printed.Bytes(), []byte("\x1b@")); got != len(ids) {
		t.Errorf("the printer received %d tickets; the ledger says %d were printed", got, len(ids))
	}
	for _, id := range ids {
		if !bytes.Contains(printed.Bytes(), []byte(id)) {
			t.Errorf("printed voucher %s is not in the printer's stream", id)
		}
	}
}
