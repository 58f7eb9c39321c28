package hx711

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// fakeHX711 answers clock pulses the way the chip does, from a list of
// conversions. Its time is fake: every look at the clock moves it 100 ns,
// a conversion takes 12.5 ms, and waiting with nothing to convert moves it
// by the whole timeout.
type fakeHX711 struct {
	mu        sync.Mutex
	convs     []uint32 // conversions still to make
	cur       bool     // a conversion is ready or being shifted out
	bits      uint32
	pulses    int
	total     int // pulses since the start
	dout, clk gpio.Level
	now       time.Time
	stretchAt int      // the total pulse count whose high phase lasts 70 us
	seen      []int    // pulses per conversion shifted out
	block     bool     // with nothing to convert, WaitForEdge waits in real time
	waiting   chan int // told about each WaitForEdge, if set
	noEdges   bool     // the data pin has no edge detection
	sleeps    int      // calls to the poll fallback's sleep
	clkOuts   []gpio.Level
	glitches  int         // spurious edges: WaitForEdge wakes with DOUT still high
	stuck     *gpio.Level // the data line reads this whatever the chip does
}

func newFakeHX711(convs ...uint32) *fakeHX711 {
	return &fakeHX711{convs: convs, dout: gpio.High, now: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)}
}

func (f *fakeHX711) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(100 * time.Nanosecond)
	return f.now
}

// finish ends a conversion that was shifted out: DOUT high until the next.
func (f *fakeHX711) finish() {
	if f.cur && f.pulses > 0 {
		f.seen = append(f.seen, f.pulses)
		f.cur = false
		f.dout = gpio.High
	}
}

// next makes the next conversion ready, if there is one and the chip runs.
func (f *fakeHX711) next() bool {
	f.finish()
	if f.cur || len(f.convs) == 0 || f.clk == gpio.High {
		return f.cur
	}
	f.cur, f.bits, f.pulses = true, f.convs[0], 0
	f.convs = f.convs[1:]
	f.dout = gpio.Low
	f.now = f.now.Add(12500 * time.Microsecond)
	return true
}

func (f *fakeHX711) devWith(t *testing.T, opts *Opts) *Dev {
	t.Helper()
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	o.Clock = f
	d, err := New(hxClock{f}, hxData{f}, &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// The fake chip is the driver's clock: time moves 100 ns at each look and
// the poll fallback's sleep lets the next conversion come.
var _ clock.Clock = (*fakeHX711)(nil)

func (f *fakeHX711) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

func (f *fakeHX711) NewTimer(time.Duration) clock.Timer {
	f.mu.Lock()
	f.sleeps++
	f.next()
	now := f.now
	f.mu.Unlock()
	return clock.NewFake(now).NewTimer(0) // fired
}

func (f *fakeHX711) NewTicker(time.Duration) clock.Ticker { panic("hx711 test: no ticker") }

func (f *fakeHX711) AfterFunc(time.Duration, func()) clock.Timer {
	panic("hx711 test: no AfterFunc")
}

type hxClock struct{ f *fakeHX711 }

func (p hxClock) String() string                        { return "SCK" }
func (p hxClock) Halt() error                           { return nil }
func (p hxClock) Name() string                          { return "SCK" }
func (p hxClock) Number() int                           { return 5 }
func (p hxClock) Function() string                      { return "Out" }
func (p hxClock) PWM(gpio.Duty, physic.Frequency) error { return errors.New("fake: no PWM") }

func (p hxClock) Out(l gpio.Level) error {
	f := p.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clkOuts = append(f.clkOuts, l)
	if l == f.clk {
		return nil
	}
	f.clk = l
	if l == gpio.Low {
		return nil
	}
	f.total++
	if f.total == f.stretchAt {
		f.now = f.now.Add(70 * time.Microsecond)
	}
	if !f.cur {
		return nil
	}
	f.pulses++
	if f.pulses <= 24 {
		f.dout = gpio.Level(f.bits>>(24-f.pulses)&1 == 1)
	} else {
		f.dout = gpio.High
	}
	return nil
}

type hxData struct{ f *fakeHX711 }

func (p hxData) String() string         { return "DOUT" }
func (p hxData) Halt() error            { return nil }
func (p hxData) Name() string           { return "DOUT" }
func (p hxData) Number() int            { return 6 }
func (p hxData) Function() string       { return "In" }
func (p hxData) Pull() gpio.Pull        { return gpio.PullNoChange }
func (p hxData) DefaultPull() gpio.Pull { return gpio.PullNoChange }

func (p hxData) In(pull gpio.Pull, edge gpio.Edge) error {
	if p.f.noEdges && edge != gpio.NoEdge {
		return errors.New("fake: no edge detection")
	}
	return nil
}

func (p hxData) Read() gpio.Level {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	if p.f.stuck != nil {
		return *p.f.stuck
	}
	return p.f.dout
}

func (p hxData) WaitForEdge(timeout time.Duration) bool {
	f := p.f
	if timeout < 0 {
		panic("WaitForEdge(-1): times out at once on gpioioctl")
	}
	f.mu.Lock()
	if f.glitches > 0 {
		f.glitches--
		f.now = f.now.Add(time.Millisecond)
		f.mu.Unlock()
		return true
	}
	if f.next() {
		f.mu.Unlock()
		return true
	}
	block, waiting := f.block, f.waiting
	if !block {
		f.now = f.now.Add(timeout)
	}
	f.mu.Unlock()
	if waiting != nil {
		select {
		case waiting <- 1:
		default:
		}
	}
	if block {
		time.Sleep(min(timeout, time.Millisecond))
	}
	return false
}

var (
	_ gpio.PinOut = hxClock{}
	_ gpio.PinIn  = hxData{}
)

type transcriptConv struct {
	line    int
	bits    uint32
	pulses  int
	discard bool
	raw     int32
}

type transcriptSection struct {
	gain  Gain
	convs []transcriptConv
}

func readTranscript(t *testing.T) []transcriptSection {
	t.Helper()
	f, err := os.Open("testdata/hx711-transcript.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []transcriptSection
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var g int
		if _, err := fmt.Sscanf(line, "gain %d", &g); err == nil {
			out = append(out, transcriptSection{gain: Gain(g)})
			continue
		}
		var bits, raw string
		c := transcriptConv{line: n}
		if _, err := fmt.Sscanf(line, "bits %s pulses %d raw %s", &bits, &c.pulses, &raw); err != nil || len(bits) != 24 || len(out) == 0 {
			t.Fatalf("transcript line %d: %q: %v", n, line, err)
		}
		b, err := strconv.ParseUint(bits, 2, 32)
		if err != nil {
			t.Fatalf("transcript line %d: %v", n, err)
		}
		c.bits = uint32(b)
		if raw == "discard" {
			c.discard = true
		} else {
			r, err := strconv.ParseInt(raw, 10, 32)
			if err != nil {
				t.Fatalf("transcript line %d: %v", n, err)
			}
			c.raw = int32(r)
		}
		out[len(out)-1].convs = append(out[len(out)-1].convs, c)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHX711Transcript(t *testing.T) {
	sections := readTranscript(t)
	if len(sections) != 3 {
		t.Fatalf("transcript has %d sections; want one per gain", len(sections))
	}
	for _, sec := range sections {
		var bits []uint32
		var want []transcriptConv
		for _, c := range sec.convs {
			bits = append(bits, c.bits)
			if !c.discard {
				want = append(want, c)
			}
		}
		f := newFakeHX711(bits...)
		d := f.devWith(t, &Opts{Gain: sec.gain})
		for _, c := range want {
			got, err := d.ReadRaw()
			if err != nil || got != c.raw {
				t.Errorf("gain %d, line %d: ReadRaw() = %d, %v; want %d, nil", sec.gain, c.line, got, err, c.raw)
			}
		}
		if _, err := d.ReadRaw(); !errors.Is(err, ErrTimeout) {
			t.Errorf("gain %d: ReadRaw() past the transcript = %v; want %v", sec.gain, err, ErrTimeout)
		}
		f.mu.Lock()
		for i, c := range sec.convs {
			if i >= len(f.seen) {
				t.Errorf("gain %d, line %d: conversion never shifted out", sec.gain, c.line)
				continue
			}
			if f.seen[i] != c.pulses {
				t.Errorf("gain %d, line %d: %d clock pulses; want %d", sec.gain, c.line, f.seen[i], c.pulses)
			}
		}
		f.mu.Unlock()
	}
}

func TestHX711Timeout(t *testing.T) {
	f := newFakeHX711()
	d := f.devWith(t, &Opts{Gain: Gain128, Timeout: 300 * time.Millisecond, Poll: 50 * time.Millisecond})
	_, err := d.ReadRaw()
	if !errors.Is(err, ErrTimeout) || err.Error() != "hx711: timeout waiting for data ready" {
		t.Errorf("ReadRaw() with no conversion = %v; want %v", err, ErrTimeout)
	}
}

func TestHX711NoEdgeDetection(t *testing.T) {
	f := newFakeHX711(0, 42)
	f.noEdges = true
	d := f.devWith(t, nil)
	if got, err := d.ReadRaw(); err != nil || got != 42 {
		t.Errorf("ReadRaw() by polling = %d, %v; want 42, nil", got, err)
	}
	if f.sleeps == 0 {
		t.Errorf("ReadRaw() without edge detection never polled")
	}
}

// A clock pulse that ran over 60 us may have powered the chip down mid-read:
// that conversion and the next (made at the power-on gain) are thrown away.
func TestHX711ClockStretch(t *testing.T) {
	f := newFakeHX711(1, 100, 200, 300, 400)
	f.stretchAt = 25 + 10 // the tenth pulse of the second conversion
	d := f.devWith(t, nil)
	// 1 primes, 100 is stretched, 200 primes again.
	if got, err := d.ReadRaw(); err != nil || got != 300 {
		t.Errorf("ReadRaw() after a stretched pulse = %d, %v; want 300, nil", got, err)
	}
	if got, err := d.ReadRaw(); err != nil || got != 400 {
		t.Errorf("next ReadRaw() = %d, %v; want 400, nil", got, err)
	}
}

func TestHX711Halt(t *testing.T) {
	f := newFakeHX711()
	f.block = true
	f.waiting = make(chan int, 1)
	d := f.devWith(t, &Opts{Gain: Gain128, Timeout: time.Hour, Poll: 5 * time.Millisecond})
	errc := make(chan error)
	go func() {
		_, err := d.ReadRaw()
		errc <- err
	}()
	<-f.waiting // ReadRaw is waiting for data ready
	if err := d.Halt(); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := <-errc; !errors.Is(err, ErrHalted) {
		t.Errorf("ReadRaw() interrupted by Halt = %v; want %v", err, ErrHalted)
	}
	f.mu.Lock()
	if f.clk != gpio.High {
		t.Errorf("clock after Halt = %v; want High (powered down)", f.clk)
	}
	// A later read powers the chip up and throws the first conversion away.
	f.block, f.convs = false, []uint32{7, 8}
	f.mu.Unlock()
	if got, err := d.ReadRaw(); err != nil || got != 8 {
		t.Errorf("ReadRaw() after Halt = %d, %v; want 8, nil", got, err)
	}
}

func TestHX711New(t *testing.T) {
	f := newFakeHX711()
	if _, err := New(hxClock{f}, hxData{f}, &Opts{Gain: 100}); err == nil {
		t.Errorf("New(gain 100) = nil error; want an error")
	}
	if _, err := New(hxClock{f}, hxData{f}, &Opts{Gain: Gain64, ClockHalf: -1}); err == nil {
		t.Errorf("New(negative ClockHalf) = nil error; want an error")
	}
	d := f.devWith(t, &Opts{Gain: Gain32})
	if got, want := d.String(), "HX711{SCK, DOUT, gain 32}"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	if len(f.clkOuts) == 0 || f.clkOuts[0] != gpio.Low {
		t.Errorf("New drove the clock %v; want Low first (the chip runs)", f.clkOuts)
	}
}

// Spurious edges on the data line (noise on a long cable) wake the wait
// without a conversion: the driver reads the level again and goes on
// waiting, and reads the conversion that does come.
func TestHX711Glitches(t *testing.T) {
	f := newFakeHX711(0, 4242)
	f.glitches = 5
	d := f.devWith(t, nil)
	if got, err := d.ReadRaw(); err != nil || got != 4242 {
		t.Errorf("ReadRaw() after 5 spurious edges = %d, %v; want 4242, nil", got, err)
	}
}

// Readings at the rails come back as they are (calib.Saturated tells them).
func TestHX711Saturation(t *testing.T) {
	tests := []struct {
		bits uint32
		raw  int32
	}{
		{0x7FFFFF, 8388607},
		{0x800000, -8388608},
		{0x7FFFFE, 8388606},
		{0x800001, -8388607},
		{0, 0},
	}
	for _, tt := range tests {
		f := newFakeHX711(0, tt.bits)
		d := f.devWith(t, nil)
		got, err := d.ReadRaw()
		if err != nil || got != tt.raw {
			t.Errorf("ReadRaw() of %06x = %d, %v; want %d, nil", tt.bits, got, err, tt.raw)
		}
	}
}

// A data line stuck low (shorted, or no chip on a pulled-down line) looks
// ready at once and shifts out zeros, but stays low after the last pulse,
// where the chip would have pulled it high.
func TestHX711StuckLow(t *testing.T) {
	low := gpio.Low
	f := newFakeHX711()
	f.stuck = &low
	d := f.devWith(t, nil)
	_, err := d.ReadRaw()
	if !errors.Is(err, ErrStuck) || err.Error() != "hx711: data line stuck low (DOUT)" {
		t.Errorf("ReadRaw() on a line stuck low = %v; want %v (DOUT)", err, ErrStuck)
	}
}

// With no chip on a pulled-up line (or a line stuck high) no conversion is
// ever ready: the read gives up at its timeout.
func TestHX711MissingChip(t *testing.T) {
	high := gpio.High
	f := newFakeHX711()
	f.stuck = &high
	d := f.devWith(t, &Opts{Gain: Gain128, Timeout: 300 * time.Millisecond})
	if _, err := d.ReadRaw(); !errors.Is(err, ErrTimeout) {
		t.Errorf("ReadRaw() with no chip = %v; want %v", err, ErrTimeout)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 0 {
		t.Errorf("clocked %v pulses into a missing chip; want none", f.seen)
	}
}
