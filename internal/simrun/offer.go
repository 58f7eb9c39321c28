package simrun

import (
	"context"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
)

// The simulated machine's hands, for rvmd run -sim: the kiosk's sim-only
// controls and the technician console's reference mass, bag swap and jam
// taken out (internal/daemon.SimHands). Each takes the simulated machine
// (see lock), so call them from acts on the loop or beside it alike.

// Offer tries a customer's step (insert or finish) now, from an act on the
// loop (c is the act's controller); false means "not yet" (the chute is
// busy, the belt is moving). The kiosk's sim-only controls use it to drive
// sessions step by step.
func (g *Rig) Offer(ctx context.Context, c *machine.Controller, st scenario.Step) bool {
	g.bind(c)
	return g.liveStep(ctx, c, st)
}

// Busy reports whether a container is on its way through the machine.
func (g *Rig) Busy() bool {
	g.lock()
	defer g.unlock()
	return g.r.sim.Busy()
}

// InjectFault makes the simulated machine raise f.
func (g *Rig) InjectFault(f hal.Fault) {
	g.lock()
	defer g.unlock()
	g.r.sim.InjectFault(f)
}

// ClearFaults is the technician taking out what jammed the machine.
func (g *Rig) ClearFaults() {
	g.lock()
	defer g.unlock()
	g.r.sim.ClearFaults()
}

// PlaceReference puts a reference mass on the bag scale.
func (g *Rig) PlaceReference(m physic.Mass) error {
	g.lock()
	defer g.unlock()
	return g.r.sim.PlaceReference(m)
}

// ClearReference takes the reference mass off.
func (g *Rig) ClearReference() {
	g.lock()
	defer g.unlock()
	g.r.sim.ClearReference()
}

// ExchangeBag swaps the bag for an empty one and says what went out.
func (g *Rig) ExchangeBag() (removed physic.Mass, count int) {
	g.lock()
	defer g.unlock()
	return g.r.sim.ExchangeBag()
}
