package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/physic"
)

// Errors.
var (
	ErrChuteBusy = errors.New("sim: a container is still in the machine")
	ErrLimit     = errors.New("sim: conveyor run without a positive dead-man limit")
	ErrNoShape   = errors.New("sim: shape sensor measured nothing")
	ErrSensor    = errors.New("sim: chamber cell not answering")
)

// loc is where the one container in the machine is.
type loc uint8

const (
	locOut       loc = iota // no container
	locEntry                // in the entry barrier, waiting for the belt
	locScan                 // between the entry and the chamber
	locChamber              // in the chamber (its barrier blocked, on the scales)
	locToExit               // between the chamber and the exit barrier
	locFalling              // past the exit barrier: gravity takes it to the bag
	locReturning            // in the customer's hands on its way out of the chute
)

// item is one scheduled step. Items fire in (at, prio, seq) order.
type item struct {
	at   time.Time
	prio uint8 // 0 for a power cut, which pre-empts anything at the same instant
	seq  uint64
	// fire applies the physical change and says what the controller sees.
	fire func() (hal.Event, Cut)
	// internal items never deliver anything (a landing, a silent stop), so
	// NextAt looks past them. An item with a cut is never internal.
	internal bool
	limit    bool // the dead-man limit: delivers only if the belt was still moving something
	belt     bool // a step of the running move: firing it ends m.beltStep
	scan     bool // a scanner read, folded away if the scanner dies first
}

// Machine is the simulated machine. Build it with New.
type Machine struct {
	// Immutable.
	clk        *clock.Fake
	cfg        Config
	chamberCal calib.Calibration
	bagCal     calib.Calibration

	mu sync.Mutex
	// Mutable, guarded by mu.
	rng       *rand.Rand
	q         []*item // sorted by (at, prio, seq)
	seq       uint64
	nextID    int64
	cur       *Container // the container in the machine, nil if none
	at        loc
	scanned   bool  // cur has passed the scanner
	running   bool  // the belt motor runs
	beltStep  *item // the pending belt-driven step of the running move
	limitItem *item
	jammed    bool
	scanDead  bool
	doorOpen  bool
	sensorBad bool
	inBag     []Container
	ref       physic.Mass // a technician's reference mass on the bag scale
	dropped   []Container
	tickets   []hal.Ticket
	err       error // the first journal failure

	fn       fireFuncs // Immutable after New.
	curBuf   Container // what cur points to while a container is in
	shapeBuf hal.Shape // what curBuf.Shape points to
	free     []*item   // fired items for reuse; guarded by mu
}

// New builds a simulated machine on clk. If cfg.StatePath names an existing
// journal, the bag contents are restored from it.
func New(clk *clock.Fake, cfg Config) (*Machine, error) {
	if clk == nil {
		return nil, errors.New("sim: nil clock")
	}
	if err := cfg.Timing.validate(); err != nil {
		return nil, err
	}
	if err := cfg.ChamberCell.validate("chamber"); err != nil {
		return nil, err
	}
	if err := cfg.BagCell.validate("bag"); err != nil {
		return nil, err
	}
	m := &Machine{
		clk:        clk,
		cfg:        cfg,
		chamberCal: calib.Calibration{Offset: cfg.ChamberCell.Offset, CountsPerKg: cfg.ChamberCell.CountsPerKg},
		bagCal:     calib.Calibration{Offset: cfg.BagCell.Offset, CountsPerKg: cfg.BagCell.CountsPerKg},
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		nextID:     1,
	}
	m.makeFireFuncs()
	if cfg.StatePath != "" {
		inBag, dropped, err := ReadJournal(cfg.StatePath)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		// With a journal, everything ever dropped lives there, not in
		// memory: a machine that runs for months does not grow.
		m.inBag = inBag
		for _, c := range dropped {
			m.nextID = max(m.nextID, c.ID+1)
		}
	}
	return m, nil
}

// Err reports the first failure to write the journal. The simulation goes
// on regardless (the physics cannot be undone), but its truth is no longer
// durable, so a runner should stop.
func (m *Machine) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Insert puts c in the chute at the clock's now: EntryBlocked is scheduled
// at once, and the container waits at the entry for the belt. It fails with
// ErrChuteBusy while another container is in the machine.
func (m *Machine) Insert(c Container) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	if m.cur != nil {
		return ErrChuteBusy
	}
	if c.Mass < 0 {
		return fmt.Errorf("sim: container with negative mass %s", c.Mass)
	}
	if c.ID == 0 {
		c.ID = m.nextID
	}
	m.nextID = max(m.nextID, c.ID+1)
	// The machine keeps its own copies (in fields it reuses): the caller's
	// stay theirs.
	m.curBuf = c
	if c.Shape != nil {
		m.shapeBuf = *c.Shape
		m.curBuf.Shape = &m.shapeBuf
	}
	m.cur, m.at, m.scanned = &m.curBuf, locEntry, false
	m.schedule(0, false, m.fn.entryBlocked)
	return nil
}

// Busy reports whether a container is anywhere between the chute and the bag,
// or on its way back to the customer.
func (m *Machine) Busy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	return m.cur != nil
}

// NextAt returns the time of the earliest scheduled event the controller
// will see (or power cut), and false if nothing is scheduled.
func (m *Machine) NextAt() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	for _, it := range m.q {
		if m.delivers(it) {
			return it.at, true
		}
	}
	return time.Time{}, false
}

// Pop advances the clock to the earliest scheduled event and returns it.
// Steps the controller cannot see (a landing, a silent stop) on the way are
// applied in order. A Cut other than CutNone means the power fails at this
// instant, after the returned event (which may be the zero Event) happened;
// the runner must deliver nothing more to the controller and call
// PowerRestored. ok is false when nothing is scheduled.
func (m *Machine) Pop() (ev hal.Event, cut Cut, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.q) > 0 {
		it := m.q[0]
		m.q = slices.Delete(m.q, 0, 1) // keeps the backing array: no growth on the next push
		m.clk.Set(it.at)
		ev, cut := m.fireItem(it)
		at := it.at
		m.recycle(it)
		if ev.Kind != 0 || cut != CutNone {
			ev.At = at
			return ev, cut, true
		}
	}
	return hal.Event{}, CutNone, false
}

// InjectFault makes a fault happen now. FaultJam: the belt stops moving
// containers (commands are still accepted; each run ends in ConveyorHalted).
// FaultScannerDead: no more reads. FaultDoorOpen: the door opens
// (DoorOpened; no DeviceFault, the controller decides what an open door
// means). FaultSensor: the chamber cell stops answering. Each but the door
// reports DeviceFault now.
func (m *Machine) InjectFault(f hal.Fault) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	switch f {
	case hal.FaultJam:
		m.jammed = true
		m.cancelBelt()
	case hal.FaultScannerDead:
		m.scanDead = true
		m.replanScan()
	case hal.FaultDoorOpen:
		if !m.doorOpen {
			m.doorOpen = true
			m.schedule(0, false, m.fn.doorOpened)
		}
		return
	case hal.FaultSensor:
		m.sensorBad = true
	}
	m.schedule(0, false, func() (hal.Event, Cut) {
		return hal.Event{Kind: hal.DeviceFault, Fault: f}, CutNone
	})
}

// ClearFaults is the technician's visit: a jammed container is taken out by
// hand (the barrier it blocked clears), the belt is free, the scanner and
// the chamber cell work again, and an open door is closed (DoorClosed).
func (m *Machine) ClearFaults() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	if m.jammed {
		m.jammed = false
		switch m.at {
		case locEntry:
			m.schedule(0, false, m.fn.entryCleared)
		case locChamber:
			m.schedule(0, false, m.fn.chamberCleared)
		}
		if m.at != locFalling && m.at != locReturning {
			m.cancelBelt()
			m.cur, m.at = nil, locOut
		}
	}
	m.scanDead = false
	m.sensorBad = false
	if m.doorOpen {
		m.doorOpen = false
		m.schedule(0, false, m.fn.doorClosed)
	}
}

// ExchangeBag is staff taking the full bag out and putting an empty one in.
// It returns what was in the bag. The exchange is journaled first.
func (m *Machine) ExchangeBag() (removed physic.Mass, count int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	m.journal(journalRecord{Op: opExchange})
	for _, c := range m.inBag {
		removed += c.Mass
	}
	count = len(m.inBag)
	m.inBag = nil
	return removed, count
}

// PowerRestored brings the machine back after a cut: the belt is stopped,
// everything scheduled is forgotten, and a container that is not in the bag
// is handed back to the customer, except one already past the exit barrier,
// which falls into the bag (gravity needs no power). Faults stay as they
// were: a jam is mechanical.
func (m *Machine) PowerRestored() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.q = nil
	m.running, m.beltStep, m.limitItem = false, nil, nil
	if m.cur != nil && m.at == locFalling {
		m.land()
	}
	m.cur, m.at = nil, locOut
}

// InBag returns what is physically in the current bag, in drop order.
func (m *Machine) InBag() []Container {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	return cloneContainers(m.inBag)
}

// Dropped returns every container ever dropped in any bag, in drop order:
// from the journal when the machine has one (it is not kept in memory, so
// a machine running for months does not grow), else from memory.
func (m *Machine) Dropped() []Container {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	if m.cfg.StatePath != "" {
		_, dropped, err := ReadJournal(m.cfg.StatePath)
		if err != nil {
			return nil
		}
		return dropped
	}
	return cloneContainers(m.dropped)
}

// Tickets returns what the printer printed, in order.
func (m *Machine) Tickets() []hal.Ticket {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]hal.Ticket, len(m.tickets))
	for i, t := range m.tickets {
		t.Lines = slices.Clone(t.Lines)
		out[i] = t
	}
	return out
}

func cloneContainers(cs []Container) []Container {
	out := make([]Container, len(cs))
	for i, c := range cs {
		if c.Shape != nil {
			s := *c.Shape
			c.Shape = &s
		}
		out[i] = c
	}
	return out
}

// schedule queues fire at now+d. It must be called with mu held.
func (m *Machine) schedule(d time.Duration, internal bool, fire func() (hal.Event, Cut)) *item {
	m.seq++
	var it *item
	if n := len(m.free); n > 0 {
		it, m.free = m.free[n-1], m.free[:n-1]
	} else {
		it = new(item)
	}
	*it = item{at: m.clk.Now().Add(d), prio: 1, seq: m.seq, fire: fire, internal: internal}
	m.push(it)
	return it
}

// recycle returns a fired item to the free list. Nothing refers to a fired
// item: fireItem ended m.beltStep, limitFire ended m.limitItem.
func (m *Machine) recycle(it *item) {
	if it == m.beltStep || it == m.limitItem {
		return
	}
	*it = item{}
	m.free = append(m.free, it)
}

func (m *Machine) push(it *item) {
	i, _ := slices.BinarySearchFunc(m.q, it, func(a, b *item) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if a.prio != b.prio {
			return int(a.prio) - int(b.prio)
		}
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	m.q = slices.Insert(m.q, i, it)
}

func (m *Machine) remove(it *item) {
	if it == nil {
		return
	}
	if i := slices.Index(m.q, it); i >= 0 {
		m.q = slices.Delete(m.q, i, i+1)
	}
}

// delivers says whether it, fired now, would hand the controller something.
func (m *Machine) delivers(it *item) bool {
	if it.limit {
		return m.running && (m.jammed || m.beltStep != nil)
	}
	return !it.internal
}

// catchUp applies the invisible steps whose time has come, so that a sensor
// read at a controller deadline sees, say, a container that has landed. It
// stops at the first visible step: the runner delivers those through Pop.
func (m *Machine) catchUp() {
	now := m.clk.Now()
	for len(m.q) > 0 && !m.q[0].at.After(now) && !m.delivers(m.q[0]) {
		it := m.q[0]
		m.q = slices.Delete(m.q, 0, 1) // keeps the backing array: no growth on the next push
		m.fireItem(it)
		m.recycle(it)
	}
}

// fireItem applies a popped item: a belt step ends the running move's
// pending step before it plans the next.
func (m *Machine) fireItem(it *item) (hal.Event, Cut) {
	if it.belt && m.beltStep == it {
		m.beltStep = nil
	}
	return it.fire()
}

// deliver returns a fire func that applies then (if not nil) and reports k.
func (m *Machine) deliver(k hal.EventKind, then func()) func() (hal.Event, Cut) {
	return func() (hal.Event, Cut) {
		if then != nil {
			then()
		}
		return hal.Event{Kind: k}, CutNone
	}
}

// journal appends r to the state journal, if there is one. mu must be held.
func (m *Machine) journal(r journalRecord) {
	if m.cfg.StatePath == "" {
		return
	}
	if err := appendJournal(m.cfg.StatePath, r); err != nil && m.err == nil {
		m.err = err
	}
}

// land drops the current container into the bag: journal first, then the
// bag scale sees it.
func (m *Machine) land() {
	c := *m.cur
	if c.Shape != nil { // curBuf's shape is reused by the next insert
		s := *c.Shape
		c.Shape = &s
	}
	if m.cfg.StatePath != "" {
		j := c
		m.journal(journalRecord{Op: opDrop, Container: &j})
	}
	m.inBag = append(m.inBag, c)
	if m.cfg.StatePath == "" {
		m.dropped = append(m.dropped, c)
	}
	m.cur, m.at = nil, locOut
}
