package sim

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// Pin roles of the machine at the pin level: what Pins.Pin takes.
const (
	PinEntry        = "entry"   // entry barrier; low while broken
	PinChamber      = "chamber" // chamber barrier; low while broken
	PinExit         = "exit"    // exit barrier; low while broken
	PinDoor         = "door"    // door switch; high while open
	PinMetal        = "metal"   // NPN metal sensor; low while it senses metal
	PinDir          = "dir"     // conveyor direction; high is forward
	PinEnable       = "enable"  // conveyor enable; high runs the motor
	PinChamberData  = "chamberData"
	PinChamberClock = "chamberClock"
	PinBagData      = "bagData"
	PinBagClock     = "bagClock"
)

// Pins is the simulated machine at the pin level, for the real drivers
// (hal/periph/...) to run on: the rig behind `rvmd simulate -hal pins`. The
// same physics drives GPIO lines instead of handing events over:
//
//   - A barrier or door event the machine would report becomes a level
//     change on its line ([Pins.Drive]); the barrier driver watching it
//     reports the event.
//   - The metal sensor's line reads what the sensor senses now.
//   - The conveyor's enable and direction lines run and stop the belt, and
//     the driver's dead-man timer ([Pins.AfterFunc]) is a step of the
//     machine's schedule, on the simulated clock. When it is due while the
//     belt still moves something, Pop reports ConveyorHalted as a marker:
//     the runner calls [Pins.FireDue], the driver stops the motor and
//     reports ConveyorHalted itself. A limit that runs out after the move
//     ended stops the belt silently, as in the plain simulation.
//   - Each load cell is an [HX711] the driver clocks bits out of; [Pins.Cell]
//     loads it with the simulated cell's reading before each driver read, so
//     that conversions the driver throws away cost no randomness.
//
// The shape sensor stays the plain simulation's here; the scanner, the
// seal reader and the printer are the rig's (internal/simrun, on
// pseudo-terminals).
type Pins struct {
	// Immutable.
	m            *Machine
	lines        map[string]*line
	metal        metalLine
	dir, enable  outLine
	chamber, bag *HX711
	chamberRaw   atomic.Int32
	bagRaw       atomic.Int32

	metalHeld  atomic.Bool   // a can held to the sensor (the self-test's technician)
	metalReads atomic.Uint64 // reads of the metal line
	liveCells  atomic.Bool   // the chips convert the cells' load at each conversion

	// Guarded by m.mu.
	fwd bool
	due func() // the driver's dead-man callback whose time has come
}

// Pins returns the machine at the pin level. Call it once, before the
// drivers open; the machine's plain devices (ChamberCell, Conveyor, ...)
// must not be used beside it.
func (m *Machine) Pins() *Pins {
	p := &Pins{m: m, lines: map[string]*line{}}
	for _, r := range []string{PinEntry, PinChamber, PinExit} {
		p.lines[r] = newLine(r, gpio.High)
	}
	p.lines[PinDoor] = newLine(PinDoor, gpio.Low)
	p.metal = metalLine{p}
	p.dir = outLine{PinDir, p.setDir}
	p.enable = outLine{PinEnable, p.setEnable}
	p.chamber = NewHX711(PinChamberData, p.sample(false))
	p.bag = NewHX711(PinBagData, p.sample(true))
	return p
}

// Pin returns the pin of a role (PinEntry, ...), or nil.
func (p *Pins) Pin(role string) gpio.PinIO {
	if l, ok := p.lines[role]; ok {
		return l
	}
	switch role {
	case PinMetal:
		return p.metal
	case PinDir:
		return p.dir
	case PinEnable:
		return p.enable
	case PinChamberData:
		return p.chamber.Data()
	case PinChamberClock:
		return p.chamber.Clock()
	case PinBagData:
		return p.bag.Data()
	case PinBagClock:
		return p.bag.Clock()
	}
	return nil
}

var eventLines = map[hal.EventKind]struct {
	role  string
	level gpio.Level
}{
	hal.EntryBlocked: {PinEntry, gpio.Low}, hal.EntryCleared: {PinEntry, gpio.High},
	hal.ChamberBlocked: {PinChamber, gpio.Low}, hal.ChamberCleared: {PinChamber, gpio.High},
	hal.ExitBlocked: {PinExit, gpio.Low}, hal.ExitCleared: {PinExit, gpio.High},
	hal.DoorOpened: {PinDoor, gpio.High}, hal.DoorClosed: {PinDoor, gpio.Low},
}

// LineOf returns the role of the line a barrier or door event k is seen
// on, and false for an event that has none.
func LineOf(k hal.EventKind) (string, bool) {
	el, ok := eventLines[k]
	return el.role, ok
}

// Drive sets the line of a barrier or door event k to what k means. It
// reports false if k has no line, or the line is at that level already (the
// driver will report nothing).
func (p *Pins) Drive(k hal.EventKind) bool {
	el, ok := eventLines[k]
	if !ok {
		return false
	}
	return p.lines[el.role].set(el.level)
}

// Reset puts the barrier lines back to idle (beams intact) without an
// edge: after PowerRestored the machine is empty. Call it while no driver
// watches the lines. The door stays as it is.
func (p *Pins) Reset() {
	for _, r := range []string{PinEntry, PinChamber, PinExit} {
		l := p.lines[r]
		l.mu.Lock()
		l.level = gpio.High
		l.mu.Unlock()
		select {
		case <-l.edges:
		default:
		}
	}
}

// Timer is a pending dead-man callback; the conveyor driver's Timer.
type Timer interface{ Stop() bool }

// AfterFunc schedules f at d from now on the machine's clock: the conveyor
// driver's dead-man timer. It must not be called while the machine's lock
// is held (the driver calls it after switching the motor on).
func (p *Pins) AfterFunc(d time.Duration, f func()) Timer {
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	var it *item
	it = m.schedule(d, false, func() (hal.Event, Cut) {
		halted := m.running && (m.jammed || m.beltStep != nil)
		if m.limitItem == it {
			m.limitItem = nil
		}
		if !halted {
			m.halt()
			return hal.Event{}, CutNone
		}
		p.due = f
		return hal.Event{Kind: hal.ConveyorHalted}, CutNone
	})
	it.limit = true
	m.limitItem = it // halt (the motor switched off) removes it
	return &pinTimer{p: p, it: it, seq: it.seq}
}

// FireDue runs the driver's dead-man callback that Pop reported due (as a
// ConveyorHalted marker). It reports false if none was due.
func (p *Pins) FireDue() bool {
	p.m.mu.Lock()
	f := p.due
	p.due = nil
	p.m.mu.Unlock()
	if f == nil {
		return false
	}
	f()
	return true
}

type pinTimer struct {
	p   *Pins
	it  *item
	seq uint64
}

// Stop removes the step if it has not fired (items are recycled: the
// sequence number tells a reused one).
func (t *pinTimer) Stop() bool {
	m := t.p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.it.seq != t.seq {
		return false
	}
	if m.limitItem == t.it {
		m.limitItem = nil
	}
	n := len(m.q)
	m.remove(t.it)
	return len(m.q) < n
}

func (p *Pins) setDir(l gpio.Level) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	p.fwd = l == gpio.High
}

func (p *Pins) setEnable(l gpio.Level) {
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if l == gpio.High {
		m.run(p.fwd)
		return
	}
	m.catchUp()
	m.halt()
}

// sample is what a chip converts: the reading Cell loaded, or with
// LiveCells the cell's load now.
func (p *Pins) sample(bag bool) func() int32 {
	raw := &p.chamberRaw
	if bag {
		raw = &p.bagRaw
	}
	c := &cell{m: p.m, bag: bag}
	return func() int32 {
		if p.liveCells.Load() {
			if v, err := c.ReadRaw(); err == nil {
				raw.Store(v)
			}
		}
		return raw.Load()
	}
}

// LiveCells makes each chip convert its cell's load (with its noise) at
// every conversion, for a driver read directly rather than through Cell
// (the self-test). The run is then no longer deterministic.
func (p *Pins) LiveCells() { p.liveCells.Store(true) }

// Toggle is a technician's hand on a barrier or the door: the line goes to
// on's level, stays until a watcher has taken it (or d passed), then goes
// to off's. It reports false if on has no line or nobody read it in time.
func (p *Pins) Toggle(on, off hal.EventKind, d time.Duration) bool {
	el, ok := eventLines[on]
	if !ok || !p.Drive(on) {
		return false
	}
	// One read after the edge, one after the debounce.
	ok = p.lines[el.role].seen(2, d)
	p.Drive(off)
	return ok
}

// HoldMetal is a technician holding a can to the metal sensor until the
// line was read at least once (or d passed), then taking it away.
func (p *Pins) HoldMetal(d time.Duration) bool {
	p.metalHeld.Store(true)
	defer p.metalHeld.Store(false)
	n := p.metalReads.Load() // a read counted after this sees the can
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if p.metalReads.Load() > n {
			return true
		}
	}
	return false
}

// Conversions returns how many conversions the drivers shifted out of the
// two HX711s.
func (p *Pins) Conversions() int {
	a, _ := p.chamber.Reads()
	b, _ := p.bag.Reads()
	return a + b
}

// Cell is the load cell the controller reads through the real driver drv,
// which talks to this machine's chamber (bag false) or bag HX711: before
// each read the chip is loaded with the simulated cell's reading.
func (p *Pins) Cell(bag bool, drv hal.LoadCell) hal.LoadCell {
	c := &pinCell{sim: &cell{m: p.m, bag: bag}, drv: drv, raw: &p.chamberRaw}
	if bag {
		c.raw = &p.bagRaw
	}
	return c
}

type pinCell struct {
	sim hal.LoadCell
	drv hal.LoadCell
	raw *atomic.Int32
}

func (c *pinCell) String() string { return c.drv.String() }
func (c *pinCell) Halt() error    { return c.drv.Halt() }

func (c *pinCell) ReadRaw() (int32, error) {
	v, err := c.sim.ReadRaw()
	if err != nil {
		return 0, err // a failed cell (FaultSensor): the chip's fault, not the bits'
	}
	c.raw.Store(v)
	return c.drv.ReadRaw()
}

// line is an input line the machine drives: a level and an edge signal.
type line struct {
	name  string
	edges chan struct{}

	mu    sync.Mutex
	level gpio.Level
	reads uint64 // Reads since the last change
}

func newLine(name string, l gpio.Level) *line {
	return &line{name: name, level: l, edges: make(chan struct{}, 1)}
}

func (l *line) set(v gpio.Level) bool {
	l.mu.Lock()
	if l.level == v {
		l.mu.Unlock()
		return false
	}
	l.level = v
	l.reads = 0
	l.mu.Unlock()
	select {
	case l.edges <- struct{}{}:
	default: // an edge is pending already; the watcher reads the level
	}
	return true
}

func (l *line) String() string                { return "sim-" + l.name }
func (l *line) Halt() error                   { return nil }
func (l *line) Name() string                  { return "sim-" + l.name }
func (l *line) Number() int                   { return -1 }
func (l *line) Function() string              { return "In" }
func (l *line) In(gpio.Pull, gpio.Edge) error { return nil }
func (l *line) Pull() gpio.Pull               { return gpio.PullNoChange }
func (l *line) DefaultPull() gpio.Pull        { return gpio.PullNoChange }

func (l *line) Read() gpio.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	return l.level
}

// seen waits until the line was read n times at its level (a watcher has
// seen it and, after its debounce, taken it), or d passed.
func (l *line) seen(n uint64, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		r := l.reads
		l.mu.Unlock()
		if r >= n {
			return true
		}
	}
	return false
}

func (l *line) WaitForEdge(timeout time.Duration) bool {
	if timeout < 0 {
		panic("sim: WaitForEdge(-1) times out at once on gpioioctl; use a finite timeout")
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-l.edges:
		return true
	case <-t.C:
		return false
	}
}

func (l *line) Out(gpio.Level) error                  { return fmt.Errorf("sim: %s is an input", l) }
func (l *line) PWM(gpio.Duty, physic.Frequency) error { return errors.New("sim: no PWM") }

// metalLine reads the metal sensor's output now.
type metalLine struct{ p *Pins }

func (l metalLine) String() string                { return "sim-metal" }
func (l metalLine) Halt() error                   { return nil }
func (l metalLine) Name() string                  { return "sim-metal" }
func (l metalLine) Number() int                   { return -1 }
func (l metalLine) Function() string              { return "In" }
func (l metalLine) In(gpio.Pull, gpio.Edge) error { return nil }
func (l metalLine) Pull() gpio.Pull               { return gpio.PullNoChange }
func (l metalLine) DefaultPull() gpio.Pull        { return gpio.PullNoChange }
func (l metalLine) WaitForEdge(time.Duration) bool {
	return false
}
func (l metalLine) Out(gpio.Level) error                  { return errors.New("sim: sim-metal is an input") }
func (l metalLine) PWM(gpio.Duty, physic.Frequency) error { return errors.New("sim: no PWM") }

func (l metalLine) Read() gpio.Level {
	l.p.metalReads.Add(1)
	metal, _ := (&metalSensor{l.p.m}).Metal()
	metal = metal || l.p.metalHeld.Load()
	return gpio.Level(!metal) // NPN: low while it senses metal
}

// outLine is an output the driver drives; set applies it to the machine.
type outLine struct {
	name string
	set  func(gpio.Level)
}

func (o outLine) String() string                        { return "sim-" + o.name }
func (o outLine) Halt() error                           { return nil }
func (o outLine) Name() string                          { return "sim-" + o.name }
func (o outLine) Number() int                           { return -1 }
func (o outLine) Function() string                      { return "Out" }
func (o outLine) In(gpio.Pull, gpio.Edge) error         { return fmt.Errorf("sim: %s is an output", o) }
func (o outLine) Read() gpio.Level                      { return gpio.Low }
func (o outLine) WaitForEdge(time.Duration) bool        { return false }
func (o outLine) Pull() gpio.Pull                       { return gpio.PullNoChange }
func (o outLine) DefaultPull() gpio.Pull                { return gpio.PullNoChange }
func (o outLine) Out(l gpio.Level) error                { o.set(l); return nil }
func (o outLine) PWM(gpio.Duty, physic.Frequency) error { return errors.New("sim: no PWM") }

var (
	_ gpio.PinIO = (*line)(nil)
	_ gpio.PinIO = metalLine{}
	_ gpio.PinIO = outLine{}
)
