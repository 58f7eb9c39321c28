package board

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"go.bug.st/serial"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/escpos"
	"github.com/deposit-rvm/rvm/hal/periph/scanner"
)

// printerClass matches the device nodes of the kernel's printer drivers
// (usblp: /dev/usb/lp0; parport: /dev/lp0): written to blind, since their
// reads cannot time out.
var printerClass = regexp.MustCompile(`^lp[0-9]+$`)

// PrinterClass reports whether the printer port at path (or the device a
// udev link there points to) is a printer class device rather than a
// serial port.
func PrinterClass(path string) bool {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	return printerClass.MatchString(filepath.Base(path))
}

// openPrinter opens the wiring's printer port: a serial port through
// go.bug.st/serial at the wiring's baud rate, or a printer class device
// written blind.
func (b *Board) openPrinter(o Opts) error {
	pt := b.Wiring.Printer
	var po escpos.Opts
	if o.Printer != nil {
		po = *o.Printer
	}
	var conn io.ReadWriteCloser
	var err error
	if PrinterClass(pt.Port) {
		po.Blind = true
		conn, err = os.OpenFile(pt.Port, os.O_WRONLY, 0)
	} else {
		conn, err = serial.Open(pt.Port, &serial.Mode{BaudRate: pt.Baud})
	}
	if err != nil {
		return fmt.Errorf("board: pins.printer.port %s: %w", pt.Port, err)
	}
	d, err := escpos.New(conn, pt.Port, &po)
	if err != nil {
		conn.Close()
		return fmt.Errorf("board: pins.printer: %w", err)
	}
	b.opened = append(b.opened, &printerPort{Dev: d, conn: conn})
	b.printer, b.Printer = d, d
	return nil
}

// printerPort closes the port the printer driver writes to (the driver
// does not own it).
type printerPort struct {
	*escpos.Dev
	conn io.Closer
}

func (p *printerPort) Halt() error { return p.conn.Close() }

// startScanners starts the container scanner and the seal reader on their
// ports, reporting on the board's events. A port that is missing is a
// scanner-dead fault, waited for (scanner.Dev.Start).
func (b *Board) startScanners(o Opts) error {
	so := scanner.DefaultOpts
	if o.Scanner != nil {
		so = *o.Scanner
	}
	so.Clock = o.Clock
	for i, x := range []struct {
		key  string
		port Port
		seal bool
		to   *hal.Scanner
	}{{"scanner", b.Wiring.Scanner, false, &b.Scanner}, {"sealReader", b.Wiring.SealReader, true, &b.SealReader}} {
		opts := so
		opts.Baud, opts.Seal = x.port.Baud, x.seal
		d, err := scanner.New(x.port.Port, b.events, &opts)
		if err != nil {
			return fmt.Errorf("board: pins.%s: %w", x.key, err)
		}
		b.scanners[i], *x.to = d, d
	}
	for _, d := range b.scanners {
		d.Start()
		b.opened = append(b.opened, d)
	}
	return nil
}
