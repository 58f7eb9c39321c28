package scanner

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.bug.st/serial"
	"periph.io/x/conn/v3"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/backoff"
	"github.com/deposit-rvm/rvm/internal/clock"
)

var (
	_ conn.Resource = (*Dev)(nil)
	_ hal.Scanner   = (*Dev)(nil)
)

// Errors the scanner reports.
var (
	ErrHalted = errors.New("scanner: halted")
)

// Opts configure a scanner. The zero value of each field takes the default
// in DefaultOpts.
type Opts struct {
	Baud    int    // 9600; a USB CDC port ignores it
	Framing string // data bits, parity (N, E, O) and stop bits: "8N1"
	// Prefix is stripped from the front of a line where present. Suffix
	// ends a line; empty means CR, LF or CR LF (the factory setting of
	// most scanners).
	Prefix string
	Suffix string
	// Seal makes the scanner a seal reader: it reports SealScanned events
	// with the seal number instead of BarcodeRead.
	Seal bool
	// Window: a code read again within Window of its last report is the
	// same read and dropped. NextContainer forgets all codes at once.
	Window time.Duration // 2 s
	// NoRead is the text the scanner sends for a code it saw but could not
	// decode ("NR" on many models); such a line reports ReadDamaged.
	// Empty: the scanner never reports a failed read.
	NoRead  string
	MaxLine int            // longest line kept; longer lines are noise. 256
	Reopen  backoff.Policy // waits between attempts to reopen a lost port; 100 ms to 5 s
	Clock   clock.Clock    // stamps events; clock.Real
	Logger  *slog.Logger   // discarded when nil
}

// DefaultOpts are the factory settings of a USB or UART scanner.
var DefaultOpts = Opts{
	Baud: 9600, Framing: "8N1", Window: 2 * time.Second, MaxLine: 256,
	Reopen: backoff.Policy{Min: 100 * time.Millisecond, Max: 5 * time.Second},
}

func (o *Opts) fill() {
	d := DefaultOpts
	if o.Baud == 0 {
		o.Baud = d.Baud
	}
	if o.Framing == "" {
		o.Framing = d.Framing
	}
	if o.Window == 0 {
		o.Window = d.Window
	}
	if o.MaxLine == 0 {
		o.MaxLine = d.MaxLine
	}
	if o.Reopen.Min == 0 {
		o.Reopen = d.Reopen
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ParseFraming turns "8N1" into a serial mode's data bits, parity and stop
// bits.
func ParseFraming(s string) (serial.Mode, error) {
	var m serial.Mode
	if len(s) != 3 {
		return m, fmt.Errorf("scanner: framing %q: want data bits, parity, stop bits, as 8N1", s)
	}
	switch s[0] {
	case '5', '6', '7', '8':
		m.DataBits = int(s[0] - '0')
	default:
		return m, fmt.Errorf("scanner: framing %q: data bits must be 5 to 8", s)
	}
	switch s[1] {
	case 'N', 'n':
		m.Parity = serial.NoParity
	case 'E', 'e':
		m.Parity = serial.EvenParity
	case 'O', 'o':
		m.Parity = serial.OddParity
	default:
		return m, fmt.Errorf("scanner: framing %q: parity must be N, E or O", s)
	}
	switch s[2] {
	case '1':
		m.StopBits = serial.OneStopBit
	case '2':
		m.StopBits = serial.TwoStopBits
	default:
		return m, fmt.Errorf("scanner: framing %q: stop bits must be 1 or 2", s)
	}
	return m, nil
}

// Dev is one barcode scanner (or seal reader) on a serial port.
type Dev struct {
	path string           // Immutable.
	mode serial.Mode      // Immutable.
	opts Opts             // Immutable.
	out  chan<- hal.Event // Immutable.

	mu      sync.Mutex // guards the fields below
	port    serial.Port
	seen    map[string]time.Time
	stop    chan struct{}
	done    chan struct{}
	running bool
}

// New returns a scanner on the serial port at path (a USB CDC device such
// as /dev/ttyACM0, a UART such as /dev/ttyAMA0, or a stable udev link to
// either). It checks the options and touches no hardware: Open does.
func New(path string, out chan<- hal.Event, opts *Opts) (*Dev, error) {
	if path == "" {
		return nil, errors.New("scanner: no port path")
	}
	if out == nil {
		return nil, errors.New("scanner: no events channel")
	}
	var o Opts
	if opts != nil {
		o = *opts
	}
	o.fill()
	if o.Baud < 0 {
		return nil, fmt.Errorf("scanner: baud %d is negative", o.Baud)
	}
	mode, err := ParseFraming(o.Framing)
	if err != nil {
		return nil, err
	}
	mode.BaudRate = o.Baud
	if o.MaxLine < 8 {
		return nil, fmt.Errorf("scanner: max line %d is under 8", o.MaxLine)
	}
	return &Dev{path: path, mode: mode, opts: o, out: out, seen: map[string]time.Time{}}, nil
}

// String names the scanner by its port.
func (d *Dev) String() string {
	if d.opts.Seal {
		return "seal-reader(" + d.path + ")"
	}
	return "scanner(" + d.path + ")"
}

// Open opens the port and starts reading. A port missing at Open is an
// error; a port lost later is reported as a DeviceFault (FaultScannerDead)
// and reopened when it comes back. Open on a running scanner does nothing.
func (d *Dev) Open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running {
		return nil
	}
	p, err := serial.Open(d.path, &d.mode)
	if err != nil {
		return fmt.Errorf("scanner: open %s: %w", d.path, err)
	}
	d.start(p)
	return nil
}

// Start is Open for a daemon that must come up without its scanner: a port
// missing at start is reported as scanner-dead and waited for, like one
// lost later. Start on a running scanner does nothing.
func (d *Dev) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running {
		return
	}
	p, err := serial.Open(d.path, &d.mode)
	if err != nil {
		d.opts.Logger.Warn("scanner port missing at start", "port", d.path, "err", err)
		p = nil
	}
	d.start(p)
}

// start runs the reader on p (nil: not there yet). d.mu is held.
func (d *Dev) start(p serial.Port) {
	d.port, d.running = p, true
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go d.run(p, d.stop, d.done)
}

// Connected reports whether the port is open now: false before Open or
// Start, while a lost or missing port is waited for, and after Halt.
func (d *Dev) Connected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.port != nil
}

// NextContainer forgets the codes read so far.
func (d *Dev) NextContainer() {
	d.mu.Lock()
	clear(d.seen)
	d.mu.Unlock()
}

// Halt stops reading and closes the port; it returns once the reader has
// ended. The scanner can be opened again.
func (d *Dev) Halt() error {
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return nil
	}
	close(d.stop)
	p, done := d.port, d.done
	d.port, d.running = nil, false
	d.mu.Unlock()
	var err error
	if p != nil {
		err = p.Close()
	}
	<-done
	return err
}

// run reads lines until Halt, reopening the port when it is lost.
func (d *Dev) run(p serial.Port, stop, done chan struct{}) {
	defer close(done)
	var lr lineReader
	lr.init(d.opts.Suffix, d.opts.MaxLine)
	buf := make([]byte, 256)
	if p == nil {
		if !d.send(hal.Event{Kind: hal.DeviceFault, At: d.opts.Clock.Now(), Fault: hal.FaultScannerDead}, stop) {
			return
		}
		if p = d.reopen(stop); p == nil {
			return
		}
	}
	for {
		n, err := p.Read(buf)
		for _, line := range lr.feed(buf[:n]) {
			if !d.report(line, stop) {
				return
			}
		}
		if err == nil {
			continue
		}
		select {
		case <-stop:
			return
		default:
		}
		// The port is gone (unplugged, USB reset, cable): report it once,
		// then try to reopen it until it comes back or Halt.
		d.opts.Logger.Warn("scanner port lost", "port", d.path, "err", err)
		d.mu.Lock()
		d.port = nil
		d.mu.Unlock()
		p.Close()
		lr.reset()
		if !d.send(hal.Event{Kind: hal.DeviceFault, At: d.opts.Clock.Now(), Fault: hal.FaultScannerDead}, stop) {
			return
		}
		if p = d.reopen(stop); p == nil {
			return
		}
		d.opts.Logger.Info("scanner port back", "port", d.path)
	}
}

func (d *Dev) reopen(stop chan struct{}) serial.Port {
	for n := 1; ; n++ {
		t := time.NewTimer(d.opts.Reopen.Wait(n))
		select {
		case <-stop:
			t.Stop()
			return nil
		case <-t.C:
		}
		p, err := serial.Open(d.path, &d.mode)
		if err != nil {
			continue
		}
		d.mu.Lock()
		if !d.running {
			d.mu.Unlock()
			p.Close()
			return nil
		}
		d.port = p
		d.mu.Unlock()
		return p
	}
}

// report turns one line into an event; it returns false once halted.
func (d *Dev) report(line []byte, stop chan struct{}) bool {
	ev, ok := d.parse(line)
	if !ok {
		return true
	}
	code := ev.Barcode.Code
	if d.opts.Seal {
		code = ev.Seal
	}
	if ev.Barcode.Status == hal.ReadOK && code != "" {
		d.mu.Lock()
		last, dup := d.seen[code]
		dup = dup && ev.At.Sub(last) < d.opts.Window
		d.seen[code] = ev.At
		d.mu.Unlock()
		if dup {
			return true
		}
	}
	return d.send(ev, stop)
}

func (d *Dev) send(ev hal.Event, stop chan struct{}) bool {
	select {
	case d.out <- ev:
		return true
	case <-stop:
		return false
	}
}

// parse decodes one line (terminator removed) into an event.
func (d *Dev) parse(line []byte) (hal.Event, bool) {
	// Idle-line noise from a UART powering up arrives as NUL or 0xFF.
	line = bytes.TrimLeft(line, "\x00\xff")
	s := strings.TrimPrefix(string(line), d.opts.Prefix)
	if s == "" {
		return hal.Event{}, false
	}
	for i := 0; i < len(s); i++ {
		// GS is the FNC1 separator of GS1-128; anything else outside
		// printable ASCII is line noise, and the line is dropped.
		if (s[i] < 0x20 || s[i] > 0x7e) && s[i] != 0x1d {
			d.opts.Logger.Warn("scanner line noise dropped", "port", d.path, "line", fmt.Sprintf("%q", s))
			return hal.Event{}, false
		}
	}
	ev := hal.Event{Kind: hal.BarcodeRead, At: d.opts.Clock.Now()}
	if d.opts.NoRead != "" && s == d.opts.NoRead {
		ev.Barcode.Status = hal.ReadDamaged
		return ev, !d.opts.Seal
	}
	code, sym, ok := Decode(s)
	if !ok {
		return hal.Event{}, false
	}
	if d.opts.Seal {
		ev.Kind, ev.Seal = hal.SealScanned, code
		return ev, true
	}
	ev.Barcode = hal.Barcode{Status: hal.ReadOK, Code: code, Symbology: sym}
	return ev, true
}

// lineReader splits a byte stream into lines. Buffers live in it; a line
// longer than max is dropped whole.
type lineReader struct {
	suffix []byte // nil: CR or LF
	max    int
	buf    []byte
	over   bool // the current line overflowed; drop it at its end
	lines  [][]byte
	store  []byte
}

func (r *lineReader) init(suffix string, max int) {
	if suffix != "" {
		r.suffix = []byte(suffix)
	}
	r.max = max
	r.buf = make([]byte, 0, max+len(suffix))
}

func (r *lineReader) reset() { r.buf, r.over = r.buf[:0], false }

// feed appends p and returns the lines it completed. The slices are valid
// until the next call.
func (r *lineReader) feed(p []byte) [][]byte {
	r.lines, r.store = r.lines[:0], r.store[:0]
	var ends []int
	for _, b := range p {
		r.buf = append(r.buf, b)
		end := -1
		if r.suffix == nil {
			if b == '\r' || b == '\n' {
				end = len(r.buf) - 1
			}
		} else if bytes.HasSuffix(r.buf, r.suffix) {
			end = len(r.buf) - len(r.suffix)
		}
		if end >= 0 {
			if !r.over && end > 0 {
				ends = append(ends, len(r.store))
				r.store = append(r.store, r.buf[:end]...)
				ends = append(ends, len(r.store))
			}
			r.reset()
			continue
		}
		if len(r.buf) > r.max+len(r.suffix) {
			// Keep the tail that could be the start of a suffix.
			r.over = true
			keep := len(r.suffix)
			copy(r.buf, r.buf[len(r.buf)-keep:])
			r.buf = r.buf[:keep]
		}
	}
	for i := 0; i < len(ends); i += 2 {
		r.lines = append(r.lines, r.store[ends[i]:ends[i+1]])
	}
	return r.lines
}
