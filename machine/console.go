package machine

import (
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/machine/ledger"
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
