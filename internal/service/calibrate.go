package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/service/wire"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// Capacity is what each cell may be calibrated up to: a reference heavier
// than its cell's rating is refused (the cell would be past its linear range
// or damaged).
var Capacity = map[string]physic.Mass{
	machine.CellChamber: 5 * physic.KiloGram,
	machine.CellBag:     calib.MaxLoad,
}

// maxPoints bounds the reference points of one calibration (and keeps the
// least-squares sums within 64 bits).
const maxPoints = 8

// draft is a calibration under way: the tare and the references so far.
// The factors in use change only on accept.
type draft struct {
	scale   string
	holder  *session // the guided session that owns it; nil for one-shot commands
	by      string
	started time.Time
	tare    int32
	spread  int32
	points  []calib.Point
	fit     calib.Calibration
	lin     calib.Linearity
	sauto   bool // the tare put the machine in service mode; accept or abort lifts it
}

// claim returns the scale's draft if ss may work on it. A draft held by a
// live guided session is busy for every other session; a one-shot draft is
// anyone's but a guided session's, which must not take over half a
// calibration it did not see.
func (s *Server) claim(ss *session, scale string, hold bool) (*draft, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.drafts[scale]
	if d == nil {
		return nil, nil
	}
	switch {
	case d.holder != nil && d.holder != ss:
		return nil, fmt.Errorf("%w: the %s scale is being calibrated by %s", errBusy, scale, d.by)
	case d.holder == nil && hold:
		return nil, fmt.Errorf("%w: the %s scale has a calibration under way from one-shot commands (%s): finish it or run 'calib abort'", errBusy, scale, d.by)
	}
	return d, nil
}

// draftFor names the scale and returns its draft (nil if none) if ss may
// work on it.
func (s *Server) draftFor(ss *session, scale string) (string, *draft, error) {
	name, err := scaleName(scale)
	if err != nil {
		return "", nil, err
	}
	d, err := s.claim(ss, name, false)
	return name, d, err
}

// samples reads the cell Samples times, SampleEvery apart, each reading one
// short act on the loop, and returns them with the calibration in use.
func (s *Server) samples(ctx context.Context, scale string) ([]int32, calib.Calibration, error) {
	raws := make([]int32, 0, s.opts.Samples)
	var cal calib.Calibration
	for i := 0; i < s.opts.Samples; i++ {
		if i > 0 {
			if err := clock.Sleep(ctx, s.opts.SampleEvery); err != nil {
				return nil, cal, err
			}
		}
		v, err := s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
			cell, cc, err := c.Cell(scale)
			if err != nil {
				return nil, err
			}
			cal = cc
			return cell.ReadRaw()
		})
		if err != nil {
			return nil, cal, fmt.Errorf("service: %s scale: %w", scale, err)
		}
		raws = append(raws, v.(int32))
	}
	return raws, cal, nil
}

// tolerance is how far a settled cell's samples may spread: one gram's
// worth of counts under the calibration in use, at least 10 counts.
func tolerance(cal calib.Calibration) int32 {
	perG := cal.CountsPerKg / 1000
	if perG < 0 {
		perG = -perG
	}
	return int32(max(perG, 10))
}

func (s *Server) tare(ctx context.Context, ss *session, scale string, hold bool) (wire.Reply, error) {
	name, err := scaleName(scale)
	if err != nil {
		return wire.Reply{}, err
	}
	old, err := s.claim(ss, name, hold)
	if err != nil {
		return wire.Reply{}, err
	}
	// Intake stops for the calibration: a container landing on the cell
	// mid-tare would become its zero.
	v, err := s.doAtRest(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		for _, b := range c.Status().Blocked {
			if b == machine.BlockService {
				return false, nil
			}
		}
		return true, c.Block(ctx, machine.BlockService)
	})
	if err != nil {
		return wire.Reply{}, err
	}
	sauto := v.(bool) || old != nil && old.sauto
	raws, cal, err := s.samples(ctx, name)
	if err != nil {
		return wire.Reply{}, err
	}
	med, spread, err := calib.Stable(raws, tolerance(cal))
	if err != nil {
		if sauto && old == nil {
			s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
				return nil, c.Unblock(ctx, machine.BlockService)
			})
		}
		return wire.Reply{}, fmt.Errorf("tare refused, keep the scale still and empty: %w", err)
	}
	d := &draft{scale: name, by: ss.name, started: s.opts.Clock.Now(), tare: med, spread: spread, sauto: sauto}
	if hold {
		d.holder = ss
	}
	s.mu.Lock()
	s.drafts[name] = d
	s.mu.Unlock()
	return okText(map[string]any{"scale": name, "tareRaw": med, "spreadCounts": spread, "samples": len(raws)},
		"%s scale tared at %d counts (%d samples within %d counts); now place a reference mass and run 'calib span -grams G'",
		name, med, len(raws), spread), nil
}

type fitData struct {
	Scale        string     `json:"scale"`
	TareRaw      int32      `json:"tareRaw"`
	Points       []pointOut `json:"points"`
	Offset       int32      `json:"offset"`
	CountsPerKg  int64      `json:"countsPerKg"`
	LinearityPPM int64      `json:"linearityPpm"`
}

type pointOut struct {
	Grams float64 `json:"grams"`
	Raw   int32   `json:"raw"`
	ReadG float64 `json:"readG"`
	PPM   int64   `json:"errorPpm"`
}

func (d *draft) data() fitData {
	f := fitData{Scale: d.scale, TareRaw: d.tare, Offset: d.fit.Offset, CountsPerKg: d.fit.CountsPerKg, LinearityPPM: d.lin.MaxPPM}
	for i, p := range d.points {
		po := pointOut{Grams: Grams(p.Load), Raw: p.Raw}
		if i < len(d.lin.Points) {
			po.ReadG, po.PPM = Grams(d.lin.Points[i].Read), d.lin.Points[i].PPM
		}
		f.Points = append(f.Points, po)
	}
	return f
}

func (d *draft) refs() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tare %d counts", d.tare)
	for _, p := range d.points {
		fmt.Fprintf(&b, "; %.3f g at %d counts", Grams(p.Load), p.Raw)
	}
	fmt.Fprintf(&b, "; linearity %d ppm", d.lin.MaxPPM)
	return b.String()
}

func (s *Server) span(ctx context.Context, ss *session, scale, grams string) (wire.Reply, error) {
	load, err := parseGrams(grams)
	if err != nil {
		return wire.Reply{}, err
	}
	name, d, err := s.draftFor(ss, scale)
	if err != nil {
		return wire.Reply{}, err
	}
	if d == nil {
		return wire.Reply{}, fmt.Errorf("%w: no tare for the %s scale: run 'calib tare' first", errRefused, name)
	}
	if len(d.points) >= maxPoints {
		return wire.Reply{}, fmt.Errorf("%w: %d reference points already; accept or abort", errRefused, maxPoints)
	}
	if c := Capacity[name]; load > c {
		return wire.Reply{}, fmt.Errorf("span refused: %w: %s over the %s cell's %s", calib.ErrCapacity, load, name, c)
	}
	raws, cal, err := s.samples(ctx, name)
	if err != nil {
		return wire.Reply{}, err
	}
	raw, _, err := calib.Stable(raws, tolerance(cal))
	if err != nil {
		return wire.Reply{}, fmt.Errorf("span refused, let the reference mass settle: %w", err)
	}
	points := append(append([]calib.Point(nil), d.points...), calib.Point{Load: load, Raw: raw})
	fit, lin, err := calib.Fit(d.tare, points, cal.Resolution, Capacity[name])
	if err != nil {
		return wire.Reply{}, fmt.Errorf("span refused: %w", err)
	}
	s.mu.Lock()
	d.points, d.fit, d.lin = points, fit, lin
	data := d.data()
	s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s scale: %.1f g reads %d counts; new factors: offset %d, %d counts/kg (in use: offset %d, %d counts/kg)",
		name, Grams(load), raw, fit.Offset, fit.CountsPerKg, cal.Offset, cal.CountsPerKg)
	if len(points) > 1 {
		fmt.Fprintf(&b, "\nlinearity over %d references: worst %d ppm", len(points), lin.MaxPPM)
		for _, r := range lin.Points {
			fmt.Fprintf(&b, "\n  %10.1f g reads %10.1f g (%+d ppm)", Grams(r.Load), Grams(r.Read), r.PPM)
		}
	}
	b.WriteString("\nrun 'calib accept' to use them, 'calib abort' to keep the old ones, or add another reference")
	return okText(data, "%s", b.String()), nil
}

func (s *Server) accept(ctx context.Context, ss *session, scale string) (wire.Reply, error) {
	name, d, err := s.draftFor(ss, scale)
	if err != nil {
		return wire.Reply{}, err
	}
	if d == nil || len(d.points) == 0 {
		return wire.Reply{}, fmt.Errorf("%w: nothing to accept for the %s scale: 'calib tare' then 'calib span -grams G' first", errRefused, name)
	}
	s.mu.Lock()
	fit, refs, lin, sauto := d.fit, d.refs(), d.lin.MaxPPM, d.sauto
	s.mu.Unlock()
	_, err = s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		_, old, err := c.Cell(name)
		if err != nil {
			return nil, err
		}
		ch := ledger.CalChange{
			Cell: name, At: s.opts.Clock.Now().UTC(), By: ss.name, Refs: refs, LinearityPPM: lin,
			Old: ledger.Cal{Offset: old.Offset, CountsPerKg: old.CountsPerKg, ResolutionMg: int64(old.Resolution / physic.MilliGram)},
			New: ledger.Cal{Offset: fit.Offset, CountsPerKg: fit.CountsPerKg, ResolutionMg: int64(fit.Resolution / physic.MilliGram)},
		}
		ch.New.At, ch.New.By = ch.At, ch.By
		if err := c.Ledger().RecordCalibration(ctx, ch, c.RvmID()); err != nil {
			return nil, err
		}
		if err := c.UseCalibration(name, fit); err != nil {
			return nil, err
		}
		if name == machine.CellBag {
			// The drift is calibrated away.
			if err := c.Ledger().ClearWarning(ctx, machine.WarnBagDrift); err != nil {
				return nil, err
			}
		}
		if sauto {
			return nil, c.Unblock(ctx, machine.BlockService)
		}
		return nil, nil
	})
	if err != nil {
		return wire.Reply{}, err
	}
	s.mu.Lock()
	delete(s.drafts, name)
	s.mu.Unlock()
	return okText(map[string]any{"scale": name, "offset": fit.Offset, "countsPerKg": fit.CountsPerKg, "linearityPpm": lin},
		"%s scale calibrated: offset %d, %d counts/kg, now in use", name, fit.Offset, fit.CountsPerKg), nil
}

func (s *Server) abort(ctx context.Context, ss *session, scale string) (wire.Reply, error) {
	name, d, err := s.draftFor(ss, scale)
	if err != nil {
		return wire.Reply{}, err
	}
	if d == nil {
		return okText(map[string]any{"scale": name, "aborted": false}, "no calibration under way for the %s scale; factors unchanged", name), nil
	}
	s.drop(ctx, d)
	return okText(map[string]any{"scale": name, "aborted": true}, "%s scale calibration aborted; the old factors stay in use", name), nil
}

// drop forgets a draft and lifts the service mode its tare set.
func (s *Server) drop(ctx context.Context, d *draft) {
	s.mu.Lock()
	if s.drafts[d.scale] == d {
		delete(s.drafts, d.scale)
	}
	s.mu.Unlock()
	// When the daemon stops (ctx ended) the loop is gone and so is the
	// service block, which lives in memory only.
	if d.sauto && ctx.Err() == nil {
		s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
			return nil, c.Unblock(ctx, machine.BlockService)
		})
	}
}

// dropHeld aborts the drafts a guided session held when it ends without
// accepting: the old factors stay.
func (s *Server) dropHeld(ctx context.Context, ss *session) {
	s.mu.Lock()
	var held []*draft
	for _, d := range s.drafts {
		if d.holder == ss {
			held = append(held, d)
		}
	}
	s.mu.Unlock()
	for _, d := range held {
		s.drop(ctx, d)
		s.audit(ctx, ss, "calib abort", true, "-scale "+d.scale+" (session ended)")
	}
}

type calOut struct {
	Scale        string   `json:"scale"`
	Offset       int32    `json:"offset"`
	CountsPerKg  int64    `json:"countsPerKg"`
	ResolutionMg int64    `json:"resolutionMg"`
	Draft        *fitData `json:"draft,omitempty"`
}

func (s *Server) show(ctx context.Context) (wire.Reply, error) {
	v, err := s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		var out []calOut
		for _, n := range []string{machine.CellChamber, machine.CellBag} {
			_, cal, err := c.Cell(n)
			if err != nil {
				return nil, err
			}
			out = append(out, calOut{Scale: n, Offset: cal.Offset, CountsPerKg: cal.CountsPerKg, ResolutionMg: int64(cal.Resolution / physic.MilliGram)})
		}
		return out, nil
	})
	if err != nil {
		return wire.Reply{}, err
	}
	out := v.([]calOut)
	var b strings.Builder
	s.mu.Lock()
	for i := range out {
		if d := s.drafts[out[i].Scale]; d != nil {
			f := d.data()
			out[i].Draft = &f
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-8s offset %d, %d counts/kg, resolution %d mg", out[i].Scale, out[i].Offset, out[i].CountsPerKg, out[i].ResolutionMg)
		if d := out[i].Draft; d != nil {
			fmt.Fprintf(&b, "\n         under way: tare %d, %d reference(s)", d.TareRaw, len(d.Points))
			if len(d.Points) > 0 {
				fmt.Fprintf(&b, ", new factors offset %d, %d counts/kg (not in use until 'calib accept')", d.Offset, d.CountsPerKg)
			}
		}
	}
	s.mu.Unlock()
	return okText(out, "%s", b.String()), nil
}

type historyOut struct {
	Scale        string    `json:"scale"`
	At           time.Time `json:"at"`
	By           string    `json:"by"`
	OldOffset    int32     `json:"oldOffset"`
	OldPerKg     int64     `json:"oldCountsPerKg"`
	NewOffset    int32     `json:"newOffset"`
	NewPerKg     int64     `json:"newCountsPerKg"`
	References   string    `json:"references"`
	LinearityPPM int64     `json:"linearityPpm"`
}

func (s *Server) history(ctx context.Context, scale string) (wire.Reply, error) {
	name := ""
	if scale != "" {
		var err error
		if name, err = scaleName(scale); err != nil {
			return wire.Reply{}, err
		}
	}
	hs, err := s.opts.Ledger.CalibrationHistory(ctx, name)
	if err != nil {
		return wire.Reply{}, err
	}
	out := make([]historyOut, 0, len(hs))
	var b strings.Builder
	for _, h := range hs {
		out = append(out, historyOut{h.Cell, h.At, h.By, h.Old.Offset, h.Old.CountsPerKg, h.New.Offset, h.New.CountsPerKg, h.Refs, h.LinearityPPM})
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s %-8s by %s: offset %d -> %d, %d -> %d counts/kg (%s)", h.At.Format(time.RFC3339), h.Cell, h.By,
			h.Old.Offset, h.New.Offset, h.Old.CountsPerKg, h.New.CountsPerKg, h.Refs)
	}
	if len(out) == 0 {
		b.WriteString("no calibration made on the console yet")
	}
	return okText(out, "%s", b.String()), nil
}
