package periph

import (
	"errors"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// fakePin is a gpio.PinIO for tests. (periph's gpiotest needs
// github.com/jonboulle/clockwork, which is not in this module's go.sum.)
type fakePin struct {
	name    string
	noEdges bool // In with an edge fails, like a driver without edge detection
	outErr  error

	mu    sync.Mutex
	level gpio.Level
	edge  gpio.Edge
	edges chan struct{} // a level change wakes WaitForEdge
	onOut func(gpio.Level)
	waits int
}

func newFakePin(name string, l gpio.Level) *fakePin {
	return &fakePin{name: name, level: l, edges: make(chan struct{}, 1)}
}

func (p *fakePin) String() string   { return p.name }
func (p *fakePin) Halt() error      { return nil }
func (p *fakePin) Name() string     { return p.name }
func (p *fakePin) Number() int      { return -1 }
func (p *fakePin) Function() string { return "" }

func (p *fakePin) In(pull gpio.Pull, edge gpio.Edge) error {
	if p.noEdges && edge != gpio.NoEdge {
		return errors.New("fake: no edge detection")
	}
	p.mu.Lock()
	p.edge = edge
	p.mu.Unlock()
	return nil
}

func (p *fakePin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

// WaitForEdge waits in real time: only the switch tests use it, with short
// polls, and none asserts on timing.
func (p *fakePin) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	p.waits++
	p.mu.Unlock()
	select {
	case <-p.edges:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (p *fakePin) Pull() gpio.Pull        { return gpio.PullNoChange }
func (p *fakePin) DefaultPull() gpio.Pull { return gpio.PullNoChange }

func (p *fakePin) Out(l gpio.Level) error {
	if p.outErr != nil {
		return p.outErr
	}
	p.set(l)
	p.mu.Lock()
	f := p.onOut
	p.mu.Unlock()
	if f != nil {
		f(l)
	}
	return nil
}

func (p *fakePin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("fake: no PWM") }

// set drives the pin's level from outside, as the hardware would.
func (p *fakePin) set(l gpio.Level) {
	p.mu.Lock()
	changed := p.level != l
	p.level = l
	p.mu.Unlock()
	if changed {
		select {
		case p.edges <- struct{}{}:
		default:
		}
	}
}

var _ gpio.PinIO = (*fakePin)(nil)
