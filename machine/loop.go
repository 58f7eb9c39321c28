package machine

import (
	"context"
	"errors"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// ActFunc is an operator act (a fleet command, a console request, staff at
// the machine) run on the loop between events. What it returns is handed
// back to the caller of [Loop.Do].
type ActFunc func(ctx context.Context, c *Controller) (any, error)

// ErrStopped is returned by [Loop.Do] once the loop has ended.
var ErrStopped = errors.New("machine: loop stopped")

// StopLimit bounds how long a stopping loop waits for a container on its
// way to come to rest before it gives up on finishing the session.
var StopLimit = 30 * time.Second

// Loop is the controller's event loop: the one goroutine that turns the
// devices' events, the controller's deadlines and operator acts into the
// state machine's events, for any set of devices.
type Loop struct {
	c      *Controller // Immutable.
	clk    clock.Clock // Immutable: the controller's clock.
	events <-chan hal.Event
	acts   chan act
	done   chan struct{}

	// Set by Beat before Run. Immutable while it runs.
	beatClk   clock.Clock
	beatEvery time.Duration
	beat      func(now time.Time)
}

type act struct {
	f   ActFunc
	res chan<- actResult
}

type actResult struct {
	v   any
	err error
}

// NewLoop returns the loop of c, reading c's [Devices.Events] and timing
// its deadlines on c's clock.
func NewLoop(c *Controller) *Loop {
	return &Loop{c: c, clk: c.opts.Clock, events: c.dev.Events, acts: make(chan act), done: make(chan struct{})}
}

// Beat makes Run call f, on the loop's goroutine, every period of clk,
// and once as it starts. Call it before Run. clk is the wall clock for
// systemd's watchdog even where the controller runs on simulated time.
// It is how the
// loop proves it is alive (systemd's watchdog, package sdnotify): f runs
// only between events, so a loop stuck in a device call or a deadlock stops
// beating, where a timer of its own would keep a dead loop looking alive.
func (l *Loop) Beat(clk clock.Clock, every time.Duration, f func(now time.Time)) {
	l.beatClk, l.beatEvery, l.beat = clk, every, f
}

// Controller is the loop's controller; call its methods only from acts.
func (l *Loop) Controller() *Controller { return l.c }

// Run runs the loop until ctx ends, then stops safely: it goes on handling
// events and deadlines until no container is on its way (at most
// [StopLimit]), finishes an open session with a voucher so the customer's
// credit is handed out, and returns. It returns early with the error of a
// controller that can no longer record money (a ledger failure).
func (l *Loop) Run(ctx context.Context) error {
	defer close(l.done)
	// Controller calls never see the stop: a ledger write cut short would
	// lose what the loop is there to keep.
	cctx := context.WithoutCancel(ctx)
	stop := ctx.Done()
	var (
		limit  <-chan time.Time
		timer  clock.Timer
		armed  time.Time
		timerC <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var beatC <-chan time.Time
	if l.beat != nil && l.beatEvery > 0 {
		tk := l.beatClk.NewTicker(l.beatEvery)
		defer tk.Stop()
		beatC = tk.C()
		l.beat(l.beatClk.Now())
	}
	for {
		if stop == nil && l.c.AtRest() {
			return l.finish(cctx)
		}
		if d := l.c.Deadline(); !d.Equal(armed) {
			if timer != nil {
				timer.Stop()
				timer, timerC = nil, nil
			}
			if armed = d; !d.IsZero() {
				timer = l.clk.NewTimer(d.Sub(l.clk.Now()))
				timerC = timer.C()
			}
		}
		var err error
		select {
		case <-stop:
			stop = nil
			lt := l.clk.NewTimer(StopLimit)
			defer lt.Stop()
			limit = lt.C()
		case <-limit:
			l.c.log.Error("loop stopped with a container on its way", "state", l.c.State())
			l.c.stopBelt()
			return nil
		case ev, ok := <-l.events:
			if !ok {
				l.events = nil // the devices are gone; deadlines still run
				continue
			}
			err = l.c.Handle(cctx, ev)
		case <-timerC:
			armed, timer, timerC = time.Time{}, nil, nil
			err = l.c.Tick(cctx)
		case a := <-l.acts:
			v, aerr := a.f(cctx, l.c)
			a.res <- actResult{v, aerr}
		case now := <-beatC:
			l.beat(now)
		}
		if err != nil {
			l.c.stopBelt()
			return err
		}
	}
}

// finish hands out the credit of a session still open at the stop.
func (l *Loop) finish(ctx context.Context) error {
	if !l.c.SessionOpen() {
		return nil
	}
	return l.c.Finish(ctx, PayoutVoucher, "")
}

// Do runs f on the loop, between events, and waits for it. It returns
// ctx.Err() if ctx ends first, and ErrStopped once the loop has ended.
func (l *Loop) Do(ctx context.Context, f ActFunc) (any, error) {
	res := make(chan actResult, 1)
	select {
	case l.acts <- act{f, res}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, ErrStopped
	}
	select {
	case r := <-res:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Done is closed when Run has returned.
func (l *Loop) Done() <-chan struct{} { return l.done }
