package barrier

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
)

var _ conn.Resource = (*Dev)(nil)

// Opts configures a Dev.
type Opts struct {
	// Active and Inactive are the events reported when the input becomes
	// active (a beam broken, a door open) and inactive again.
	Active, Inactive hal.EventKind
	ActiveLow        bool      // active when the pin reads low (most light barriers)
	Pull             gpio.Pull // PullNoChange leaves the pin as it is
	// Debounce is how long a new level must hold before it counts.
	Debounce time.Duration
	// Poll is the longest single wait for an edge before the level is read
	// again, and so the longest Halt waits for the watcher to end.
	Poll time.Duration
	// Clock stamps the events (clock.Real if nil).
	Clock clock.Clock
	// Wait times the debounce and the polling (clock.Real if nil: lines
	// bounce in real time, whatever clock stamps the events); tests
	// substitute one that acts out a bounce.
	Wait clock.Clock
}

// DefaultOpts are the defaults for a zero field of Opts.
var DefaultOpts = Opts{Debounce: 5 * time.Millisecond, Poll: 100 * time.Millisecond}

// Dev watches one digital input (a light barrier, the door switch) and
// reports each debounced change as an event on a channel, until Halt.
type Dev struct {
	// Immutable.
	pin   gpio.PinIn
	opts  Opts
	edges bool
	out   chan<- hal.Event

	active atomic.Bool // the debounced state
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// New configures pin as an input with edge detection on both edges
// (falling back to polling where the driver has none), records its current
// state without reporting it, and starts watching. Events go to out; a
// send that nobody takes blocks the watcher until Halt.
func New(pin gpio.PinIn, opts *Opts, out chan<- hal.Event) (*Dev, error) {
	if opts == nil || opts.Active == 0 || opts.Inactive == 0 {
		return nil, errors.New("barrier: needs the events to report (Active, Inactive)")
	}
	if out == nil {
		return nil, errors.New("barrier: needs an event channel")
	}
	o := *opts
	if o.Debounce < 0 {
		return nil, fmt.Errorf("barrier: %s: negative debounce %v", pin, o.Debounce)
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultOpts.Debounce
	}
	if o.Poll <= 0 {
		o.Poll = DefaultOpts.Poll
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Wait == nil {
		o.Wait = clock.Real{}
	}
	s := &Dev{pin: pin, opts: o, edges: true, out: out, stop: make(chan struct{}), done: make(chan struct{})}
	if err := pin.In(o.Pull, gpio.BothEdges); err != nil {
		if err := pin.In(o.Pull, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("barrier: %s: %w", pin, err)
		}
		s.edges = false
	}
	s.active.Store(s.read())
	go s.watch()
	return s, nil
}

// String names the input by its pin and events.
func (s *Dev) String() string {
	return fmt.Sprintf("Barrier{%s, %v/%v}", s.pin, s.opts.Active, s.opts.Inactive)
}

// Active reports the debounced state: true while the beam is broken or the
// door open.
func (s *Dev) Active() bool { return s.active.Load() }

// Halt stops the watcher and returns once it has ended (within Opts.Poll
// plus one debounce). It is idempotent. The pin stays the caller's.
func (s *Dev) Halt() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Dev) read() bool { return (s.pin.Read() == gpio.High) != s.opts.ActiveLow }

func (s *Dev) watch() {
	defer close(s.done)
	state := s.active.Load()
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		if s.edges {
			// Never -1: on gpioioctl that times out at once. Whether an
			// edge came or not, the level is read: edges can be missed.
			s.pin.WaitForEdge(s.opts.Poll)
		} else {
			s.sleep(min(s.opts.Poll, 5*time.Millisecond))
		}
		lvl := s.read()
		if lvl == state {
			continue
		}
		s.sleep(s.opts.Debounce)
		if s.read() != lvl {
			continue // a bounce
		}
		state = lvl
		s.active.Store(lvl)
		ev := hal.Event{Kind: s.opts.Inactive, At: s.opts.Clock.Now()}
		if lvl {
			ev.Kind = s.opts.Active
		}
		select {
		case s.out <- ev:
		case <-s.stop:
			return
		}
	}
}

// sleep waits d on Opts.Wait.
func (s *Dev) sleep(d time.Duration) {
	t := s.opts.Wait.NewTimer(d)
	defer t.Stop()
	<-t.C()
}
