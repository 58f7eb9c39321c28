package board

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/escpos"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/testhal"
)

// The serial devices of the wiring, opened by the board: the scanner's and
// the seal reader's lines become events on the board's stream, the printer
// prints on its port.
func TestSerialDevices(t *testing.T) {
	bn, b := openSmall(t)
	bn.scanner.Send("]E05901234123457\r\n")
	ev := testhal.Recv(t, b.Events())
	if ev.Kind != hal.BarcodeRead || ev.Barcode.Code != "5901234123457" || ev.Barcode.Symbology != hal.SymEAN13 {
		t.Errorf("scanner sent ]E05901234123457: event %v %+v; want barcode-read 5901234123457 EAN-13", ev.Kind, ev.Barcode)
	}
	bn.seal.Send("017824770475060\r\n")
	if ev := testhal.Recv(t, b.Events()); ev.Kind != hal.SealScanned || ev.Seal != "017824770475060" {
		t.Errorf("seal reader sent 017824770475060: event %v %q; want seal-scanned 017824770475060", ev.Kind, ev.Seal)
	}
	tk := hal.Ticket{Code: "2912345678906", Grosze: 150, PrintType: escpos.PrintBarcode, ValidUntil: time.Date(2026, 2, 4, 0, 0, 0, 0, time.UTC)}
	if err := b.Printer.Print(tk); err != nil {
		t.Fatalf("Print: %v", err)
	}
	want, _ := escpos.Render(tk, nil)
	if got := bn.printer.Bytes(); !bytes.Contains(got, want) {
		t.Errorf("the printer received %q; want the rendered ticket %q in it", got, want)
	}
	bn.printer.SetPaper(0)
	if err := b.Printer.Print(tk); err == nil {
		t.Errorf("Print without paper = nil; want %v", escpos.ErrPaperOut)
	}
}

// A scanner missing at start is a scanner-dead fault, not an error: the
// board opens, reports the fault, and reads once the scanner is plugged in.
// The self-test says the port is not there.
func TestScannerMissingAtStart(t *testing.T) {
	w := parse(t, small)
	bn := newBench(t, w)
	bn.scanner.Unplug()
	b, err := Open(bn.w, bn.opts())
	if err != nil {
		t.Fatalf("Open without the scanner = %v; want the board open", err)
	}
	defer b.Halt()
	if ev := testhal.Recv(t, b.Events()); ev.Kind != hal.DeviceFault || ev.Fault != hal.FaultScannerDead {
		t.Fatalf("first event without the scanner: %v %q; want device-fault scanner-dead", ev.Kind, ev.Fault)
	}
	tst := tester{ctx: context.Background(), b: b, o: CheckOpts{Wait: time.Second, Prompt: func(string, string) {}, Clock: clock.Real{}}}
	c := tst.reader("scanner", "scanner", "scan", bn.w.Scanner, b.scanners[0], hal.BarcodeRead)
	if want := "port " + bn.w.Scanner.Port + " not there (scanner-dead): plug the scanner in"; c.Status != StatusFail || c.Detail != want {
		t.Errorf("self-test of a missing scanner: %s %q; want fail %q", c.Status, c.Detail, want)
	}
	if err := bn.scanner.Plug(); err != nil {
		t.Fatal(err)
	}
	bn.scanner.Send("]E40123456\r\n")
	if ev := testhal.Recv(t, b.Events()); ev.Kind != hal.BarcodeRead || ev.Barcode.Code != "0123456" {
		t.Errorf("after plugging the scanner in: event %v %+v; want barcode-read 0123456", ev.Kind, ev.Barcode)
	}
}

// A printer class device (usblp) is written blind: the ticket's bytes and
// nothing else, no status asked.
func TestPrinterClass(t *testing.T) {
	dir := t.TempDir()
	lp := filepath.Join(dir, "lp0")
	if err := os.WriteFile(lp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "voucher-printer")
	if err := os.Symlink(lp, link); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{lp: true, link: true, "/dev/usb/lp1": true, "/dev/ttyUSB0": false, "/dev/lpx": false} {
		if got := PrinterClass(path); got != want {
			t.Errorf("PrinterClass(%q) = %t; want %t", path, got, want)
		}
	}
	bn := newBench(t, parse(t, small))
	bn.w.Printer.Port = link
	b, err := Open(bn.w, bn.opts())
	if err != nil {
		t.Fatalf("Open with a printer class device: %v", err)
	}
	defer b.Halt()
	tk := hal.Ticket{Code: "OP-1", Grosze: 50, PrintType: escpos.PrintQR}
	if err := b.Printer.Print(tk); err != nil {
		t.Fatalf("Print: %v", err)
	}
	want, _ := escpos.Render(tk, nil)
	if got, _ := os.ReadFile(lp); !bytes.Equal(got, want) {
		t.Errorf("%s holds %q; want the rendered ticket %q alone", lp, got, want)
	}
	r := (&tester{b: b}).printer()
	if r.Status != StatusSkipped {
		t.Errorf("self-test of a blind printer: %s %q; want skipped", r.Status, r.Detail)
	}
}
