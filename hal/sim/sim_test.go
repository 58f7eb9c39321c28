package sim

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/physic"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

const limit = 5 * time.Second

// ctl is a minimal controller for the tests: it runs every container in to
// the chamber, then accepts or rejects it as decide says, and stops the belt
// when the move is done. It logs what it sees.
type ctl struct {
	t      *testing.T
	m      *Machine
	clk    *clock.Fake
	decide func(Container) bool // by the container's ID-independent fields
	phase  string
	log    []string
	cuts   []Cut
	cur    Container
	raws   bool // log the chamber's raw samples too
}

func newCtl(t *testing.T, cfg Config, decide func(Container) bool) *ctl {
	t.Helper()
	clk := clock.NewFake(t0)
	m, err := New(clk, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if decide == nil {
		decide = func(Container) bool { return true }
	}
	return &ctl{t: t, m: m, clk: clk, decide: decide, phase: "idle"}
}

func (c *ctl) logf(format string, args ...any) {
	c.log = append(c.log, fmt.Sprintf("%6dms ", c.clk.Now().Sub(t0).Milliseconds())+fmt.Sprintf(format, args...))
}

func (c *ctl) insert(x Container) {
	c.t.Helper()
	if err := c.m.Insert(x); err != nil {
		c.t.Fatalf("Insert(%+v): %v", x, err)
	}
	c.cur = x
}

// run delivers events until nothing is scheduled.
func (c *ctl) run() {
	c.t.Helper()
	for n := 0; ; n++ {
		if n > 1000 {
			c.t.Fatalf("more than 1000 events: the simulation does not settle")
		}
		ev, cut, ok := c.m.Pop()
		if !ok {
			return
		}
		if !ev.At.Equal(c.clk.Now()) {
			c.t.Fatalf("event %v at %v, clock at %v", ev.Kind, ev.At, c.clk.Now())
		}
		if cut != CutNone {
			c.logf("CUT %v (event %v)", cut, ev.Kind)
			c.cuts = append(c.cuts, cut)
			c.m.PowerRestored()
			c.phase = "idle"
			continue
		}
		c.handle(ev)
	}
}

func (c *ctl) handle(ev hal.Event) {
	c.t.Helper()
	switch ev.Kind {
	case hal.BarcodeRead:
		c.logf("%v %v %q", ev.Kind, ev.Barcode.Status, ev.Barcode.Code)
	case hal.DeviceFault:
		c.logf("%v %v", ev.Kind, ev.Fault)
	default:
		c.logf("%v", ev.Kind)
	}
	conv := c.m.Conveyor()
	must := func(err error) {
		if err != nil {
			c.t.Fatalf("conveyor: %v", err)
		}
	}
	switch {
	case ev.Kind == hal.EntryBlocked && c.phase == "idle":
		c.phase = "intake"
		must(conv.Forward(limit))
	case ev.Kind == hal.ChamberBlocked && c.phase == "intake":
		must(conv.Stop())
		c.logf("  chamber %s", c.weigh())
		if c.decide(c.cur) {
			c.phase = "accept"
			must(conv.Forward(limit))
		} else {
			c.phase = "reject"
			must(conv.Reverse(limit))
		}
	case ev.Kind == hal.ExitCleared && c.phase == "accept":
		must(conv.Stop())
		c.phase = "idle"
	case ev.Kind == hal.EntryCleared && (c.phase == "reject" || c.phase == "accept"):
		must(conv.Stop())
		c.phase = "idle"
	case ev.Kind == hal.ConveyorHalted:
		c.phase = "idle"
	}
}

// weigh reads the chamber the way a controller would.
func (c *ctl) weigh() string {
	c.t.Helper()
	cal := calib.Calibration{Offset: c.m.cfg.ChamberCell.Offset, CountsPerKg: c.m.cfg.ChamberCell.CountsPerKg, Resolution: 100 * physic.MilliGram}
	mass, raws, err := readMass(c.m.ChamberCell(), cal)
	if err != nil {
		c.t.Fatalf("chamber cell: %v", err)
	}
	if c.raws {
		c.logf("  raw %v", raws)
	}
	metal, _ := c.m.MetalSensor().Metal()
	shape := "none"
	if s, err := c.m.ShapeSensor().Measure(); err == nil {
		shape = fmt.Sprintf("%dx%dum", s.Height/physic.MicroMetre, s.Diameter/physic.MicroMetre)
	}
	return fmt.Sprintf("%v metal=%t shape=%s", mass, metal, shape)
}

func readMass(lc hal.LoadCell, cal calib.Calibration) (physic.Mass, []int32, error) {
	raws := make([]int32, 5)
	for i := range raws {
		r, err := lc.ReadRaw()
		if err != nil {
			return 0, nil, err
		}
		raws[i] = r
	}
	m, err := cal.Mass(calib.Median(raws))
	return m, raws, err
}

func bagMass(t *testing.T, m *Machine) physic.Mass {
	t.Helper()
	cal := calib.Calibration{Offset: m.cfg.BagCell.Offset, CountsPerKg: m.cfg.BagCell.CountsPerKg, Resolution: physic.Gram}
	got, _, err := readMass(m.BagCell(), cal)
	if err != nil {
		t.Fatalf("bag cell: %v", err)
	}
	return got
}

func bottle() Container {
	return Container{Code: "5901234123457", Mass: 25 * physic.Gram,
		Shape: &hal.Shape{Height: 230 * physic.MilliMetre, Diameter: 65 * physic.MilliMetre}}
}

func with(c Container, f func(*Container)) Container { f(&c); return c }

func TestTrips(t *testing.T) {
	tests := []struct {
		name   string
		c      Container
		accept bool
		want   []string
		inBag  int
	}{
		{"accept", bottle(), true, []string{
			"     0ms entry-blocked",
			"   100ms entry-cleared",
			`   200ms barcode-read 0 "5901234123457"`,
			"   400ms chamber-blocked",
			"   400ms   chamber 25g metal=false shape=230000x65000um",
			"   400ms chamber-cleared",
			"   700ms exit-blocked",
			"   700ms exit-cleared",
		}, 1},
		{"reject", bottle(), false, []string{
			"     0ms entry-blocked",
			"   100ms entry-cleared",
			`   200ms barcode-read 0 "5901234123457"`,
			"   400ms chamber-blocked",
			"   400ms   chamber 25g metal=false shape=230000x65000um",
			"   400ms chamber-cleared",
			"   900ms entry-blocked",
			"  1200ms entry-cleared",
		}, 0},
		{"pullback", with(bottle(), func(c *Container) { c.Pullback = true }), true, []string{
			"     0ms entry-blocked",
			"   100ms entry-cleared",
			`   200ms barcode-read 0 "5901234123457"`,
			"   400ms chamber-blocked",
			"   400ms   chamber 25g metal=false shape=230000x65000um",
			"   400ms chamber-cleared",
			"   650ms entry-blocked",
			"   900ms entry-cleared",
		}, 0},
		{"missing barcode", with(bottle(), func(c *Container) { c.Barcode = BarcodeMissing; c.Metal = true; c.Shape = nil }), false, []string{
			"     0ms entry-blocked",
			"   100ms entry-cleared",
			"   400ms chamber-blocked",
			"   400ms   chamber 25g metal=true shape=none",
			"   400ms chamber-cleared",
			"   900ms entry-blocked",
			"  1200ms entry-cleared",
		}, 0},
		{"damaged barcode", with(bottle(), func(c *Container) { c.Barcode = BarcodeDamaged; c.Mass = 310 * physic.Gram }), false, []string{
			"     0ms entry-blocked",
			"   100ms entry-cleared",
			`   200ms barcode-read 1 ""`,
			"   400ms chamber-blocked",
			"   400ms   chamber 310g metal=false shape=230000x65000um",
			"   400ms chamber-cleared",
			"   900ms entry-blocked",
			"  1200ms entry-cleared",
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig(1)
			cfg.ChamberCell.NoiseCounts = 0 // exact shapes and weights in the log
			c := newCtl(t, cfg, func(Container) bool { return tt.accept })
			c.insert(tt.c)
			c.run()
			// The shape noise is bounded but not zero; the log shows
			// shapes rounded to whole millimetres.
			for i, l := range c.log {
				c.log[i] = roundShape(l)
			}
			if !slices.Equal(c.log, tt.want) {
				t.Errorf("trip %s:\n%s\nwant\n%s", tt.name, strings.Join(c.log, "\n"), strings.Join(tt.want, "\n"))
			}
			if c.m.Busy() {
				t.Errorf("Busy() = true after the trip; want false")
			}
			if got := len(c.m.InBag()); got != tt.inBag {
				t.Errorf("len(InBag()) = %d; want %d", got, tt.inBag)
			}
			if want := physic.Mass(tt.inBag) * tt.c.Mass; bagMass(t, c.m) != want {
				t.Errorf("bag scale = %v; want %v", bagMass(t, c.m), want)
			}
		})
	}
}

// roundShape rewrites "shape=230412x64871um" as "shape=230000x65000um".
func roundShape(l string) string {
	var h, d int64
	i := strings.Index(l, "shape=")
	if i < 0 {
		return l
	}
	if _, err := fmt.Sscanf(l[i:], "shape=%dx%dum", &h, &d); err != nil {
		return l
	}
	r := func(v int64) int64 { return (v + 500) / 1000 * 1000 }
	return l[:i] + fmt.Sprintf("shape=%dx%dum", r(h), r(d))
}
