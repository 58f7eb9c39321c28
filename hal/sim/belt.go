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
		return nil
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
	m.limitItem = m.schedule(limit, false, m.limitFire)
	m.limitItem.limit = true
	return nil
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
	var it *item
	it = m.schedule(d, false, func() (hal.Event, Cut) {
		if m.beltStep == it {
			m.beltStep = nil
		}
		return fire()
	})
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
		half := t.ToScanner / 2
		m.beltAfter(half, m.deliver(hal.EntryCleared, func() {
			m.at = locScan
			m.planToChamber(t.ToScanner - half)
		}))
	case locScan:
		m.planToChamber(t.ToScanner / 2) // progress between barriers is not tracked
	case locChamber:
		if m.cur.Pullback {
			m.pullback()
			return
		}
		m.beltAfter(0, m.deliver(hal.ChamberCleared, func() {
			m.at = locToExit
			m.planToExit()
		}))
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
		m.beltAfter(t.ToChamber-t.ToScanner, m.chamberBlocked())
		return
	}
	if !m.scanVisible() {
		m.beltAfter(toScan+t.ToChamber-t.ToScanner, m.chamberBlocked())
		return
	}
	m.beltAfter(toScan, m.scan).scan = true
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
	m.beltAfter(t.ToChamber-t.ToScanner, m.chamberBlocked())
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
	m.beltAfter(it.at.Sub(m.clk.Now())+t.ToChamber-t.ToScanner, m.chamberBlocked())
}

func (m *Machine) chamberBlocked() func() (hal.Event, Cut) {
	return m.deliver(hal.ChamberBlocked, func() {
		m.at, m.scanned = locChamber, true
	})
}

func (m *Machine) planToExit() {
	m.beltAfter(m.cfg.Timing.ToExit, m.deliver(hal.ExitBlocked, func() {
		// Past the point of no return: the rest is gravity, which no Stop
		// and no jam can cancel.
		m.at = locFalling
		m.schedule(0, false, m.deliver(hal.ExitCleared, func() {
			cut := m.cur.CutAt == CutBag
			m.schedule(m.cfg.Timing.ToBag, !cut, func() (hal.Event, Cut) {
				m.land()
				if cut {
					return hal.Event{}, CutBag
				}
				return hal.Event{}, CutNone
			})
		}))
	}))
}

// pullback is the customer pulling the container back out of the chamber as
// the belt starts to take it: their hand, not the belt, so Stop does not
// cancel it.
func (m *Machine) pullback() {
	t := m.cfg.Timing
	m.at = locReturning
	half := t.BackToChute / 2
	m.schedule(0, false, m.deliver(hal.ChamberCleared, func() {
		m.schedule(half, false, m.deliver(hal.EntryBlocked, func() {
			m.schedule(t.BackToChute-half, false, m.deliver(hal.EntryCleared, m.gone))
		}))
	}))
}

// planReverse schedules the belt carrying the container back to the chute,
// where the customer takes it.
func (m *Machine) planReverse() {
	t := m.cfg.Timing
	switch m.at {
	case locEntry:
		m.customerTakes()
	case locScan:
		m.beltAfter(t.BackToChute/2, m.deliver(hal.EntryBlocked, m.customerTakes))
	case locChamber:
		m.beltAfter(0, m.deliver(hal.ChamberCleared, func() {
			m.at = locScan
			m.beltAfter(t.BackToChute, m.deliver(hal.EntryBlocked, m.customerTakes))
		}))
	case locToExit:
		m.beltAfter(t.ToExit, m.deliver(hal.ChamberBlocked, func() {
			m.at = locChamber
			m.planReverse()
		}))
	}
}

// customerTakes: the container sits in the entry barrier until the customer
// takes it out of the chute.
func (m *Machine) customerTakes() {
	m.at = locReturning
	m.schedule(m.cfg.Timing.CustomerTake, false, m.deliver(hal.EntryCleared, m.gone))
}

func (m *Machine) gone() { m.cur, m.at = nil, locOut }
