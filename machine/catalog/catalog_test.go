package catalog

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/ean"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"periph.io/x/conn/v3/physic"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// dump renders products one a line in a form that shows every field exactly.
func dump(ps []Product) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s %q deposit=%d %s status=%d pkg=%d reusable=%t material=%d volume=%d height=%dnm diameter=%dnm withCap=%dmg min=%dmg max=%dmg\n",
			p.EAN, p.Name, p.Deposit, p.Currency, p.Status, p.Packaging, p.Reusable, p.Material, p.VolumeML,
			int64(p.Height), int64(p.Diameter),
			int64(p.WeightWithCap/physic.MilliGram), int64(p.WeightMin/physic.MilliGram), int64(p.WeightMax/physic.MilliGram))
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestLoadGolden(t *testing.T) {
	ps, err := Load(filepath.Join("testdata", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "catalog.golden", dump(ps))
}

func TestSampleGolden(t *testing.T) {
	ps, err := Parse(sample.JSON())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sample.golden", dump(ps))
}

// TestSampleRealistic keeps the bundled sample what the demos need: valid
// Polish codes, a deposit for every product, one of each status.
func TestSampleRealistic(t *testing.T) {
	ps, err := Parse(sample.SampleJSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) < 15 || len(ps) > 25 {
		t.Errorf("sample has %d products; want 15..25", len(ps))
	}
	statuses := map[int]int{}
	for _, p := range ps {
		statuses[p.Status]++
		if _, kind, err := ean.Normalize(p.EAN); err != nil || kind != ean.EAN13 || !strings.HasPrefix(p.EAN, "590") {
			t.Errorf("sample product %q: ean %s (%v, %v); want a valid 590 EAN-13", p.Name, p.EAN, kind, err)
		}
		want := money.Grosze(50)
		if p.Reusable {
			want = 100
		}
		if p.Deposit != want {
			t.Errorf("sample product %q: deposit %v; want %v", p.Name, p.Deposit, want)
		}
		if p.WeightWithCap == 0 && (p.WeightMin == 0 || p.WeightMax == 0) {
			t.Errorf("sample product %q: neither withCap nor min and max", p.Name)
		}
	}
	for st := 0; st <= 3; st++ {
		if statuses[st] == 0 {
			t.Errorf("sample has no product with collectionStatusId %d", st)
		}
	}
	if _, err := New(1, ps); err != nil {
		t.Errorf("New(sample) = %v; want nil", err)
	}
}

func TestParseForms(t *testing.T) {
	tests := []struct {
		in   string
		want []string // EANs
	}{
		{`[]`, nil},
		{` [ {"ean":"5901234123457","deposit":{"amount":0.5}} ] `, []string{"5901234123457"}},
		{`{"pageNo":1,"pageSize":50,"totalItemCount":1,"data":[{"ean":"5901234123457","deposit":{"amount":0.5}}]}`, []string{"5901234123457"}},
		{`{"data":[],"extra":{"nested":[1,2]}}`, nil},
		{`[{"ean":"042100005264","deposit":{"amount":0.5},"future":{"x":1}}]`, []string{"0042100005264"}},
	}
	for _, tt := range tests {
		ps, err := Parse([]byte(tt.in))
		var got []string
		for _, p := range ps {
			got = append(got, p.EAN)
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error // nil: only the message is checked
		wantMsg string
	}{
		{``, ErrFormat, "catalog: not a product array or page: EOF"},
		{`"x"`, ErrFormat, "catalog: not a product array or page: starts with x"},
		{`{"pageNo":1}`, ErrFormat, `catalog: not a product array or page: no "data" array`},
		{`[] []`, ErrFormat, "catalog: not a product array or page: data after the catalogue"},
		{`[{"ean":"5901234123457","deposit":{"amount":0.5}}`, ErrFormat, ""},
		{`[{"ean":"5901234123457","deposit":{"amount":0.5}},{"ean":"5900541000178","name":"Żywiec"},{"name":"Cola 0.5","ean":"5900449000287"}]`,
			ErrNoDeposit, `catalog: product 2 ("Żywiec"): no deposit`},
		{`[{"ean":"5901234123457","deposit":{"amount":0.5}},{"ean":"5900541000178","deposit":{"amount":0.5}},{"name":"Cola 0.5","ean":"5900449000287"}]`,
			ErrNoDeposit, `catalog: product 3 ("Cola 0.5"): no deposit`},
		{`[{"name":"Cola 0.5","deposit":{"amount":0.5}}]`, ErrNoEAN, `catalog: product 1 ("Cola 0.5"): no ean`},
		{`[{"ean":"5900449000287","deposit":{"amount":0.5}},{}]`, ErrNoEAN, `catalog: product 2: no ean`},
		{`[{"ean":"5900449000287","deposit":{"amount":0}}]`, ErrInvalid, `catalog: product 1 ("5900449000287"): deposit 0.00 is not positive`},
		{`[{"ean":"5900449000287","name":"Cola","deposit":{"amount":-0.5}}]`, ErrInvalid, `catalog: product 1 ("Cola"): deposit -0.50 is not positive`},
		{`[{"ean":"5900449000287","name":"Cola","deposit":{"amount":0.505}}]`, money.ErrFormat, `catalog: product 1 ("Cola"): money: not an amount with at most two decimals: "0.505"`},
		{`[{"ean":5900449000287,"name":"Cola","deposit":{"amount":0.5}}]`, nil, `catalog: product 1 ("Cola"): json: cannot unmarshal`},
		{`[{"ean":"5900449000287","name":"Cola","deposit":{"amount":0.5},"weight":{"min":-1}}]`, ErrInvalid, `catalog: product 1 ("Cola"): weight.min -1 g: out of range 0..100000`},
		{`[{"ean":"5900449000287","name":"Cola","deposit":{"amount":0.5},"weight":{"max":1e9}}]`, ErrInvalid, `catalog: product 1 ("Cola"): weight.max 1e+09 g: out of range 0..100000`},
		{`[{"ean":"5900449000287","name":"Cola","deposit":{"amount":0.5},"weight":{"min":30,"max":20}}]`, ErrInvalid, `catalog: product 1 ("Cola"): weight.min 30g is above weight.max 20g`},
		{`[{"ean":"5900449000287","name":"Cola","deposit":{"amount":0.5},"diameters":{"height":-3}}]`, ErrInvalid, `catalog: product 1 ("Cola"): diameters.height -3 mm: out of range 0..10000`},
		{`[{"ean":"5900449000287","name":"Cola","deposit":{"amount":0.5},"diameters":{"diameter":20000}}]`, ErrInvalid, `catalog: product 1 ("Cola"): diameters.diameter 20000 mm: out of range 0..10000`},
		{`[{"ean":"5900449000287","name":"Cola","deposit":{"amount":0.5},"diameters":{"volume":-1}}]`, ErrInvalid, `catalog: product 1 ("Cola"): diameters.volume -1 is negative`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.HasPrefix(err.Error(), tt.wantMsg) {
			t.Errorf("Parse(%q) = %v; want %v (%q)", tt.in, err, tt.wantErr, tt.wantMsg)
		}
	}
}

func TestLoadErrorsNameFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"name":"Cola 0.5","ean":"5900449000287"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		wantErr error
		wantMsg string
	}{
		{bad, ErrNoDeposit, "catalog: " + bad + `: product 1 ("Cola 0.5"): no deposit`},
		{filepath.Join(dir, "missing.json"), os.ErrNotExist, "catalog: open " + filepath.Join(dir, "missing.json")},
	}
	for _, tt := range tests {
		_, err := Load(tt.path)
		if !errors.Is(err, tt.wantErr) || err == nil || !strings.HasPrefix(err.Error(), tt.wantMsg) {
			t.Errorf("Load(%q) = %v; want %v (%q)", tt.path, err, tt.wantErr, tt.wantMsg)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestFromDRS(t *testing.T) {
	full := drsapi.Product{
		EAN: "04252614", Name: "UPC-E can",
		Deposit:            &drsapi.Deposit{Amount: 50, Currency: "EUR"},
		CollectionStatusID: ptr(drsapi.StatusTest),
		Packaging:          drsapi.Packaging{Reusable: false, PackagingCode: drsapi.PackagingCan, MaterialCode: drsapi.WasteAluminium},
		Diameters:          drsapi.Diameters{Volume: 330, Height: ptr(115.25), Diameter: ptr(66.0)},
		Weight:             drsapi.Weight{WithCap: ptr(12.0015), Min: ptr(0.0004), Max: ptr(14.9995)},
	}
	tests := []struct {
		in      drsapi.Product
		want    Product
		wantErr error
	}{
		{full, Product{
			EAN: "0042100005264", Name: "UPC-E can", Deposit: 50, Currency: "EUR", Status: 3,
			Packaging: 2, Material: 3, VolumeML: 330,
			Height: 115250 * physic.MicroMetre, Diameter: 66 * physic.MilliMetre,
			WeightWithCap: 12002 * physic.MilliGram, WeightMin: 0, WeightMax: 15 * physic.Gram,
		}, nil},
		{drsapi.Product{EAN: "abc", Deposit: &drsapi.Deposit{Amount: 100}},
			Product{EAN: "abc", Deposit: 100, Currency: "PLN", Status: 1}, nil},
		{drsapi.Product{Name: "x", Deposit: &drsapi.Deposit{Amount: 100}}, Product{}, ErrNoEAN},
		{drsapi.Product{EAN: "5901234123457"}, Product{}, ErrNoDeposit},
	}
	for _, tt := range tests {
		got, err := FromDRS(tt.in)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("FromDRS(%+v) = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	_, err := FromDRS(drsapi.Product{EAN: "5901234123457", Name: "Cola 0.5"})
	if want := `catalog: product ("Cola 0.5"): no deposit`; err == nil || err.Error() != want {
		t.Errorf("FromDRS(no deposit) = %v; want %s", err, want)
	}
}

func TestScaledRounding(t *testing.T) {
	tests := []struct {
		v    float64
		want int64
	}{
		{0, 0}, {20, 20000}, {20.0005, 20001}, {20.0004999, 20000}, {0.0005, 1}, {0.0004, 0},
		{32.1, 32100}, {0.1 + 0.2, 300}, {99999.9999, 100000000}, {1e-9, 0},
	}
	for _, tt := range tests {
		if got, err := scaled(tt.v, 3, maxGrams); got != tt.want || err != nil {
			t.Errorf("scaled(%v, 3) = %v, %v; want %v, nil", tt.v, got, err, tt.want)
		}
	}
}

func mustNew(t *testing.T, version int64, ps ...Product) *Catalog {
	t.Helper()
	c, err := New(version, ps)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewAndLookup(t *testing.T) {
	c := mustNew(t, 7,
		Product{EAN: "5901234123457", Name: "a", Deposit: 50},
		Product{EAN: "042100005264", Name: "upc-a", Deposit: 50}, // normalized by New
		Product{EAN: "96385074", Name: "ean-8", Deposit: 50},
		Product{EAN: "bad", Name: "unreachable", Deposit: 50},
	)
	tests := []struct {
		code   string
		want   string // name, "" for not found
		wantOK bool
	}{
		{"5901234123457", "a", true},
		{"042100005264", "upc-a", true},
		{"0042100005264", "upc-a", true},
		{"04252614", "upc-a", true},
		{"96385074", "ean-8", true},
		{"bad", "", false},
		{"5901234123458", "", false},
		{"5900541000178", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		p, ok := c.Lookup(tt.code)
		if p.Name != tt.want || ok != tt.wantOK {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.code, p.Name, ok, tt.want, tt.wantOK)
		}
	}
	if c.Version() != 7 || c.Len() != 4 {
		t.Errorf("Version(), Len() = %d, %d; want 7, 4", c.Version(), c.Len())
	}
	var eans []string
	for _, p := range c.Products() {
		eans = append(eans, p.EAN)
	}
	if got, want := strings.Join(eans, " "), "0042100005264 5901234123457 96385074 bad"; got != want {
		t.Errorf("Products() = %s; want %s", got, want)
	}
	c.Products()[0].Name = "changed"
	if p, _ := c.Lookup("0042100005264"); p.Name != "upc-a" {
		t.Errorf("changing Products() result changed the catalogue: Lookup = %q", p.Name)
	}
}

func TestNilCatalog(t *testing.T) {
	var c *Catalog
	if _, ok := c.Lookup("5901234123457"); ok || c.Len() != 0 || c.Version() != 0 || c.Products() != nil {
		t.Errorf("nil Catalog: Lookup ok=%v Len=%d Version=%d; want false, 0, 0", ok, c.Len(), c.Version())
	}
	n, err := c.Apply(1, []Product{{EAN: "5901234123457", Deposit: 50}}, nil)
	if err != nil || n.Len() != 1 {
		t.Errorf("nil.Apply = %v, %v; want one product", n, err)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		in      []Product
		wantErr error
		wantMsg string
	}{
		{[]Product{{EAN: "5901234123457", Name: "a"}, {EAN: "5901234123457", Name: "b"}}, ErrDuplicate,
			`catalog: product 2 ("b"): duplicate ean 5901234123457 (also "a")`},
		{[]Product{{EAN: "0042100005264", Name: "a"}, {EAN: "04252614", Name: "b"}}, ErrDuplicate,
			`catalog: product 2 ("b"): duplicate ean 0042100005264 (also "a")`},
		{[]Product{{EAN: "5901234123457", Name: "a"}, {Name: "b"}}, ErrNoEAN, `catalog: product 2 ("b"): no ean`},
	}
	for _, tt := range tests {
		c, err := New(1, tt.in)
		if c != nil || !errors.Is(err, tt.wantErr) || err.Error() != tt.wantMsg {
			t.Errorf("New(%v) = %v, %v; want nil, %q", tt.in, c, err, tt.wantMsg)
		}
	}
}

func TestApply(t *testing.T) {
	base := mustNew(t, 10,
		Product{EAN: "5901234123457", Name: "a", Deposit: 50},
		Product{EAN: "5900541000178", Name: "b", Deposit: 50},
		Product{EAN: "0042100005264", Name: "c", Deposit: 50},
	)
	tests := []struct {
		name    string
		version int64
		upsert  []Product
		remove  []string
		want    string // "ean=name ..." sorted
		wantErr error
	}{
		{"replace and add", 11, []Product{{EAN: "5900541000178", Name: "b2"}, {EAN: "96385074", Name: "d"}}, nil,
			"0042100005264=c 5900541000178=b2 5901234123457=a 96385074=d", nil},
		{"remove by UPC-A and unknown", 11, nil, []string{"042100005264", "5900449000287"},
			"5900541000178=b 5901234123457=a", nil},
		{"stale", 10, nil, nil, "", ErrStale},
		{"older", 3, nil, nil, "", ErrStale},
		{"upsert twice", 11, []Product{{EAN: "96385074", Name: "d"}, {EAN: "96385074", Name: "e"}}, nil, "", ErrDuplicate},
		{"upsert and remove", 11, []Product{{EAN: "042100005264", Name: "c2"}}, []string{"0042100005264"}, "", ErrDuplicate},
		{"no ean", 11, []Product{{Name: "x"}}, nil, "", ErrNoEAN},
	}
	for _, tt := range tests {
		got, err := base.Apply(tt.version, tt.upsert, tt.remove)
		var s []string
		if got != nil {
			for _, p := range got.Products() {
				s = append(s, p.EAN+"="+p.Name)
			}
			if got.Version() != tt.version {
				t.Errorf("%s: Apply version = %d; want %d", tt.name, got.Version(), tt.version)
			}
		}
		if strings.Join(s, " ") != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Apply(%d, %v, %q) = %q, %v; want %q, %v", tt.name, tt.version, tt.upsert, tt.remove, strings.Join(s, " "), err, tt.want, tt.wantErr)
		}
	}
	if p, ok := base.Lookup("5900541000178"); !ok || p.Name != "b" || base.Len() != 3 || base.Version() != 10 {
		t.Errorf("Apply changed the original catalogue: Lookup = %q, %v; Len %d; Version %d", p.Name, ok, base.Len(), base.Version())
	}
}

// TestConcurrentReaders runs readers against a catalogue while successors
// are built from it; -race reports any write to shared state.
func TestConcurrentReaders(t *testing.T) {
	ps, err := Parse(sample.SampleJSON)
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, 1, ps...)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				for _, p := range ps {
					if _, ok := c.Lookup(p.EAN); !ok {
						t.Errorf("Lookup(%q) not found", p.EAN)
						return
					}
				}
				_ = c.Products()
			}
		}()
	}
	next := c
	for v := int64(2); v < 50; v++ {
		if next, err = next.Apply(v, ps[:3], []string{ps[5].EAN}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if next.Len() != len(ps)-1 || c.Len() != len(ps) {
		t.Errorf("after Apply: Len %d and %d; want %d and %d", next.Len(), c.Len(), len(ps)-1, len(ps))
	}
}

func BenchmarkLookup(b *testing.B) {
	ps, err := Parse(sample.SampleJSON)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(1, ps)
	if err != nil {
		b.Fatal(err)
	}
	code := ps[7].EAN
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Lookup(code); !ok {
			b.Fatal("not found")
		}
	}
}
