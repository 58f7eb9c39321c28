package clock

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFake(t *testing.T) {
	f := NewFake(t0)
	f.Advance(time.Second)
	f.Advance(-time.Hour) // never backwards
	f.Set(t0)             // nor by Set
	if got := f.Now(); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("Now() = %v; want %v", got, t0.Add(time.Second))
	}
	f.Set(t0.Add(time.Minute))
	if got := f.Now(); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("Now() after Set = %v; want %v", got, t0.Add(time.Minute))
	}
	if got := f.Since(t0); got != time.Minute {
		t.Errorf("Since(t0) = %v; want %v", got, time.Minute)
	}
}

// fired returns what is waiting on c without blocking.
func fired(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeTimer(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		advance []time.Duration
		want    bool
	}{
		{"not yet", 2 * time.Second, []time.Duration{time.Second}, false},
		{"exactly due", 2 * time.Second, []time.Duration{2 * time.Second}, true},
		{"in two steps", 2 * time.Second, []time.Duration{time.Second, time.Second}, true},
		{"long past", time.Second, []time.Duration{time.Hour}, true},
		{"zero fires at once", 0, nil, true},
	}
	for _, tt := range tests {
		f := NewFake(t0)
		tm := f.NewTimer(tt.d)
		for _, a := range tt.advance {
			f.Advance(a)
		}
		v, ok := fired(tm.C())
		if ok != tt.want {
			t.Errorf("%s: NewTimer(%v) fired = %v; want %v", tt.name, tt.d, ok, tt.want)
		}
		if ok && !v.Equal(t0.Add(tt.d)) {
			t.Errorf("%s: NewTimer(%v) sent %v; want %v", tt.name, tt.d, v, t0.Add(tt.d))
		}
		if tm.Stop() {
			if tt.want {
				t.Errorf("%s: Stop() after firing = true; want false", tt.name)
			}
		} else if !tt.want {
			t.Errorf("%s: Stop() before firing = false; want true", tt.name)
		}
	}
}

func TestFakeTimerStopReset(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Errorf("Stop() of a pending timer = false; want true")
	}
	f.Advance(time.Hour)
	if _, ok := fired(tm.C()); ok {
		t.Errorf("a stopped timer fired")
	}
	if tm.Reset(time.Minute) {
		t.Errorf("Reset() of a stopped timer = true; want false")
	}
	f.Advance(59 * time.Second)
	if _, ok := fired(tm.C()); ok {
		t.Errorf("a reset timer fired early")
	}
	f.Advance(time.Second)
	if _, ok := fired(tm.C()); !ok {
		t.Errorf("a reset timer did not fire at its new time")
	}
	// Reset drops a value nobody received.
	tm.Reset(time.Second)
	f.Advance(time.Second)
	tm.Reset(time.Second)
	if _, ok := fired(tm.C()); ok {
		t.Errorf("Reset kept a stale value on C")
	}
}

func TestFakeTicker(t *testing.T) {
	f := NewFake(t0)
	tk := f.NewTicker(10 * time.Second)
	var got []time.Duration
	for i := 0; i < 5; i++ {
		f.Advance(7 * time.Second)
		if v, ok := fired(tk.C()); ok {
			got = append(got, v.Sub(t0))
		}
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("ticks every 10s seen at 7s steps = %v; want %v", got, want)
	}
	tk.Reset(time.Second)
	f.Advance(time.Second)
	if v, ok := fired(tk.C()); !ok || v.Sub(t0) != 36*time.Second {
		t.Errorf("tick after Reset(1s) = %v, %v; want 36s, true", v.Sub(t0), ok)
	}
	tk.Stop()
	f.Advance(time.Hour)
	if _, ok := fired(tk.C()); ok {
		t.Errorf("a stopped ticker ticked")
	}
}

func TestFakeAfterFunc(t *testing.T) {
	f := NewFake(t0)
	var order []string
	var seen []time.Duration
	f.AfterFunc(3*time.Second, func() { order = append(order, "c"); seen = append(seen, f.Since(t0)) })
	f.AfterFunc(time.Second, func() {
		order = append(order, "a")
		seen = append(seen, f.Since(t0))
		// A callback may schedule more; it runs in the same Advance if due.
		f.AfterFunc(time.Second, func() { order = append(order, "b"); seen = append(seen, f.Since(t0)) })
	})
	stopped := f.AfterFunc(2500*time.Millisecond, func() { order = append(order, "stopped") })
	stopped.Stop()
	if stopped.C() != nil {
		t.Errorf("AfterFunc timer C() = non-nil; want nil")
	}
	f.Advance(10 * time.Second)
	if want := []string{"a", "b", "c"}; !slices.Equal(order, want) {
		t.Errorf("AfterFunc order = %v; want %v", order, want)
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(seen, want) {
		t.Errorf("Now() seen by callbacks = %v; want %v", seen, want)
	}
	if got := f.Since(t0); got != 10*time.Second {
		t.Errorf("Since(t0) after Advance(10s) = %v; want 10s", got)
	}
	if _, ok := f.Next(); ok {
		t.Errorf("Next() after everything fired = true; want false")
	}
}

func TestReal(t *testing.T) {
	var c Clock = Real{}
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
	tk := c.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
	if c.Since(c.Now().Add(-time.Hour)) < time.Hour {
		t.Errorf("Real.Since an hour ago < 1h")
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), nil, time.Millisecond); err != nil {
		t.Errorf("Sleep = %v; want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, Real{}, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep with a cancelled context = %v; want context.Canceled", err)
	}
	f := NewFake(t0)
	done := make(chan error)
	go func() { done <- Sleep(context.Background(), f, time.Minute) }()
	for {
		if _, ok := f.Next(); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	f.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Errorf("Sleep on a fake clock advanced past it = %v; want nil", err)
	}
}

func TestStepper(t *testing.T) {
	s := NewStepper(t0)
	for _, d := range []time.Duration{time.Second, 3 * time.Second} {
		if err := Sleep(context.Background(), s, d); err != nil {
			t.Errorf("Sleep(%v) on a Stepper = %v; want nil", d, err)
		}
	}
	called := false
	s.AfterFunc(time.Minute, func() { called = true })
	if !called {
		t.Errorf("AfterFunc on a Stepper did not call at once")
	}
	if want := []time.Duration{time.Second, 3 * time.Second, time.Minute}; !slices.Equal(s.Waits(), want) {
		t.Errorf("Waits() = %v; want %v", s.Waits(), want)
	}
	if got := s.Since(t0); got != time.Minute+4*time.Second {
		t.Errorf("Since(t0) = %v; want 1m4s", got)
	}
}

func TestSettable(t *testing.T) {
	s := NewSettable(t0)
	tm := s.NewTimer(time.Hour)
	s.Advance(2 * time.Hour)
	if _, ok := fired(tm.C()); ok {
		t.Errorf("Settable timer of 1h fired when Now moved 2h; want real time only")
	}
	if !tm.Stop() {
		t.Errorf("Stop() of a pending Settable timer = false; want true")
	}
	if got := s.Now(); !got.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("Now() after Advance(2h) = %v; want %v", got, t0.Add(2*time.Hour))
	}
	// Real timers: a short one fires without the time being moved.
	before := s.Now()
	<-s.NewTimer(time.Millisecond).C()
	tk := s.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
	done := make(chan struct{})
	s.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
	if got := s.Now(); !got.Equal(before) {
		t.Errorf("Now() after real waits = %v; want %v (it stands still)", got, before)
	}
	s.Set(t0.Add(3 * time.Hour))
	if got := s.Since(t0); got != 3*time.Hour {
		t.Errorf("Since(t0) after Set = %v; want 3h", got)
	}
	if _, ok := s.Next(); ok {
		t.Errorf("Next() on a Settable = true; want false")
	}
}
