package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/board"
	"github.com/deposit-rvm/rvm/hal/periph/escpos"
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
// (package hal/periph/board: host.Init and every GPIO driver; then the
// scanner, the seal reader and the voucher printer on their serial ports),
// or fails at once with an error naming the key and the pin or port: rvmd
// never starts half-wired (what was opened before a failure is halted).
func openBoard(pins json.RawMessage, log *slog.Logger) (machine.Devices, func() error, error) {
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
	dev := machine.Devices{Chamber: b.Chamber, Bag: b.Bag, Metal: b.Metal, Shape: b.Shape, Conveyor: b.Conveyor}
	s, err := openSerial(w, b.Events(), log)
	if err != nil {
		return machine.Devices{}, nil, errors.Join(err, b.Halt())
	}
	dev.Scanner, dev.Printer, dev.Events = s.scanner, s.printer, s.events
	return dev, func() error { return errors.Join(s.halt(), b.Halt()) }, nil
}

// serialDevs are the devices on the wiring's serial ports, their events
// merged with the board's.
type serialDevs struct {
	scanner *scanner.Dev
	seal    *scanner.Dev
	printer *escpos.Dev
	port    serial.Port // the printer's
	events  chan hal.Event
	stop    chan struct{}
	done    chan struct{}
}

// openSerial opens the scanner, the seal reader and the printer of w; the
// board's events (from) and theirs come out of one channel.
func openSerial(w board.Wiring, from <-chan hal.Event, log *slog.Logger) (*serialDevs, error) {
	s := &serialDevs{events: make(chan hal.Event, 64), stop: make(chan struct{}), done: make(chan struct{})}
	go s.merge(from)
	var err error
	for _, r := range []struct {
		dev  **scanner.Dev
		port board.Port
		seal bool
	}{{&s.scanner, w.Scanner, false}, {&s.seal, w.SealReader, true}} {
		o := scanner.DefaultOpts
		o.Seal, o.Logger = r.seal, log
		if r.port.Baud > 0 {
			o.Baud = r.port.Baud
		}
		if *r.dev, err = scanner.New(r.port.Port, s.events, &o); err == nil {
			err = (*r.dev).Open()
		}
		if err != nil {
			*r.dev = nil
			return nil, errors.Join(fmt.Errorf("run: %w", err), s.halt())
		}
	}
	baud := w.Printer.Baud
	if baud <= 0 {
		baud = 19200
	}
	if s.port, err = serial.Open(w.Printer.Port, &serial.Mode{BaudRate: baud}); err != nil {
		return nil, errors.Join(fmt.Errorf("run: printer %s: %w", w.Printer.Port, err), s.halt())
	}
	if s.printer, err = escpos.New(s.port, w.Printer.Port, nil); err != nil {
		return nil, errors.Join(fmt.Errorf("run: %w", err), s.halt())
	}
	return s, nil
}

// merge forwards the board's events until halt.
func (s *serialDevs) merge(from <-chan hal.Event) {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case ev := <-from:
			select {
			case s.events <- ev:
			case <-s.stop:
				return
			}
		}
	}
}

// halt stops what was opened: the readers, the printer's port, the merge.
func (s *serialDevs) halt() error {
	var errs []error
	for _, d := range []*scanner.Dev{s.scanner, s.seal} {
		if d != nil {
			errs = append(errs, d.Halt())
		}
	}
	if s.port != nil {
		errs = append(errs, s.port.Close())
	}
	close(s.stop)
	<-s.done
	return errors.Join(errs...)
}
