package machine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// What the technician console (internal/service) needs of the controller,
// on the loop: the devices it may read and drive while intake is blocked,
// and the calibration in use.

// Devices returns the machine's hardware.
func (c *Controller) Devices() Devices { return c.dev }

// Ledger returns the controller's ledger.
func (c *Controller) Ledger() *ledger.Ledger { return c.led }

// Now is the controller's clock.
func (c *Controller) Now() time.Time { return c.now() }

// ConveyorLimit is the dead-man limit of one belt run.
func (c *Controller) ConveyorLimit() time.Duration { return c.opts.ConveyorLimit }

// RvmID is the machine's operator id.
func (c *Controller) RvmID() string { return c.opts.RvmID }

// Cell returns a load cell (CellChamber or CellBag) and its calibration in
// use.
func (c *Controller) Cell(name string) (hal.LoadCell, calib.Calibration, error) {
	switch name {
	case CellChamber:
		return c.dev.Chamber, c.calCh, nil
	case CellBag:
		return c.dev.Bag, c.calBag, nil
	}
	return nil, calib.Calibration{}, fmt.Errorf("machine: unknown scale %q (want %s or %s)", name, CellChamber, CellBag)
}

// UseCalibration puts a calibration in use for a cell; the next weighing
// uses it. The caller has stored it in the ledger first.
func (c *Controller) UseCalibration(name string, cal calib.Calibration) error {
	if cal.CountsPerKg == 0 {
		return calib.ErrUncalibrated
	}
	switch name {
	case CellChamber:
		c.calCh = cal
	case CellBag:
		c.calBag = cal
	default:
		return fmt.Errorf("machine: unknown scale %q (want %s or %s)", name, CellChamber, CellBag)
	}
	return nil
}

// WarnBagDrift is the key of the drift watch's service warning.
const WarnBagDrift = "bag-scale-drift"

// watchDrift is the drift watch, after every bag exchange (console, fleet
// or seal reader): the new, empty bag's tare is compared with the previous
// bag's. A scale whose empty reading wandered beyond DriftLimit credits
// containers by a wrong bag growth and reports bags that do not add up, so
// the machine raises a service warning (kept in the ledger until the bag
// scale is calibrated) and sends a "service-warning" event. Intake goes on:
// the warning is for the technician, before money goes wrong.
func (c *Controller) watchDrift(ctx context.Context, prevTareMg int64) {
	limit := int64(c.opts.DriftLimit / physic.MilliGram)
	drift := c.bag.TareMg - prevTareMg
	if limit <= 0 || drift <= limit && drift >= -limit {
		return
	}
	text := fmt.Sprintf("empty bag scale reads %+.1f g off the last bag's tare (limit %.0f g): check and calibrate the bag scale",
		float64(drift)/1000, float64(limit)/1000)
	c.log.Warn("bag scale drift", "driftMg", drift, "limitMg", limit)
	body := envelope.ServiceWarning{Warning: WarnBagDrift, Cell: CellBag, DriftMg: drift, LimitMg: limit}
	if err := c.led.RaiseWarning(ctx, WarnBagDrift, text, c.now(), c.opts.RvmID, body); err != nil {
		c.log.Error("drift watch", "err", err)
	}
}

// ticket is what the printer prints for a voucher.
func ticket(v ledger.Voucher) hal.Ticket {
	return hal.Ticket{Code: v.ID, Amount: v.Amount.String() + " PLN", Grosze: int64(v.Amount),
		PrintType: v.PrintType, ValidUntil: v.ValidUntil}
}

// ErrNoVoucher: a reprint of a voucher this machine never issued.
var ErrNoVoucher = errors.New("machine: no voucher by that id on this machine")

// ErrNoPrinter: the machine has no printer.
var ErrNoPrinter = errors.New("machine: no printer")

// Reprint prints an issued voucher again, under the code it was issued
// with, marked as a reprint (a technician's act: the customer's ticket was
// lost or torn). Nothing is issued: the operator redeems the code once.
func (c *Controller) Reprint(ctx context.Context, id string) (ledger.Voucher, error) {
	v, ok, err := c.led.Voucher(ctx, id)
	if err != nil {
		return ledger.Voucher{}, err
	}
	if !ok {
		return ledger.Voucher{}, fmt.Errorf("%w: %q", ErrNoVoucher, id)
	}
	if c.dev.Printer == nil {
		return ledger.Voucher{}, ErrNoPrinter
	}
	tk := ticket(v)
	tk.Lines = []string{"REPRINT"}
	if err := c.dev.Printer.Print(tk); err != nil {
		return ledger.Voucher{}, fmt.Errorf("machine: reprint %s: %w", id, err)
	}
	return v, nil
}
