package simrun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine/config"
)

// rigCounts are a -hal pins run's counts.
type rigCounts struct {
	driven, serial, direct, conversions int
}

// playHAL plays text on the given devices and returns the output and, with
// HALPins, the rig's counts; the printer's stream goes to printerOut.
func playHAL(t *testing.T, text, hal string, printerOut io.Writer) (out []byte, n rigCounts) {
	t.Helper()
	steps, err := scenario.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	o := Options{Catalog: sampleCatalog(t), DBPath: filepath.Join(t.TempDir(), "ledger.db"), Out: &buf,
		Machine: MachineOptions(config.Default()), HAL: hal, PrinterOut: printerOut}
	o.Machine.BagMaxContainers = 30
	ctx := context.Background()
	r, err := Start(ctx, steps, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Play(ctx, steps); err != nil {
		t.Fatal(err)
	}
	if r.rig != nil {
		n = rigCounts{r.rig.driven, r.rig.serialDriven, r.rig.direct, r.rig.pins.Conversions()}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), n
}

// The real drivers on the simulated pins hand the controller exactly what
// the simulated devices do: for random scenarios (power cuts, faults,
// pullbacks, bag exchanges) the output is byte for byte the same, and every
// barrier and door event, every code read and every dead scanner went
// through a driver (the scanner's on a pseudo-terminal).
func TestPinsMatchSim(t *testing.T) {
	cat := sampleCatalog(t)
	var eans []string
	for _, p := range cat.Products() {
		eans = append(eans, p.EAN)
	}
	eans = append(eans, "5901234123457", "12345")
	n := 12
	if testing.Short() {
		n = 3
	}
	for seed := range n {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			text := randomScenario(rand.New(rand.NewPCG(uint64(seed), 7)), eans)
			want, _ := playHAL(t, text, HALSim, nil)
			got, n := playHAL(t, text, HALPins, nil)
			if !bytes.Equal(got, want) {
				t.Errorf("-hal pins output differs from -hal sim:\n%s\nwant:\n%s", got, want)
			}
			t.Logf("rig: %+v", n)
			if n.driven == 0 || n.serial == 0 || n.conversions == 0 || n.direct != 0 {
				t.Errorf("rig: %d events through the drivers (%d the scanner's), %d HX711 conversions, %d handed over directly; want some, some, some, none", n.driven, n.serial, n.conversions, n.direct)
			}
		})
	}
}

func TestUnknownHAL(t *testing.T) {
	_, err := Start(context.Background(), nil, Options{Catalog: sampleCatalog(t), DBPath: filepath.Join(t.TempDir(), "l.db"), HAL: "gpio"})
	if want := `simrun: unknown hal "gpio" (want sim or pins)`; err == nil || err.Error() != want {
		t.Errorf("Start(HAL gpio) = %v; want %q", err, want)
	}
}

// On the rig a seal read goes through the seal reader's driver on its
// pseudo-terminal; a code no scanner could send (control bytes) is handed
// over directly and counted.
func TestRigSerialEvents(t *testing.T) {
	text := `{"op":"start","at":"2026-03-02T10:00:00Z","seed":7}` + "\n" + repeat(coke, 2) + `{"op":"finish","payout":"voucher"}` + "\n"
	r, _ := playOn(t, text, config.Default(), func(o *Options) { o.HAL = HALPins })
	ctx := context.Background()
	tests := []struct {
		ev         hal.Event
		serial     int // more events through the serial drivers
		direct     int // more handed over directly
		wantStatus string
	}{
		{hal.Event{Kind: hal.SealScanned, Seal: "017824770475060"}, 1, 0, "refused"},
		{hal.Event{Kind: hal.SealScanned, Seal: "0178\x0147"}, 0, 1, "refused"},
		{hal.Event{Kind: hal.BarcodeRead, Barcode: hal.Barcode{Code: "5900449000287"}}, 1, 0, ""},
	}
	for _, tt := range tests {
		serial, direct := r.rig.serialDriven, r.rig.direct
		tt.ev.At = r.Clock().Now()
		if err := r.handle(ctx, tt.ev); err != nil {
			t.Fatalf("handle(%v %q) = %v", tt.ev.Kind, tt.ev.Seal, err)
		}
		if r.rig.serialDriven-serial != tt.serial || r.rig.direct-direct != tt.direct {
			t.Errorf("handle(%v %q): %d through the drivers, %d directly; want %d, %d", tt.ev.Kind, tt.ev.Seal+tt.ev.Barcode.Code,
				r.rig.serialDriven-serial, r.rig.direct-direct, tt.serial, tt.direct)
		}
		if msg := r.Controller().Status().Message; !strings.Contains(msg, tt.wantStatus) {
			t.Errorf("after %v the display says %q; want %q", tt.ev.Kind, msg, tt.wantStatus)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAIMLine(t *testing.T) {
	tests := []struct {
		code, want string
		ok         bool
	}{
		{"5901234123457", "]E05901234123457\r\n", true},
		{"036000291452", "]E0036000291452\r\n", true},
		{"96385074", "]E496385074\r\n", true},
		{"12345", "]C012345\r\n", true},
		{"OP-7F3A", "]C0OP-7F3A\r\n", true},
		{"", "", false},
		{"59012\r\n34", "", false},
		{"zł", "", false},
		{strings.Repeat("1", 201), "", false},
	}
	for _, tt := range tests {
		got, ok := aimLine(tt.code)
		if got != tt.want || ok != tt.ok {
			t.Errorf("aimLine(%q) = %q, %t; want %q, %t", tt.code, got, ok, tt.want, tt.ok)
		}
	}
}

// A dead scanner is unplugged on the rig: the driver reports it, a power
// cut finds it still dead (the board's report at boot is the restored
// fault's), the technician plugs it back, and the next codes are read
// through it. The output is the plain run's.
func TestRigDeadScanner(t *testing.T) {
	text := `{"op":"start","at":"2026-03-02T10:00:00Z","seed":3}` + "\n" + repeat(coke, 2) +
		`{"op":"fault","kind":"scanner-dead"}` + "\n" + `{"op":"power-cut"}` + "\n" + repeat(coke, 1) +
		`{"op":"service","action":"clear"}` + "\n" + repeat(coke, 3) + `{"op":"finish","payout":"voucher"}` + "\n" +
		`{"op":"fault","kind":"scanner-dead"}` + "\n" + `{"op":"fault","kind":"scanner-dead"}` + "\n" +
		`{"op":"service","action":"clear"}` + "\n" + repeat(coke, 1)
	want, _ := playHAL(t, text, HALSim, nil)
	got, n := playHAL(t, text, HALPins, nil)
	if !bytes.Equal(got, want) {
		t.Errorf("-hal pins output differs from -hal sim:\n%s\nwant:\n%s", got, want)
	}
	// 2+3+1 codes and 2 faults through the scanner's driver; the fault
	// of a scanner dead already is handed over directly.
	if n.serial != 8 || n.direct != 1 {
		t.Errorf("rig: %d events through the scanner's driver, %d directly; want 8, 1", n.serial, n.direct)
	}
}
