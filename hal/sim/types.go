package sim

import (
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"periph.io/x/conn/v3/physic"
)

// Timing is how long the machine's mechanics take. See the package
// documentation for the timeline each duration belongs to.
type Timing struct {
	ToScanner    time.Duration // entry barrier to the scanner (the entry clears half way)
	ToChamber    time.Duration // entry barrier to the chamber; at least ToScanner
	ToExit       time.Duration // chamber to the exit barrier
	ToBag        time.Duration // exit barrier to landing in the bag
	BackToChute  time.Duration // chamber back to the entry barrier
	CustomerTake time.Duration // a container at the entry until the customer has taken it
}

// DefaultTiming is a plausible machine: a container goes from the chute to
// the bag in a little over a second.
func DefaultTiming() Timing {
	return Timing{
		ToScanner:    200 * time.Millisecond,
		ToChamber:    400 * time.Millisecond,
		ToExit:       300 * time.Millisecond,
		ToBag:        200 * time.Millisecond,
		BackToChute:  500 * time.Millisecond,
		CustomerTake: 300 * time.Millisecond,
	}
}

// ZeroTiming has no mechanical delay at all: every step of a trip happens at
// the instant it is commanded, in order. Benchmarks use it to measure the
// controller alone.
func ZeroTiming() Timing { return Timing{} }

func (t Timing) validate() error {
	for _, d := range []time.Duration{t.ToScanner, t.ToChamber, t.ToExit, t.ToBag, t.BackToChute, t.CustomerTake} {
		if d < 0 {
			return fmt.Errorf("sim: negative duration in timing %+v", t)
		}
	}
	if t.ToChamber < t.ToScanner {
		return fmt.Errorf("sim: timing: ToChamber %v is shorter than ToScanner %v (the scanner sits before the chamber)", t.ToChamber, t.ToScanner)
	}
	return nil
}

// CellModel is one simulated load cell behind an HX711: what it shows at
// zero load, how many counts a kilogram adds, and how noisy it is.
type CellModel struct {
	CountsPerKg int64
	Offset      int32
	NoiseCounts int32 // each reading is off by a uniform draw from [-NoiseCounts, NoiseCounts]
}

// Config describes the simulated machine.
type Config struct {
	Seed        uint64
	Timing      Timing
	ChamberCell CellModel
	BagCell     CellModel
	// StatePath, if set, is the journal of physical truth: every drop into
	// the bag and every bag exchange is appended and fsynced there before it
	// can be observed, and New replays it.
	StatePath string
}

// DefaultConfig is the machine the scenario runner uses: default timing, a
// chamber cell of 420 counts per gram and a bag cell of 21 counts per gram.
//
// The noise is far below what the controller rounds to: 4 counts on the
// chamber cell is under 0.01 g (it rounds to 0.1 g) and 5 counts on the bag
// cell under 0.25 g (it rounds to 1 g).
func DefaultConfig(seed uint64) Config {
	return Config{
		Seed:        seed,
		Timing:      DefaultTiming(),
		ChamberCell: CellModel{CountsPerKg: 420_000, Offset: 8_192, NoiseCounts: 4},
		BagCell:     CellModel{CountsPerKg: 21_000, Offset: -3_000, NoiseCounts: 5},
	}
}

func (c CellModel) validate(name string) error {
	if c.CountsPerKg == 0 {
		return fmt.Errorf("sim: %s cell: zero counts per kg", name)
	}
	if c.NoiseCounts < 0 {
		return fmt.Errorf("sim: %s cell: negative noise %d", name, c.NoiseCounts)
	}
	return nil
}

// Barcode is the state of the code printed on a container.
type Barcode int

// Barcode states.
const (
	BarcodeOK      Barcode = iota // the scanner decodes it
	BarcodeDamaged                // the scanner sees a code but cannot decode it
	BarcodeMissing                // the scanner sees nothing
)

var barcodeNames = [...]string{BarcodeOK: "ok", BarcodeDamaged: "damaged", BarcodeMissing: "missing"}

func (b Barcode) String() string {
	if b >= 0 && int(b) < len(barcodeNames) {
		return barcodeNames[b]
	}
	return fmt.Sprintf("Barcode(%d)", int(b))
}

// MarshalText writes the name, so the journal reads "damaged", not 1.
func (b Barcode) MarshalText() ([]byte, error) {
	if b < 0 || int(b) >= len(barcodeNames) {
		return nil, fmt.Errorf("sim: unknown barcode state %d", int(b))
	}
	return []byte(b.String()), nil
}

// UnmarshalText reads a name MarshalText wrote.
func (b *Barcode) UnmarshalText(text []byte) error {
	for i, n := range barcodeNames {
		if n == string(text) {
			*b = Barcode(i)
			return nil
		}
	}
	return fmt.Errorf("sim: unknown barcode state %q", text)
}

// CutPhase is the point of a container's trip at which the power fails.
type CutPhase int

// Cut is what Pop reports: the power failed at that phase.
type Cut = CutPhase

// Cut phases.
const (
	CutNone    CutPhase = iota
	CutScanned          // the barcode was read (or would have been), nothing decided yet
	CutChamber          // the controller commanded Forward from the chamber: it accepted
	CutBag              // the container landed in the bag
)

var cutNames = [...]string{CutNone: "none", CutScanned: "scanned", CutChamber: "chamber", CutBag: "bag"}

func (c CutPhase) String() string {
	if c >= 0 && int(c) < len(cutNames) {
		return cutNames[c]
	}
	return fmt.Sprintf("CutPhase(%d)", int(c))
}

// MarshalText writes the name.
func (c CutPhase) MarshalText() ([]byte, error) {
	if c < 0 || int(c) >= len(cutNames) {
		return nil, fmt.Errorf("sim: unknown cut phase %d", int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText reads a name MarshalText wrote.
func (c *CutPhase) UnmarshalText(text []byte) error {
	for i, n := range cutNames {
		if n == string(text) {
			*c = CutPhase(i)
			return nil
		}
	}
	return fmt.Errorf("sim: unknown cut phase %q", text)
}

// Container is one container a customer offers, as it really is.
type Container struct {
	ID       int64       `json:"id"`   // assigned by the sim (1, 2, ...) if 0
	Code     string      `json:"code"` // what is printed on it (may be an invalid code)
	Barcode  Barcode     `json:"barcode"`
	Mass     physic.Mass `json:"mass_ng"` // what it really weighs
	Metal    bool        `json:"metal"`
	Shape    *hal.Shape  `json:"shape,omitempty"`    // nil: the shape sensor measures nothing
	Pullback bool        `json:"pullback,omitempty"` // the customer pulls it back out when the belt moves it on from the chamber
	CutAt    CutPhase    `json:"cut_at,omitempty"`
}
