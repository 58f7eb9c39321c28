package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/hal/periph/board"
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
// (package hal/periph/board: host.Init and every driver), or fails at once
// with an error naming the key and the pin or port: rvmd never starts
// half-wired (board.Open halts what it opened before a failure).
func openBoard(pins json.RawMessage) (machine.Devices, func() error, error) {
	if len(pins) == 0 {
		return machine.Devices{}, nil, errors.New(`run: the configuration has no "pins" section: without -sim, rvmd needs the Pi's wiring (-config FILE)`)
	}
	w, err := board.Parse(pins)
	if err != nil {
		return machine.Devices{}, nil, fmt.Errorf("run: %w", err)
	}
	b, err := board.Open(w, nil)
	if err != nil {
		return machine.Devices{}, nil, fmt.Errorf("run: %w", err)
	}
	dev := machine.Devices{
		Chamber: b.Chamber, Bag: b.Bag, Metal: b.Metal, Shape: b.Shape, Conveyor: b.Conveyor,
		Events: b.Events(),
	}
	return dev, b.Halt, nil
}
