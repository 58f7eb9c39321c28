package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/ean"
	"github.com/deposit-rvm/rvm/internal/money"
	"periph.io/x/conn/v3/physic"
)

// Product is one catalogue entry, in the units the controller computes with.
type Product struct {
	EAN      string // normalized (ean.Normalize) when valid, else as given
	Name     string
	Deposit  money.Grosze
	Currency string // "PLN" when absent
	// Status is the collectionStatusId: drsapi.StatusEarly, StatusAccept,
	// StatusReject or StatusTest; 1 (accept) when absent.
	Status    int
	Packaging int  // packaging.packagingCode: 1 plastic, 2 can, 3 glass (0 unknown)
	Reusable  bool // packaging.reusable
	Material  int  // packaging.materialCode (WasteTypeEnum), 0 unknown
	VolumeML  int
	// Height and Diameter are 0 when unknown.
	Height, Diameter physic.Distance
	// WeightWithCap, WeightMin and WeightMax are 0 when unknown.
	WeightWithCap, WeightMin, WeightMax physic.Mass
}

// Errors the package wraps. Each wrapped error also names the product or code.
var (
	ErrNoEAN     = errors.New("catalog: no ean")
	ErrNoDeposit = errors.New("catalog: no deposit")
	ErrInvalid   = errors.New("catalog: invalid product")
	ErrDuplicate = errors.New("catalog: duplicate ean")
	ErrFormat    = errors.New("catalog: not a product array or page")
	ErrStale     = errors.New("catalog: version not newer")
)

// Limits beyond which a number is a typo rather than a container: they also
// keep the conversions to physic units far from overflowing int64.
const (
	maxGrams = 100_000 // 100 kg
	maxMM    = 10_000  // 10 m
)

// failure is an error whose text is composed freely while errors.Is still
// finds the sentinel (or the decoder's error) it carries.
type failure struct {
	msg string
	err error
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() error { return f.err }

// fail builds a failure whose text is "catalog: " + where + ": " + what
// (what losing its own "catalog: " prefix, so that wrapped sentinels read
// once) and which unwraps to err.
func fail(err error, where, what string) error {
	what = strings.TrimPrefix(what, "catalog: ")
	if where != "" {
		where += ": "
	}
	return &failure{msg: "catalog: " + where + what, err: err}
}

// Parse decodes a catalogue: an array of products or a GET /product page.
func Parse(data []byte) ([]Product, error) {
	return parse(data, "")
}

// Load reads and parses the catalogue file at path. Errors name the file.
func Load(path string) ([]Product, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fail(err, "", err.Error())
	}
	return parse(data, path)
}

func parse(data []byte, file string) ([]Product, error) {
	raws, err := split(data)
	if err != nil {
		return nil, fail(err, file, err.Error())
	}
	out := make([]Product, 0, len(raws))
	for i, raw := range raws {
		var dp drsapi.Product
		if err := json.Unmarshal(raw, &dp); err != nil {
			return nil, fail(err, join(file, label(i+1, peekName(raw))), err.Error())
		}
		p, err := fromDRS(dp)
		if err != nil {
			return nil, fail(err, join(file, label(i+1, dp.Name, dp.EAN)), err.Error())
		}
		out = append(out, p)
	}
	return out, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ": " + b
}

// split returns the raw product objects of an array or of a page's data.
// Products are decoded one by one afterwards so that an error can say which.
func split(data []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	var raws []json.RawMessage
	switch tok {
	case json.Delim('['):
		err = dec.Decode(&raws)
	case json.Delim('{'):
		var page struct {
			Data *[]json.RawMessage `json:"data"`
		}
		if err = dec.Decode(&page); err == nil && page.Data == nil {
			err = errors.New(`no "data" array`)
		}
		if page.Data != nil {
			raws = *page.Data
		}
	default:
		err = fmt.Errorf("starts with %v", tok)
	}
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("data after the catalogue")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return raws, nil
}

// peekName recovers a product's name from an object that failed to decode,
// for the error message; it gives up quietly.
func peekName(raw json.RawMessage) string {
	var v struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Name
}

// label says which product an error is about, by position (0: unknown)
// and by the first non-empty of names.
func label(pos int, names ...string) string {
	s := "product"
	if pos > 0 {
		s += " " + strconv.Itoa(pos)
	}
	for _, n := range names {
		if n != "" {
			return s + " (" + strconv.Quote(n) + ")"
		}
	}
	return s
}

// FromDRS converts an operator product. It fails (wrapping ErrNoEAN,
// ErrNoDeposit or ErrInvalid) for a product the controller cannot use.
func FromDRS(p drsapi.Product) (Product, error) {
	out, err := fromDRS(p)
	if err != nil {
		return Product{}, fail(err, label(0, p.Name, p.EAN), err.Error())
	}
	return out, nil
}

// fromDRS returns errors without the package prefix; callers add it along
// with the product's name.
func fromDRS(p drsapi.Product) (Product, error) {
	bad := func(format string, args ...any) (Product, error) {
		return Product{}, &failure{msg: fmt.Sprintf(format, args...), err: ErrInvalid}
	}
	if p.EAN == "" {
		return Product{}, ErrNoEAN
	}
	if p.Deposit == nil {
		return Product{}, ErrNoDeposit
	}
	if p.Deposit.Amount <= 0 {
		return bad("deposit %v is not positive", p.Deposit.Amount)
	}
	out := Product{
		Name:      p.Name,
		Deposit:   p.Deposit.Amount,
		Currency:  p.Deposit.Currency,
		Status:    drsapi.StatusAccept,
		Packaging: p.Packaging.PackagingCode,
		Reusable:  p.Packaging.Reusable,
		Material:  p.Packaging.MaterialCode,
		VolumeML:  p.Diameters.Volume,
	}
	out.EAN = normalized(p.EAN)
	if out.Currency == "" {
		out.Currency = "PLN"
	}
	if p.CollectionStatusID != nil {
		out.Status = *p.CollectionStatusID
	}
	if out.VolumeML < 0 {
		return bad("diameters.volume %d is negative", out.VolumeML)
	}
	for _, f := range []struct {
		name string
		v    *float64
		dst  *physic.Distance
	}{
		{"diameters.height", p.Diameters.Height, &out.Height},
		{"diameters.diameter", p.Diameters.Diameter, &out.Diameter},
	} {
		if f.v == nil {
			continue
		}
		nm, err := scaled(*f.v, 6, maxMM)
		if err != nil {
			return bad("%s %v mm: %v", f.name, *f.v, err)
		}
		*f.dst = physic.Distance(nm) * physic.NanoMetre
	}
	for _, f := range []struct {
		name string
		v    *float64
		dst  *physic.Mass
	}{
		{"weight.withCap", p.Weight.WithCap, &out.WeightWithCap},
		{"weight.min", p.Weight.Min, &out.WeightMin},
		{"weight.max", p.Weight.Max, &out.WeightMax},
	} {
		if f.v == nil {
			continue
		}
		mg, err := scaled(*f.v, 3, maxGrams)
		if err != nil {
			return bad("%s %v g: %v", f.name, *f.v, err)
		}
		*f.dst = physic.Mass(mg) * physic.MilliGram
	}
	if out.WeightMin > 0 && out.WeightMax > 0 && out.WeightMin > out.WeightMax {
		return bad("weight.min %v is above weight.max %v", out.WeightMin, out.WeightMax)
	}
	return out, nil
}

// scaled returns v·10^decimals rounded half away from zero, working on the
// shortest decimal text of v, which is the text the JSON held: multiplying
// the float would turn 20.0005 into 20000.4999… and round the wrong way.
func scaled(v float64, decimals int, limit float64) (int64, error) {
	if math.IsNaN(v) || v < 0 || v > limit {
		return 0, fmt.Errorf("out of range 0..%v", limit)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	roundUp := false
	if len(frac) > decimals {
		roundUp = frac[decimals] >= '5'
		frac = frac[:decimals]
	}
	frac += strings.Repeat("0", decimals-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, err
	}
	if roundUp {
		n++
	}
	return n, nil
}

// Catalog is an immutable set of products keyed by normalized EAN.
type Catalog struct {
	// Immutable.
	version int64
	byEAN   map[string]int // index into sorted
	sorted  []Product      // by EAN
}

// New builds a catalogue. Each product's EAN is normalized if valid, so a
// hand-built list with UPC-A codes works; two products with the same
// (normalized) EAN, or one with no EAN, is an error naming them.
func New(version int64, products []Product) (*Catalog, error) {
	byEAN := make(map[string]Product, len(products))
	for i, p := range products {
		if err := put(byEAN, p, i+1); err != nil {
			return nil, err
		}
	}
	return build(version, byEAN), nil
}

func put(byEAN map[string]Product, p Product, pos int) error {
	if p.EAN == "" {
		return fail(ErrNoEAN, label(pos, p.Name), ErrNoEAN.Error())
	}
	p.EAN = normalized(p.EAN)
	if prev, ok := byEAN[p.EAN]; ok {
		return fail(ErrDuplicate, label(pos, p.Name), fmt.Sprintf("%s %s (also %q)", ErrDuplicate, p.EAN, prev.Name))
	}
	byEAN[p.EAN] = p
	return nil
}

func build(version int64, byEAN map[string]Product) *Catalog {
	c := &Catalog{version: version, byEAN: make(map[string]int, len(byEAN)), sorted: make([]Product, 0, len(byEAN))}
	for _, p := range byEAN {
		c.sorted = append(c.sorted, p)
	}
	slices.SortFunc(c.sorted, func(a, b Product) int { return strings.Compare(a.EAN, b.EAN) })
	for i, p := range c.sorted {
		c.byEAN[p.EAN] = i
	}
	return c
}

// Lookup finds the product for a scanned code, normalized first so that a
// UPC-A or UPC-E scan finds its EAN-13 entry. A code that is not a valid EAN
// is never found. A nil Catalog (none loaded yet) finds nothing.
func (c *Catalog) Lookup(code string) (Product, bool) {
	if c == nil {
		return Product{}, false
	}
	norm, _, err := ean.Normalize(code)
	if err != nil {
		return Product{}, false
	}
	i, ok := c.byEAN[norm]
	if !ok {
		return Product{}, false
	}
	return c.sorted[i], true
}

// Version is the version the catalogue was built or last patched with.
func (c *Catalog) Version() int64 {
	if c == nil {
		return 0
	}
	return c.version
}

// Len is the number of products.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.sorted)
}

// Products returns a copy of all products, sorted by EAN.
func (c *Catalog) Products() []Product {
	if c == nil {
		return nil
	}
	return slices.Clone(c.sorted)
}

// Apply returns a new catalogue with the products in remove (by code,
// normalized like Lookup) taken out and those in upsert added or replaced;
// c itself is unchanged. Removing a code that is not there is not an error:
// an incremental pull may report a product this machine never had. version
// must be newer than c's (ErrStale), an EAN may appear once in upsert and
// not also in remove (ErrDuplicate).
func (c *Catalog) Apply(version int64, upsert []Product, remove []string) (*Catalog, error) {
	if c == nil {
		c = &Catalog{}
	}
	if version <= c.version {
		return nil, fail(ErrStale, "", fmt.Sprintf("%s: %d after %d", ErrStale, version, c.version))
	}
	byEAN := make(map[string]Product, len(c.sorted)+len(upsert))
	for _, p := range c.sorted {
		byEAN[p.EAN] = p
	}
	removed := make(map[string]bool, len(remove))
	for _, code := range remove {
		code = normalized(code)
		removed[code] = true
		delete(byEAN, code)
	}
	seen := make(map[string]Product, len(upsert))
	for i, p := range upsert {
		if p.EAN != "" && removed[normalized(p.EAN)] {
			return nil, fail(ErrDuplicate, label(i+1, p.Name), fmt.Sprintf("ean %s both upserted and removed", p.EAN))
		}
		if err := put(seen, p, i+1); err != nil {
			return nil, err
		}
	}
	for k, p := range seen {
		byEAN[k] = p
	}
	return build(version, byEAN), nil
}

func normalized(code string) string {
	if norm, _, err := ean.Normalize(code); err == nil {
		return norm
	}
	return code
}
