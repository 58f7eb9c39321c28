package catalog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/deposit-rvm/rvm/internal/ean"
)

// FuzzParse: a catalogue file or a fleet's product list never makes Parse
// panic; every product it returns is usable (an EAN, a positive deposit,
// no negative size or weight, min not above max), and a catalogue built
// from them finds each product with a valid code by that code.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	files = append(files, "sample/products.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"pageNo":1,"pageSize":50,"totalItemCount":1,"data":[{"ean":"012345678905","deposit":{"amount":0.5}}]}`))
	f.Add([]byte(`[{"ean":"5900449000287","deposit":{"amount":0.5},"weight":{"min":30,"max":20}}]`))
	f.Add([]byte(`[{"ean":"5900449000287","deposit":{"amount":1e300},"diameters":{"height":-1}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Parse(data)
		if err != nil {
			return
		}
		for i, p := range ps {
			if p.EAN == "" || p.Deposit <= 0 || p.Currency == "" || p.VolumeML < 0 || p.Height < 0 || p.Diameter < 0 ||
				p.WeightWithCap < 0 || p.WeightMin < 0 || p.WeightMax < 0 || p.WeightMin > 0 && p.WeightMax > 0 && p.WeightMin > p.WeightMax {
				t.Fatalf("Parse(%s): product %d = %+v; not usable", data, i, p)
			}
		}
		c, err := New(1, ps)
		if err != nil {
			return // a code given twice
		}
		if c.Len() != len(ps) {
			t.Fatalf("New: %d products from %d", c.Len(), len(ps))
		}
		for _, p := range ps {
			if _, _, err := ean.Normalize(p.EAN); err != nil {
				continue
			}
			if got, ok := c.Lookup(p.EAN); !ok || got.EAN != p.EAN || got.Deposit != p.Deposit {
				t.Fatalf("Lookup(%q) = %+v, %v; want %+v", p.EAN, got, ok, p)
			}
		}
	})
}
