package sim

import (
	"time"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/hal"
	"periph.io/x/conn/v3/physic"
)

var (
	_ hal.LoadCell    = (*cell)(nil)
	_ hal.MetalSensor = (*metalSensor)(nil)
	_ hal.ShapeSensor = (*shapeSensor)(nil)
	_ hal.Conveyor    = (*conveyor)(nil)
	_ hal.Printer     = (*printer)(nil)
)

// ChamberCell is the chamber's load cell: it weighs the container in the
// chamber, if any.
func (m *Machine) ChamberCell() hal.LoadCell { return &cell{m: m, bag: false} }

// BagCell is the bag scale: it weighs what is physically in the bag.
func (m *Machine) BagCell() hal.LoadCell { return &cell{m: m, bag: true} }

// MetalSensor senses the container in the chamber.
func (m *Machine) MetalSensor() hal.MetalSensor { return &metalSensor{m} }

// ShapeSensor measures the container in the chamber.
func (m *Machine) ShapeSensor() hal.ShapeSensor { return &shapeSensor{m} }

// Conveyor is the belt.
func (m *Machine) Conveyor() hal.Conveyor { return &conveyor{m} }

// Printer records what it prints; see Tickets.
func (m *Machine) Printer() hal.Printer { return &printer{m} }

type cell struct {
	m   *Machine
	bag bool
}

func (c *cell) String() string {
	if c.bag {
		return "sim-bag-cell"
	}
	return "sim-chamber-cell"
}

func (c *cell) Halt() error { return nil }

// ReadRaw returns the counts the cell's HX711 would show for the true load,
// with uniform noise.
func (c *cell) ReadRaw() (int32, error) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	var load physic.Mass
	model, cal := m.cfg.ChamberCell, m.chamberCal
	if c.bag {
		model, cal = m.cfg.BagCell, m.bagCal
		load = m.ref
		for _, x := range m.inBag {
			load += x.Mass
		}
	} else {
		if m.sensorBad {
			return 0, ErrSensor
		}
		if m.at == locChamber {
			load = m.cur.Mass
		}
	}
	raw := int64(cal.Raw(load))
	if n := model.NoiseCounts; n > 0 {
		raw += int64(m.rng.Int32N(2*n+1) - n)
	}
	return int32(min(max(raw, int64(calib.RailLow)), int64(calib.RailHigh))), nil
}

type metalSensor struct{ m *Machine }

func (s *metalSensor) String() string { return "sim-metal-sensor" }
func (s *metalSensor) Halt() error    { return nil }

// Metal reports the container in the chamber's Metal; false when empty.
func (s *metalSensor) Metal() (bool, error) {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	return m.at == locChamber && m.cur.Metal, nil
}

type shapeSensor struct{ m *Machine }

func (s *shapeSensor) String() string { return "sim-shape-sensor" }
func (s *shapeSensor) Halt() error    { return nil }

// shapeNoise bounds the measuring error: well under the 10% the controller
// allows, and under 1 mm.
const shapeNoise = 500 * physic.MicroMetre

// Measure returns the shape of the container in the chamber, each dimension
// off by up to half a millimetre. An empty chamber, or a container the sensor
// cannot see (Shape nil), gives ErrNoShape.
func (s *shapeSensor) Measure() (hal.Shape, error) {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catchUp()
	if m.at != locChamber || m.cur.Shape == nil {
		return hal.Shape{}, ErrNoShape
	}
	jitter := func() physic.Distance {
		return physic.Distance(m.rng.Int64N(int64(2*shapeNoise+1))) - shapeNoise
	}
	sh := *m.cur.Shape
	sh.Height += jitter()
	sh.Diameter += jitter()
	return sh, nil
}

type conveyor struct{ m *Machine }

func (c *conveyor) String() string { return "sim-conveyor" }

// Halt stops the belt.
func (c *conveyor) Halt() error { return c.Stop() }

// Forward runs the belt forward for at most limit.
func (c *conveyor) Forward(limit time.Duration) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.m.command(true, limit)
}

// Reverse runs the belt backward for at most limit.
func (c *conveyor) Reverse(limit time.Duration) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.m.command(false, limit)
}

// Stop stops the belt where it is; it is idempotent.
func (c *conveyor) Stop() error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.catchUp()
	c.m.halt()
	return nil
}

type printer struct{ m *Machine }

func (p *printer) String() string { return "sim-printer" }
func (p *printer) Halt() error    { return nil }

// Print records t.
func (p *printer) Print(t hal.Ticket) error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	t.Lines = append([]string(nil), t.Lines...)
	p.m.tickets = append(p.m.tickets, t)
	return nil
}
