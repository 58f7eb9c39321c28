package backoff

import (
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	p := Policy{Min: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{60, time.Second},
	}
	for _, tt := range tests {
		if got := p.Ceiling(tt.n); got != tt.want {
			t.Errorf("Ceiling(%d) = %v; want %v", tt.n, got, tt.want)
		}
	}
	if got := (Policy{Min: time.Second, Max: time.Millisecond}).Ceiling(3); got != time.Second {
		t.Errorf("Ceiling with Max < Min = %v; want Min", got)
	}
}

func TestJitterBounds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		r    float64
		want time.Duration
	}{
		{time.Second, 0, 500 * time.Millisecond},
		{time.Second, 0.5, 750 * time.Millisecond},
		{time.Second, 0.999999999, time.Second - time.Nanosecond},
		{0, 0.5, 0},
		{-time.Second, 0.5, 0},
	}
	for _, tt := range tests {
		if got := Jitter(tt.d, tt.r); got != tt.want {
			t.Errorf("Jitter(%v, %v) = %v; want %v", tt.d, tt.r, got, tt.want)
		}
	}
	p := Policy{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for n := 1; n < 10; n++ {
		for i := 0; i < 100; i++ {
			w, c := p.Wait(n), p.Ceiling(n)
			if w < c/2 || w > c {
				t.Fatalf("Wait(%d) = %v; want within [%v, %v]", n, w, c/2, c)
			}
		}
	}
}

func TestWaitR(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		n        int
		r        float64
		min, max time.Duration
		want     time.Duration
	}{
		{1, 0, 100 * ms, 4000 * ms, 50 * ms},
		{1, 0.5, 100 * ms, 4000 * ms, 75 * ms},
		{2, 0, 100 * ms, 4000 * ms, 100 * ms},
		{3, 0.5, 100 * ms, 4000 * ms, 300 * ms},
		{6, 0, 100 * ms, 4000 * ms, 1600 * ms},
		{7, 0, 100 * ms, 4000 * ms, 2000 * ms}, // capped at max
		{1000, 1, 100 * ms, 4000 * ms, 4000 * ms},
		{5, 0.5, 100 * ms, 100 * ms, 75 * ms},
	}
	for _, tt := range tests {
		if got := (Policy{Min: tt.min, Max: tt.max}).WaitR(tt.n, tt.r); got != tt.want {
			t.Errorf("Policy{%[2]v, %[3]v}.WaitR(%[1]d, %[4]v) = %v; want %v", tt.n, tt.min, tt.max, tt.r, got, tt.want)
		}
	}
}
