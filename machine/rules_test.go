package machine

import (
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/machine/catalog"
)

func TestDecide(t *testing.T) {
	pet := catalog.Product{EAN: "5900449000287", Deposit: 50, Status: 1, Packaging: drsapi.PackagingPlastic,
		Height: 213 * physic.MilliMetre, Diameter: 65 * physic.MilliMetre,
		WeightWithCap: 21 * physic.Gram, WeightMin: 18 * physic.Gram, WeightMax: 24 * physic.Gram}
	can := catalog.Product{EAN: "5901012001120", Deposit: 50, Status: 1, Packaging: drsapi.PackagingCan, WeightWithCap: 15 * physic.Gram}
	test := catalog.Product{EAN: "5902397015047", Deposit: 50, Status: 3, Packaging: drsapi.PackagingPlastic}
	cat, err := catalog.New(1, []catalog.Product{pet, can, test})
	if err != nil {
		t.Fatal(err)
	}
	shape := func(h, d int) *hal.Shape {
		return &hal.Shape{Height: physic.Distance(h) * physic.MilliMetre, Diameter: physic.Distance(d) * physic.MilliMetre}
	}
	ok := hal.Barcode{Status: hal.ReadOK, Code: pet.EAN}
	tests := []struct {
		name  string
		r     Reading
		rules Rules
		want  int
	}{
		{"accepted", Reading{Seen: true, Barcode: ok, Mass: 21 * physic.Gram, Shape: shape(213, 65)}, Rules{}, 0},
		{"missing", Reading{Mass: 21 * physic.Gram}, Rules{}, 4},
		{"damaged", Reading{Seen: true, Barcode: hal.Barcode{Status: hal.ReadDamaged}}, Rules{}, 3},
		{"check digit", Reading{Seen: true, Barcode: hal.Barcode{Code: "5900449000280"}}, Rules{}, 5},
		{"unknown", Reading{Seen: true, Barcode: hal.Barcode{Code: "5901234123457"}}, Rules{}, 6},
		{"test phase", Reading{Seen: true, Barcode: hal.Barcode{Code: test.EAN}}, Rules{}, 6},
		{"test phase allowed", Reading{Seen: true, Barcode: hal.Barcode{Code: test.EAN}}, Rules{AcceptTestPhase: true}, 0},
		{"crushed at 11%", Reading{Seen: true, Barcode: ok, Mass: 21 * physic.Gram, Shape: shape(189, 65)}, Rules{ShapeTolerancePct: 10}, 2},
		{"9% is fine", Reading{Seen: true, Barcode: ok, Mass: 21 * physic.Gram, Shape: shape(194, 65)}, Rules{ShapeTolerancePct: 10}, 0},
		{"20% tolerance", Reading{Seen: true, Barcode: ok, Mass: 21 * physic.Gram, Shape: shape(189, 65)}, Rules{ShapeTolerancePct: 20}, 0},
		{"metal in PET", Reading{Seen: true, Barcode: ok, Mass: 21 * physic.Gram, Metal: true}, Rules{}, 1},
		{"light", Reading{Seen: true, Barcode: ok, Mass: 17 * physic.Gram}, Rules{}, 1},
		{"heavy", Reading{Seen: true, Barcode: ok, Mass: 25 * physic.Gram}, Rules{}, 6},
		{"can withCap -20%", Reading{Seen: true, Barcode: hal.Barcode{Code: can.EAN}, Metal: true, Mass: 11 * physic.Gram}, Rules{WeightTolerancePct: 20}, 1},
		{"can withCap +20%", Reading{Seen: true, Barcode: hal.Barcode{Code: can.EAN}, Metal: true, Mass: 19 * physic.Gram}, Rules{WeightTolerancePct: 20}, 6},
		{"can ok", Reading{Seen: true, Barcode: hal.Barcode{Code: can.EAN}, Metal: true, Mass: 15 * physic.Gram}, Rules{WeightTolerancePct: 20}, 0},
	}
	for _, tt := range tests {
		v := Decide(tt.r, cat, tt.rules)
		if v.Cause != tt.want {
			t.Errorf("%s: Decide(%+v) = cause %d; want %d", tt.name, tt.r, v.Cause, tt.want)
		}
	}
}

func TestBlocked(t *testing.T) {
	tests := []struct {
		causes    []int
		threshold int
		want      bool
	}{
		{nil, 0, false},
		{[]int{0, 0, 6, 3}, 0, false},
		{[]int{0, 1}, 0, true},
		{[]int{1, 1, 0}, 2, false},
		{[]int{1, 1, 1}, 2, true},
		{[]int{1, 6, 1, 4, 1, 0}, 2, true},
		{[]int{1, 1, 1}, 3, false},
	}
	for _, tt := range tests {
		if got := Blocked(tt.causes, Rules{FraudBlockThreshold: tt.threshold}); got != tt.want {
			t.Errorf("Blocked(%v, threshold %d) = %v; want %v", tt.causes, tt.threshold, got, tt.want)
		}
	}
}
