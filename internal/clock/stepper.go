package clock

import (
	"slices"
	"sync"
	"time"
)

// Stepper is a [Fake] on which waiting takes no time: a timer or AfterFunc
// made on it fires at once, moving the fake time forward by its duration,
// and every such wait is recorded. It serves tests of code that waits in a
// loop (backoff, Retry-After, injected latency). Tickers are the Fake's:
// they fire only when the time is moved.
type Stepper struct {
	*Fake
	mu    sync.Mutex
	waits []time.Duration // Mutable, guarded by mu.
}

var _ Clock = (*Stepper)(nil)

// NewStepper returns a Stepper set to t.
func NewStepper(t time.Time) *Stepper { return &Stepper{Fake: NewFake(t)} }

func (s *Stepper) step(d time.Duration) {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	s.Fake.Advance(d)
}

// NewTimer returns a timer that has fired: the fake time moved by d.
func (s *Stepper) NewTimer(d time.Duration) Timer {
	t := s.Fake.NewTimer(d)
	s.step(d)
	return t
}

// AfterFunc calls f at once, the fake time moved by d.
func (s *Stepper) AfterFunc(d time.Duration, f func()) Timer {
	t := s.Fake.AfterFunc(d, f)
	s.step(d)
	return t
}

// Waits returns the durations of the timers made so far, in order.
func (s *Stepper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}
