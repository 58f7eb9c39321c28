package machine

import (
	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/ean"
	"github.com/deposit-rvm/rvm/machine/catalog"
)

// Reading is everything the sensors said about one container.
type Reading struct {
	Seen    bool        // the scanner saw a code (decoded or not)
	Barcode hal.Barcode // what it read, when Seen
	Mass    physic.Mass // chamber scale, calibrated
	Metal   bool
	Shape   *hal.Shape // nil when the machine has no shape sensor or it measured nothing
}

// Rules are the acceptance thresholds (docs/interfaces.md, "Rules").
type Rules struct {
	AcceptTestPhase    bool
	ShapeTolerancePct  int // height or diameter further off than this is crushed
	WeightTolerancePct int // min/max around weight.withCap where the catalogue lacks them
	// FraudBlockThreshold is how many fraud rejections (cause 1) a session may
	// have and still pay: a session with more is blocked (see Blocked). The
	// zero value blocks at the first fraud; the configuration's default
	// is config.Default().FraudBlockThreshold.
	FraudBlockThreshold int
}

// Blocked applies the operator's rule to a finished session's containers:
// more fraud rejections (pull-back, a label on the wrong container, metal
// disagreeing with the packaging) than rules.FraudBlockThreshold block the whole
// transaction. A blocked transaction is sent with transactionBlocked true
// and pays nothing.
func Blocked(causes []int, rules Rules) bool {
	n := 0
	for _, c := range causes {
		if c == drsapi.CauseFraud {
			n++
		}
	}
	return n > rules.FraudBlockThreshold
}

// Verdict is the outcome of the rules for one container.
type Verdict struct {
	Cause   int    // drsapi.Cause*
	EAN     string // normalized code; the raw code for cause 5; "" when none was read
	Product catalog.Product
	Known   bool   // Product is valid
	Why     string // Why*: which of a cause's reasons, for the customer
}

// Decide applies the rules in order, first match wins: barcode missing (4),
// damaged (3), invalid code (5), unknown or not accepted product (6), shape
// off (2), metal disagreeing with the packaging (1), too light (1), too heavy
// (6), else accepted (0).
func Decide(r Reading, cat *catalog.Catalog, rules Rules) Verdict {
	if !r.Seen {
		return Verdict{Cause: drsapi.CauseBarcodeMissing}
	}
	if r.Barcode.Status != hal.ReadOK {
		return Verdict{Cause: drsapi.CauseBarcodeDamaged}
	}
	code, _, err := ean.Normalize(r.Barcode.Code)
	if err != nil {
		return Verdict{Cause: drsapi.CauseInvalidEAN, EAN: r.Barcode.Code}
	}
	v := Verdict{EAN: code}
	if cat != nil {
		v.Product, v.Known = cat.Lookup(code)
	}
	if !v.Known || !(v.Product.Status == drsapi.StatusAccept || (rules.AcceptTestPhase && v.Product.Status == drsapi.StatusTest)) {
		v.Cause, v.Why = drsapi.CauseNotAccepted, WhyNotInSystem
		return v
	}
	p := v.Product
	if r.Shape != nil && (off(r.Shape.Height, p.Height, rules.ShapeTolerancePct) || off(r.Shape.Diameter, p.Diameter, rules.ShapeTolerancePct)) {
		v.Cause = drsapi.CauseCrushed
		return v
	}
	if p.Packaging != 0 && r.Metal != (p.Packaging == drsapi.PackagingCan) {
		v.Cause, v.Why = drsapi.CauseFraud, WhyWrongMaterial
		return v
	}
	lo, hi := WeightBounds(p, rules.WeightTolerancePct)
	if lo > 0 && r.Mass < lo {
		v.Cause, v.Why = drsapi.CauseFraud, WhyTooLight
		return v
	}
	if hi > 0 && r.Mass > hi {
		v.Cause, v.Why = drsapi.CauseNotAccepted, WhyNotEmpty
		return v
	}
	return v
}

// WeightBounds returns a product's acceptable weight range: the catalogue's
// min and max, or weight.withCap less and plus tolPct percent where they are
// missing. A zero bound is not checked.
func WeightBounds(p catalog.Product, tolPct int) (lo, hi physic.Mass) {
	lo, hi = p.WeightMin, p.WeightMax
	if lo == 0 && p.WeightWithCap > 0 {
		lo = p.WeightWithCap * physic.Mass(100-tolPct) / 100
	}
	if hi == 0 && p.WeightWithCap > 0 {
		hi = p.WeightWithCap * physic.Mass(100+tolPct) / 100
	}
	return lo, hi
}

// off reports whether got is more than tolPct percent away from want; an
// unknown want (0) is never off.
func off(got, want physic.Distance, tolPct int) bool {
	if want <= 0 {
		return false
	}
	d := got - want
	if d < 0 {
		d = -d
	}
	return d*100 > want*physic.Distance(tolPct)
}
