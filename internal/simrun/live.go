package simrun

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/catalog"
)

// Act is an operator act (a command from the fleet, a console request) run
// on the controller between events, on the loop's goroutine.
type Act func(ctx context.Context, c *machine.Controller)

// Customers generates a stream of simulated customers: each arrives after a
// pause, offers a handful of containers (mostly good, some damaged, invalid,
// full or unknown) and ends with a voucher, a donation, a digital voucher or
// by walking away.
type Customers struct {
	rng      *rand.Rand
	products []catalog.Product
	MeanGap  time.Duration // between customers; default 20 s
	queue    []scenario.Step
	seals    int
}

// NewCustomers makes a deterministic customer stream over a catalogue.
func NewCustomers(seed uint64, cat *catalog.Catalog) *Customers {
	return &Customers{rng: rand.New(rand.NewPCG(seed, 0x5eed)), products: cat.Products(), MeanGap: 20 * time.Second}
}

// next returns the next step; its Gap is the pause before it.
func (cu *Customers) next() scenario.Step {
	if len(cu.queue) == 0 {
		cu.visit()
	}
	st := cu.queue[0]
	cu.queue = cu.queue[1:]
	return st
}

func (cu *Customers) visit() {
	r := cu.rng
	n := 1 + r.IntN(15)
	gap := time.Duration(r.ExpFloat64() * float64(cu.MeanGap))
	for i := 0; i < n; i++ {
		p := cu.products[r.IntN(len(cu.products))]
		st := scenario.Step{Op: scenario.OpInsert, EAN: p.EAN, Barcode: "ok", Gap: 1200*time.Millisecond + time.Duration(r.IntN(1500))*time.Millisecond}
		if i == 0 {
			st.Gap += gap
		}
		switch k := r.IntN(40); {
		case k == 0:
			st.Barcode = "damaged"
		case k == 1:
			st.Barcode, st.EAN = "missing", ""
		case k == 2 && p.WeightWithCap > 0:
			w := float64(p.WeightWithCap)/1e9*1.5 + 200 // still full of drink
			st.WeightG = &w
		case k == 3:
			st.EAN = "5901234123458" // bad check digit
		}
		cu.queue = append(cu.queue, st)
	}
	fin := scenario.Step{Op: scenario.OpFinish, Payout: "voucher", Gap: 2 * time.Second}
	switch k := r.IntN(10); {
	case k == 0:
		fin.Payout = "donation"
	case k == 1:
		fin.Payout, fin.Phone = "digital", fmt.Sprintf("6%08d", r.IntN(1e8))
	case k == 2:
		fin = scenario.Step{Op: scenario.OpWait, Wait: 0} // walks away: idle timeout ends it
	}
	cu.queue = append(cu.queue, fin)
}

// Live runs the controller in real time on the simulated machine: the fake
// clock follows the wall clock, customers come from cu (nil: none), acts
// from the channel run between events, and staff swap a full bag after a
// while. It returns when ctx ends; a step under way then is finished first.
func (r *Runner) Live(stop context.Context, cu *Customers, acts <-chan Act) error {
	// A step is not cut short by the stop: a container half decided, a
	// ticket half printed, would be left to the restart to sort out.
	ctx := context.WithoutCancel(stop)
	var pending *scenario.Step
	var due time.Time
	var fullSince time.Time
	seals := 0 // bags swapped: cu is nil without simulated customers
	for {
		now := time.Now()
		if err := r.advance(ctx, now); err != nil {
			return err
		}
		if cu != nil {
			if pending == nil {
				st := cu.next()
				pending, due = &st, now.Add(st.Gap)
			}
			if !now.Before(due) && r.liveStep(ctx, *pending) {
				pending = nil
				continue
			}
		}
		if r.ctrl.Status().Fault == "" && contains(r.ctrl.Status().Blocked, machine.BlockBagFull) {
			if fullSince.IsZero() {
				fullSince = now
			} else if now.Sub(fullSince) > 20*time.Second && r.ctrl.AtRest() {
				seals++
				_, err := r.ctrl.ExchangeBag(ctx, machine.BagExchange{
					Seal: fmt.Sprintf("%d%010d", now.Unix()%100000, seals), Staff: liveStaff,
					Swap: func() error { r.sim.ExchangeBag(); return nil },
				})
				if err != nil {
					r.log.Warn("bag exchange", "err", err)
				}
				fullSince = time.Time{}
			}
		}
		wake := now.Add(time.Second)
		if t, ok := r.sim.NextAt(); ok && t.Before(wake) {
			wake = t
		}
		if d := r.ctrl.Deadline(); !d.IsZero() && d.Before(wake) {
			wake = d
		}
		if pending != nil && due.Before(wake) {
			wake = due
		}
		timer := time.NewTimer(time.Until(wake))
		select {
		case <-stop.Done():
			timer.Stop()
			return nil
		case act := <-acts:
			r.clk.Set(time.Now())
			act(ctx, r.ctrl)
		case <-timer.C:
		}
		timer.Stop()
	}
}

// liveStep tries a customer's step now; false means "not yet" (the chute is
// busy, the belt is moving).
func (r *Runner) liveStep(ctx context.Context, st scenario.Step) bool {
	switch st.Op {
	case scenario.OpInsert:
		if r.sim.Busy() {
			return false
		}
		if !r.ctrl.IntakeOpen() {
			return true // refused at the chute; the customer leaves with it
		}
		if err := r.insert(ctx, st); err != nil {
			r.log.Warn("insert", "err", err)
		}
		return true
	case scenario.OpFinish:
		if !r.ctrl.AtRest() || r.sim.Busy() {
			return false
		}
		if err := r.ctrl.Finish(ctx, st.Payout, st.Phone); err != nil {
			r.log.Warn("finish", "err", err)
		}
		return true
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// liveStaff is the simulated staff member who swaps bags in live runs.
const liveStaff = "5b0c8e57-7d53-4a34-9f61-0c7a3f1e2d10"

// Fast runs simulated customers on virtual time, as fast as the machine
// goes, until ctx ends; staff exchange the bag when it is full. Crash tests
// kill a process running it at random instants. A step under way when ctx
// ends is finished first.
func (r *Runner) Fast(stop context.Context, cu *Customers, acts <-chan Act) error {
	ctx := context.WithoutCancel(stop)
	at := r.clk.Now()
	for stop.Err() == nil {
		select {
		case act := <-acts:
			act(ctx, r.ctrl)
			continue
		default:
		}
		if cu == nil {
			select {
			case <-stop.Done():
			case act := <-acts:
				act(ctx, r.ctrl)
			}
			continue
		}
		if contains(r.ctrl.Status().Blocked, machine.BlockBagFull) {
			cu.seals++
			seal := fmt.Sprintf("%d%04d", at.UnixNano()/1e6, cu.seals%10000)
			st := scenario.Step{Op: scenario.OpBagExchange, Seal: seal, Staff: liveStaff}
			var err error
			if at, err = r.step(ctx, st, at); err != nil {
				return err
			}
			continue
		}
		st := cu.next()
		if st.Op == scenario.OpWait {
			st.Wait = 31 * time.Second
		}
		var err error
		if at, err = r.step(ctx, st, at); err != nil {
			return err
		}
	}
	return nil
}
