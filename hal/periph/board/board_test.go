package board

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/barrier"
	"github.com/deposit-rvm/rvm/hal/periph/escpos/escpostest"
	"github.com/deposit-rvm/rvm/hal/periph/hx711"
	"github.com/deposit-rvm/rvm/hal/periph/scanner"
	"github.com/deposit-rvm/rvm/hal/periph/scanner/scannertest"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/backoff"
	"github.com/deposit-rvm/rvm/internal/testhal"
	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// bench is a board's pins and ports on the bench: gpiotest pins for the
// digital lines, simulated HX711 chips on the scales' pins, fake scanners
// and a fake printer on pseudo-terminals (the wiring's ports are replaced
// by theirs).
type bench struct {
	pins    map[string]*gpiotest.Pin
	chips   map[string]*sim.HX711 // by data pin
	fail    map[string]gpio.PinIO // pins that replace a gpiotest pin
	scanner *scannertest.Wire
	seal    *scannertest.Wire
	printer *escpostest.Printer
	w       Wiring
}

func newBench(t *testing.T, w Wiring) *bench {
	t.Helper()
	b := &bench{pins: map[string]*gpiotest.Pin{}, chips: map[string]*sim.HX711{}, fail: map[string]gpio.PinIO{}, w: w}
	dir := t.TempDir()
	var err error
	if b.scanner, err = scannertest.New(dir, "scanner"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.scanner.Close() })
	if b.seal, err = scannertest.New(dir, "seal-reader"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.seal.Close() })
	if b.printer, err = escpostest.New(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.printer.Close() })
	b.w.Scanner.Port, b.w.SealReader.Port, b.w.Printer.Port = b.scanner.Path(), b.seal.Path(), b.printer.Path()
	for i := range 28 {
		name := "GPIO" + strconv.Itoa(i)
		b.pins[name] = &gpiotest.Pin{N: name, Num: i, EdgesChan: make(chan gpio.Level, 1), Clock: clockwork.NewRealClock()}
	}
	raw := int32(18000)
	for _, s := range []Scale{w.ChamberScale, w.BagScale} {
		b.chips[s.Data] = sim.NewHX711(s.Data, func() int32 { raw += 3; return raw })
	}
	return b
}

func (b *bench) byName(name string) gpio.PinIO {
	if p, ok := b.fail[name]; ok {
		return p
	}
	for _, s := range []Scale{b.w.ChamberScale, b.w.BagScale} {
		if name == s.Data {
			return b.chips[s.Data].Data()
		}
		if name == s.Clock {
			return b.chips[s.Data].Clock()
		}
	}
	if p, ok := b.pins[name]; ok {
		return p
	}
	return nil
}

// set drives a line from outside, as a sensor does.
func (b *bench) set(name string, l gpio.Level) {
	testhal.SetPin(b.pins[name], l)
}

func (b *bench) opts() *Opts {
	return &Opts{
		ByName:  b.byName,
		Port:    func(string) error { return nil },
		Barrier: &barrier.Opts{Debounce: time.Millisecond, Poll: 5 * time.Millisecond},
		HX711:   &hx711.Opts{Gain: hx711.Gain128, Timeout: 200 * time.Millisecond},
		Scanner: &scanner.Opts{Reopen: backoff.Policy{Min: time.Millisecond, Max: 20 * time.Millisecond}},
	}
}

func parse(t *testing.T, raw string) Wiring {
	t.Helper()
	w, err := Parse(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return w
}

// openSmall opens small on a bench with the lines idle: beams intact
// (active low: high), no metal (NPN: high), door closed (low). The board
// is halted when the test ends.
func openSmall(t *testing.T) (*bench, *Board) {
	t.Helper()
	bn := newBench(t, parse(t, small))
	for _, p := range []string{"GPIO17", "GPIO27", "GPIO22", "GPIO23"} {
		bn.pins[p].L = gpio.High
	}
	b, err := Open(bn.w, bn.opts())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Halt() })
	return bn, b
}

func TestOpen(t *testing.T) {
	bn, b := openSmall(t)
	if b.Shape != nil || b.Gate != nil {
		t.Errorf("Open without shape and gate: Shape %v, Gate %v; want nil, nil", b.Shape, b.Gate)
	}
	bn.set("GPIO22", gpio.Low) // the exit beam breaks
	if ev := testhal.Recv(t, b.Events()); ev.Kind != hal.ExitBlocked {
		t.Errorf("exit beam broken: event %v; want %v", ev.Kind, hal.ExitBlocked)
	}
	bn.set("GPIO24", gpio.High) // the door opens
	if ev := testhal.Recv(t, b.Events()); ev.Kind != hal.DoorOpened {
		t.Errorf("door switch high: event %v; want %v", ev.Kind, hal.DoorOpened)
	}
	if m, _ := b.Metal.Metal(); m {
		t.Errorf("Metal() with the NPN line high = true; want false")
	}
	if v, err := b.Chamber.ReadRaw(); err != nil || v <= 18000 {
		t.Errorf("Chamber.ReadRaw() = %d, %v; want a conversion of the simulated chip", v, err)
	}
	if err := b.Conveyor.Forward(time.Hour); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if bn.pins["GPIO6"].Read() != gpio.High || bn.pins["GPIO5"].Read() != gpio.High {
		t.Errorf("running forward: enable %v, dir %v; want High, High", bn.pins["GPIO6"].Read(), bn.pins["GPIO5"].Read())
	}
	if err := b.Halt(); err != nil {
		t.Errorf("Halt: %v", err)
	}
	b.Halt() // idempotent
	if bn.pins["GPIO6"].Read() != gpio.Low {
		t.Errorf("enable after Halt = %v; want Low (the belt stopped)", bn.pins["GPIO6"].Read())
	}
	if err := b.Conveyor.Forward(time.Second); err == nil {
		t.Errorf("Forward after Halt = nil; want an error")
	}
}

func TestOpenFull(t *testing.T) {
	w, err := ParseFile("../../../docs/wiring.example.json")
	if err != nil {
		t.Fatal(err)
	}
	bn := newBench(t, w)
	b, err := Open(bn.w, bn.opts())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Halt()
	if b.Shape == nil || b.Gate == nil {
		t.Fatalf("Open with shape and gate: Shape %v, Gate %v; want both", b.Shape, b.Gate)
	}
	// The curtain is active low, on pull-ups: every beam intact.
	if s, err := b.Shape.Measure(); err != nil || s.Height != 0 || s.Diameter != 0 {
		t.Errorf("Measure() with every beam intact = %+v, %v; want zero", s, err)
	}
	for _, p := range append(append([]string(nil), w.Shape.Height...), w.Shape.Width...) {
		bn.set(p, gpio.Low)
	}
	s, err := b.Shape.Measure()
	if err != nil || s.Height == 0 || s.Diameter == 0 {
		t.Errorf("Measure() with every beam broken = %+v, %v; want a shape", s, err)
	}
}

// failPin fails every In and Out.
type failPin struct{ *gpiotest.Pin }

func (failPin) In(gpio.Pull, gpio.Edge) error { return errors.New("EIO") }
func (failPin) Out(gpio.Level) error          { return errors.New("EIO") }

// Open fails at once with the key and the pin or port, and never leaves
// anything half open.
func TestOpenErrors(t *testing.T) {
	w := parse(t, small)
	t.Run("missing pin", func(t *testing.T) {
		bn := newBench(t, w)
		delete(bn.pins, "GPIO6")
		_, err := Open(bn.w, bn.opts())
		want := "board: no such pin: pins.conveyor.enable: GPIO6 not found (no GPIO chip on this machine?)"
		if !errors.Is(err, ErrNoPin) || err.Error() != want {
			t.Errorf("Open without GPIO6 = %v; want %q", err, want)
		}
		// Every pin is looked up before any is touched.
		if p := bn.pins["GPIO17"]; p.P != gpio.PullNoChange || len(p.EdgesChan) != 0 {
			t.Errorf("GPIO17 was configured before the missing pin was found")
		}
	})
	t.Run("missing printer", func(t *testing.T) {
		bn := newBench(t, w)
		o := bn.opts()
		o.Port = func(p string) error {
			if p == bn.w.Printer.Port {
				return os.ErrNotExist
			}
			return nil
		}
		_, err := Open(bn.w, o)
		want := "board: no such port: pins.printer.port " + bn.w.Printer.Port + ": file does not exist"
		if !errors.Is(err, ErrNoPort) || err.Error() != want {
			t.Errorf("Open without the printer = %v; want %q", err, want)
		}
	})
	t.Run("printer port is not a serial port", func(t *testing.T) {
		bn := newBench(t, w)
		bn.w.Printer.Port = t.TempDir()
		_, err := Open(bn.w, bn.opts())
		want := "board: pins.printer.port " + bn.w.Printer.Port + ": "
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Open with a directory for the printer = %v; want %q...", err, want)
		}
		// Nothing was driven: the metal sensor's pull-up was never set.
		if p := bn.pins["GPIO23"]; p.P != gpio.PullNoChange {
			t.Errorf("GPIO23 configured (pull %v) before the printer's port failed", p.P)
		}
	})
	t.Run("driver fails", func(t *testing.T) {
		bn := newBench(t, w)
		bn.fail["GPIO26"] = failPin{&gpiotest.Pin{N: "GPIO26", Num: 26}}
		_, err := Open(bn.w, bn.opts())
		want := "board: pins.bagScale GPIO19/GPIO26: hx711: clock pin GPIO26(26): EIO"
		if err == nil || err.Error() != want {
			t.Errorf("Open with a broken GPIO26 = %v; want %q", err, want)
		}
		// What was opened before is halted: the chamber scale powered
		// down (clock high), the belt disabled.
		if l := bn.chips["GPIO20"].Clock().Read(); l != gpio.High {
			t.Errorf("chamber scale clock after the failed Open = %v; want High (halted)", l)
		}
		if l := bn.pins["GPIO6"].Read(); l != gpio.Low {
			t.Errorf("conveyor enable after the failed Open = %v; want Low", l)
		}
	})
}

// On a machine without a GPIO chip (this build machine, CI) Open says so
// at once.
func TestOpenNoChip(t *testing.T) {
	if _, err := os.Stat("/dev/gpiochip0"); err == nil {
		t.Skip("this machine has a GPIO chip")
	}
	w := parse(t, small)
	_, err := Open(w, &Opts{Port: func(string) error { return nil }})
	want := "board: no such pin: pins.entry.pin: GPIO17 not found (no GPIO chip on this machine?)"
	if err == nil || err.Error() != want {
		t.Errorf("Open on a machine without GPIO = %v; want %q", err, want)
	}
	_, err = Open(w, nil)
	want = "board: no such port: pins.printer.port /dev/ttyUSB0: stat /dev/ttyUSB0: no such file or directory"
	if _, statErr := os.Stat("/dev/ttyUSB0"); statErr == nil {
		t.Skip("this machine has /dev/ttyUSB0")
	}
	if err == nil || err.Error() != want {
		t.Errorf("Open without the printer's port = %v; want %q", err, want)
	}
}

// The self-test on the bench: the bench plays the technician, acting on
// each prompt.
func TestSelfTest(t *testing.T) {
	bn, b := openSmall(t)
	var prompts []string
	toggle := map[string]struct {
		pin     string
		on, off gpio.Level
	}{
		"entry": {"GPIO17", gpio.Low, gpio.High}, "chamber": {"GPIO27", gpio.Low, gpio.High},
		"exit": {"GPIO22", gpio.Low, gpio.High}, "door": {"GPIO24", gpio.High, gpio.Low},
		"metal": {"GPIO23", gpio.Low, gpio.High},
	}
	prompt := func(key, text string) {
		prompts = append(prompts, key)
		if key == "chamber" {
			return // nobody breaks the chamber beam: that check fails
		}
		if tg, ok := toggle[key]; ok {
			go func() {
				bn.set(tg.pin, tg.on)
				// As long as a hand breaks a beam: far longer than the
				// debounce and the metal poll, so that a driver goroutine
				// held off the CPU for a while (-race on a loaded runner:
				// the entry check once saw no change) still sees it.
				time.Sleep(200 * time.Millisecond)
				bn.set(tg.pin, tg.off)
			}()
		}
		switch key {
		case "scanner":
			bn.scanner.Send("]E05901234123457\r\n")
		case "sealReader":
			bn.seal.Send("017824770475060\r\n")
		}
	}
	r := SelfTest(context.Background(), b, &CheckOpts{Wait: 2 * time.Second, Run: 20 * time.Millisecond, Reads: 5, Prompt: prompt})
	got := map[string]Check{}
	for _, c := range r.Checks {
		got[c.Key] = c
	}
	want := map[string]Status{
		"entry": StatusOK, "chamber": StatusFail, "exit": StatusOK, "door": StatusOK, "metal": StatusOK,
		"conveyor": StatusOK, "chamberScale": StatusOK, "bagScale": StatusOK, "shape": StatusSkipped,
		"scanner": StatusOK, "sealReader": StatusOK, "printer": StatusOK,
	}
	for k, st := range want {
		if got[k].Status != st {
			t.Errorf("check %s = %s (%s); want %s", k, got[k].Status, got[k].Detail, st)
		}
	}
	if len(r.Checks) != len(want) || r.OK {
		t.Errorf("report: %d checks, ok %t; want %d, false (the chamber barrier never changed)", len(r.Checks), r.OK, len(want))
	}
	details := map[string]string{
		"chamber":    "no change within 2s (cleared now)",
		"scanner":    "read 5901234123457 (EAN-13)",
		"sealReader": "read seal 017824770475060",
		"printer":    "answers; paper loaded, cover closed",
	}
	for k, d := range details {
		if got[k].Detail != d {
			t.Errorf("%s detail %q; want %q", k, got[k].Detail, d)
		}
	}
	if s := got["chamberScale"].Scale; s == nil || s.Reads != 5 || s.Errors != 0 || s.Spread <= 0 || s.Median <= 18000 {
		t.Errorf("chamber scale stats %+v; want 5 good reads with a spread", s)
	}
	var text strings.Builder
	r.WriteText(&text)
	if !regexp.MustCompile(`(?m)^FAIL +chamber barrier +GPIO27 +no change`).MatchString(text.String()) || !strings.HasSuffix(text.String(), "FAIL: 12 checks, 1 failed\n") {
		t.Errorf("text report:\n%s\nwant a FAIL line for the chamber barrier and the verdict", text.String())
	}
	var js strings.Builder
	r.WriteJSON(&js)
	var back Report
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil || len(back.Checks) != len(r.Checks) {
		t.Errorf("JSON report does not read back: %v\n%s", err, js.String())
	}
}

// A saturated cell and a missing chip are reported, not hidden.
func TestSelfTestScales(t *testing.T) {
	w := parse(t, small)
	bn := newBench(t, w)
	bn.chips["GPIO20"] = sim.NewHX711("GPIO20", func() int32 { return 0x7FFFFF })
	bn.chips["GPIO19"].SetMissing(true)
	b, err := Open(bn.w, bn.opts())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Halt()
	tst := tester{ctx: context.Background(), b: b, o: CheckOpts{Reads: 3}}
	c := tst.scale("chamberScale", "chamber scale", w.ChamberScale, b.Chamber)
	if c.Status != StatusFail || c.Scale.Saturated != 3 || !strings.Contains(c.Detail, "saturated: the cell is overloaded") {
		t.Errorf("saturated chamber scale: %s %q; want fail, 3 saturated", c.Status, c.Detail)
	}
	c = tst.scale("bagScale", "bag scale", w.BagScale, b.Bag)
	if c.Status != StatusFail || c.Scale.Errors != 3 || !strings.Contains(c.Detail, "hx711: timeout waiting for data ready") {
		t.Errorf("missing bag scale chip: %s %q; want fail, 3 errors, a timeout", c.Status, c.Detail)
	}
}
