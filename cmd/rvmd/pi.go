package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

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

// gpioChips is where the kernel exposes the GPIO character devices.
const gpioChips = "/dev/gpiochip*"

// openBoard opens the Pi's devices from the configuration's pins section,
// or fails at once naming what is missing: rvmd never starts half-wired.
//
// PLACEHOLDER until package hal/periph/board (branch fw-pins) is merged:
// replace the last return with
//
//	w, err := board.Parse(pins)            // errors name the key and the pin
//	b, err := board.Open(w)                // host.Init, every driver
//	return machine.Devices{Chamber: b.Chamber, Bag: b.Bag, Metal: b.Metal, Shape: b.Shape,
//		Conveyor: b.Conveyor, Printer: b.Printer, Events: b.Events()}, b.Halt, nil
func openBoard(pins json.RawMessage) (machine.Devices, func() error, error) {
	if len(pins) == 0 {
		return machine.Devices{}, nil, errors.New(`run: the configuration has no "pins" section: without -sim, rvmd needs the Pi's wiring (-config FILE)`)
	}
	chips, err := filepath.Glob(gpioChips)
	if err != nil || len(chips) == 0 {
		return machine.Devices{}, nil, fmt.Errorf("run: no GPIO chip (%s): not a Raspberry Pi, or its GPIO driver is not loaded (-sim runs the simulated machine)", gpioChips)
	}
	return machine.Devices{}, nil, fmt.Errorf("run: found %s, but this build has no Pi drivers (package hal/periph/board): refusing to start", chips[0])
}
