package simrun

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/escpos"
	"github.com/deposit-rvm/rvm/hal/periph/escpos/escpostest"
	"github.com/deposit-rvm/rvm/hal/periph/scanner"
	"github.com/deposit-rvm/rvm/hal/periph/scanner/scannertest"
	"github.com/deposit-rvm/rvm/internal/backoff"
)

// rigNoRead is what the rig's scanner sends for a code it saw and could
// not decode (the "NR" of many models; scanner.Opts.NoRead).
const rigNoRead = "NR"

// rigScanner is the rig's scanners' configuration. Window: the machine's
// scanner passes each container once, so every read it makes is handed
// over; a read the driver dropped as a repeat would leave the rig waiting
// for it. Reopen: a replugged scanner is found within milliseconds.
var rigScanner = scanner.Opts{NoRead: rigNoRead, Window: time.Nanosecond,
	Reopen: backoff.Policy{Min: time.Millisecond, Max: 20 * time.Millisecond}}

// rigPrinter is the rig's printer's configuration: the defaults (the
// stream voucher-render writes), with waits far beyond what the fake takes
// on a loaded machine, so the poll never adds bytes to the stream and the
// printer-out file is the same on every run.
var rigPrinter = escpos.Opts{StatusTimeout: driverWait, Poll: driverWait, PrintTimeout: 2 * driverWait}

// rigSerial is the rig's serial devices on pseudo-terminals: the container
// scanner's and the seal reader's cables, and a fake voucher printer that
// answers the status queries and tees what it receives.
type rigSerial struct {
	dir     string
	scanner *scannertest.Wire
	seal    *scannertest.Wire
	printer *escpostest.Printer
	// unplugged: the scanner's cable is out (a scanner-dead fault).
	unplugged bool
}

// newRigSerial plugs the rig's serial devices in; the printer tees what it
// receives to printerOut when it is not nil.
func newRigSerial(printerOut io.Writer) (*rigSerial, error) {
	dir, err := os.MkdirTemp("", "rvmd-rig-")
	if err != nil {
		return nil, fmt.Errorf("simrun: rig: %w", err)
	}
	s := &rigSerial{dir: dir}
	if s.scanner, err = scannertest.New(dir, "scanner"); err == nil {
		if s.seal, err = scannertest.New(dir, "seal-reader"); err == nil {
			s.printer, err = escpostest.New(printerOut)
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("simrun: rig: %w", err)
	}
	return s, nil
}

// Close unplugs everything; it waits for the printer to have teed all it
// received.
func (s *rigSerial) Close() error {
	var errs []error
	for _, w := range []*scannertest.Wire{s.scanner, s.seal} {
		if w != nil {
			errs = append(errs, w.Close())
		}
	}
	if s.printer != nil {
		errs = append(errs, s.printer.Close())
	}
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}

// act plays ev on the serial devices: a code read is typed into the
// scanner's (or the seal reader's) cable with an AIM identifier, a damaged
// code as the scanner's no-read text, a dead scanner is unplugged. It
// reports false for an event that is not the serial devices', or that they
// cannot carry (a code no scanner sends, a scanner dead already): the
// caller hands it over directly.
func (s *rigSerial) act(ev hal.Event) (bool, error) {
	switch {
	case ev.Kind == hal.BarcodeRead && ev.Barcode.Status == hal.ReadDamaged:
		return true, s.scanner.Send(rigNoRead + "\r\n")
	case ev.Kind == hal.BarcodeRead && ev.Barcode.Status == hal.ReadOK:
		line, ok := aimLine(ev.Barcode.Code)
		if !ok {
			return false, nil
		}
		return true, s.scanner.Send(line)
	case ev.Kind == hal.SealScanned:
		line, ok := aimLine(ev.Seal)
		if !ok {
			return false, nil
		}
		return true, s.seal.Send(line)
	case ev.Kind == hal.DeviceFault && ev.Fault == hal.FaultScannerDead:
		if s.unplugged {
			return false, nil
		}
		s.scanner.Unplug()
		s.unplugged = true
		return true, nil
	}
	return false, nil
}

// serialEvent reports whether ev is one the serial devices report.
func serialEvent(ev hal.Event) bool {
	return ev.Kind == hal.BarcodeRead || ev.Kind == hal.SealScanned ||
		ev.Kind == hal.DeviceFault && ev.Fault == hal.FaultScannerDead
}

// clearFaults is the technician's visit: a dead scanner is plugged back in.
func (s *rigSerial) clearFaults() error {
	if !s.unplugged {
		return nil
	}
	if err := s.scanner.Plug(); err != nil {
		return fmt.Errorf("simrun: rig: %w", err)
	}
	s.unplugged = false
	return nil
}

// aimLine is the line a scanner sends for code: the AIM identifier of its
// symbology as the scanner would classify it (EAN-8 ]E4, EAN-13 and UPC-A
// ]E0, anything else Code 128 ]C0), the code, CR LF. A code no scanner
// sends (empty, bytes outside printable ASCII, longer than a line) gives
// false.
func aimLine(code string) (string, bool) {
	if code == "" || len(code) > 200 {
		return "", false
	}
	digits := true
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c < 0x20 || c > 0x7e {
			return "", false
		}
		digits = digits && c >= '0' && c <= '9'
	}
	id := "]C0"
	switch {
	case digits && len(code) == 8:
		id = "]E4"
	case digits && (len(code) == 12 || len(code) == 13):
		id = "]E0"
	}
	return id + code + "\r\n", true
}

// sameEvent reports whether the driver's event got is the machine's ev.
func sameEvent(got, ev hal.Event) bool {
	return got.Kind == ev.Kind && got.At.Equal(ev.At) && got.Seal == ev.Seal && got.Fault == ev.Fault &&
		got.Barcode.Status == ev.Barcode.Status && got.Barcode.Code == ev.Barcode.Code
}

// rigClearFaults plugs the rig's dead scanner back in with the machine's
// faults cleared, and waits until the driver has its port again: a scanner
// unplugged again before the driver saw it back would go unreported.
func (r *Runner) rigClearFaults() error {
	if r.rig == nil || !r.rig.serial.unplugged {
		return nil
	}
	if err := r.rig.serial.clearFaults(); err != nil {
		return err
	}
	sc, ok := r.rig.board.Scanner.(interface{ Connected() bool })
	if !ok {
		return nil
	}
	for end := time.Now().Add(driverWait); !sc.Connected(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			return fmt.Errorf("simrun: rig: the scanner driver did not reopen its port within %v", driverWait)
		}
	}
	return nil
}

// closeSerial unplugs the rig's serial devices once the board is halted.
func (r *Runner) closeSerial() error {
	if r.rig == nil || r.rig.serial == nil {
		return nil
	}
	err := r.rig.serial.Close()
	r.rig.serial = nil
	return err
}
