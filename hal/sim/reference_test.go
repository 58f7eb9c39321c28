package sim

import (
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/physic"
)

func TestWithCellErrors(t *testing.T) {
	base := DefaultConfig(1)
	for seed := uint64(1); seed <= 50; seed++ {
		a, b := base.WithCellErrors(seed), base.WithCellErrors(seed)
		if a != b {
			t.Fatalf("WithCellErrors(%d) twice = %+v, %+v; want the same", seed, a, b)
		}
		for _, c := range []struct{ got, sheet CellModel }{{a.ChamberCell, base.ChamberCell}, {a.BagCell, base.BagCell}} {
			ppm := (c.got.CountsPerKg - c.sheet.CountsPerKg) * 1_000_000 / c.sheet.CountsPerKg
			if ppm < 0 {
				ppm = -ppm
			}
			if ppm < 19_990 || ppm > 60_010 {
				t.Errorf("WithCellErrors(%d) gain %d vs %d counts/kg: %d ppm; want 2-6%%", seed, c.got.CountsPerKg, c.sheet.CountsPerKg, ppm)
			}
			if d := c.got.Offset - c.sheet.Offset; d == 0 || d > 2000 || d < -2000 {
				t.Errorf("WithCellErrors(%d) offset %d vs %d; want 200-2000 counts off", seed, c.got.Offset, c.sheet.Offset)
			}
		}
	}
}

func TestReferenceMass(t *testing.T) {
	cfg := DefaultConfig(3)
	cfg.BagCell.NoiseCounts = 0
	m, err := New(clock.NewFake(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cal := calib.Calibration{Offset: cfg.BagCell.Offset, CountsPerKg: cfg.BagCell.CountsPerKg}
	read := func() physic.Mass {
		raw, err := m.BagCell().ReadRaw()
		if err != nil {
			t.Fatal(err)
		}
		g, err := cal.Mass(raw)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if err := m.PlaceReference(2 * physic.KiloGram); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != 2*physic.KiloGram {
		t.Errorf("bag scale with a 2 kg reference = %v; want 2kg", got)
	}
	m.ExchangeBag() // the reference is not a container: it stays
	if got := m.Reference(); got != 2*physic.KiloGram {
		t.Errorf("Reference after a bag exchange = %v; want 2kg", got)
	}
	m.ClearReference()
	if got := read(); got != 0 {
		t.Errorf("bag scale after ClearReference = %v; want 0", got)
	}
	if err := m.PlaceReference(-1); err == nil {
		t.Errorf("PlaceReference(-1) = nil error; want an error")
	}
}
