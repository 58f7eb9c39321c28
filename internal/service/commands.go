package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/service/wire"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

func fail(code, format string, args ...any) wire.Reply {
	return wire.Reply{Code: code, Error: fmt.Sprintf(format, args...)}
}

func okText(data any, format string, args ...any) wire.Reply {
	r := wire.Reply{OK: true, Text: fmt.Sprintf(format, args...)}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fail(wire.CodeFailed, "encode reply: %v", err)
		}
		r.Data = b
	}
	return r
}

// failErr maps an error from the machine to a reply.
func failErr(err error) wire.Reply {
	switch {
	case errors.Is(err, machine.ErrBusy):
		return fail(wire.CodeBusy, "%v", err)
	case errors.Is(err, errUsage):
		return fail(wire.CodeUsage, "%v", err)
	case errors.Is(err, errBusy):
		return fail(wire.CodeBusy, "%v", err)
	case errors.Is(err, calib.ErrUnstable), errors.Is(err, calib.ErrTooClose), errors.Is(err, calib.ErrSaturated),
		errors.Is(err, calib.ErrCapacity), errors.Is(err, calib.ErrLoadRange), errors.Is(err, errRefused):
		return fail(wire.CodeRefused, "%v", err)
	}
	return fail(wire.CodeFailed, "%v", err)
}

var (
	errUsage   = errors.New("service: usage")
	errBusy    = errors.New("service: scale busy")
	errRefused = errors.New("service: refused")
)

func usage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// Commands lists the console's commands, for help and for the tests that
// must drive each one.
var Commands = []string{
	"status", "sensors", "scale read", "calib tare", "calib span", "calib accept", "calib abort",
	"calib show", "calib history", "bag exchange", "seal replace", "fault clear", "actuate",
	"voucher reprint", "register", "log", "service", "sim place", "sim clear",
}

func (s *Server) handle(ctx context.Context, ss *session, req wire.Request) wire.Reply {
	if req.Cmd == "login" {
		return s.login(ctx, ss, req.PIN)
	}
	if !ss.authed {
		return fail(wire.CodeLogin, "log in first")
	}
	rep, err := s.dispatch(ctx, ss, req)
	if err != nil {
		rep = failErr(err)
	}
	switch {
	case req.Cmd == "status", req.Cmd == "sensors", req.Cmd == "scale read", req.Cmd == "calib show",
		req.Cmd == "calib history", req.Cmd == "log":
		// Looking is not an act.
	case req.Cmd == "calib accept" && rep.OK:
		// Recorded with its factors in the calibration's own transaction.
	default:
		detail := argString(req.Args)
		if !rep.OK {
			detail = strings.TrimSpace(detail + " " + rep.Error)
		}
		s.audit(ctx, ss, req.Cmd, rep.OK, detail)
	}
	return rep
}

func argString(args map[string]string) string {
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "-%s %s", k, args[k])
	}
	return b.String()
}

func (s *Server) dispatch(ctx context.Context, ss *session, req wire.Request) (wire.Reply, error) {
	a := req.Args
	switch req.Cmd {
	case "status":
		return s.status(ctx)
	case "sensors":
		return s.sensors(ctx)
	case "scale read":
		return s.scaleRead(ctx, a["scale"])
	case "calib tare":
		return s.tare(ctx, ss, a["scale"], a["hold"] == "true")
	case "calib span":
		return s.span(ctx, ss, a["scale"], a["grams"])
	case "calib accept":
		return s.accept(ctx, ss, a["scale"])
	case "calib abort":
		return s.abort(ctx, ss, a["scale"])
	case "calib show":
		return s.show(ctx)
	case "calib history":
		return s.history(ctx, a["scale"])
	case "bag exchange":
		return s.bagExchange(ctx, ss, a["seal"])
	case "seal replace":
		return s.sealReplace(ctx, ss, a["old"], a["new"])
	case "fault clear":
		return s.faultClear(ctx, ss)
	case "actuate":
		return s.actuate(ctx, a["device"], a["ms"])
	case "voucher reprint":
		return s.reprint(ctx, a["id"])
	case "register":
		if s.opts.Register == nil {
			return wire.Reply{}, fmt.Errorf("%w: this daemon runs without a fleet connection; nothing to register with", errRefused)
		}
		if err := s.opts.Register(ctx); err != nil {
			return wire.Reply{}, err
		}
		return okText(map[string]bool{"requested": true}, "registration requested from the operator"), nil
	case "log":
		return s.log(ctx, a["n"])
	case "service":
		return s.service(ctx, a["mode"])
	case "sim place", "sim clear":
		return s.sim(req.Cmd, a["grams"])
	}
	return wire.Reply{}, usage("unknown command %q (commands: %s)", req.Cmd, strings.Join(Commands, ", "))
}

// do runs f on the loop.
func (s *Server) do(ctx context.Context, f func(ctx context.Context, c *machine.Controller) (any, error)) (any, error) {
	return s.opts.Do(ctx, f)
}

// restWait bounds how long an act that needs the machine at rest waits for
// the container on its way (a trip takes a second or two).
const restWait = 30 * time.Second

// doAtRest runs f on the loop, again every 100 ms while the machine answers
// that a container is on its way (machine.ErrBusy), for up to restWait: a
// technician's "service on" waits for the customer's container instead of
// failing.
func (s *Server) doAtRest(ctx context.Context, f func(ctx context.Context, c *machine.Controller) (any, error)) (any, error) {
	deadline := s.opts.Clock.Now().Add(restWait)
	for {
		v, err := s.do(ctx, f)
		if !errors.Is(err, machine.ErrBusy) || s.opts.Clock.Now().After(deadline) {
			return v, err
		}
		if err := clock.Sleep(ctx, s.opts.Clock, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// Grams is a mass in grams as JSON shows it: 3 decimals (milligrams).
func Grams(m physic.Mass) float64 {
	return float64(m/physic.MilliGram) / 1000
}

func parseGrams(s string) (physic.Mass, error) {
	if s == "" {
		return 0, usage("-grams is required")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 1e6 {
		return 0, usage("-grams %q: want a positive number of grams", s)
	}
	return physic.Mass(f*1000+0.5) * physic.MilliGram, nil
}

func scaleName(s string) (string, error) {
	switch s {
	case "", machine.CellBag:
		return machine.CellBag, nil
	case machine.CellChamber:
		return machine.CellChamber, nil
	}
	return "", usage("-scale %q: want bag or chamber", s)
}

type statusData struct {
	machine.Status
	BagMassG        float64  `json:"bagMassG"`
	Calibrating     []string `json:"calibrating,omitempty"`
	ServiceWarnings []string `json:"serviceWarnings,omitempty"`
	ConsoleLocked   bool     `json:"consoleLocked"`
}

func (s *Server) status(ctx context.Context) (wire.Reply, error) {
	v, err := s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) { return c.Status(), nil })
	if err != nil {
		return wire.Reply{}, err
	}
	st := v.(machine.Status)
	d := statusData{Status: st, BagMassG: Grams(st.BagMass)}
	if d.ServiceWarnings, err = s.opts.Ledger.Warnings(ctx); err != nil {
		return wire.Reply{}, err
	}
	s.mu.Lock()
	for k := range s.drafts {
		d.Calibrating = append(d.Calibrating, k)
	}
	d.ConsoleLocked = s.opts.Clock.Now().Before(s.locked)
	s.mu.Unlock()
	sort.Strings(d.Calibrating)
	var b strings.Builder
	fmt.Fprintf(&b, "state %s", st.State)
	if st.Fault != "" {
		fmt.Fprintf(&b, ", fault %s", st.Fault)
	}
	if len(st.Blocked) > 0 {
		fmt.Fprintf(&b, ", intake blocked (%s)", strings.Join(st.Blocked, ", "))
	}
	fmt.Fprintf(&b, "\nbag %s: %d containers, %.0f g, %.0f%% full", st.BagID, st.BagCount, d.BagMassG, st.BagFill*100)
	if st.SessionOpen {
		fmt.Fprintf(&b, "\nsession open: %d containers, %s PLN", st.SessionCount, st.SessionCredit)
	}
	fmt.Fprintf(&b, "\nrvmId %s, catalogue version %d", st.RvmID, st.CatalogVer)
	for _, w := range d.ServiceWarnings {
		fmt.Fprintf(&b, "\nSERVICE WARNING: %s", w)
	}
	if len(d.Calibrating) > 0 {
		fmt.Fprintf(&b, "\ncalibration in progress: %s", strings.Join(d.Calibrating, ", "))
	}
	return okText(d, "%s", b.String()), nil
}

// reading is one scale's look.
type reading struct {
	Scale string  `json:"scale"`
	Grams float64 `json:"grams"`
	Raw   int32   `json:"raw"`
	Error string  `json:"error,omitempty"`
}

// readScale takes n raw samples on the loop (one act, so no container
// moves in between) and converts their median with the calibration in use.
func readScale(c *machine.Controller, name string, n int) (reading, error) {
	cell, cal, err := c.Cell(name)
	if err != nil {
		return reading{}, err
	}
	raws := make([]int32, n)
	for i := range raws {
		if raws[i], err = cell.ReadRaw(); err != nil {
			return reading{Scale: name}, fmt.Errorf("service: %s scale: %w", name, err)
		}
	}
	raw := calib.Median(raws)
	m, err := cal.Mass(raw)
	if err != nil {
		return reading{Scale: name, Raw: raw}, fmt.Errorf("service: %s scale: %w", name, err)
	}
	return reading{Scale: name, Grams: Grams(m), Raw: raw}, nil
}

func (s *Server) scaleRead(ctx context.Context, scale string) (wire.Reply, error) {
	name, err := scaleName(scale)
	if err != nil {
		return wire.Reply{}, err
	}
	v, err := s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) { return readScale(c, name, 5) })
	if err != nil {
		return wire.Reply{}, err
	}
	r := v.(reading)
	return okText(r, "%s scale: %.1f g (raw %d)", r.Scale, r.Grams, r.Raw), nil
}

type sensorsData struct {
	State   string    `json:"state"`
	Chamber reading   `json:"chamber"`
	Bag     reading   `json:"bag"`
	Metal   *bool     `json:"metal"`
	Shape   *shapeOut `json:"shape,omitempty"`
}

type shapeOut struct {
	HeightMm   float64 `json:"heightMm"`
	DiameterMm float64 `json:"diameterMm"`
}

func (s *Server) sensors(ctx context.Context) (wire.Reply, error) {
	v, err := s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		d := sensorsData{State: c.Status().State}
		var err error
		if d.Chamber, err = readScale(c, machine.CellChamber, 3); err != nil {
			d.Chamber.Error = err.Error()
		}
		if d.Bag, err = readScale(c, machine.CellBag, 3); err != nil {
			d.Bag.Error = err.Error()
		}
		dev := c.Devices()
		if dev.Metal != nil {
			if m, err := dev.Metal.Metal(); err == nil {
				d.Metal = &m
			}
		}
		if dev.Shape != nil {
			if sh, err := dev.Shape.Measure(); err == nil {
				d.Shape = &shapeOut{HeightMm: float64(sh.Height/physic.MicroMetre) / 1000, DiameterMm: float64(sh.Diameter/physic.MicroMetre) / 1000}
			}
		}
		return d, nil
	})
	if err != nil {
		return wire.Reply{}, err
	}
	d := v.(sensorsData)
	var b strings.Builder
	fmt.Fprintf(&b, "state %s\n", d.State)
	for _, r := range []reading{d.Chamber, d.Bag} {
		if r.Error != "" {
			fmt.Fprintf(&b, "%-8s scale: %s\n", r.Scale, r.Error)
		} else {
			fmt.Fprintf(&b, "%-8s scale: %10.1f g  (raw %d)\n", r.Scale, r.Grams, r.Raw)
		}
	}
	metal := "unknown"
	if d.Metal != nil {
		metal = strconv.FormatBool(*d.Metal)
	}
	fmt.Fprintf(&b, "metal: %s", metal)
	if d.Shape != nil {
		fmt.Fprintf(&b, "\nshape: %.1f mm high, %.1f mm across", d.Shape.HeightMm, d.Shape.DiameterMm)
	}
	return okText(d, "%s", b.String()), nil
}

// staffID is the lockingPersonId of a console session's bag acts: the
// technician's console, a stable UUID.
func staffID() string { return ledger.HashUUID([]byte("rvmctl technician")) }

type bagOut struct {
	BagReplacement drsapi.BagReplacement `json:"bagReplacement"`
	Warnings       []string              `json:"serviceWarnings,omitempty"`
}

func (s *Server) bagExchange(ctx context.Context, ss *session, seal string) (wire.Reply, error) {
	if seal == "" {
		if s.opts.Sim == nil {
			return wire.Reply{}, usage("-seal CODE is required: this machine's seal reader is not wired to the console")
		}
		// The simulated seal reader scans a fresh seal.
		seal = fmt.Sprintf("SIM-%d", time.Now().UnixNano())
	}
	v, err := s.doAtRest(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		ex := machine.BagExchange{Seal: seal, Staff: staffID()}
		if s.opts.Sim != nil {
			ex.Swap = func() error { s.opts.Sim.ExchangeBag(); return nil }
		}
		rep, err := c.ExchangeBag(ctx, ex)
		if err != nil {
			return nil, err
		}
		// The controller's drift watch has compared the new bag's tare.
		ws, err := c.Ledger().Warnings(ctx)
		return bagOut{rep, ws}, err
	})
	if err != nil {
		return wire.Reply{}, err
	}
	out := v.(bagOut)
	text := fmt.Sprintf("bag exchanged under seal %s", seal)
	for _, w := range out.Warnings {
		text += "\nSERVICE WARNING: " + w
	}
	return okText(out, "%s", text), nil
}

func (s *Server) sealReplace(ctx context.Context, ss *session, old, seal string) (wire.Reply, error) {
	if old == "" || seal == "" {
		return wire.Reply{}, usage("-old CODE and -new CODE are required")
	}
	v, err := s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		return c.ReplaceSeal(ctx, old, seal, staffID())
	})
	if err != nil {
		return wire.Reply{}, err
	}
	return okText(v, "seal %s replaced by %s", old, seal), nil
}

func (s *Server) faultClear(ctx context.Context, ss *session) (wire.Reply, error) {
	v, err := s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		was := c.Status().Fault
		if was == "" {
			return "", nil
		}
		if s.opts.Sim != nil {
			s.opts.Sim.ClearFaults() // the technician takes the jam out
		}
		return was, c.ClearFault(ctx, ss.name)
	})
	if err != nil {
		return wire.Reply{}, err
	}
	was := v.(string)
	if was == "" {
		return okText(map[string]string{"cleared": ""}, "no fault latched"), nil
	}
	return okText(map[string]string{"cleared": was}, "fault %s cleared", was), nil
}

func (s *Server) actuate(ctx context.Context, device, ms string) (wire.Reply, error) {
	n, err := strconv.Atoi(ms)
	if err != nil || n <= 0 {
		return wire.Reply{}, usage("-ms %q: want a positive number of milliseconds", ms)
	}
	d := time.Duration(n) * time.Millisecond
	switch device {
	case "conveyor":
	case "gate":
	default:
		return wire.Reply{}, usage("actuate %q: want conveyor or gate", device)
	}
	_, err = s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		if limit := c.ConveyorLimit(); d > limit {
			return nil, fmt.Errorf("%w: %s is over the conveyor's dead-man limit of %s", errRefused, d, limit)
		}
		if st := c.Status(); len(st.Blocked) == 0 && st.Fault == "" {
			return nil, fmt.Errorf("%w: intake is open; run 'service on' first so no customer's container is moved", errRefused)
		}
		if !c.AtRest() {
			return nil, machine.ErrBusy
		}
		if device == "gate" {
			g := c.Devices().Gate
			if g == nil {
				return nil, fmt.Errorf("%w: this machine has no gate actuator the console can drive", errRefused)
			}
			return nil, g.Pulse(d)
		}
		return nil, c.Devices().Conveyor.Forward(d)
	})
	if err != nil {
		return wire.Reply{}, err
	}
	return okText(map[string]any{"device": device, "ms": n}, "%s runs for %s, then stops by itself", device, d), nil
}

func (s *Server) reprint(ctx context.Context, id string) (wire.Reply, error) {
	if id == "" {
		return wire.Reply{}, usage("voucher reprint ID: the voucher id is required")
	}
	v, err := s.do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		vo, err := c.Reprint(ctx, id)
		if errors.Is(err, machine.ErrNoVoucher) || errors.Is(err, machine.ErrNoPrinter) {
			return nil, fmt.Errorf("%w: %v", errRefused, err)
		}
		return map[string]any{"id": vo.ID, "amount": vo.Amount, "validUntil": vo.ValidUntil}, err
	})
	if err != nil {
		return wire.Reply{}, err
	}
	return okText(v, "voucher %s reprinted", id), nil
}

type logLine struct {
	N       int64     `json:"n"`
	At      time.Time `json:"at"`
	Session string    `json:"session"`
	Action  string    `json:"action"`
	OK      bool      `json:"ok"`
	Detail  string    `json:"detail,omitempty"`
}

func (s *Server) log(ctx context.Context, n string) (wire.Reply, error) {
	k := 20
	if n != "" {
		var err error
		if k, err = strconv.Atoi(n); err != nil || k <= 0 {
			return wire.Reply{}, usage("-n %q: want a positive count", n)
		}
	}
	es, err := s.opts.Ledger.AuditLog(ctx, k)
	if err != nil {
		return wire.Reply{}, err
	}
	out := make([]logLine, 0, len(es))
	var b strings.Builder
	for _, e := range es {
		out = append(out, logLine{e.N, e.At, e.Session, e.Action, e.OK, e.Detail})
		res := "ok"
		if !e.OK {
			res = "REFUSED"
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s  %-30s %-16s %-7s %s", e.At.Format(time.RFC3339), e.Session, e.Action, res, e.Detail)
	}
	if len(out) == 0 {
		b.WriteString("audit log is empty")
	}
	return okText(out, "%s", b.String()), nil
}

func (s *Server) service(ctx context.Context, mode string) (wire.Reply, error) {
	var on bool
	switch mode {
	case "on":
		on = true
	case "off":
	default:
		return wire.Reply{}, usage("service %q: want on or off", mode)
	}
	_, err := s.doAtRest(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		if on {
			return nil, c.Block(ctx, machine.BlockService)
		}
		return nil, c.Unblock(ctx, machine.BlockService)
	})
	if err != nil {
		return wire.Reply{}, err
	}
	if on {
		return okText(map[string]bool{"service": true}, "service mode on: intake blocked while you work"), nil
	}
	return okText(map[string]bool{"service": false}, "service mode off: intake resumes unless something else blocks it"), nil
}

func (s *Server) sim(cmd, grams string) (wire.Reply, error) {
	if s.opts.Sim == nil {
		return wire.Reply{}, fmt.Errorf("%w: %s: this is not a simulated machine", errRefused, cmd)
	}
	if cmd == "sim clear" {
		s.opts.Sim.ClearReference()
		return okText(map[string]float64{"grams": 0}, "reference mass taken off the bag scale"), nil
	}
	m, err := parseGrams(grams)
	if err != nil {
		return wire.Reply{}, err
	}
	if err := s.opts.Sim.PlaceReference(m); err != nil {
		return wire.Reply{}, err
	}
	return okText(map[string]float64{"grams": Grams(m)}, "%.1f g reference mass placed on the bag scale", Grams(m)), nil
}
