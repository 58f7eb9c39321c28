package simrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// RigOptions configure the simulated machine as a device supplier.
type RigOptions struct {
	Seed     uint64 // the physics' noise
	SimState string // the simulated machine's journal of physical truth
	// Fast runs on virtual time as fast as the machine can go (crash
	// tests); otherwise the simulated machine follows the wall clock and
	// its events reach the controller's loop as they happen.
	Fast bool
	// Customers makes simulated customers use the machine, arriving on
	// average every CustomerGap (default 20 s).
	Customers   bool
	CustomerGap time.Duration
	// HAL is HALSim (default) or HALPins: the real drivers on the
	// simulated machine's pins.
	HAL string
	// PrinterOut, with HALPins, receives every byte the voucher printer
	// received (ESC/POS), in order (Options.PrinterOut).
	PrinterOut io.Writer
	// CellErrors makes the simulated load cells differ from their data
	// sheet by a seeded gain and offset error while the machine starts
	// with the data sheet's calibration (Options.CellErrors).
	CellErrors bool
	Logger     *slog.Logger
}

// Rig supplies the simulated machine's devices to the controller's loop
// (machine.Loop), with simulated customers and staff acting on it through
// the loop's act-runner. It is the simulator's side of internal/daemon.Rig.
type Rig struct {
	opts RigOptions // Immutable.
	r    *Runner    // clock, simulated machine; its ctrl is bound by each act
	wall clock.Clock

	// mu serializes the simulated machine between the loop (device calls,
	// acts) and the pump (live only); it also keeps the simulated clock in
	// step with the wall clock.
	mu     sync.Mutex
	events chan hal.Event
	poke   chan struct{}
	stop   context.CancelFunc
	done   chan struct{}
	ctrl   *machine.Controller // Set by Run's first act; only its Status is read outside acts.
	seals  int
}

// NewRig returns a simulated rig; nothing runs before Open.
func NewRig(o RigOptions) *Rig {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CustomerGap <= 0 {
		o.CustomerGap = 20 * time.Second
	}
	return &Rig{opts: o, wall: clock.Real{}}
}

// Open builds the simulated machine, stores its factory calibration in the
// ledger if it has none, and returns its devices. Live, the controller runs
// on the wall clock and a pump delivers the machine's events in real time;
// fast, the controller runs on the simulation's virtual clock, started
// after last, and Run steps it.
func (g *Rig) Open(ctx context.Context, led *ledger.Ledger, last time.Time) (machine.Devices, clock.Clock, error) {
	start := g.wall.Now().UTC().Truncate(time.Second)
	if g.opts.Fast && last.After(start) {
		start = last
	}
	g.r = &Runner{opts: Options{HAL: g.opts.HAL, PrinterOut: g.opts.PrinterOut, Logger: g.opts.Logger},
		clk: clock.NewFake(start), log: g.opts.Logger, looped: true}
	cfg := sim.DefaultConfig(g.opts.Seed)
	if g.opts.Fast {
		cfg.Timing = sim.ZeroTiming()
	}
	sheet := cfg
	if g.opts.CellErrors {
		cfg = cfg.WithCellErrors(g.opts.Seed)
	}
	cfg.StatePath = g.opts.SimState
	var err error
	if g.r.sim, err = sim.New(g.r.clk, cfg); err != nil {
		return machine.Devices{}, nil, fmt.Errorf("simrun: %w", err)
	}
	if err := FactoryCalibrate(ctx, led, g.r.sim, sheet, g.opts.CellErrors, g.r.clk.Now()); err != nil {
		return machine.Devices{}, nil, err
	}
	dev, err := g.r.devices()
	if err != nil {
		g.r.closeRig()
		g.r.closeSerial()
		return machine.Devices{}, nil, err
	}
	if g.opts.Fast {
		return dev, g.r.clk, nil
	}
	g.poke = make(chan struct{}, 1)
	if g.r.rig == nil {
		// -hal sim: the machine's events go straight to the loop. With
		// -hal pins the pump hands them to the drivers in acts (Run).
		g.events = make(chan hal.Event, 64)
		dev.Events = g.events
		g.startPump(nil)
	}
	dev.Chamber, dev.Bag, dev.Metal = liveCell{g, dev.Chamber}, liveCell{g, dev.Bag}, liveMetal{g, dev.Metal}
	dev.Conveyor = liveConveyor{g, dev.Conveyor}
	if dev.Shape != nil {
		dev.Shape = liveShape{g, dev.Shape}
	}
	if dev.Printer != nil {
		dev.Printer = livePrinter{g, dev.Printer}
	}
	return dev, g.wall, nil
}

// startPump starts the pump; do is nil when events go on Devices.Events.
func (g *Rig) startPump(do func(context.Context, machine.ActFunc) (any, error)) {
	g.done = make(chan struct{})
	pctx, stop := context.WithCancel(context.Background())
	g.stop = stop
	go g.pump(pctx, do)
}

// Tune weighs the bag the instant a container drops on virtual time.
func (g *Rig) Tune(o *machine.Options) {
	if g.opts.Fast {
		o.BagSettle = 0
	}
}

// Sim is the simulated machine (after Open).
func (g *Rig) Sim() *sim.Machine { return g.r.sim }

// Close stops the pump, halts the rig's board and then unplugs its serial
// devices (-hal pins).
func (g *Rig) Close() error {
	if g.stop != nil {
		g.stop()
		<-g.done
		g.stop = nil
	}
	if g.r == nil || g.r.sim == nil {
		return nil
	}
	g.lock()
	defer g.unlock()
	return errors.Join(g.r.closeRig(), g.r.closeSerial(), g.r.sim.Err())
}

// lock takes the simulated machine and, live with -hal sim, brings its
// clock up to the wall clock before anything touches it. With -hal pins
// only the pump moves the clock (see pump).
func (g *Rig) lock() {
	g.mu.Lock()
	if !g.opts.Fast && g.r.rig == nil {
		g.r.clk.Set(g.wall.Now())
	}
}

// unlock releases the simulated machine and wakes the pump: a command may
// have scheduled something.
func (g *Rig) unlock() {
	g.mu.Unlock()
	if g.poke != nil {
		select {
		case g.poke <- struct{}{}:
		default:
		}
	}
}

// pump delivers the simulated machine's events to the loop as the wall
// clock reaches them, until ctx ends: on Devices.Events, or with do
// (-hal pins) in an act that hands each to the drivers on their pins.
func (g *Rig) pump(ctx context.Context, do func(context.Context, machine.ActFunc) (any, error)) {
	defer close(g.done)
	var evs []hal.Event
	m := g.r.sim
	for {
		now := g.wall.Now()
		if do != nil {
			// -hal pins: the drivers stamp what they report with the
			// simulated clock, so the machine's events are played on the
			// loop one by one, the clock following each (Runner.advance).
			// No lock: the pump waits for this act and other acts wait
			// their turn; the controller's device calls inside take it.
			if _, err := do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
				g.bind(c)
				return nil, g.r.advance(ctx, now)
			}); err != nil {
				if stopped(ctx, err) != nil {
					g.opts.Logger.Error("rig: drivers", "err", err)
				}
				return
			}
		} else {
			evs = g.due(evs[:0], now)
			for _, ev := range evs {
				select {
				case g.events <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
		g.mu.Lock()
		next, pending := m.NextAt()
		err := m.Err()
		g.mu.Unlock()
		if err != nil {
			g.opts.Logger.Error("simulated machine journal", "err", err)
			return
		}
		wait := time.Second
		if pending {
			wait = min(wait, max(next.Sub(now), 0))
		}
		t := g.wall.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-g.poke:
		case <-t.C():
		}
		t.Stop()
	}
}

// due pops the machine's events up to now (-hal sim) and appends them to
// evs.
func (g *Rig) due(evs []hal.Event, now time.Time) []hal.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.r.sim
	g.r.clk.Set(now)
	for {
		at, ok := m.NextAt()
		if !ok || at.After(now) {
			return evs
		}
		ev, cut, ok := m.Pop()
		if cut != sim.CutNone {
			g.opts.Logger.Warn("simulated power cut ignored on the live rig")
			m.PowerRestored()
		}
		if ok && ev.Kind != 0 {
			evs = append(evs, ev)
		}
	}
}

// bind points the runner at the loop's controller; acts only.
func (g *Rig) bind(c *machine.Controller) {
	g.r.ctrl = c
	g.r.opts.Catalog = c.Catalog()
}

// Run drives simulated customers and staff through do until ctx ends. On
// virtual time it then brings what is on its way to rest and lets an open
// session end, on the same virtual time.
func (g *Rig) Run(ctx context.Context, do func(context.Context, machine.ActFunc) (any, error)) error {
	var cu *Customers
	if _, err := do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		g.bind(c)
		g.ctrl = c // read by live, for the status only
		if g.opts.Customers {
			cu = NewCustomers(uint64(g.wall.Now().UnixNano()), c.Catalog())
			cu.MeanGap = g.opts.CustomerGap
		}
		return nil, nil
	}); err != nil {
		return stopped(ctx, err)
	}
	if g.opts.Fast {
		return g.fast(ctx, cu, do)
	}
	if g.r.rig != nil && g.stop == nil {
		g.startPump(do)
	}
	return g.live(ctx, cu, do)
}

// stopped turns the errors of a stop into nil.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, machine.ErrStopped) {
		return nil
	}
	return err
}

func (g *Rig) fast(ctx context.Context, cu *Customers, do func(context.Context, machine.ActFunc) (any, error)) error {
	at := g.r.clk.Now()
	for cu != nil && ctx.Err() == nil {
		_, err := do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
			g.bind(c)
			var st scenario.Step
			if slices.Contains(c.Status().Blocked, machine.BlockBagFull) {
				g.seals++
				st = scenario.Step{Op: scenario.OpBagExchange, Seal: fmt.Sprintf("%d%04d", at.UnixNano()/1e6, g.seals%10000), Staff: liveStaff}
			} else if st = cu.next(); st.Op == scenario.OpWait {
				st.Wait = 31 * time.Second
			}
			var err error
			at, err = g.r.step(ctx, st, at)
			return nil, err
		})
		if err != nil {
			if err := stopped(ctx, err); err != nil {
				return err
			}
			break
		}
	}
	<-ctx.Done()
	_, err := do(context.WithoutCancel(ctx), func(ctx context.Context, c *machine.Controller) (any, error) {
		g.bind(c)
		return nil, g.r.Drain(ctx)
	})
	if errors.Is(err, machine.ErrStopped) {
		return nil
	}
	return err
}

// live offers each customer's step when it is due (again every retry while
// the chute is busy) and has staff swap a bag that has been full for a
// while.
func (g *Rig) live(ctx context.Context, cu *Customers, do func(context.Context, machine.ActFunc) (any, error)) error {
	const retry = 100 * time.Millisecond
	var pending *scenario.Step
	var due, fullSince time.Time
	for {
		now := g.wall.Now()
		wait := time.Second
		if cu != nil {
			if pending == nil {
				st := cu.next()
				pending, due = &st, now.Add(st.Gap)
			}
			if !now.Before(due) {
				st := *pending
				v, err := do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
					g.bind(c)
					return g.liveStep(ctx, c, st), nil
				})
				if err != nil {
					return stopped(ctx, err)
				}
				if v.(bool) {
					pending = nil
					continue
				}
				wait = retry
			} else {
				wait = min(wait, due.Sub(now))
			}
		}
		if s := g.ctrl.Status(); s.Fault == "" && slices.Contains(s.Blocked, machine.BlockBagFull) {
			if fullSince.IsZero() {
				fullSince = now
			} else if now.Sub(fullSince) > 20*time.Second {
				if _, err := do(ctx, g.exchange); err != nil {
					return stopped(ctx, err)
				}
				fullSince = time.Time{}
			}
		}
		t := g.wall.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// exchange is staff swapping the full bag, once the machine is at rest.
func (g *Rig) exchange(ctx context.Context, c *machine.Controller) (any, error) {
	if !c.AtRest() {
		return nil, nil
	}
	g.seals++
	now := g.wall.Now()
	_, err := c.ExchangeBag(ctx, machine.BagExchange{
		Seal: fmt.Sprintf("%d%010d", now.Unix()%100000, g.seals), Staff: liveStaff,
		Swap: func() error { g.ExchangeBag(); return nil },
	})
	if err != nil {
		g.opts.Logger.Warn("bag exchange", "err", err)
	}
	return nil, nil
}

// liveStep tries a customer's step now, on the loop; false means "not yet"
// (the chute is busy, the belt is moving).
func (g *Rig) liveStep(ctx context.Context, c *machine.Controller, st scenario.Step) bool {
	busy := g.Busy()
	switch st.Op {
	case scenario.OpInsert:
		if busy {
			return false
		}
		if !c.IntakeOpen() {
			return true // refused at the chute; the customer leaves with it
		}
		g.lock()
		err := g.r.insert(ctx, st)
		g.unlock()
		if err != nil {
			g.opts.Logger.Warn("insert", "err", err)
		}
	case scenario.OpFinish:
		if !c.AtRest() || busy {
			return false
		}
		if err := c.Finish(ctx, st.Payout, st.Phone); err != nil {
			g.opts.Logger.Warn("finish", "err", err)
		}
	}
	return true
}

// liveStaff is the simulated staff member who swaps bags in live runs.
const liveStaff = "5b0c8e57-7d53-4a34-9f61-0c7a3f1e2d10"

// The live rig's devices: each call takes the simulated machine (see lock).
type (
	liveCell struct {
		g *Rig
		hal.LoadCell
	}
	liveMetal struct {
		g *Rig
		hal.MetalSensor
	}
	liveShape struct {
		g *Rig
		hal.ShapeSensor
	}
	liveConveyor struct {
		g *Rig
		hal.Conveyor
	}
	livePrinter struct {
		g *Rig
		hal.Printer
	}
)

func (d liveCell) ReadRaw() (int32, error) {
	d.g.lock()
	defer d.g.unlock()
	return d.LoadCell.ReadRaw()
}
func (d liveMetal) Metal() (bool, error) {
	d.g.lock()
	defer d.g.unlock()
	return d.MetalSensor.Metal()
}
func (d liveShape) Measure() (hal.Shape, error) {
	d.g.lock()
	defer d.g.unlock()
	return d.ShapeSensor.Measure()
}
func (d liveConveyor) Forward(limit time.Duration) error {
	d.g.lock()
	defer d.g.unlock()
	return d.Conveyor.Forward(limit)
}
func (d liveConveyor) Reverse(limit time.Duration) error {
	d.g.lock()
	defer d.g.unlock()
	return d.Conveyor.Reverse(limit)
}
func (d liveConveyor) Stop() error { d.g.lock(); defer d.g.unlock(); return d.Conveyor.Stop() }
func (d liveConveyor) Halt() error { d.g.lock(); defer d.g.unlock(); return d.Conveyor.Halt() }
func (d livePrinter) Print(t hal.Ticket) error {
	d.g.lock()
	defer d.g.unlock()
	return d.Printer.Print(t)
}
