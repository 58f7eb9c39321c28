package machine_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/escpos"
	"github.com/deposit-rvm/rvm/hal/periph/escpos/escpostest"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Minimal devices: an empty machine at rest.
type cell struct{}

func (cell) String() string          { return "cell" }
func (cell) Halt() error             { return nil }
func (cell) ReadRaw() (int32, error) { return 1000, nil }

type metal struct{}

func (metal) String() string       { return "metal" }
func (metal) Halt() error          { return nil }
func (metal) Metal() (bool, error) { return false, nil }

type belt struct{}

func (belt) String() string              { return "belt" }
func (belt) Halt() error                 { return nil }
func (belt) Forward(time.Duration) error { return nil }
func (belt) Reverse(time.Duration) error { return nil }
func (belt) Stop() error                 { return nil }

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// openSession leaves a ledger as a power cut does: an open session with two
// credited cans, which the controller finishes with a paper voucher at start.
func openSession(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	led, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	for _, name := range []string{machine.CellChamber, machine.CellBag} {
		cal := ledger.Cal{Offset: 1000, CountsPerKg: 100000, ResolutionMg: 1, At: t0, By: "test"}
		if err := led.SetCalibration(ctx, name, cal, ""); err != nil {
			t.Fatal(err)
		}
	}
	bag, err := led.EnsureBag(ctx, 1, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	s := &ledger.Session{RvmID: "rvm-1", BagID: bag.ID, StartedAt: t0}
	for i := 0; i < 2; i++ {
		c := &ledger.Container{BagID: bag.ID, EAN: "5900000000001", WeightMg: 15000, Deposit: 50, State: ledger.Credited, DecidedAt: t0}
		if err := led.RecordContainer(ctx, s, c); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPaperOutReprints: the paper runs out while the voucher prints. The
// voucher stays issued once and due in the ledger, the fault latches, and
// once there is paper again the same voucher is printed, once.
func TestPaperOutReprints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	openSession(t, path)

	fake, err := escpostest.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	port, err := serial.Open(fake.Path(), &serial.Mode{BaudRate: 38400})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	pr, err := escpos.New(port, fake.Path(), &escpos.Opts{StatusTimeout: 10 * time.Second, PrintTimeout: time.Minute, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fake.SetPaper(3) // the roll ends three lines into the ticket

	led, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	clk := clock.NewFake(t0.Add(time.Hour))
	dev := machine.Devices{Chamber: cell{}, Bag: cell{}, Metal: metal{}, Conveyor: belt{}, Printer: pr}
	opts := machine.Options{Clock: clk, RvmID: "rvm-1"}
	c, err := machine.New(ctx, dev, led, opts)
	if err != nil {
		t.Fatal(err)
	}

	unprinted := func() []ledger.Voucher {
		t.Helper()
		vs, err := led.UnprintedVouchers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	due := unprinted()
	if len(due) != 1 || due[0].Amount != 100 {
		t.Fatalf("after the failed print: unprinted = %+v; want one voucher of 100 grosze", due)
	}
	code := due[0].ID
	if got := c.Status().Fault; got != string(hal.FaultPaperOut) {
		t.Errorf("fault = %q; want %q", got, hal.FaultPaperOut)
	}
	if n := bytes.Count(fake.Bytes(), []byte(code)); n != 1 {
		t.Errorf("code sent %d times; want 1 (the failed ticket)", n)
	}

	// Still no paper: the retry fails again, and nothing else is issued.
	clk.Advance(time.Minute)
	fake.SetPaper(0)
	if err := c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if len(unprinted()) != 1 {
		t.Fatalf("after a second failure the voucher is not due any more")
	}
	// Paper again: before the back-off has passed nothing is printed, after
	// it the same voucher is.
	fake.SetPaper(-1)
	sent := len(fake.Bytes())
	if err := c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fake.Bytes()) != sent {
		t.Errorf("printed before the retry time")
	}
	if d := c.Deadline(); d.IsZero() || !d.After(clk.Now()) {
		t.Errorf("Deadline = %v; want the retry time after %v", d, clk.Now())
	}
	clk.Set(c.Deadline())
	if err := c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if due := unprinted(); len(due) != 0 {
		t.Fatalf("after the reprint: unprinted = %+v; want none", due)
	}
	if n := bytes.Count(fake.Bytes(), []byte(code)); n != 2 {
		t.Errorf("code sent %d times; want 2 (the interrupted ticket and the reprint; the second attempt stopped at the status check)", n)
	}
	ps, err := led.VoucherPrints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].VoucherID != code || !ps[0].Printed || ps[0].Attempts != 3 {
		t.Errorf("VoucherPrints = %+v; want %s printed at the third attempt", ps, code)
	}
	tot, err := led.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot.Vouchers != 1 || tot.VoucherValue != 100 {
		t.Errorf("Totals = %+v; want one voucher of 100 grosze", tot)
	}
	var events int
	if err := led.DB().QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE kind = ?`, envelope.KindVoucher).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Errorf("voucher events = %d; want 1", events)
	}

	// The fault stays until a technician clears it; clearing prints nothing
	// more, nor does a restart.
	if got := c.Status().Fault; got != string(hal.FaultPaperOut) {
		t.Errorf("fault = %q; want it latched", got)
	}
	if err := c.ClearFault(ctx, "tech"); err != nil {
		t.Fatal(err)
	}
	if _, err := machine.New(ctx, dev, led, opts); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(fake.Bytes(), []byte(code)); n != 2 {
		t.Errorf("after clear and restart: code sent %d times; want still 2", n)
	}
}
