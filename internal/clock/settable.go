package clock

import "time"

// Settable is a clock whose Now stands where its owner puts it, as a
// [Fake]'s (NewSettable, Advance, Set), while its timers, tickers and
// AfterFunc callbacks are the [Real] ones. It serves tests of code that
// polls in real time but keeps business time (leases, validity periods,
// Retry-After) on the clock: moving the time makes what is due seen at the
// next real poll. A Fake's Next is always false on it.
type Settable struct {
	*Fake
}

var _ Clock = (*Settable)(nil)

// NewSettable returns a Settable clock set to t.
func NewSettable(t time.Time) *Settable { return &Settable{Fake: NewFake(t)} }

// NewTimer is Real's.
func (s *Settable) NewTimer(d time.Duration) Timer { return Real{}.NewTimer(d) }

// NewTicker is Real's.
func (s *Settable) NewTicker(d time.Duration) Ticker { return Real{}.NewTicker(d) }

// AfterFunc is Real's.
func (s *Settable) AfterFunc(d time.Duration, f func()) Timer { return Real{}.AfterFunc(d, f) }
