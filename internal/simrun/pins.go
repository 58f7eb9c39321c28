package simrun

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/barrier"
	"github.com/deposit-rvm/rvm/hal/periph/board"
	"github.com/deposit-rvm/rvm/hal/periph/conveyor"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/machine"
	"periph.io/x/conn/v3/gpio"
)

// HALs a run can drive, for Options.HAL.
const (
	HALSim  = "sim"  // the simulated machine's devices (the default)
	HALPins = "pins" // the real drivers (hal/periph) on the simulated machine's pins
)

// rigWiring is the rig's pin map: a Pi's wiring, parsed and opened by
// package board like a real one, with the serial devices' ports on s's
// pseudo-terminals.
func rigWiring(s *rigSerial) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{
	"entry":        {"pin": "GPIO17", "activeLow": true},
	"chamber":      {"pin": "GPIO27", "activeLow": true},
	"exit":         {"pin": "GPIO22", "activeLow": true},
	"metal":        {"pin": "GPIO23", "activeLow": true},
	"door":         {"pin": "GPIO24"},
	"conveyor":     {"dir": "GPIO5", "enable": "GPIO6", "maxRunMs": 60000},
	"chamberScale": {"data": "GPIO20", "clock": "GPIO21"},
	"bagScale":     {"data": "GPIO19", "clock": "GPIO26"},
	"scanner":      {"port": %q, "baud": 115200},
	"sealReader":   {"port": %q},
	"printer":      {"port": %q, "baud": 38400}
}`, s.scanner.Path(), s.seal.Path(), s.printer.Path()))
}

// rigRoles maps the rig's pins to the simulated machine's.
var rigRoles = map[string]string{
	"GPIO17": sim.PinEntry, "GPIO27": sim.PinChamber, "GPIO22": sim.PinExit,
	"GPIO23": sim.PinMetal, "GPIO24": sim.PinDoor, "GPIO5": sim.PinDir, "GPIO6": sim.PinEnable,
	"GPIO20": sim.PinChamberData, "GPIO21": sim.PinChamberClock,
	"GPIO19": sim.PinBagData, "GPIO26": sim.PinBagClock,
}

// rig is a -hal pins run's hardware: the machine's pins, its serial
// devices on pseudo-terminals, and the board opened on them (again after
// each power cut).
type rig struct {
	pins   *sim.Pins
	serial *rigSerial
	board  *board.Board
	// Counts, for the tests: events the drivers reported (serialDriven of
	// them the scanners'), and events of a line that was at that level
	// already or a code no scanner sends (handed over as they were).
	driven, serialDriven, direct int
}

// devices returns what the controller drives: the simulated machine's
// devices, or with HALPins the real drivers on its pins.
func (r *Runner) devices() (machine.Devices, error) {
	dev := machine.Devices{
		Chamber: r.sim.ChamberCell(), Bag: r.sim.BagCell(), Metal: r.sim.MetalSensor(),
		Shape: r.sim.ShapeSensor(), Conveyor: r.sim.Conveyor(), Printer: r.sim.Printer(),
	}
	switch r.opts.HAL {
	case "", HALSim:
		if r.opts.PrinterOut != nil {
			return machine.Devices{}, fmt.Errorf("simrun: a printer stream needs hal %s (the simulated printer receives no bytes)", HALPins)
		}
		return dev, nil
	case HALPins:
	default:
		return machine.Devices{}, fmt.Errorf("simrun: unknown hal %q (want %s or %s)", r.opts.HAL, HALSim, HALPins)
	}
	if r.rig == nil {
		s, err := newRigSerial(r.opts.PrinterOut)
		if err != nil {
			return machine.Devices{}, err
		}
		r.rig = &rig{pins: r.sim.Pins(), serial: s}
	}
	p := r.rig.pins
	b, err := openRig(p, r.rig.serial, board.Opts{
		Clock:     r.clk,
		AfterFunc: func(d time.Duration, f func()) conveyor.Timer { return p.AfterFunc(d, f) },
		// The machine's lines do not bounce; the poll bounds how long a
		// power cut waits for the watchers to end.
		Barrier: &barrier.Opts{Debounce: time.Nanosecond, Poll: 20 * time.Millisecond},
	})
	if err != nil {
		return machine.Devices{}, err
	}
	r.rig.board = b
	if err := r.rig.bootScanner(); err != nil {
		r.closeRig()
		return machine.Devices{}, err
	}
	dev.Chamber, dev.Bag = p.Cell(false, b.Chamber), p.Cell(true, b.Bag)
	dev.Metal, dev.Conveyor = b.Metal, b.Conveyor
	dev.Printer, dev.Scanner = b.Printer, b.Scanner
	return dev, nil
}

// openRig opens the rig's wiring on p's pins and s's ports, with o's
// timing.
func openRig(p *sim.Pins, s *rigSerial, o board.Opts) (*board.Board, error) {
	sc, pr := rigScanner, rigPrinter
	o.Scanner, o.Printer = &sc, &pr
	w, err := board.Parse(rigWiring(s))
	if err != nil {
		return nil, fmt.Errorf("simrun: rig: %w", err)
	}
	o.ByName = func(name string) gpio.PinIO {
		if role, ok := rigRoles[name]; ok {
			return p.Pin(role)
		}
		return nil
	}
	b, err := board.Open(w, &o)
	if err != nil {
		return nil, fmt.Errorf("simrun: rig: %w", err)
	}
	return b, nil
}

// handle hands ev to the controller. With HALPins a barrier or door event
// becomes a level change on its line and a dead-man limit the driver's own
// timer, and the controller gets what the driver reports instead.
func (r *Runner) handle(ctx context.Context, ev hal.Event) error {
	if r.rig == nil {
		return r.deliver(ctx, ev)
	}
	switch {
	case ev.Kind == hal.ConveyorHalted:
		if !r.rig.pins.FireDue() {
			return fmt.Errorf("simrun: rig: ConveyorHalted at %v without a due dead-man timer", ev.At)
		}
	case r.rig.pins.Drive(ev.Kind):
	default:
		ok, err := r.rig.serial.act(ev)
		if err != nil {
			return err
		}
		if !ok {
			// Not a GPIO line nor a serial device's (a jam, a sensor
			// fault), or the line is there already, or a code no
			// scanner sends.
			if _, line := sim.LineOf(ev.Kind); line || serialEvent(ev) {
				r.rig.direct++
			}
			return r.deliver(ctx, ev)
		}
		r.rig.serialDriven++
	}
	r.rig.driven++
	// The driver reports within microseconds; a stop signal meanwhile
	// must not lose the event, so the wait is bounded by time, not ctx.
	var got hal.Event
	select {
	case got = <-r.rig.board.Events():
	case <-time.After(driverWait):
		return fmt.Errorf("simrun: rig: no driver reported %v within %v", ev.Kind, driverWait)
	}
	if !sameEvent(got, ev) {
		return fmt.Errorf("simrun: rig: the drivers reported %v at %v; the machine did %v at %v", got.Kind, got.At, ev.Kind, ev.At)
	}
	return r.deliver(ctx, got)
}

// deliver hands ev to the controller, timing it for Options.OnHandled.
func (r *Runner) deliver(ctx context.Context, ev hal.Event) error {
	if r.opts.OnHandled == nil {
		return r.ctrl.Handle(ctx, ev)
	}
	start := time.Now()
	err := r.ctrl.Handle(ctx, ev)
	r.opts.OnHandled(ev.Kind, time.Since(start))
	return err
}

// driverWait bounds the wait for a driver's event: far beyond what a
// loaded machine takes, short enough to fail a broken rig.
const driverWait = 10 * time.Second

// rigPowerCut halts the board with the controller (the Pi lost power too)
// and leaves the lines as the restored machine has them; devices opens a
// new board at boot.
func (r *Runner) rigPowerCut() {
	if r.rig == nil {
		return
	}
	r.closeRig()
	r.rig.pins.Reset()
}

// bootScanner: a board opened while the scanner's cable is out (a dead
// scanner survives a power cut) reports scanner-dead at once. The machine
// reports nothing at power-on and the controller restores its latched
// fault from the ledger, so the report is taken and dropped.
func (rg *rig) bootScanner() error {
	if !rg.serial.unplugged {
		return nil
	}
	select {
	case ev := <-rg.board.Events():
		if ev.Kind != hal.DeviceFault || ev.Fault != hal.FaultScannerDead {
			return fmt.Errorf("simrun: rig: at boot without the scanner the drivers reported %v; want a scanner-dead fault", ev.Kind)
		}
		return nil
	case <-time.After(driverWait):
		return fmt.Errorf("simrun: rig: at boot without the scanner no driver reported it dead within %v", driverWait)
	}
}

// closeRig halts the board, if one is open.
func (r *Runner) closeRig() error {
	if r.rig == nil || r.rig.board == nil {
		return nil
	}
	err := r.rig.board.Halt()
	r.rig.board = nil
	return err
}
