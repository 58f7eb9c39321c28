package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
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
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v; want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep with a cancelled context = %v; want context.Canceled", err)
	}
}
