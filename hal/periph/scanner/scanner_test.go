package scanner

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/scanner/scannertest"
	"github.com/deposit-rvm/rvm/internal/backoff"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// wire wraps the fake cable for the test.
type wire struct {
	*scannertest.Wire
	t    *testing.T
	link string
}

func newWire(t *testing.T) *wire {
	w, err := scannertest.New(t.TempDir(), "scanner")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &wire{Wire: w, t: t, link: w.Path()}
}

func (w *wire) plug() {
	if err := w.Plug(); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wire) unplug() { w.Unplug() }

func (w *wire) send(s string) {
	w.t.Helper()
	if err := w.Send(s); err != nil {
		w.t.Fatalf("send %q: %v", s, err)
	}
}

func open(t *testing.T, w *wire, o Opts) (*Dev, chan hal.Event) {
	t.Helper()
	events := make(chan hal.Event, 16)
	if o.Reopen.Min == 0 {
		o.Reopen = backoff.Policy{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	d, err := New(w.link, events, &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Halt() })
	return d, events
}

// next waits for the next event; the limit only keeps a broken test from
// hanging, it asserts nothing about timing.
func next(t *testing.T, events chan hal.Event) hal.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event")
	}
	return hal.Event{}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		line string
		code string
		sym  hal.Symbology
		ok   bool
	}{
		{"5901234123457", "5901234123457", hal.SymEAN13, true},
		{"]E05901234123457", "5901234123457", hal.SymEAN13, true},
		{"]E00036000291452", "0036000291452", hal.SymUPCA, true},
		{"]E0036000291452", "036000291452", hal.SymUPCA, true},
		{"036000291452", "036000291452", hal.SymUPCA, true},
		{"]E001234565", "01234565", hal.SymUPCE, true},
		{"]E496385074", "96385074", hal.SymEAN8, true},
		{"96385074", "96385074", hal.SymEAN8, true},
		{"]E3590123412345712", "5901234123457", hal.SymEAN13, true},
		{"]E212345", "", hal.SymUnknown, false},
		{"]C0ABC-123", "ABC-123", hal.SymCode128, true},
		{"]C1\x1d0105901234123457", "\x1d0105901234123457", hal.SymCode128, true},
		{"]Q1https://example", "https://example", hal.SymUnknown, true},
		{"5901234123458", "5901234123458", hal.SymUnknown, true}, // wrong check digit: the rules reject it
		{"]E0", "", hal.SymUnknown, false},
		{"]", "]", hal.SymUnknown, true},
		{"", "", hal.SymUnknown, false},
	}
	for _, tt := range tests {
		code, sym, ok := Decode(tt.line)
		if code != tt.code || sym != tt.sym || ok != tt.ok {
			t.Errorf("Decode(%q) = %q, %v, %v; want %q, %v, %v", tt.line, code, sym, ok, tt.code, tt.sym, tt.ok)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	ev := make(chan hal.Event)
	tests := []struct {
		path string
		out  chan hal.Event
		o    Opts
	}{
		{"", ev, Opts{}},
		{"/dev/x", nil, Opts{}},
		{"/dev/x", ev, Opts{Framing: "8X1"}},
		{"/dev/x", ev, Opts{Framing: "9N1"}},
		{"/dev/x", ev, Opts{Framing: "8N3"}},
		{"/dev/x", ev, Opts{Framing: "8N"}},
		{"/dev/x", ev, Opts{Baud: -1}},
		{"/dev/x", ev, Opts{MaxLine: 4}},
	}
	for _, tt := range tests {
		if _, err := New(tt.path, tt.out, &tt.o); err == nil {
			t.Errorf("New(%q, %+v) = nil error; want one", tt.path, tt.o)
		}
	}
	if _, err := New(filepath.Join(t.TempDir(), "none"), ev, nil); err != nil {
		t.Errorf("New on a missing port = %v; want nil (New touches no hardware)", err)
	}
	d, _ := New(filepath.Join(t.TempDir(), "none"), ev, nil)
	if err := d.Open(); err == nil {
		t.Error("Open on a missing port = nil; want an error")
	}
}

// TestLines feeds the scanner what real ones send, piece by piece, and
// checks what it reports. A case that must report nothing is followed by a
// sentinel code, which must be the next event.
func TestLines(t *testing.T) {
	w := newWire(t)
	_, events := open(t, w, Opts{NoRead: "NR"})
	tests := []struct {
		name   string
		writes []string
		want   hal.Barcode // zero: nothing reported
	}{
		{"plain EAN-13", []string{"5901234123457\r\n"}, hal.Barcode{Code: "5901234123457", Symbology: hal.SymEAN13}},
		{"AIM EAN-8", []string{"]E496385074\r"}, hal.Barcode{Code: "96385074", Symbology: hal.SymEAN8}},
		{"AIM UPC-A", []string{"]E00036000291452\n"}, hal.Barcode{Code: "0036000291452", Symbology: hal.SymUPCA}},
		{"AIM Code128", []string{"]C0ABC-123\r\n"}, hal.Barcode{Code: "ABC-123", Symbology: hal.SymCode128}},
		{"partial line", []string{"]E04006", "38133", "3931\r", "\n"}, hal.Barcode{Code: "4006381333931", Symbology: hal.SymEAN13}},
		{"garbage", []string{"\x13\xfe\x80junk\x07\r\n"}, hal.Barcode{}},
		{"idle-line noise before a code", []string{"\x00\x00\xff8711327522015\r\n"}, hal.Barcode{Code: "8711327522015", Symbology: hal.SymEAN13}},
		{"over-long line", []string{string(make([]byte, 300)) + "5901234123457\r\n"}, hal.Barcode{}},
		{"add-on alone", []string{"]E212345\r\n"}, hal.Barcode{}},
		{"no read", []string{"NR\r\n"}, hal.Barcode{Status: hal.ReadDamaged}},
		{"empty lines", []string{"\r\n\r\n"}, hal.Barcode{}},
	}
	sentinel := 0
	for _, tt := range tests {
		for _, s := range tt.writes {
			w.send(s)
		}
		want := tt.want
		if want == (hal.Barcode{}) {
			sentinel++
			code := "]C0SENTINEL-" + string(rune('A'+sentinel))
			w.send(code + "\r\n")
			want = hal.Barcode{Code: code[3:], Symbology: hal.SymCode128}
		}
		ev := next(t, events)
		if ev.Kind != hal.BarcodeRead || ev.Barcode != want {
			t.Errorf("%s: event %v %+v; want barcode-read %+v", tt.name, ev.Kind, ev.Barcode, want)
		}
	}
}

func TestPrefixSuffix(t *testing.T) {
	w := newWire(t)
	_, events := open(t, w, Opts{Prefix: "S:", Suffix: "\x03"})
	w.send("S:5901234123457\x03")
	w.send("96385074\x03")
	for _, want := range []string{"5901234123457", "96385074"} {
		if ev := next(t, events); ev.Barcode.Code != want {
			t.Errorf("code = %q; want %q", ev.Barcode.Code, want)
		}
	}
}

// TestOneReadPerContainer: a code read twice for one container is one read;
// NextContainer or the end of the window makes it a new read.
func TestOneReadPerContainer(t *testing.T) {
	w := newWire(t)
	clk := clock.NewFake(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	d, events := open(t, w, Opts{Clock: clk, Window: time.Minute})
	w.send("5901234123457\r\n5901234123457\r\n96385074\r\n")
	if ev := next(t, events); ev.Barcode.Code != "5901234123457" {
		t.Fatalf("first = %q; want 5901234123457", ev.Barcode.Code)
	}
	if ev := next(t, events); ev.Barcode.Code != "96385074" {
		t.Fatalf("second = %q; want 96385074 (the repeat is one read)", ev.Barcode.Code)
	}
	d.NextContainer()
	w.send("5901234123457\r\n")
	if ev := next(t, events); ev.Barcode.Code != "5901234123457" {
		t.Fatalf("after NextContainer = %q; want 5901234123457 again", ev.Barcode.Code)
	}
	clk.Advance(2 * time.Minute)
	w.send("96385074\r\n")
	if ev := next(t, events); ev.Barcode.Code != "96385074" {
		t.Fatalf("after the window = %q; want 96385074 again", ev.Barcode.Code)
	}
}

// TestPortVanishes: the scanner is unplugged (the port goes away), which is
// one scanner-dead fault; plugged back, its codes arrive again.
func TestPortVanishes(t *testing.T) {
	w := newWire(t)
	_, events := open(t, w, Opts{})
	w.send("5901234123457\r\n")
	if ev := next(t, events); ev.Barcode.Code != "5901234123457" {
		t.Fatalf("before = %+v", ev)
	}
	w.send("]E0400638") // half a code, then the cable goes
	w.unplug()
	ev := next(t, events)
	if ev.Kind != hal.DeviceFault || ev.Fault != hal.FaultScannerDead {
		t.Fatalf("after unplug: %v %q; want device-fault scanner-dead", ev.Kind, ev.Fault)
	}
	w.plug()
	w.send("1333931\r\n96385074\r\n") // the half code was lost with the port
	ev = next(t, events)
	if ev.Kind != hal.BarcodeRead || ev.Barcode.Code != "1333931" {
		t.Fatalf("after replug: %v %+v; want the tail read as its own line", ev.Kind, ev.Barcode)
	}
	ev = next(t, events)
	if ev.Kind != hal.BarcodeRead || ev.Barcode.Code != "96385074" {
		t.Fatalf("after replug: %v %+v; want 96385074", ev.Kind, ev.Barcode)
	}
	// Gone again: a second outage is a second fault.
	w.unplug()
	if ev := next(t, events); ev.Kind != hal.DeviceFault {
		t.Fatalf("second unplug: %v; want device-fault", ev.Kind)
	}
}

// TestStartWithoutScanner: a daemon comes up without its scanner; Start
// reports it dead and picks it up once it is plugged in.
func TestStartWithoutScanner(t *testing.T) {
	w := newWire(t)
	w.unplug()
	events := make(chan hal.Event, 4)
	d, err := New(w.link, events, &Opts{Reopen: backoff.Policy{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	defer d.Halt()
	if ev := next(t, events); ev.Kind != hal.DeviceFault || ev.Fault != hal.FaultScannerDead {
		t.Fatalf("Start without a port: %v %q; want device-fault scanner-dead", ev.Kind, ev.Fault)
	}
	w.plug()
	w.send("96385074\r\n")
	if ev := next(t, events); ev.Kind != hal.BarcodeRead || ev.Barcode.Code != "96385074" {
		t.Fatalf("after plugging in: %v %+v; want barcode-read 96385074", ev.Kind, ev.Barcode)
	}
}

func TestSealReader(t *testing.T) {
	w := newWire(t)
	_, events := open(t, w, Opts{Seal: true, NoRead: "NR"})
	w.send("]C0017824770475060\r\nNR\r\n017824770475061\r\n")
	for _, want := range []string{"017824770475060", "017824770475061"} {
		ev := next(t, events)
		if ev.Kind != hal.SealScanned || ev.Seal != want {
			t.Errorf("event %v seal %q; want seal-scanned %q", ev.Kind, ev.Seal, want)
		}
	}
}

// TestHaltWhileBlocked: Halt returns while the reader waits to hand an event
// to a channel nobody reads, and the scanner can be opened again.
func TestHaltWhileBlocked(t *testing.T) {
	w := newWire(t)
	events := make(chan hal.Event) // unbuffered, never read until reopened
	d, err := New(w.link, events, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Open(); err != nil {
		t.Fatal(err)
	}
	w.send("5901234123457\r\n")
	if err := d.Halt(); err != nil {
		t.Errorf("Halt = %v", err)
	}
	if err := d.Halt(); err != nil {
		t.Errorf("second Halt = %v; want nil", err)
	}
	if err := d.Open(); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer d.Halt()
	w.send("96385074\r\n")
	ev := next(t, events)
	if ev.Barcode.Code != "96385074" && ev.Barcode.Code != "5901234123457" {
		t.Errorf("after reopen: %+v", ev)
	}
	if got := d.String(); got != "scanner("+w.link+")" {
		t.Errorf("String() = %q", got)
	}
}

func BenchmarkLine(b *testing.B) {
	d, err := New("/dev/null", make(chan hal.Event), nil)
	if err != nil {
		b.Fatal(err)
	}
	var lr lineReader
	lr.init("", 256)
	in := []byte("]E05901234123457\r\n")
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lr.feed(in) {
			if _, ok := d.parse(l); !ok {
				b.Fatal("no code")
			}
		}
	}
}
