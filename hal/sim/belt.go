package sim

import (
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/hal"
)

// command starts a conveyor run in direction fwd (false: reverse), replacing
// the running one. mu must be held.
func (m *Machine) command(fwd bool, limit time.Duration) error {
	if limit <= 0 {
		return fmt.Errorf("%w: %v", ErrLimit, limit)
	}
	if m.run(fwd) {
		m.limitItem = m.schedule(limit, false, m.fn.limit)
		m.limitItem.limit = true
	}
	return nil
}

// run starts the motor in direction fwd, replacing the running move, and
// reports whether it runs (false: the power failed first). mu must be held.
func (m *Machine) run(fwd bool) bool {
	m.catchUp()
	if fwd && m.cur != nil && m.at == locChamber && m.cur.CutAt == CutChamber {
		// The controller decided to accept; the power dies before the
		// motor turns, so the container stays in the chamber.
		m.cur.CutAt = CutNone
		m.halt()
		m.seq++
		m.push(&item{at: m.clk.Now(), prio: 0, seq: m.seq, fire: func() (hal.Event, Cut) {
			return hal.Event{}, CutChamber
		}})
		return false
	}
	m.halt()
	m.running = true
	if !m.jammed && m.cur != nil {
		if fwd {
			m.planForward()
		} else {
			m.planReverse()
		}
	}
	return true
}

// halt stops the motor: a move in progress stays where it got to.
func (m *Machine) halt() {
	m.cancelBelt()
	m.remove(m.limitItem)
	m.limitItem = nil
	m.running = false
}

func (m *Machine) cancelBelt() {
	m.remove(m.beltStep)
	m.beltStep = nil
}

// limitFire is the dead-man limit running out: the motor stops by itself,
// and if it was still meant to be moving something (or was jammed), the
// controller hears ConveyorHalted.
func (m *Machine) limitFire() (hal.Event, Cut) {
	halted := m.running && (m.jammed || m.beltStep != nil)
	m.limitItem = nil
	m.halt()
	if halted {
		return hal.Event{Kind: hal.ConveyorHalted}, CutNone
	}
	return hal.Event{}, CutNone
}

// beltAfter schedules the next belt-driven step of the running move; Stop,
// a new command, a jam or the dead-man limit cancel it.
func (m *Machine) beltAfter(d time.Duration, fire func() (hal.Event, Cut)) *item {
	it := m.schedule(d, false, fire)
	it.belt = true // firing it clears m.beltStep (see fireItem)
	m.beltStep = it
	return it
}

// planForward schedules the belt carrying the container forward from where
// it is. A run from the entry ends in the chamber (the chamber holds it until
// the next command); a run from the chamber ends in the bag.
func (m *Machine) planForward() {
	t := m.cfg.Timing
	switch m.at {
	case locEntry:
		m.beltAfter(t.ToScanner/2, m.fn.fwdEntryCleared)
	case locScan:
		m.planToChamber(t.ToScanner / 2) // progress between barriers is not tracked
	case locChamber:
		if m.cur.Pullback {
			m.pullback()
			return
		}
		m.beltAfter(0, m.fn.fwdChamberCleared)
	case locToExit:
		m.planToExit()
	}
}

// planToChamber schedules the scan (toScan from now) and the arrival in the
// chamber. A scan that will show the controller nothing is folded into the
// arrival, so that NextAt never has to look through an invisible step that
// schedules a visible one.
func (m *Machine) planToChamber(toScan time.Duration) {
	t := m.cfg.Timing
	if m.scanned {
		m.beltAfter(t.ToChamber-t.ToScanner, m.fn.chamberBlocked)
		return
	}
	if !m.scanVisible() {
		m.beltAfter(toScan+t.ToChamber-t.ToScanner, m.fn.chamberBlocked)
		return
	}
	m.beltAfter(toScan, m.fn.scan).scan = true
}

func (m *Machine) scanVisible() bool {
	return (m.cur.Barcode != BarcodeMissing && !m.scanDead) || m.cur.CutAt == CutScanned
}

func (m *Machine) scan() (hal.Event, Cut) {
	var ev hal.Event
	m.scanned = true
	if !m.scanDead {
		switch m.cur.Barcode {
		case BarcodeOK:
			ev = hal.Event{Kind: hal.BarcodeRead, Barcode: hal.Barcode{Status: hal.ReadOK, Code: m.cur.Code}}
		case BarcodeDamaged:
			ev = hal.Event{Kind: hal.BarcodeRead, Barcode: hal.Barcode{Status: hal.ReadDamaged}}
		}
	}
	cut := CutNone
	if m.cur.CutAt == CutScanned {
		m.cur.CutAt, cut = CutNone, CutScanned
	}
	t := m.cfg.Timing
	m.beltAfter(t.ToChamber-t.ToScanner, m.fn.chamberBlocked)
	return ev, cut
}

// replanScan folds a pending scan into the arrival once the scanner died.
func (m *Machine) replanScan() {
	it := m.beltStep
	if it == nil || !it.scan || m.scanVisible() {
		return
	}
	m.cancelBelt()
	t := m.cfg.Timing
	m.beltAfter(it.at.Sub(m.clk.Now())+t.ToChamber-t.ToScanner, m.fn.chamberBlocked)
}

func (m *Machine) chamberBlocked() func() (hal.Event, Cut) {
	return m.deliver(hal.ChamberBlocked, func() {
		m.at, m.scanned = locChamber, true
	})
}

func (m *Machine) planToExit() {
	m.beltAfter(m.cfg.Timing.ToExit, m.fn.exitBlocked)
}

// Past the point of no return: the rest is gravity, which no Stop and no
// jam can cancel.
func (m *Machine) exitBlocked() {
	m.at = locFalling
	m.schedule(0, false, m.fn.exitCleared)
}

func (m *Machine) exitCleared() {
	m.schedule(m.cfg.Timing.ToBag, m.cur.CutAt != CutBag, m.fn.landing)
}

func (m *Machine) landing() (hal.Event, Cut) {
	cut := m.cur.CutAt == CutBag
	m.land()
	if cut {
		return hal.Event{}, CutBag
	}
	return hal.Event{}, CutNone
}

// pullback is the customer pulling the container back out of the chamber as
// the belt starts to take it: their hand, not the belt, so Stop does not
// cancel it.
func (m *Machine) pullback() {
	m.at = locReturning
	m.schedule(0, false, m.fn.pullChamberCleared)
}

// planReverse schedules the belt carrying the container back to the chute,
// where the customer takes it.
func (m *Machine) planReverse() {
	t := m.cfg.Timing
	switch m.at {
	case locEntry:
		m.customerTakes()
	case locScan:
		m.beltAfter(t.BackToChute/2, m.fn.revEntryBlocked)
	case locChamber:
		m.beltAfter(0, m.fn.revChamberCleared)
	case locToExit:
		m.beltAfter(t.ToExit, m.fn.revChamberBlocked)
	}
}

// customerTakes: the container sits in the entry barrier until the customer
// takes it out of the chute.
func (m *Machine) customerTakes() {
	m.at = locReturning
	m.schedule(m.cfg.Timing.CustomerTake, false, m.fn.goneEntryCleared)
}

func (m *Machine) gone() { m.cur, m.at = nil, locOut }

// fireFuncs are the machine's scheduled steps, made once in New: they
// capture only the machine and its immutable configuration, so scheduling
// a step allocates nothing but its queue item.
type fireFuncs struct {
	entryBlocked, chamberBlocked, scan, limit              func() (hal.Event, Cut)
	fwdEntryCleared, fwdChamberCleared                     func() (hal.Event, Cut)
	exitBlocked, exitCleared, landing                      func() (hal.Event, Cut)
	pullChamberCleared, pullEntryBlocked, goneEntryCleared func() (hal.Event, Cut)
	revEntryBlocked, revChamberCleared, revChamberBlocked  func() (hal.Event, Cut)
	entryCleared, chamberCleared, doorOpened, doorClosed   func() (hal.Event, Cut)
}

func (m *Machine) makeFireFuncs() {
	t := m.cfg.Timing
	half, back := t.ToScanner/2, t.BackToChute/2
	f := &m.fn
	f.entryBlocked = m.deliver(hal.EntryBlocked, nil)
	f.entryCleared = m.deliver(hal.EntryCleared, nil)
	f.chamberCleared = m.deliver(hal.ChamberCleared, nil)
	f.doorOpened = m.deliver(hal.DoorOpened, nil)
	f.doorClosed = m.deliver(hal.DoorClosed, nil)
	f.chamberBlocked = m.chamberBlocked()
	f.scan = m.scan
	f.limit = m.limitFire
	f.fwdEntryCleared = m.deliver(hal.EntryCleared, func() {
		m.at = locScan
		m.planToChamber(t.ToScanner - half)
	})
	f.fwdChamberCleared = m.deliver(hal.ChamberCleared, func() {
		m.at = locToExit
		m.planToExit()
	})
	f.exitBlocked = m.deliver(hal.ExitBlocked, m.exitBlocked)
	f.exitCleared = m.deliver(hal.ExitCleared, m.exitCleared)
	f.landing = m.landing
	f.goneEntryCleared = m.deliver(hal.EntryCleared, m.gone)
	f.pullEntryBlocked = m.deliver(hal.EntryBlocked, func() {
		m.schedule(t.BackToChute-back, false, f.goneEntryCleared)
	})
	f.pullChamberCleared = m.deliver(hal.ChamberCleared, func() {
		m.schedule(back, false, f.pullEntryBlocked)
	})
	f.revEntryBlocked = m.deliver(hal.EntryBlocked, m.customerTakes)
	f.revChamberCleared = m.deliver(hal.ChamberCleared, func() {
		m.at = locScan
		m.beltAfter(t.BackToChute, f.revEntryBlocked)
	})
	f.revChamberBlocked = m.deliver(hal.ChamberBlocked, func() {
		m.at = locChamber
		m.planReverse()
	})
}
