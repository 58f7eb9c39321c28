package escpos

import (
	"errors"
	"fmt"
	"github.com/deposit-rvm/rvm/internal/clock"
	"io"
	"sync"
	"time"

	"periph.io/x/conn/v3"

	"github.com/deposit-rvm/rvm/hal"
)

var (
	_ hal.Printer   = (*Dev)(nil)
	_ conn.Resource = (*Dev)(nil)
)

// Errors the printer reports. ErrPaperOut and ErrCoverOpen wrap the hal
// faults of the same name, which the controller latches.
var (
	ErrPaperOut  = fmt.Errorf("escpos: %w", hal.FaultPaperOut)
	ErrCoverOpen = fmt.Errorf("escpos: %w", hal.FaultCoverOpen)
	ErrNoReply   = errors.New("escpos: the printer did not answer")
	ErrBadStatus = errors.New("escpos: malformed status byte")
	ErrNoStatus  = errors.New("escpos: the connection cannot read the printer's status")
)

// Opts configure a printer. The zero value of each field takes its default.
type Opts struct {
	CodePage  string // cp852 (default), cp1250 or ascii
	CodePageN int    // overrides the code page's ESC t number when > 0
	QRModule  int    // QR module size in dots, 1..16; 6
	QRLevel   byte   // QR error correction: 'L', 'M', 'Q' or 'H'; 'M'
	Layout    Layout // DefaultLayout where Title is empty
	// Blind: the connection carries no status back (a printer wired
	// transmit-only); paper-out is then never detected.
	Blind bool
	// StatusTimeout bounds the wait for a real-time status byte; 500 ms.
	// PrintTimeout bounds the wait for the ticket to be printed; 20 s.
	// While it prints, the offline cause is asked every Poll; 250 ms.
	StatusTimeout time.Duration
	PrintTimeout  time.Duration
	Poll          time.Duration
	// Clock times PrintTimeout; clock.Real if nil (a printer prints in
	// real time; the port's own read timeouts are the serial driver's).
	Clock clock.Clock

	cp CodePage
}

func (o *Opts) fill() error {
	if o.CodePage == "" {
		o.CodePage = "cp852"
	}
	cp, err := LookupCodePage(o.CodePage)
	if err != nil {
		return err
	}
	if o.CodePageN > 255 {
		return fmt.Errorf("escpos: code page number %d is over 255", o.CodePageN)
	}
	if o.CodePageN > 0 {
		cp.N = byte(o.CodePageN)
	}
	o.cp = cp
	if o.QRModule == 0 {
		o.QRModule = 6
	}
	if o.QRModule < 1 || o.QRModule > 16 {
		return fmt.Errorf("escpos: QR module size %d (want 1 to 16)", o.QRModule)
	}
	switch o.QRLevel {
	case 0, 'M', 'm':
		o.QRLevel = 49
	case 'L', 'l':
		o.QRLevel = 48
	case 'Q', 'q':
		o.QRLevel = 50
	case 'H', 'h':
		o.QRLevel = 51
	default:
		return fmt.Errorf("escpos: QR error correction %q (want L, M, Q or H)", o.QRLevel)
	}
	if o.Layout.Title == "" {
		hdr, foot := o.Layout.Header, o.Layout.Footer
		o.Layout = DefaultLayout
		o.Layout.Header, o.Layout.Footer = hdr, foot
	}
	if o.Layout.ValidLabel == "" {
		o.Layout.ValidLabel = DefaultLayout.ValidLabel
	}
	if o.Layout.Location == nil {
		o.Layout.Location = time.UTC
	}
	if o.StatusTimeout == 0 {
		o.StatusTimeout = 500 * time.Millisecond
	}
	if o.PrintTimeout == 0 {
		o.PrintTimeout = 20 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return nil
}

// readTimeouter is a connection whose reads can time out:
// go.bug.st/serial.Port is one.
type readTimeouter interface {
	SetReadTimeout(time.Duration) error
}

// Status is the printer's condition from its real-time status.
type Status struct {
	CoverOpen    bool
	PaperOut     bool // printing stopped: the roll is empty
	PaperNearEnd bool
}

// Dev is a voucher printer on a connection it does not own: a serial port
// (go.bug.st/serial) or any io.ReadWriter, such as /dev/usb/lp0 opened by
// the caller (then Opts.Blind, since its reads cannot time out) or a
// pseudo-terminal in tests.
type Dev struct {
	rw   io.ReadWriter // Immutable.
	opts Opts          // Immutable.
	name string        // Immutable.

	mu  sync.Mutex // guards buf and the connection
	buf []byte
	one [1]byte
}

// New returns a printer on rw. It checks the options and sends nothing.
// Unless Opts.Blind, rw must have SetReadTimeout (a serial port).
func New(rw io.ReadWriter, name string, opts *Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("escpos: no connection")
	}
	var o Opts
	if opts != nil {
		o = *opts
	}
	if err := o.fill(); err != nil {
		return nil, err
	}
	if _, ok := rw.(readTimeouter); !ok && !o.Blind {
		return nil, fmt.Errorf("escpos: %s: %w (use Opts.Blind)", name, ErrNoStatus)
	}
	if name == "" {
		name = "escpos"
	}
	return &Dev{rw: rw, opts: o, name: name, buf: make([]byte, 0, 512)}, nil
}

// String names the printer.
func (d *Dev) String() string { return "escpos(" + d.name + ")" }

// Halt does nothing: the printer has no goroutine and a ticket is written
// whole; the caller closes the connection.
func (d *Dev) Halt() error { return nil }

// Status asks the printer for its real-time status (DLE EOT 2, the offline
// cause, and DLE EOT 4, the roll paper sensor). A printer that does not
// answer within Opts.StatusTimeout gives ErrNoReply.
func (d *Dev) Status() (Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flush()
	return d.status()
}

// flush drops what the printer sent unasked, or a late answer to an earlier
// query, so it cannot pass for the answer to the next one.
func (d *Dev) flush() {
	if r, ok := d.rw.(interface{ ResetInputBuffer() error }); ok {
		r.ResetInputBuffer()
	}
}

func (d *Dev) status() (Status, error) {
	if d.opts.Blind {
		return Status{}, ErrNoStatus
	}
	var st Status
	off, err := d.ask([]byte{0x10, 0x04, 2}, d.opts.StatusTimeout)
	if err != nil {
		return st, err
	}
	paper, err := d.ask([]byte{0x10, 0x04, 4}, d.opts.StatusTimeout)
	if err != nil {
		return st, err
	}
	st.CoverOpen = off&0x04 != 0
	st.PaperOut = off&0x20 != 0 || paper&0x60 != 0
	st.PaperNearEnd = paper&0x0c != 0
	return st, nil
}

// ask sends a query and reads its one-byte reply. Every status byte has bit
// 0 and 7 clear and bits 1 and 4 set.
func (d *Dev) ask(q []byte, timeout time.Duration) (byte, error) {
	if _, err := d.rw.Write(q); err != nil {
		return 0, fmt.Errorf("escpos: %s: %w", d.name, err)
	}
	b, err := d.readByte(timeout)
	if err != nil {
		return 0, err
	}
	if b&0x93 != 0x12 {
		return b, fmt.Errorf("%w: %#02x", ErrBadStatus, b)
	}
	return b, nil
}

func (d *Dev) readByte(timeout time.Duration) (byte, error) {
	rt := d.rw.(readTimeouter)
	if err := rt.SetReadTimeout(timeout); err != nil {
		return 0, fmt.Errorf("escpos: %s: %w", d.name, err)
	}
	n, err := d.rw.Read(d.one[:])
	if err != nil {
		return 0, fmt.Errorf("escpos: %s: %w", d.name, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("escpos: %s: %w", d.name, ErrNoReply)
	}
	return d.one[0], nil
}

// Print prints one voucher. It checks the real-time status first (cover,
// paper), writes the ticket followed by GS r 1 (paper sensor status, which
// the printer answers only once everything before it is processed) and
// waits for that answer: nil means the ticket was printed whole. Meanwhile
// it polls the real-time offline cause, which says at once when the printer
// stopped at paper end or with its cover open. A blind printer returns nil
// once the bytes are written.
func (d *Dev) Print(t hal.Ticket) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	d.buf, err = render(d.buf[:0], t, &d.opts)
	if err != nil {
		return err
	}
	if !d.opts.Blind {
		d.flush()
		st, err := d.status()
		if err != nil {
			return err
		}
		if err := st.err(); err != nil {
			return err
		}
		d.buf = append(d.buf, 0x1d, 'r', 1) // GS r 1
	}
	if _, err := d.rw.Write(d.buf); err != nil {
		return fmt.Errorf("escpos: %s: %w", d.name, err)
	}
	if d.opts.Blind {
		return nil
	}
	return d.confirm()
}

// confirm waits for the answer to GS r 1, asking the offline cause (DLE EOT
// 2) whenever Opts.Poll passes without it, so a printer that stopped at
// paper end or with its cover open is known at once. The two answers tell
// themselves apart by bit 4: set in every real-time status byte, clear in
// GS r's.
func (d *Dev) confirm() error {
	clk := d.opts.Clock
	deadline := clk.Now().Add(d.opts.PrintTimeout)
	for clk.Now().Before(deadline) {
		b, err := d.readByte(d.opts.Poll)
		if errors.Is(err, ErrNoReply) {
			if _, err := d.rw.Write([]byte{0x10, 0x04, 2}); err != nil {
				return fmt.Errorf("escpos: %s: %w", d.name, err)
			}
			continue
		}
		if err != nil {
			return err
		}
		if b&0x10 == 0 {
			// GS r 1: bits 2 and 3 report the roll paper end sensor.
			if b&0x0c != 0 {
				return ErrPaperOut
			}
			return nil
		}
		if b&0x93 != 0x12 {
			return fmt.Errorf("%w: %#02x", ErrBadStatus, b)
		}
		if err := (Status{CoverOpen: b&0x04 != 0, PaperOut: b&0x20 != 0}).err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("escpos: %s: ticket not confirmed: %w", d.name, ErrNoReply)
}

func (st Status) err() error {
	switch {
	case st.CoverOpen:
		return ErrCoverOpen
	case st.PaperOut:
		return ErrPaperOut
	}
	return nil
}
