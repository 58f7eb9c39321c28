package simrun

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/deposit-rvm/rvm/machine/catalog"
)

// upcCatalog is the sample plus a product known by its UPC-A code.
func upcCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	extra, err := catalog.Parse([]byte(`[{"ean":"012345678905","name":"Import Cola 12 oz can","deposit":{"amount":0.5,"currency":"PLN"},
		"collectionStatusId":1,"packaging":{"packagingCode":2},"diameters":{"volume":355,"height":122,"diameter":66},
		"weight":{"withCap":14.9,"min":12.5,"max":17.0}}]`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sampleCatalog(t).Apply(2, extra, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRules plays one container per case through the whole machine and
// checks the transaction row it produced: every rule and every rejection
// cause of docs/interfaces.md ("Rules"), in their order.
func TestRules(t *testing.T) {
	tests := []struct {
		name      string
		insert    string // the insert line's fields after "op"
		testPhase bool
		wantEAN   string
		wantCause int
	}{
		{"accepted", `"ean":"5900449000287"`, false, "5900449000287", 0},
		{"barcode missing", `"barcode":"missing"`, false, "", 4},
		{"barcode missing wins over everything", `"ean":"5900449000287","barcode":"missing","weight_g":500,"metal":true`, false, "", 4},
		{"barcode damaged", `"ean":"5900449000287","barcode":"damaged"`, false, "", 3},
		{"check digit wrong", `"ean":"5900449000288"`, false, "5900449000288", 5},
		{"not an EAN shape", `"ean":"12345"`, false, "12345", 5},
		{"letters", `"ean":"59004490002A7"`, false, "59004490002A7", 5},
		{"unknown product", `"ean":"5901234123457"`, false, "5901234123457", 6},
		{"status 2 reject", `"ean":"5900777012501"`, false, "5900777012501", 6},
		{"status 0 early phase", `"ean":"5900552005056"`, false, "5900552005056", 6},
		{"status 3 test phase", `"ean":"5902397015047"`, false, "5902397015047", 6},
		{"status 3 accepted when configured", `"ean":"5902397015047"`, true, "5902397015047", 0},
		{"crushed: height 15% short", `"ean":"5900449000287","height_mm":181`, false, "5900449000287", 2},
		{"crushed: diameter 15% wide", `"ean":"5900449000287","diameter_mm":75`, false, "5900449000287", 2},
		{"height 6% short is fine", `"ean":"5900449000287","height_mm":200`, false, "5900449000287", 0},
		{"crushed wins over metal", `"ean":"5900449000287","height_mm":150,"metal":true`, false, "5900449000287", 2},
		{"shape unknown in catalogue is skipped", `"ean":"5902143005087","height_mm":50,"diameter_mm":20`, false, "5902143005087", 0},
		{"metal in a PET bottle", `"ean":"5900449000287","metal":true`, false, "5900449000287", 1},
		{"no metal in a can", `"ean":"5901012001120","metal":false`, false, "5901012001120", 1},
		{"metal wins over weight", `"ean":"5901012001120","metal":false,"weight_g":90`, false, "5901012001120", 1},
		{"too light: label on another container", `"ean":"5900449000287","weight_g":10`, false, "5900449000287", 1},
		{"too heavy: not empty", `"ean":"5900449000287","weight_g":50`, false, "5900449000287", 6},
		{"withCap -20% bound", `"ean":"5900449005091","weight_g":15.5`, false, "5900449005091", 1},
		{"withCap +20% bound", `"ean":"5900449005091","weight_g":23.5`, false, "5900449005091", 6},
		{"within withCap ±20%", `"ean":"5900449005091","weight_g":23.3`, false, "5900449005091", 0},
		{"UPC-A compared as EAN-13", `"ean":"012345678905"`, false, "0012345678905", 0},
		{"pulled back after accept is fraud", `"ean":"5900449000287","pullback":true`, false, "5900449000287", 1},
		{"pulled back after reject keeps its cause", `"ean":"5900449000287","pullback":true,"weight_g":50`, false, "5900449000287", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := fmt.Sprintf(`{"op":"insert",%s}`+"\n"+`{"op":"finish","payout":"voucher"}`+"\n", tt.insert)
			out := play(t, text, func(o *Options) {
				o.Catalog = upcCatalog(t)
				o.Machine.Rules.AcceptTestPhase = tt.testPhase
			})
			txs := transactions(t, parseOut(t, out))
			if len(txs) != 1 || len(txs[0].Containers) != 1 {
				t.Fatalf("insert {%s}: got %d transactions: %s", tt.insert, len(txs), out)
			}
			row := txs[0].Containers[0]
			if row.EAN != tt.wantEAN || row.RejectionCauseCode != tt.wantCause || row.Count != 1 {
				t.Errorf("insert {%s} = row %+v; want ean %q cause %d", tt.insert, row, tt.wantEAN, tt.wantCause)
			}
			credited := txs[0].TotalAccepted == 1
			if credited != (tt.wantCause == 0) {
				t.Errorf("insert {%s}: accepted %d; want credited %v", tt.insert, txs[0].TotalAccepted, tt.wantCause == 0)
			}
		})
	}
}

// TestWeights checks the weight rounding: rows in whole grams of the row's
// total, totalWeight over accepted containers only.
func TestWeights(t *testing.T) {
	text := `{"op":"insert","ean":"5900449000287","weight_g":20.4}
{"op":"insert","ean":"5900449000287","weight_g":20.4}
{"op":"insert","ean":"5900449000287","weight_g":50.2}
{"op":"finish","payout":"voucher"}
`
	txs := transactions(t, parseOut(t, play(t, text, nil)))
	if len(txs) != 1 {
		t.Fatalf("got %d transactions", len(txs))
	}
	tx := txs[0]
	want := `[{"ean":"5900449000287","count":2,"weight":41,"rejectionCauseCode":0},{"ean":"5900449000287","count":1,"weight":50,"rejectionCauseCode":6}]`
	got, _ := json.Marshal(tx.Containers)
	if string(got) != want {
		t.Errorf("containers = %s; want %s", got, want)
	}
	if tx.TotalWeight != 41 {
		t.Errorf("totalWeight = %d; want 41", tx.TotalWeight)
	}
}
