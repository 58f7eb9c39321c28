package simrun

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// Printed are the outbox kinds written to the output.
var Printed = map[string]bool{
	envelope.KindTransaction:    true,
	envelope.KindVoucher:        true,
	envelope.KindBagFillStatus:  true,
	envelope.KindBagReplacement: true,
	envelope.KindBagSeal:        true,
}

// DefaultStart is the clock's start when the scenario has no start line.
var DefaultStart = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// Options configure a run.
type Options struct {
	Catalog *catalog.Catalog
	DBPath  string
	Machine machine.Options // Clock, RvmID and Catalog are set by the run
	Seed    *uint64         // overrides the scenario's seed when set
	Timing  *sim.Timing     // nil: sim.DefaultTiming()
	Out     io.Writer       // the JSON lines; nil discards them
	Logger  *slog.Logger
	// Start sets the clock's start when the scenario has no start line
	// (live runs start at the wall clock).
	Start time.Time
	// SimState is the simulated machine's journal of physical truth; a
	// restarted process that names the same file sees the same bag.
	SimState string
	// OnCommit is called after each commit that appended outbox records
	// (all kinds), e.g. to wake an MQTT publisher.
	OnCommit func([]outbox.Record)
	// HAL is HALSim (the default) or HALPins: the real drivers on the
	// simulated machine's pins (internal/simrun/pins.go).
	HAL string
	// PrinterOut, with HALPins, receives every byte the voucher printer
	// received (ESC/POS), in order (serial.go).
	PrinterOut io.Writer
	// OnHandled, if set, is told how long the controller took over each
	// hardware event, device reads and commits included (benchmarks).
	OnHandled func(k hal.EventKind, d time.Duration)
	// CellErrors makes the simulated load cells differ from their data
	// sheet by a seeded gain and offset error (sim.Config.WithCellErrors),
	// while the machine starts with the data sheet's calibration: a
	// technician's calibration has something to find (rvmd run -sim). Off,
	// the cells match their calibration (rvmd simulate, golden outputs).
	CellErrors bool
}

// Runner holds one run's state.
type Runner struct {
	opts   Options
	clk    *clock.Fake
	sim    *sim.Machine
	led    *ledger.Ledger
	ctrl   *machine.Controller
	out    *bufio.Writer
	outErr error
	log    *slog.Logger
	seed   uint64
	rvmID  string
	shape  hal.Shape // reused for each insert's shape
	rig    *rig      // with HALPins
}

// Run plays the steps and returns once every session has ended.
func Run(ctx context.Context, steps []scenario.Step, opts Options) error {
	r, err := Start(ctx, steps, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Play(ctx, steps); err != nil {
		return err
	}
	return r.Close()
}

// Start prepares a run: the clock, the simulated machine, the ledger and the
// controller.
func Start(ctx context.Context, steps []scenario.Step, opts Options) (*Runner, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	r := &Runner{opts: opts, out: bufio.NewWriter(out), log: opts.Logger, seed: 1}
	start := DefaultStart
	if !opts.Start.IsZero() {
		start = opts.Start
	}
	if len(steps) > 0 && steps[0].Op == scenario.OpStart {
		if !steps[0].At.IsZero() {
			start = steps[0].At
		}
		r.rvmID = steps[0].RvmID
		if steps[0].Seed != nil {
			r.seed = uint64(*steps[0].Seed)
		}
	}
	if opts.Seed != nil {
		r.seed = *opts.Seed
	}
	if r.rvmID == "" {
		r.rvmID = opts.Machine.RvmID
	}
	if r.rvmID == "" {
		r.rvmID = ledger.HashUUID([]byte(fmt.Sprintf("rvm-%d", r.seed)))
	}
	r.clk = clock.NewFake(start.UTC())
	cfg := sim.DefaultConfig(r.seed)
	if opts.Timing != nil {
		cfg.Timing = *opts.Timing
	}
	sheet := cfg
	if opts.CellErrors {
		cfg = cfg.WithCellErrors(r.seed)
	}
	cfg.StatePath = opts.SimState
	var err error
	if r.sim, err = sim.New(r.clk, cfg); err != nil {
		return nil, fmt.Errorf("simrun: %w", err)
	}
	if r.led, err = ledger.Open(opts.DBPath); err != nil {
		return nil, err
	}
	if err := r.led.SeedIDs(ctx, r.seed); err != nil {
		r.led.Close()
		return nil, err
	}
	if err := FactoryCalibrate(ctx, r.led, r.sim, sheet, opts.CellErrors, r.clk.Now()); err != nil {
		r.led.Close()
		return nil, err
	}
	r.led.SetHook(r.onCommit)
	if err := r.boot(ctx); err != nil {
		r.closeRig()
		r.closeSerial()
		r.led.Close()
		return nil, err
	}
	return r, nil
}

// FactoryCalibrate stores the simulated cells' calibration when the ledger
// has none: the tare is read from the empty cell (median of seven raw
// readings), the gain is the cell's data sheet value (cfg). With dataSheet
// the tare is the data sheet's too, as on a machine never calibrated. The
// controller still reads raw counts with their noise and never grams from
// the simulation.
func FactoryCalibrate(ctx context.Context, led *ledger.Ledger, m *sim.Machine, cfg sim.Config, dataSheet bool, at time.Time) error {
	cells := []struct {
		name  string
		cell  hal.LoadCell
		model sim.CellModel
		res   int64
	}{
		{machine.CellChamber, m.ChamberCell(), cfg.ChamberCell, 100},
		{machine.CellBag, m.BagCell(), cfg.BagCell, 1000},
	}
	for _, c := range cells {
		if _, ok, err := led.Calibration(ctx, c.name); err != nil || ok {
			if err != nil {
				return err
			}
			continue
		}
		var raws [7]int32
		for i := range raws {
			v, err := c.cell.ReadRaw()
			if err != nil {
				return fmt.Errorf("simrun: calibrate %s: %w", c.name, err)
			}
			raws[i] = v
		}
		tare := calib.Median(raws[:])
		if c.name == machine.CellBag || dataSheet {
			// The bag cell carries the empty bag's weight in its tare;
			// the controller tares each new bag itself.
			tare = c.model.Offset
		}
		cal := ledger.Cal{Offset: tare, CountsPerKg: c.model.CountsPerKg, ResolutionMg: c.res, At: at, By: "factory"}
		if err := led.SetCalibration(ctx, c.name, cal, "simulated cell, factory data sheet"); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) boot(ctx context.Context) error {
	mo := r.opts.Machine
	mo.Clock, mo.RvmID, mo.Catalog = r.clk, r.rvmID, r.opts.Catalog
	if mo.Logger == nil {
		mo.Logger = r.log
	}
	dev, err := r.devices()
	if err != nil {
		return err
	}
	c, err := machine.New(ctx, dev, r.led, mo)
	if err != nil {
		return err
	}
	r.ctrl = c
	return nil
}

// Controller is the current controller (it changes at every power cut).
func (r *Runner) Controller() *machine.Controller { return r.ctrl }

// Ledger is the run's ledger.
func (r *Runner) Ledger() *ledger.Ledger { return r.led }

// Sim is the simulated machine.
func (r *Runner) Sim() *sim.Machine { return r.sim }

// Clock is the run's clock.
func (r *Runner) Clock() *clock.Fake { return r.clk }

func (r *Runner) onCommit(recs []outbox.Record) {
	for _, rec := range recs {
		if !Printed[rec.Kind] {
			continue
		}
		line, err := json.Marshal(struct {
			Kind string          `json:"kind"`
			Body json.RawMessage `json:"body"`
		}{rec.Kind, rec.Body})
		if err == nil {
			r.out.Write(line)
			r.out.WriteByte('\n')
		}
	}
	if r.opts.OnCommit != nil {
		r.opts.OnCommit(recs)
	}
}

// Close flushes the output and closes the ledger. It is idempotent.
func (r *Runner) Close() error {
	if r.led == nil {
		return r.outErr
	}
	err := r.out.Flush()
	if herr := r.closeRig(); err == nil {
		err = herr
	}
	if serr := r.closeSerial(); err == nil {
		err = serr
	}
	if cerr := r.led.Close(); err == nil {
		err = cerr
	}
	r.led = nil
	if r.outErr == nil {
		r.outErr = err
	}
	return err
}

// MachineOptions maps the configuration onto the controller's options: the
// one mapping rvmd simulate, rvmd run and the tests share.
func MachineOptions(c config.Config) machine.Options {
	return machine.Options{
		Rules: machine.Rules{
			AcceptTestPhase:     c.AcceptTestPhase,
			ShapeTolerancePct:   c.ShapeTolerancePct,
			WeightTolerancePct:  c.WeightTolerancePct,
			FraudBlockThreshold: c.FraudBlockThreshold,
		},
		IdleTimeout:      c.IdleTimeout,
		BagMaxContainers: c.BagMaxContainers,
		BagMaxMass:       c.BagMaxMass,
		BagWarnPct:       c.BagWarnPct,
		WasteTypes:       c.WasteTypes,
		VoucherValidity:  c.VoucherValidity,
		VoucherPrintType: c.VoucherPrintType,
		ConveyorLimit:    c.ConveyorLimit,
		BagSettle:        c.BagSettle,

		ContainerBatchMax:   c.ContainerBatchMax,
		ContainerBatchEvery: c.ContainerBatchEvery,
		DriftLimit:          c.DriftWarn,
	}
}

// grams converts scenario grams to a mass, to the milligram.
func grams(g float64) physic.Mass {
	return physic.Mass(math.Round(g*1000)) * physic.MilliGram
}

// mm converts scenario millimetres to a distance, to the micrometre.
func mm(v float64) physic.Distance {
	return physic.Distance(math.Round(v*1000)) * physic.MicroMetre
}
