package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a clock that moves only when told to ([Fake.Advance],
// [Fake.Set]). Its timers, tickers and AfterFunc callbacks fire as the
// fake time passes their due time, in time order, each seeing [Fake.Now]
// at its due time. Channel sends never block (a tick not received is
// dropped, as with time.Ticker); AfterFunc callbacks run on the goroutine
// that moved the clock, after its lock is released. It is safe for
// concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer // Mutable, guarded by mu: the pending ones.
}

var _ Clock = (*Fake)(nil)

// NewFake returns a Fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns the fake time passed since t.
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// Advance moves the clock forward by d (never backwards: a negative d is
// ignored), firing what falls due.
func (f *Fake) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	f.Set(f.Now().Add(d))
}

// Set moves the clock to t if t is later than the current fake time,
// firing what falls due on the way.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		target := f.now
		if t.After(target) {
			target = t
		}
		if len(f.timers) == 0 || f.timers[0].when.After(target) {
			f.now = target
			f.mu.Unlock()
			return
		}
		ft := f.timers[0]
		f.timers = f.timers[1:]
		if ft.when.After(f.now) {
			f.now = ft.when
		}
		when := ft.when
		if ft.period > 0 {
			ft.when = ft.when.Add(ft.period)
			f.insert(ft)
		} else {
			ft.active = false
		}
		fn := ft.fn
		if ft.ch != nil {
			select {
			case ft.ch <- when:
			default:
			}
		}
		f.mu.Unlock()
		if fn != nil {
			fn()
		}
	}
}

// Next returns when the earliest pending timer or ticker fires, and false
// if none is pending.
func (f *Fake) Next() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.timers) == 0 {
		return time.Time{}, false
	}
	return f.timers[0].when, true
}

// insert adds ft in due order (after timers due at the same time). f.mu is held.
func (f *Fake) insert(ft *fakeTimer) {
	i := sort.Search(len(f.timers), func(i int) bool { return f.timers[i].when.After(ft.when) })
	f.timers = append(f.timers, nil)
	copy(f.timers[i+1:], f.timers[i:])
	f.timers[i] = ft
	ft.active = true
}

// remove takes ft out of the pending timers and reports whether it was
// there. f.mu is held.
func (f *Fake) remove(ft *fakeTimer) bool {
	for i, x := range f.timers {
		if x == ft {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			ft.active = false
			return true
		}
	}
	return false
}

func (f *Fake) newTimer(d, period time.Duration, fn func()) *fakeTimer {
	ft := &fakeTimer{f: f, period: period, fn: fn}
	if fn == nil {
		ft.ch = make(chan time.Time, 1)
	}
	f.mu.Lock()
	ft.when = f.now.Add(d)
	f.insert(ft)
	f.mu.Unlock()
	// A timer already due fires now, as a real one would at once.
	f.Set(f.Now())
	return ft
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) Timer { return f.newTimer(d, 0, nil) }

// NewTicker returns a ticker that fires every d of fake time.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	return fakeTicker{f.newTimer(d, d, nil)}
}

// AfterFunc calls fn when the fake time reaches Now()+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer { return f.newTimer(d, 0, fn) }

type fakeTimer struct {
	f      *Fake // Immutable.
	ch     chan time.Time
	fn     func()
	when   time.Time     // Mutable, guarded by f.mu.
	period time.Duration // Mutable, guarded by f.mu: tickers only.
	active bool          // Mutable, guarded by f.mu.
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.f.remove(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	was := t.f.remove(t)
	if t.ch != nil {
		select {
		case <-t.ch:
		default:
		}
	}
	t.when = t.f.now.Add(d)
	if t.period > 0 {
		t.period = d
	}
	t.f.insert(t)
	t.f.mu.Unlock()
	t.f.Set(t.f.Now())
	return was
}

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.ch }
func (k fakeTicker) Stop()               { k.t.Stop() }
func (k fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	k.t.f.mu.Lock()
	k.t.period = d
	k.t.f.mu.Unlock()
	k.t.Reset(d)
}
