package board

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/scanner"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// CheckOpts configures SelfTest.
type CheckOpts struct {
	// Wait bounds each step that waits for the technician (a barrier to be
	// broken and cleared, the door opened and closed, a can held to the
	// metal sensor, a code scanned). Default 30 s.
	Wait time.Duration
	// Run is how long the conveyor runs each way; it is the run's dead-man
	// limit, and the check is that the belt stops by itself. Default 500 ms.
	Run time.Duration
	// Reads is the number of conversions read from each scale. Default 10.
	Reads int
	// Prompt tells the technician what to do next; key names the device
	// ("entry", "metal", "scanner", ...). Nil says nothing. The rig acts
	// on it.
	Prompt func(key, text string)
	// Clock times the steps (clock.Real if nil: the technician acts in
	// real time, whatever clock the board runs on).
	Clock clock.Clock
}

// Status is a check's outcome.
type Status string

// Outcomes.
const (
	StatusOK      Status = "ok"
	StatusFail    Status = "fail"
	StatusSkipped Status = "skipped"
)

// Check is one device's outcome.
type Check struct {
	Key    string      `json:"key"`    // the wiring key: "entry", "chamberScale"
	Device string      `json:"device"` // what a technician calls it
	Pins   string      `json:"pins"`   // its pins or port
	Status Status      `json:"status"`
	Detail string      `json:"detail"`
	Scale  *ScaleStats `json:"scale,omitempty"`
}

// ScaleStats is what N reads of a load cell showed, in raw counts.
type ScaleStats struct {
	Reads     int    `json:"reads"`
	Errors    int    `json:"errors"`
	Saturated int    `json:"saturated"`
	Min       int32  `json:"min"`
	Max       int32  `json:"max"`
	Median    int32  `json:"median"`
	Spread    int32  `json:"spread"` // max - min over the good reads: the noise
	LastError string `json:"lastError,omitempty"`
}

// Report is the self-test's result.
type Report struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// SelfTest exercises each device of b in turn: the barriers and the door
// must be seen to change (both ways) within opts.Wait, the metal sensor to
// see metal and none, the conveyor must run forward and back and stop by
// its dead-man limit each time, each scale is read opts.Reads times (noise
// and saturation reported), the shape sensor measured once, a code read
// with the scanner and a seal with the seal reader, the printer's status
// asked (no paper is spent). It consumes b's events while it runs, so the
// controller must not be running. A cancelled ctx fails the remaining steps.
func SelfTest(ctx context.Context, b *Board, opts *CheckOpts) Report {
	var o CheckOpts
	if opts != nil {
		o = *opts
	}
	if o.Wait <= 0 {
		o.Wait = 30 * time.Second
	}
	if o.Run <= 0 {
		o.Run = 500 * time.Millisecond
	}
	if o.Reads <= 0 {
		o.Reads = 10
	}
	if o.Prompt == nil {
		o.Prompt = func(string, string) {}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	t := tester{ctx: ctx, b: b, o: o}
	var r Report
	for _, nb := range b.barriers {
		r.Checks = append(r.Checks, t.barrier(nb))
	}
	r.Checks = append(r.Checks, t.metal(), t.conveyor())
	w := b.Wiring
	r.Checks = append(r.Checks,
		t.scale("chamberScale", "chamber scale", w.ChamberScale, b.Chamber),
		t.scale("bagScale", "bag scale", w.BagScale, b.Bag),
		t.shape())
	r.Checks = append(r.Checks,
		t.reader("scanner", "scanner", "scan any barcode with the scanner", w.Scanner, b.scanners[0], hal.BarcodeRead),
		t.reader("sealReader", "seal reader", "scan a bag seal with the seal reader", w.SealReader, b.scanners[1], hal.SealScanned),
		t.printer())
	r.OK = true
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			r.OK = false
		}
	}
	return r
}

type tester struct {
	ctx context.Context
	b   *Board
	o   CheckOpts
}

var barrierWords = map[string]struct{ device, act, on, off string }{
	"entry":   {"entry barrier", "break and clear the entry barrier", "blocked", "cleared"},
	"chamber": {"chamber barrier", "break and clear the chamber barrier", "blocked", "cleared"},
	"exit":    {"exit barrier", "break and clear the exit barrier", "blocked", "cleared"},
	"door":    {"door switch", "open and close the service door", "opened", "closed"},
}

var activeOf = map[string][2]hal.EventKind{
	"entry":   {hal.EntryBlocked, hal.EntryCleared},
	"chamber": {hal.ChamberBlocked, hal.ChamberCleared},
	"exit":    {hal.ExitBlocked, hal.ExitCleared},
	"door":    {hal.DoorOpened, hal.DoorClosed},
}

// barrier waits for the barrier to become active and inactive again.
func (t *tester) barrier(nb namedBarrier) Check {
	words := barrierWords[nb.key]
	kinds := activeOf[nb.key]
	c := Check{Key: nb.key, Device: words.device, Pins: nb.pin}
	t.drain()
	t.o.Prompt(nb.key, fmt.Sprintf("%s (%s) within %v", words.act, nb.pin, t.o.Wait))
	timer := t.o.Clock.NewTimer(t.o.Wait)
	defer timer.Stop()
	on, off := false, false
wait:
	for !(on && off) {
		select {
		case ev := <-t.b.events:
			switch ev.Kind {
			case kinds[0]:
				on = true
			case kinds[1]:
				off = on // a clear before the break is the end of an earlier one
			}
		case <-timer.C():
			break wait
		case <-t.ctx.Done():
			break wait
		}
	}
	now := words.off
	if nb.dev.Active() {
		now = words.on
	}
	switch {
	case on && off:
		c.Status, c.Detail = StatusOK, fmt.Sprintf("%s and %s", words.on, words.off)
	case on:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("%s, never %s within %v (%s now)", words.on, words.off, t.o.Wait, now)
	default:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("no change within %v (%s now)", t.o.Wait, now)
	}
	return c
}

// drain drops events left from an earlier step.
func (t *tester) drain() {
	for {
		select {
		case <-t.b.events:
		default:
			return
		}
	}
}

func (t *tester) metal() Check {
	c := Check{Key: "metal", Device: "metal sensor", Pins: t.b.Wiring.Metal.Pin}
	t.o.Prompt("metal", fmt.Sprintf("hold a can in front of the metal sensor (%s), then take it away, within %v", c.Pins, t.o.Wait))
	deadline := t.o.Clock.Now().Add(t.o.Wait)
	seen, gone := false, false
	for !(seen && gone) && t.o.Clock.Now().Before(deadline) && t.ctx.Err() == nil {
		m, err := t.b.Metal.Metal()
		if err != nil {
			c.Status, c.Detail = StatusFail, err.Error()
			return c
		}
		if m {
			seen = true
		} else if seen {
			gone = true
		}
		clock.Sleep(t.ctx, t.o.Clock, 5*time.Millisecond) // a cancelled ctx ends the loop
	}
	switch {
	case seen && gone:
		c.Status, c.Detail = StatusOK, "saw metal, then none"
	case seen:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("saw metal, still sees it after %v", t.o.Wait)
	default:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("saw no metal within %v", t.o.Wait)
	}
	return c
}

// conveyor runs the belt each way for o.Run, as its dead-man limit, and
// checks that it stopped by itself.
func (t *tester) conveyor() Check {
	w := t.b.Wiring.Conveyor
	c := Check{Key: "conveyor", Device: "conveyor", Pins: w.Dir + "/" + w.Enable}
	t.o.Prompt("conveyor", fmt.Sprintf("keep clear: the belt runs forward, then backward, %v each", t.o.Run))
	t.drain()
	for _, dir := range []struct {
		name string
		run  func(time.Duration) error
	}{{"forward", t.b.Conveyor.Forward}, {"reverse", t.b.Conveyor.Reverse}} {
		if err := dir.run(t.o.Run); err != nil {
			t.b.Conveyor.Stop()
			c.Status, c.Detail = StatusFail, fmt.Sprintf("%s: %v", dir.name, err)
			return c
		}
		// The limit plus a second: the timer goroutine may be late on a
		// busy machine, never a whole second.
		if !t.await(hal.ConveyorHalted, t.o.Run+time.Second) {
			t.b.Conveyor.Stop()
			c.Status, c.Detail = StatusFail, fmt.Sprintf("%s: did not stop by its dead-man limit of %v", dir.name, t.o.Run)
			return c
		}
	}
	c.Status, c.Detail = StatusOK, fmt.Sprintf("ran forward and reverse; each run stopped by its dead-man limit (%v)", t.o.Run)
	return c
}

// await waits up to d for an event of kind k, dropping others.
func (t *tester) await(k hal.EventKind, d time.Duration) bool {
	timer := t.o.Clock.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-t.b.events:
			if ev.Kind == k {
				return true
			}
		case <-timer.C():
			return false
		case <-t.ctx.Done():
			return false
		}
	}
}

func (t *tester) scale(key, device string, s Scale, cell hal.LoadCell) Check {
	c := Check{Key: key, Device: device, Pins: fmt.Sprintf("%s/%s gain %d", s.Data, s.Clock, s.Gain)}
	st := &ScaleStats{Reads: t.o.Reads}
	var good []int32
	for range t.o.Reads {
		if t.ctx.Err() != nil {
			st.Errors++
			st.LastError = t.ctx.Err().Error()
			continue
		}
		v, err := cell.ReadRaw()
		if err != nil {
			st.Errors++
			st.LastError = err.Error()
			continue
		}
		if calib.Saturated(v) {
			st.Saturated++
		}
		good = append(good, v)
	}
	if len(good) > 0 {
		st.Min, st.Max = good[0], good[0]
		for _, v := range good {
			st.Min, st.Max = min(st.Min, v), max(st.Max, v)
		}
		st.Spread = st.Max - st.Min
		st.Median = calib.Median(good)
	}
	c.Scale = st
	c.Detail = fmt.Sprintf("%d reads: median %d, spread %d counts (%d..%d), %d saturated, %d errors",
		st.Reads, st.Median, st.Spread, st.Min, st.Max, st.Saturated, st.Errors)
	switch {
	case st.Errors > 0:
		c.Status = StatusFail
		c.Detail += " (last: " + st.LastError + ")"
	case st.Saturated > 0:
		c.Status = StatusFail
		c.Detail += " (saturated: the cell is overloaded or miswired)"
	default:
		c.Status = StatusOK
	}
	return c
}

func (t *tester) shape() Check {
	c := Check{Key: "shape", Device: "shape sensor"}
	if t.b.Shape == nil {
		c.Status, c.Detail = StatusSkipped, "not fitted"
		return c
	}
	s := t.b.Wiring.Shape
	c.Pins = fmt.Sprintf("%d+%d beams", len(s.Height), len(s.Width))
	m, err := t.b.Shape.Measure()
	if err != nil {
		c.Status, c.Detail = StatusFail, err.Error()
		return c
	}
	c.Status, c.Detail = StatusOK, fmt.Sprintf("empty chamber measures height %v, diameter %v", m.Height, m.Diameter)
	if m.Height != 0 || m.Diameter != 0 {
		c.Status, c.Detail = StatusFail, fmt.Sprintf("empty chamber measures height %v, diameter %v: a beam is blocked or miswired", m.Height, m.Diameter)
	}
	return c
}

// reader waits for the technician to scan a code with a scanner (kind
// BarcodeRead) or the seal reader (SealScanned).
func (t *tester) reader(key, device, act string, p Port, dev *scanner.Dev, kind hal.EventKind) Check {
	c := Check{Key: key, Device: device, Pins: p.Port}
	if !dev.Connected() {
		c.Status, c.Detail = StatusFail, fmt.Sprintf("port %s not there (scanner-dead): plug the %s in", p.Port, device)
		return c
	}
	t.drain()
	t.o.Prompt(key, fmt.Sprintf("%s (%s) within %v", act, p.Port, t.o.Wait))
	timer := t.o.Clock.NewTimer(t.o.Wait)
	defer timer.Stop()
	for {
		select {
		case ev := <-t.b.events:
			switch {
			case ev.Kind == hal.DeviceFault && ev.Fault == hal.FaultScannerDead && !dev.Connected():
				c.Status, c.Detail = StatusFail, fmt.Sprintf("port %s lost (scanner-dead)", p.Port)
				return c
			case ev.Kind != kind:
				continue
			case kind == hal.SealScanned:
				c.Status, c.Detail = StatusOK, "read seal "+ev.Seal
			case ev.Barcode.Status != hal.ReadOK:
				c.Status, c.Detail = StatusFail, "saw a code but could not decode it"
			default:
				c.Status, c.Detail = StatusOK, fmt.Sprintf("read %s (%v)", ev.Barcode.Code, ev.Barcode.Symbology)
			}
			return c
		case <-timer.C():
			c.Status, c.Detail = StatusFail, fmt.Sprintf("no code read within %v", t.o.Wait)
			return c
		case <-t.ctx.Done():
			c.Status, c.Detail = StatusFail, t.ctx.Err().Error()
			return c
		}
	}
}

// printer asks the printer's real-time status: it prints nothing.
func (t *tester) printer() Check {
	p := t.b.Wiring.Printer
	c := Check{Key: "printer", Device: "printer", Pins: fmt.Sprintf("%s %d baud", p.Port, p.Baud)}
	if PrinterClass(p.Port) {
		c.Pins = p.Port
		c.Status, c.Detail = StatusSkipped, "a printer class device, written blind: no status to read"
		return c
	}
	st, err := t.b.printer.Status()
	switch {
	case err != nil:
		c.Status, c.Detail = StatusFail, err.Error()
	case st.CoverOpen:
		c.Status, c.Detail = StatusFail, "cover open"
	case st.PaperOut:
		c.Status, c.Detail = StatusFail, "paper out"
	case st.PaperNearEnd:
		c.Status, c.Detail = StatusOK, "answers; paper near its end"
	default:
		c.Status, c.Detail = StatusOK, "answers; paper loaded, cover closed"
	}
	return c
}

// WriteText writes the report as a technician reads it: one line a device,
// then the verdict.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	failed := 0
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(c.Status)), c.Device, c.Pins, c.Detail)
	}
	verdict := "PASS"
	if !r.OK {
		verdict = "FAIL"
	}
	fmt.Fprintf(tw, "%s: %d checks, %d failed\n", verdict, len(r.Checks), failed)
	return tw.Flush()
}

// WriteJSON writes the report as one indented JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
