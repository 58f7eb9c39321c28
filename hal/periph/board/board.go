package board

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/barrier"
	"github.com/deposit-rvm/rvm/hal/periph/conveyor"
	"github.com/deposit-rvm/rvm/hal/periph/curtain"
	"github.com/deposit-rvm/rvm/hal/periph/escpos"
	"github.com/deposit-rvm/rvm/hal/periph/gate"
	"github.com/deposit-rvm/rvm/hal/periph/hx711"
	"github.com/deposit-rvm/rvm/hal/periph/metal"
	"github.com/deposit-rvm/rvm/hal/periph/scanner"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/host/v3"
)

// ErrNoPin is wrapped when the wiring names a pin this machine does not
// have (no GPIO chip at all, on a PC).
var ErrNoPin = errors.New("board: no such pin")

// ErrNoPort is wrapped when a serial port the wiring names is not there.
var ErrNoPort = errors.New("board: no such port")

// Opts configures Open. The zero value opens the real Pi.
type Opts struct {
	// ByName returns the pin of that canonical name ("GPIO17"), or nil.
	// Nil means host.Init() and gpioreg.ByName; tests and the simulator's
	// rig pass their own pins.
	ByName func(name string) gpio.PinIO
	// Port checks that the printer's port exists; nil means os.Stat.
	Port func(path string) error
	// Scanner is the container scanner's and the seal reader's options
	// (NoRead, Window, Reopen, Logger, ...); the baud rate comes from the
	// wiring, Seal and Clock from the board. Nil means scanner.DefaultOpts.
	Scanner *scanner.Opts
	// Printer is the voucher printer's options (code page, layout,
	// timeouts); Blind is set for a printer class port (doc.go). Nil means
	// escpos's defaults.
	Printer *escpos.Opts
	// Clock stamps the events and runs the conveyor's dead-man timer
	// (clock.Real if nil).
	Clock clock.Clock
	// HX711 is the scales' timing; their gain comes from the wiring. Nil
	// means hx711.DefaultOpts.
	HX711 *hx711.Opts
	// Barrier is the barriers' and the door's debounce and poll; which
	// events they report and their polarity come from the wiring. Nil
	// means barrier.DefaultOpts.
	Barrier *barrier.Opts
	// Events is the capacity of the event channel (64 if zero).
	Events int
}

// Board is the Pi with its devices open. Its fields are the hal devices the
// controller uses; Events reports the barriers, the door, the conveyor's
// dead-man stops, the scanner's reads, the seal reader's seals and the
// scanners' faults.
type Board struct {
	// Immutable.
	Wiring   Wiring
	Chamber  hal.LoadCell
	Bag      hal.LoadCell
	Metal    hal.MetalSensor
	Shape    hal.ShapeSensor // nil where the wiring has no shape sensor
	Conveyor hal.Conveyor
	// Gate is the sorter flap (package gate: every pulse returns to rest by
	// itself); nil where the wiring has none.
	Gate hal.Gate
	// Scanner reads the containers' codes (BarcodeRead events), SealReader
	// the bags' seals (SealScanned); a lost port is a scanner-dead fault.
	Scanner    hal.Scanner
	SealReader hal.Scanner
	// Printer prints the vouchers on the wiring's printer port.
	Printer hal.Printer

	events   chan hal.Event
	barriers []namedBarrier // entry, chamber, exit, door: the self-test waits for each
	opened   []conn.Resource
	scanners [2]*scanner.Dev // the container scanner and the seal reader, for the self-test
	printer  *escpos.Dev

	once    sync.Once
	haltErr error
}

type namedBarrier struct {
	key string
	pin string
	dev *barrier.Dev
}

// Open checks that the printer's port exists, finds every pin, and opens
// the drivers on them, then starts the scanners. It fails at once with an
// error naming the key and the pin or port (on a machine without a GPIO
// chip, the first pin), and never returns half open: what it opened before
// the failure is halted. A scanner or seal reader whose port is missing is
// no error: it is reported as a scanner-dead fault on Events and waited
// for (doc.go says why).
func Open(w Wiring, opts *Opts) (*Board, error) {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Port == nil {
		o.Port = func(path string) error { _, err := os.Stat(path); return err }
	}
	if err := o.Port(w.Printer.Port); err != nil {
		return nil, fmt.Errorf("%w: pins.printer.port %s: %v", ErrNoPort, w.Printer.Port, err)
	}
	if o.ByName == nil {
		if _, err := host.Init(); err != nil {
			return nil, fmt.Errorf("board: host.Init: %w", err)
		}
		o.ByName = func(name string) gpio.PinIO { return gpioreg.ByName(name) }
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Events <= 0 {
		o.Events = 64
	}
	b := &Board{Wiring: w, events: make(chan hal.Event, o.Events)}
	if err := b.open(o); err != nil {
		b.Halt()
		return nil, err
	}
	return b, nil
}

// Events returns the channel the barriers, the door and the conveyor report
// on. It is never closed.
func (b *Board) Events() <-chan hal.Event { return b.events }

// String names the board by its devices.
func (b *Board) String() string {
	return fmt.Sprintf("Board{%d devices}", len(b.opened))
}

// Halt halts every device in the reverse order of opening (barrier
// watchers end, the belt stops, the scales power down, the gate rests) and
// returns every error. It is idempotent. The pins stay open: periph.io
// has no closing of GPIO pins.
func (b *Board) Halt() error {
	b.once.Do(func() {
		var errs []error
		for i := len(b.opened) - 1; i >= 0; i-- {
			if err := b.opened[i].Halt(); err != nil {
				errs = append(errs, fmt.Errorf("board: halt %s: %w", b.opened[i], err))
			}
		}
		b.haltErr = errors.Join(errs...)
	})
	return b.haltErr
}

func (b *Board) open(o Opts) error {
	w := b.Wiring
	pin := func(key, name string) (gpio.PinIO, error) {
		p := o.ByName(name)
		if p == nil {
			return nil, fmt.Errorf("%w: pins.%s: %s not found (no GPIO chip on this machine?)", ErrNoPin, key, name)
		}
		return p, nil
	}
	// Find every pin before touching any: a missing one fails with nothing
	// driven.
	type want struct{ key, name string }
	wants := []want{{"entry.pin", w.Entry.Pin}, {"chamber.pin", w.Chamber.Pin}, {"exit.pin", w.Exit.Pin},
		{"metal.pin", w.Metal.Pin}, {"door.pin", w.Door.Pin},
		{"conveyor.dir", w.Conveyor.Dir}, {"conveyor.enable", w.Conveyor.Enable},
		{"chamberScale.data", w.ChamberScale.Data}, {"chamberScale.clock", w.ChamberScale.Clock},
		{"bagScale.data", w.BagScale.Data}, {"bagScale.clock", w.BagScale.Clock}}
	if w.Gate != nil {
		wants = append(wants, want{"gate.pin", w.Gate.Pin})
	}
	if w.Shape != nil {
		for i, n := range w.Shape.Height {
			wants = append(wants, want{fmt.Sprintf("shape.height[%d]", i), n})
		}
		for i, n := range w.Shape.Width {
			wants = append(wants, want{fmt.Sprintf("shape.width[%d]", i), n})
		}
	}
	pins := map[string]gpio.PinIO{}
	for _, x := range wants {
		p, err := pin(x.key, x.name)
		if err != nil {
			return err
		}
		pins[x.name] = p
	}
	// The printer's port next: a port that does not open (permissions, a
	// busy device) fails before any pin is driven.
	if err := b.openPrinter(o); err != nil {
		return err
	}

	bo := barrier.DefaultOpts
	if o.Barrier != nil {
		bo = *o.Barrier
	}
	bo.Clock = o.Clock
	for _, x := range []struct {
		key              string
		in               Input
		active, inactive hal.EventKind
	}{
		{"entry", w.Entry, hal.EntryBlocked, hal.EntryCleared},
		{"chamber", w.Chamber, hal.ChamberBlocked, hal.ChamberCleared},
		{"exit", w.Exit, hal.ExitBlocked, hal.ExitCleared},
		{"door", w.Door, hal.DoorOpened, hal.DoorClosed},
	} {
		opts := bo
		opts.Active, opts.Inactive, opts.ActiveLow, opts.Pull = x.active, x.inactive, x.in.ActiveLow, pull(x.in.Pull)
		d, err := barrier.New(pins[x.in.Pin], &opts, b.events)
		if err != nil {
			return fmt.Errorf("board: pins.%s.pin %s: %w", x.key, x.in.Pin, err)
		}
		b.opened = append(b.opened, d)
		b.barriers = append(b.barriers, namedBarrier{x.key, x.in.Pin, d})
	}

	m, err := metal.New(pins[w.Metal.Pin], &metal.Opts{ActiveLow: w.Metal.ActiveLow, Pull: pull(w.Metal.Pull)})
	if err != nil {
		return fmt.Errorf("board: pins.metal.pin %s: %w", w.Metal.Pin, err)
	}
	b.opened = append(b.opened, m)
	b.Metal = m

	c, err := conveyor.New(pins[w.Conveyor.Dir], pins[w.Conveyor.Enable], &conveyor.Opts{
		EnableActiveLow: w.Conveyor.EnableActiveLow, ReverseHigh: w.Conveyor.ReverseHigh,
		MaxLimit: w.Conveyor.MaxRun(), Clock: o.Clock}, b.events)
	if err != nil {
		return fmt.Errorf("board: pins.conveyor %s/%s: %w", w.Conveyor.Dir, w.Conveyor.Enable, err)
	}
	b.opened = append(b.opened, c)
	b.Conveyor = c

	ho := hx711.DefaultOpts
	if o.HX711 != nil {
		ho = *o.HX711
	}
	for _, x := range []struct {
		key string
		s   Scale
		to  *hal.LoadCell
	}{{"chamberScale", w.ChamberScale, &b.Chamber}, {"bagScale", w.BagScale, &b.Bag}} {
		opts := ho
		opts.Gain = hx711.Gain(x.s.Gain)
		d, err := hx711.New(pins[x.s.Clock], pins[x.s.Data], &opts)
		if err != nil {
			return fmt.Errorf("board: pins.%s %s/%s: %w", x.key, x.s.Data, x.s.Clock, err)
		}
		b.opened = append(b.opened, d)
		*x.to = d
	}

	if g := w.Gate; g != nil {
		gd, err := gate.New(pins[g.Pin], &gate.Opts{ActiveLow: g.ActiveLow, Clock: o.Clock})
		if err != nil {
			return fmt.Errorf("board: pins.gate.pin %s: %w", g.Pin, err)
		}
		b.opened = append(b.opened, gd)
		b.Gate = gd
	}

	if s := w.Shape; s != nil {
		var high, wide []gpio.PinIn
		for _, n := range s.Height {
			high = append(high, pins[n])
		}
		for _, n := range s.Width {
			wide = append(wide, pins[n])
		}
		d, err := curtain.New(high, wide, &curtain.Opts{
			Pitch: physic.Distance(s.PitchMm) * physic.MilliMetre, Base: physic.Distance(s.BaseMm) * physic.MilliMetre,
			ActiveLow: s.ActiveLow, Pull: pull(s.Pull)})
		if err != nil {
			return fmt.Errorf("board: pins.shape: %w", err)
		}
		b.opened = append(b.opened, d)
		b.Shape = d
	}
	return b.startScanners(o)
}

func pull(s string) gpio.Pull {
	switch s {
	case "up":
		return gpio.PullUp
	case "down":
		return gpio.PullDown
	case "none":
		return gpio.Float
	}
	return gpio.PullNoChange
}
