package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/hal/periph/board"
	"github.com/deposit-rvm/rvm/hal/periph/scanner"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// piRig hands the Pi's devices, opened before the daemon starts, to the
// daemon (it implements daemon.Rig). Nothing runs beside the loop: the
// board's drivers report through Devices.Events.
type piRig struct {
	dev  machine.Devices
	halt func() error // stops every actuator, releases the pins
	once sync.Once
	err  error
}

func (p *piRig) Open(context.Context, *ledger.Ledger, time.Time) (machine.Devices, clock.Clock, error) {
	return p.dev, clock.Real{}, nil
}

func (*piRig) Tune(*machine.Options) {}

func (*piRig) Run(context.Context, func(context.Context, machine.ActFunc) (any, error)) error {
	return nil
}

// Close halts the board once; later calls return the first one's error.
func (p *piRig) Close() error {
	p.once.Do(func() { p.err = p.halt() })
	return p.err
}

// openBoard opens the Pi's devices from the configuration's pins section
// (package hal/periph/board: the printer's port checked, host.Init and
// every GPIO driver, then the scanner, the seal reader and the voucher
// printer on their serial ports), or fails at once with an error naming the
// key and the pin or port: rvmd never starts half-wired (board.Open halts
// what it opened before a failure). A scanner whose port is missing is no
// error: the board reports it dead and waits for it. The seal reader
// reports on the board's events like the scanner; halt stops everything.
func openBoard(pins json.RawMessage, log *slog.Logger) (machine.Devices, func() error, error) {
	if len(pins) == 0 {
		return machine.Devices{}, nil, errors.New(`run: the configuration has no "pins" section: without -sim, rvmd needs the Pi's wiring (-config FILE)`)
	}
	w, err := board.Parse(pins)
	if err != nil {
		return machine.Devices{}, nil, fmt.Errorf("run: %w", err)
	}
	so := scanner.DefaultOpts
	so.Logger = log
	b, err := board.Open(w, &board.Opts{Scanner: &so})
	if err != nil {
		return machine.Devices{}, nil, fmt.Errorf("run: %w", err)
	}
	dev := machine.Devices{
		Chamber: b.Chamber, Bag: b.Bag, Metal: b.Metal, Shape: b.Shape, Conveyor: b.Conveyor,
		Scanner: b.Scanner, Printer: b.Printer, Gate: b.Gate,
		Events: b.Events(), // the barriers', the door's, the belt's, b.Scanner's and b.SealReader's
	}
	return dev, b.Halt, nil
}
