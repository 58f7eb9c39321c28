package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/board"
	"github.com/deposit-rvm/rvm/hal/periph/escpos/escpostest"
	"github.com/deposit-rvm/rvm/hal/periph/scanner/scannertest"
)

// TestRunWithoutPi: rvmd run without -sim on a machine that cannot be
// wired fails at once, naming what is missing, and opens nothing.
func TestRunWithoutPi(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skipf("this machine has a GPIO chip (%s)", chips[0])
	}
	example, err := os.ReadFile("../../docs/wiring.example.json")
	if err != nil {
		t.Fatal(err)
	}
	// The example's serial ports, made to exist here, so that the GPIO
	// pins are what is missing.
	dir := t.TempDir()
	wiring := string(example)
	for _, port := range []string{"/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyUSB0"} {
		p := filepath.Join(dir, filepath.Base(port))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		wiring = strings.ReplaceAll(wiring, port, p)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no configuration", nil, []string{`"pins"`, "-config"}},
		{"configuration without pins", []string{"-config", write(t, "c.json", `{"serial":"RVM-PI-0001"}`)}, []string{`"pins"`}},
		{"pins not an object", []string{"-config", write(t, "bad.json", `{"pins":"GPIO17"}`)}, []string{"pins", "object"}},
		{"wiring without a device", []string{"-config", write(t, "entry.json", `{"pins":{"entry":{"pin":"GPIO17"}}}`)}, []string{"pins.chamber"}},
		{"serial port missing", []string{"-config", write(t, "pi.json", string(example))}, []string{"pins.scanner.port", "/dev/ttyACM0"}},
		{"no GPIO chip", []string{"-config", write(t, "pi.json", wiring)}, []string{"GPIO"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "rvmd.db")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := run(ctx, append([]string{"run", "-db", db}, tt.args...), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatalf("run %v succeeded; want an error naming %q", tt.args, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run %v = %q; want it to name %q", tt.args, err, w)
				}
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("run %v left %s behind (half-started): %v", tt.args, db, err)
			}
		})
	}
}

// TestOpenSerial: the scanner, the seal reader and the printer of a wiring
// open on their ports (pseudo-terminals here), their events and the
// board's come out of one channel, and halt releases them.
func TestOpenSerial(t *testing.T) {
	dir := t.TempDir()
	scan, err := scannertest.New(dir, "scanner")
	if err != nil {
		t.Fatal(err)
	}
	defer scan.Close()
	seal, err := scannertest.New(dir, "seal")
	if err != nil {
		t.Fatal(err)
	}
	defer seal.Close()
	printer, err := escpostest.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer printer.Close()
	w := board.Wiring{
		Scanner:    board.Port{Port: scan.Path()},
		SealReader: board.Port{Port: seal.Path()},
		Printer:    board.Port{Port: printer.Path(), Baud: 38400},
	}
	from := make(chan hal.Event)
	s, err := openSerial(w, from, nil)
	if err != nil {
		t.Fatalf("openSerial: %v", err)
	}
	recv := func(what string) hal.Event {
		t.Helper()
		select {
		case ev := <-s.events:
			return ev
		case <-time.After(30 * time.Second):
			t.Fatalf("no event for %s", what)
		}
		return hal.Event{}
	}
	from <- hal.Event{Kind: hal.EntryBlocked}
	if ev := recv("the board's"); ev.Kind != hal.EntryBlocked {
		t.Errorf("board event came out as %v; want %v", ev.Kind, hal.EntryBlocked)
	}
	scan.Send("5900449000287\r\n")
	if ev := recv("a scan"); ev.Kind != hal.BarcodeRead || ev.Barcode.Code != "5900449000287" {
		t.Errorf("scan came out as %v %q; want %v 5900449000287", ev.Kind, ev.Barcode.Code, hal.BarcodeRead)
	}
	seal.Send("017824770475060\r\n")
	if ev := recv("a seal"); ev.Kind != hal.SealScanned || ev.Seal != "017824770475060" {
		t.Errorf("seal came out as %v %q; want %v 017824770475060", ev.Kind, ev.Seal, hal.SealScanned)
	}
	if err := s.printer.Print(hal.Ticket{Code: "2932061197499", Amount: "1.50 PLN", ValidUntil: time.Now()}); err != nil {
		t.Errorf("Print = %v; want nil", err)
	}
	if len(printer.Bytes()) == 0 {
		t.Errorf("the printer received nothing")
	}
	if err := s.halt(); err != nil {
		t.Errorf("halt = %v; want nil", err)
	}
}

// A port that cannot be opened fails openSerial with its name, and what was
// opened before is released.
func TestOpenSerialMissingPrinter(t *testing.T) {
	dir := t.TempDir()
	scan, err := scannertest.New(dir, "scanner")
	if err != nil {
		t.Fatal(err)
	}
	defer scan.Close()
	missing := filepath.Join(dir, "no-printer")
	w := board.Wiring{Scanner: board.Port{Port: scan.Path()}, SealReader: board.Port{Port: scan.Path()}, Printer: board.Port{Port: missing}}
	if _, err := openSerial(w, make(chan hal.Event), nil); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("openSerial with no printer = %v; want an error naming %s", err, missing)
	}
}
