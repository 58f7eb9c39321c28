package sim

import (
	"fmt"
	"math/rand/v2"

	"periph.io/x/conn/v3/physic"
)

// PlaceReference puts a technician's reference mass on the bag scale (on top
// of whatever is in the bag), replacing one placed before; the console's
// "sim place" calls it. It is not part of the journal: a reference mass is
// not a container.
func (m *Machine) PlaceReference(mass physic.Mass) error {
	if mass < 0 {
		return fmt.Errorf("sim: negative reference mass %s", mass)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ref = mass
	return nil
}

// ClearReference takes the reference mass off the bag scale.
func (m *Machine) ClearReference() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ref = 0
}

// Reference is the reference mass on the bag scale now.
func (m *Machine) Reference() physic.Mass {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ref
}

// WithCellErrors returns cfg with each cell off its data sheet, as real
// cells are: a gain error of 2 to 6 percent either way and an offset error
// either way, drawn from seed. A controller that trusts the data sheet
// (cfg's cells) weighs a few percent wrong until a technician calibrates
// it. The bag cell's offset error is 200 to 2000 counts (10 to 95 g: the
// bag is weighed by its growth, so an offset never changes a credit). The
// chamber cell's is 20 to 200 counts (0.05 to 0.5 g): a real chamber
// scale is zeroed while the chamber is empty, and an offset of grams would
// turn 12 g cans into "too light" frauds, which no real machine does.
func (cfg Config) WithCellErrors(seed uint64) Config {
	r := rand.New(rand.NewPCG(seed, 0xca11b))
	skew := func(c CellModel, minOff, maxOff int) CellModel {
		ppm := int64(20_000 + r.IntN(40_001)) // 2..6 %
		if r.IntN(2) == 0 {
			ppm = -ppm
		}
		c.CountsPerKg += c.CountsPerKg * ppm / 1_000_000
		off := int32(minOff + r.IntN(maxOff-minOff+1))
		if r.IntN(2) == 0 {
			off = -off
		}
		c.Offset += off
		return c
	}
	cfg.ChamberCell = skew(cfg.ChamberCell, 20, 200)
	cfg.BagCell = skew(cfg.BagCell, 200, 2000)
	return cfg
}
