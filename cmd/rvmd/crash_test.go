package main

import (
	"context"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/ean"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// kills is how many times TestCrashKill cuts the power (SIGKILL) before its
// clean stop: `go test ./cmd/rvmd -run Crash -kills 1000`.
var kills = flag.Int("kills", 12, "power cuts (SIGKILL) in TestCrashKill")

// buildRvmd builds the real binary once per test run.
func buildRvmd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rvmd")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCrashKill runs a real rvmd on the simulated machine with simulated
// customers, SIGKILLs it at random instants many times, restarts it on the
// same ledger and machine journal, stops it cleanly at the end, and checks
// the ledger against the physical truth of the machine: every container
// that is in a bag is credited exactly once, nothing else is, every
// session is closed with a transaction whose totals add up, and no voucher
// is issued twice or for a wrong amount.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	bin := buildRvmd(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "ledger.db")
	state := filepath.Join(dir, "machine.sim")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	args := []string{"run", "-sim", "-fast", "-db", db, "-sim-state", state, "-seed", "42"}
	n := *kills
	start := time.Now()
	for i := 0; i <= n; i++ {
		cmd := exec.Command(bin, args...)
		logf, _ := os.Create(filepath.Join(dir, "rvmd.log"))
		cmd.Stderr = logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		if i < n {
			cmd.Process.Signal(syscall.SIGKILL)
		} else {
			cmd.Process.Signal(syscall.SIGTERM)
		}
		err := cmd.Wait()
		logf.Close()
		if i == n && err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "rvmd.log"))
			t.Fatalf("clean stop: %v\n%s", err, log)
		}
	}
	lost, doubled := checkLedgerAgainstMachine(t, db, state)
	checkBatches(t, db)
	t.Logf("%d kills in %v: %d credits lost, %d doubled", n, time.Since(start).Round(time.Second), lost, doubled)
}

// checkLedgerAgainstMachine compares the ledger with the machine's journal
// and returns the containers in a bag that were not credited (lost) and the
// credits beyond what is in the bags (doubled), summed over EANs.
func checkLedgerAgainstMachine(t *testing.T, db, state string) (lost, doubled int) {
	t.Helper()
	_, dropped, err := sim.ReadJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) < 50 {
		t.Fatalf("only %d containers reached a bag: the test exercised too little", len(dropped))
	}
	physical := map[string]int{}
	for _, c := range dropped {
		code, _, err := ean.Normalize(c.Code)
		if err != nil {
			t.Fatalf("container %d with invalid code %q is in a bag", c.ID, c.Code)
		}
		physical[code]++
	}
	led, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	ctx := context.Background()
	tot, err := led.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot.InTransit != 0 || tot.OpenSessions != 0 {
		t.Errorf("after a clean stop: %d containers in transit, %d sessions open", tot.InTransit, tot.OpenSessions)
	}
	credited := map[string]int{}
	rows, err := led.DB().Query(`SELECT ean, count(*) FROM containers WHERE state = ? GROUP BY ean`, ledger.Credited)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		var n int
		rows.Scan(&e, &n)
		credited[e] = n
	}
	rows.Close()
	for code, n := range physical {
		if credited[code] != n {
			t.Errorf("EAN %s: %d in bags, %d credited", code, n, credited[code])
		}
		lost += max(0, n-credited[code])
	}
	for code, n := range credited {
		if physical[code] == 0 {
			t.Errorf("EAN %s: %d credited, none in any bag", code, n)
		}
		doubled += max(0, n-physical[code])
	}
	if tot.Credited != len(dropped) {
		t.Errorf("%d credited, %d in bags", tot.Credited, len(dropped))
	}
	// Every closed session: its transaction body matches its containers
	// and its voucher matches its credit.
	srows, err := led.DB().Query(`SELECT s.id, s.body, coalesce(s.amount, 0), coalesce(v.amount, 0),
		(SELECT count(*) FROM containers c WHERE c.session_id = s.id AND c.state = 2),
		(SELECT coalesce(sum(deposit), 0) FROM containers c WHERE c.session_id = s.id AND c.state = 2)
		FROM sessions s LEFT JOIN vouchers v ON v.transaction_id = s.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer srows.Close()
	n := 0
	var withheld money.Grosze
	for srows.Next() {
		var id string
		var body []byte
		var amount, vamount, dep int64
		var cnt int
		if err := srows.Scan(&id, &body, &amount, &vamount, &cnt, &dep); err != nil {
			t.Fatal(err)
		}
		n++
		var tx drsapi.Transaction
		if err := json.Unmarshal(body, &tx); err != nil {
			t.Fatalf("session %s body: %v", id, err)
		}
		sum := 0
		for _, c := range tx.Containers {
			sum += c.Count
		}
		if tx.TotalAccepted != cnt || tx.TotalAmount != sum || tx.TotalAccepted+tx.TotalRejected != sum {
			t.Errorf("session %s: body accepted %d of %d, ledger credited %d", id, tx.TotalAccepted, sum, cnt)
		}
		due := dep
		if tx.TransactionBlocked {
			due, withheld = 0, withheld+money.Grosze(dep) // blocked for fraud: pays nothing
		}
		if amount != due || (cnt > 0 && vamount != due) {
			t.Errorf("session %s: amount %d, voucher %d, deposits %d, blocked %v", id, amount, vamount, dep, tx.TransactionBlocked)
		}
	}
	if tot.VoucherValue != tot.CreditedValue-withheld {
		t.Errorf("vouchers worth %v for %v credited (%v withheld for fraud)", tot.VoucherValue, tot.CreditedValue, withheld)
	}
	t.Logf("%d containers in bags, %d credited, %d sessions, %v paid out", len(dropped), tot.Credited, n, tot.VoucherValue)
	return lost, doubled
}

// checkBatches checks the "containers" batches in the outbox (nothing was
// acknowledged: no broker) against the ledger's containers: after the power
// cuts and a clean stop every container is in exactly one batch, none waits
// for one, and no batch repeats a container. A batched container that a
// restart later settled as never in the bag is in a batch without a row;
// those are counted, not errors (its transaction does not credit it).
func checkBatches(t *testing.T, db string) {
	t.Helper()
	led, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	ctx := context.Background()
	var unbatched int
	if err := led.DB().QueryRow(`SELECT count(*) FROM unbatched`).Scan(&unbatched); err != nil {
		t.Fatal(err)
	}
	if unbatched != 0 {
		t.Errorf("after a clean stop %d containers wait for a batch; want 0", unbatched)
	}
	type key struct{ session, decidedAt, ean string }
	rows := map[key]int{}
	r, err := led.DB().Query(`SELECT session_id, decided_at, ean FROM containers`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var k key
		if err := r.Scan(&k.session, &k.decidedAt, &k.ean); err != nil {
			t.Fatal(err)
		}
		rows[k]++
	}
	r.Close()
	recs, err := outbox.Pending(ctx, led.DB(), 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	batched := map[key]int{}
	batches := 0
	for _, rec := range recs {
		if rec.Kind != envelope.KindContainers {
			continue
		}
		batches++
		var b envelope.ContainerBatch
		if err := json.Unmarshal(rec.Body, &b); err != nil {
			t.Fatalf("batch %s: %v", rec.ID, err)
		}
		for _, c := range b.Containers {
			batched[key{b.TransactionID, c.DecidedAt, c.EAN}]++
		}
	}
	missing, twice, settledAway := 0, 0, 0
	for k, n := range rows {
		switch got := batched[k]; {
		case got < n:
			missing += n - got
		case got > n:
			twice += got - n
		}
	}
	for k, n := range batched {
		if rows[k] == 0 {
			settledAway += n
		}
	}
	if missing != 0 || twice != 0 {
		t.Errorf("batches: %d containers in no batch, %d in a batch twice; want 0, 0", missing, twice)
	}
	t.Logf("%d containers in %d batches; %d batched, then settled as never in the bag", len(rows), batches, settledAway)
}
