package simrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
	"periph.io/x/conn/v3/physic"
)

// Play runs the steps in order, then lets the clock run on until an open
// session ends by its idle timeout.
func (r *Runner) Play(ctx context.Context, steps []scenario.Step) error {
	at := r.clk.Now()
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if st.Op == scenario.OpStart {
			continue
		}
		var err error
		at, err = r.step(ctx, st, at)
		if err != nil {
			return fmt.Errorf("simrun: line %d (%s): %w", st.Line, st.Op, err)
		}
	}
	return r.Drain(ctx)
}

// Drain lets the machine finish what it is doing and runs the clock on
// until no session is open.
func (r *Runner) Drain(ctx context.Context) error {
	for {
		if err := r.settle(ctx); err != nil {
			return err
		}
		if !r.ctrl.SessionOpen() {
			return nil
		}
		d := r.ctrl.Deadline()
		if d.IsZero() {
			return errors.New("simrun: session open with no deadline")
		}
		if err := r.advance(ctx, d); err != nil {
			return err
		}
	}
}

// step plays one step whose nominal time is the previous step's plus its
// gap; the machine may make it later (a customer waits for the chute, staff
// wait for the belt to stop).
func (r *Runner) step(ctx context.Context, st scenario.Step, prev time.Time) (time.Time, error) {
	at := prev.Add(st.Gap)
	if err := r.advance(ctx, at); err != nil {
		return at, err
	}
	if st.Op != scenario.OpInsert || r.sim.Busy() {
		if err := r.settle(ctx); err != nil {
			return at, err
		}
	}
	if now := r.clk.Now(); now.After(at) {
		at = now
	}
	switch st.Op {
	case scenario.OpInsert:
		return at, r.insert(ctx, st)
	case scenario.OpFinish:
		return at, r.ctrl.Finish(ctx, st.Payout, st.Phone)
	case scenario.OpWait:
		at = at.Add(st.Wait)
		return at, r.advance(ctx, at)
	case scenario.OpBagExchange:
		_, err := r.ctrl.ExchangeBag(ctx, machine.BagExchange{
			Seal: st.Seal, Staff: st.Staff, Bin: st.Bin,
			Swap: func() error { r.sim.ExchangeBag(); return nil },
		})
		return at, r.refused(st, err)
	case scenario.OpSealReplace:
		_, err := r.ctrl.ReplaceSeal(ctx, st.Old, st.New, "")
		return at, r.refused(st, err)
	case scenario.OpPowerCut:
		return at, r.powerCut(ctx)
	case scenario.OpFault:
		r.sim.InjectFault(hal.Fault(st.Kind))
		return at, r.advance(ctx, at)
	case scenario.OpService:
		r.sim.ClearFaults()
		if err := r.rigClearFaults(); err != nil {
			return at, err
		}
		if err := r.advance(ctx, at); err != nil {
			return at, err
		}
		return at, r.ctrl.ClearFault(ctx, "technician")
	}
	return at, fmt.Errorf("unknown op %q", st.Op)
}

// refused logs an act the machine refused (a used seal, say): the scenario
// goes on, as staff would.
func (r *Runner) refused(st scenario.Step, err error) error {
	if err == nil {
		return nil
	}
	var fatal *fatalError
	if errors.As(err, &fatal) {
		return err
	}
	r.log.Warn("refused", "line", st.Line, "op", st.Op, "err", err)
	return nil
}

type fatalError struct{ error }

func (r *Runner) insert(ctx context.Context, st scenario.Step) error {
	if !r.ctrl.IntakeOpen() {
		r.log.Info("insert refused at the chute", "line", st.Line, "state", r.ctrl.State(), "blocked", r.ctrl.Status().Blocked, "fault", r.ctrl.Status().Fault)
		return nil
	}
	c := sim.Container{Code: st.EAN, CutAt: cutPhase(st.CutAt), Pullback: st.Pullback}
	switch st.Barcode {
	case "damaged":
		c.Barcode = sim.BarcodeDamaged
	case "missing":
		c.Barcode = sim.BarcodeMissing
	default:
		c.Barcode = sim.BarcodeOK
	}
	p, known := r.opts.Catalog.Lookup(st.EAN)
	switch {
	case st.WeightG != nil:
		c.Mass = grams(*st.WeightG)
	case known && p.WeightWithCap > 0:
		c.Mass = p.WeightWithCap
	case known && p.WeightMin > 0 && p.WeightMax > 0:
		c.Mass = (p.WeightMin + p.WeightMax) / 2 / physic.MilliGram * physic.MilliGram
	default:
		c.Mass = grams(30)
	}
	if st.Metal != nil {
		c.Metal = *st.Metal
	} else {
		c.Metal = known && p.Packaging == drsapi.PackagingCan
	}
	var shape hal.Shape
	if known {
		shape = hal.Shape{Height: p.Height, Diameter: p.Diameter}
	}
	if st.HeightMM != nil {
		shape.Height = mm(*st.HeightMM)
	}
	if st.DiameterMM != nil {
		shape.Diameter = mm(*st.DiameterMM)
	}
	if shape.Height != 0 || shape.Diameter != 0 {
		r.shape = shape // sim.Insert copies it
		c.Shape = &r.shape
	}
	if err := r.sim.Insert(c); err != nil {
		return err
	}
	return nil
}

func cutPhase(s string) sim.CutPhase {
	switch s {
	case "scanned":
		return sim.CutScanned
	case "chamber":
		return sim.CutChamber
	case "bag":
		return sim.CutBag
	}
	return sim.CutNone
}

// advance delivers every hardware event and deadline up to and including
// until, in time order (hardware first at equal times: physics before
// timers), then sets the clock to until.
func (r *Runner) advance(ctx context.Context, until time.Time) error {
	for {
		ok, err := r.next(ctx, until)
		if err != nil {
			return err
		}
		if !ok {
			r.clk.Set(until)
			return nil
		}
	}
}

// settle runs until no container is in the machine and the controller is at
// rest.
func (r *Runner) settle(ctx context.Context) error {
	for r.sim.Busy() || !r.ctrl.AtRest() {
		ok, err := r.next(ctx, time.Time{})
		if err != nil {
			return err
		}
		if !ok {
			if r.sim.Busy() || !r.ctrl.AtRest() {
				return fmt.Errorf("simrun: machine stuck in %s with nothing scheduled", r.ctrl.State())
			}
			return nil
		}
	}
	return nil
}

// next delivers the earliest event or deadline not after until (no limit
// when until is zero). It reports false when there is none.
func (r *Runner) next(ctx context.Context, until time.Time) (bool, error) {
	ta, okA := r.sim.NextAt()
	td := r.ctrl.Deadline()
	okD := !td.IsZero()
	if okA && !until.IsZero() && ta.After(until) {
		okA = false
	}
	if okD && !until.IsZero() && td.After(until) {
		okD = false
	}
	switch {
	case okA && (!okD || !ta.After(td)):
		ev, cut, ok := r.sim.Pop()
		if err := r.sim.Err(); err != nil {
			// The machine's physical truth is no longer durable: a crash
			// now could not be checked against it.
			return false, &fatalError{fmt.Errorf("simrun: machine journal: %w", err)}
		}
		if cut != sim.CutNone {
			return true, r.powerCut(ctx)
		}
		if ok {
			if err := r.handle(ctx, ev); err != nil {
				return false, &fatalError{err}
			}
		}
		return true, nil
	case okD:
		r.clk.Set(td)
		if err := r.ctrl.Tick(ctx); err != nil {
			return false, &fatalError{err}
		}
		return true, nil
	}
	return false, nil
}

// powerCut kills the controller (its memory is lost), restores power to the
// simulated machine and boots a new controller from the ledger. The ledger
// file stays open: what it holds is exactly what was committed, which is
// all a real restart finds.
func (r *Runner) powerCut(ctx context.Context) error {
	r.log.Info("power cut", "at", r.clk.Now())
	r.ctrl = nil
	r.sim.PowerRestored()
	r.rigPowerCut()
	return r.boot(ctx)
}
