package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/service"
	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// Options configure a daemon run.
type Options struct {
	Config   config.Config
	DBPath   string
	SimState string           // the simulated machine's journal
	Catalog  *catalog.Catalog // used when the ledger holds no catalogue yet
	MQTT     string           // broker URL; "" runs without telemetry
	Username string
	Password string
	TLS      *tls.Config
	Firmware string
	// Customers makes simulated customers use the machine, arriving on
	// average every CustomerGap (default 20 s).
	Customers   bool
	CustomerGap time.Duration
	// Fast runs on virtual time as fast as the machine can go (crash
	// tests); otherwise the simulated machine follows the wall clock.
	Fast bool
	Seed uint64
	// CellErrors: the simulated load cells differ from their data sheet by
	// a seeded gain and offset error and the machine starts uncalibrated
	// (simrun.Options.CellErrors).
	CellErrors bool
	// Service is the technician console's socket (internal/service); ""
	// serves none. Without ServiceRequired a socket that cannot be opened
	// is logged and the machine runs on without its console (customers
	// come first); with it, Run fails.
	Service         string
	ServiceRequired bool
	Logger          *slog.Logger
	// Ready, when set, is called once the controller is up.
	Ready func(*Daemon)
	// HAL is simrun.HALSim (default) or simrun.HALPins.
	HAL string
	// UI, when set, is the address the customer's kiosk page is served
	// on (package kiosk); on the simulated machine its /sim/ controls too.
	UI string
	// PrinterOut, with HALPins, receives the ESC/POS bytes the voucher
	// printer received.
	PrinterOut io.Writer
}

// Daemon is a running controller daemon.
type Daemon struct {
	opts   Options
	cfg    config.Config // Mutable, loop only.
	patch  map[string]json.RawMessage
	runner *simrun.Runner
	pub    *telemetry.Publisher
	acts   chan simrun.Act
	log    *slog.Logger
	serial string
	start  time.Time
	// onEvent feeds the kiosk; set before the controller starts.
	onEvent func(machine.Event)
}

// machineOptions maps the configuration onto the controller's options; on
// virtual time (Fast) the bag is weighed the instant a container drops.
func (d *Daemon) machineOptions(c config.Config) machine.Options {
	o := simrun.MachineOptions(c)
	o.OnEvent = d.onEvent
	if d.opts.Fast {
		o.BagSettle = 0
	}
	return o
}

// Run runs the daemon until ctx ends. On the way out an open session is
// finished (the customer's credit is printed) and, with MQTT, the offline
// status is published.
func Run(ctx context.Context, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{opts: opts, cfg: opts.Config, log: opts.Logger, acts: make(chan simrun.Act), serial: opts.Config.Serial, start: time.Now()}
	if opts.UI != "" {
		// The page is up while the machine boots; it shows the machine
		// out of order until the controller says otherwise.
		kctx, stopKiosk := context.WithCancel(context.WithoutCancel(ctx))
		wait, err := d.startKiosk(kctx)
		if err != nil {
			stopKiosk()
			return err
		}
		defer wait()
		defer stopKiosk()
	}
	so := simrun.Options{
		Catalog: opts.Catalog, DBPath: opts.DBPath, Machine: d.machineOptions(opts.Config),
		Logger: opts.Logger, Start: time.Now().UTC().Truncate(time.Second), SimState: opts.SimState,
		OnCommit: d.onCommit, HAL: opts.HAL, PrinterOut: opts.PrinterOut, CellErrors: opts.CellErrors,
	}
	if opts.Seed != 0 {
		so.Seed = &opts.Seed
	}
	if opts.Fast {
		z := sim.ZeroTiming()
		so.Timing = &z
	}
	// The ledger remembers the catalogue, configuration and rvmId that
	// commands set; they win over the files.
	pre, err := ledger.Open(opts.DBPath)
	if err != nil {
		return err
	}
	// Booting is recovery (settling what a power cut left in transit,
	// finishing the open session): it runs to its end even when a stop
	// signal arrives meanwhile; the loop then sees the signal.
	boot := context.WithoutCancel(ctx)
	restored, err := d.restore(boot, pre, &so)
	pre.Close()
	if err != nil {
		return err
	}
	r, err := simrun.Start(boot, nil, so)
	if err != nil {
		return err
	}
	defer r.Close()
	d.runner = r
	if restored.After(r.Clock().Now()) {
		r.Clock().Set(restored)
	}
	registering := opts.MQTT != "" && so.Machine.RvmID == ""
	if registering {
		if err := d.register(boot); err != nil {
			return err
		}
	}
	if opts.MQTT != "" {
		pub, err := telemetry.NewPublisher(r.Ledger().DB(), telemetry.Options{
			Broker: opts.MQTT, Serial: d.serial, Username: opts.Username, Password: opts.Password, TLS: opts.TLS,
			Firmware: opts.Firmware, Logger: opts.Logger, StatusFunc: d.status, Commands: d,
			HeartbeatInterval: opts.Config.HeartbeatInterval, HeartbeatFunc: d.heartbeat,
		})
		if err != nil {
			return err
		}
		d.pub = pub
	}
	var cu *simrun.Customers
	if opts.Customers {
		cu = simrun.NewCustomers(uint64(time.Now().UnixNano()), r.Controller().Catalog())
		if opts.CustomerGap > 0 {
			cu.MeanGap = opts.CustomerGap
		}
	}
	svcDone := make(chan error, 1)
	svcCtx, stopSvc := context.WithCancel(ctx)
	defer stopSvc()
	if opts.Service != "" {
		srv, err := d.listenService(opts.Service, opts.MQTT != "")
		switch {
		case err == nil:
			go func() { svcDone <- srv.Serve(svcCtx) }()
		case opts.ServiceRequired:
			return err
		default:
			d.log.Error("technician console unavailable", "err", err)
			svcDone <- nil
		}
	} else {
		svcDone <- nil
	}
	pubDone := make(chan error, 1)
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	if d.pub != nil {
		go func() { pubDone <- d.pub.Run(pubCtx) }()
		go d.watchBudget(ctx)
		if registering {
			go d.reregister(ctx)
		}
	} else {
		pubDone <- nil
	}
	if opts.Ready != nil {
		opts.Ready(d)
	}
	d.log.Info("rvmd running", "serial", d.serial, "rvmId", r.Controller().Status().RvmID, "db", opts.DBPath, "mqtt", opts.MQTT)
	var loopErr error
	if opts.Fast {
		loopErr = r.Fast(ctx, cu, d.acts)
	} else {
		loopErr = r.Live(ctx, cu, d.acts)
	}
	// The console goes first: its acts need the loop, which stops here.
	stopSvc()
	if err := <-svcDone; err != nil && loopErr == nil {
		loopErr = err
	}
	// Clean shutdown: finish the customer's session so their credit is
	// handed out, then let the publisher send what it can and go offline.
	fctx := context.WithoutCancel(ctx)
	if err := r.Drain(fctx); err != nil && loopErr == nil {
		loopErr = err
	}
	if c := r.Controller(); c != nil && c.SessionOpen() {
		if err := c.Finish(fctx, machine.PayoutVoucher, ""); err != nil && loopErr == nil {
			loopErr = err
		}
	}
	if d.pub != nil {
		dctx, cancel := context.WithTimeout(fctx, 3*time.Second)
		d.pub.Drain(dctx)
		cancel()
	}
	stopPub()
	if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) && loopErr == nil {
		loopErr = err
	}
	if err := r.Close(); err != nil && loopErr == nil {
		loopErr = err
	}
	return loopErr
}

// register asks the operator for the machine's rvmId through the gateway
// (a "registration" event) and keeps intake blocked until the answer comes
// back as a set-rvm-id command: transactions under a provisional id would
// be refused.
func (d *Daemon) register(ctx context.Context) error {
	c := d.runner.Controller()
	if err := c.Block(ctx, machine.BlockUnregistered); err != nil {
		return err
	}
	d.log.Info("asking the operator for an rvmId", "serial", d.cfg.Serial)
	return d.runner.Ledger().AppendEvent(ctx, envelope.KindRegistration, d.runner.Clock().Now(), "", d.registration())
}

func (d *Daemon) registration() drsapi.MachineUpdate {
	return drsapi.MachineUpdate{
		SerialNumber: d.cfg.Serial, Name: d.cfg.Name, Model: d.cfg.Model,
		Bins:         []drsapi.BinPost{{WasteType: d.cfg.WasteTypes, Litrage: d.cfg.BagLitrage}},
		Manufacturer: d.cfg.Manufacturer, DrsCpNo: d.cfg.DrsCpNo,
	}
}

// reregister repeats the registration request until the rvmId arrives: the
// request or its answer may be lost while the gateway is away (an event
// nobody subscribed to yet is dropped by the broker). The operator answers
// a repeated serial number with the same id.
func (d *Daemon) reregister(ctx context.Context) {
	t := time.NewTicker(registerRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
			for _, b := range c.Status().Blocked {
				if b == machine.BlockUnregistered {
					return true, d.runner.Ledger().AppendEvent(ctx, envelope.KindRegistration, d.runner.Clock().Now(), "", d.registration())
				}
			}
			return false, nil
		})
		if err != nil && ctx.Err() == nil {
			d.log.Error("registration", "err", err)
		}
		if again, _ := v.(bool); !again && err == nil {
			return
		}
	}
}

// registerRetry is how often an unregistered machine asks again.
var registerRetry = 15 * time.Second

// restore applies what commands persisted in the ledger: configuration
// patch, catalogue, rvmId. It returns the latest time the ledger has seen.
func (d *Daemon) restore(ctx context.Context, led *ledger.Ledger, so *simrun.Options) (time.Time, error) {
	if p, ok, err := led.Meta(ctx, "config_patch"); err != nil {
		return time.Time{}, err
	} else if ok {
		cfg, err := d.cfg.With(json.RawMessage(p))
		if err != nil {
			return time.Time{}, fmt.Errorf("daemon: stored configuration: %w", err)
		}
		d.cfg = cfg
		json.Unmarshal([]byte(p), &d.patch)
		so.Machine = d.machineOptions(cfg)
	}
	if v, products, ok, err := led.LoadCatalog(ctx); err != nil {
		return time.Time{}, err
	} else if ok {
		ps, err := catalog.Parse(products)
		if err != nil {
			return time.Time{}, fmt.Errorf("daemon: stored catalogue: %w", err)
		}
		if so.Catalog, err = catalog.New(v, ps); err != nil {
			return time.Time{}, fmt.Errorf("daemon: stored catalogue: %w", err)
		}
	}
	if id, ok, err := led.Meta(ctx, "rvm_id"); err != nil {
		return time.Time{}, err
	} else if ok && id != "" {
		so.Machine.RvmID = id
	}
	last, _, err := led.Meta(ctx, "last_transaction_at")
	if err != nil {
		return time.Time{}, err
	}
	t, _ := time.Parse(time.RFC3339Nano, last)
	return t.Add(time.Second), nil
}

func (d *Daemon) onCommit(recs []outbox.Record) {
	if d.pub != nil {
		d.pub.Notify()
		d.pub.StatusChanged()
	}
}

// listenService opens the technician console's socket beside the loop;
// its acts reach the controller through Do.
func (d *Daemon) listenService(path string, fleet bool) (*service.Server, error) {
	so := service.Options{
		Path: path, Do: d.Do, Ledger: d.runner.Ledger(), Sim: d.runner.Sim(), Logger: d.log,
		Lockout: d.cfg.ConsoleLockout,
	}
	if fleet {
		so.Register = func(ctx context.Context) error {
			_, err := d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
				return nil, d.runner.Ledger().AppendEvent(ctx, envelope.KindRegistration, d.runner.Clock().Now(), "", d.registration())
			})
			return err
		}
	}
	return service.Listen(so)
}

// Do runs f on the loop and waits for it.
func (d *Daemon) Do(ctx context.Context, f func(ctx context.Context, c *machine.Controller) (any, error)) (any, error) {
	type res struct {
		v   any
		err error
	}
	ch := make(chan res, 1)
	act := func(ctx context.Context, c *machine.Controller) {
		v, err := f(ctx, c)
		ch <- res{v, err}
	}
	select {
	case d.acts <- act:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *Daemon) status() envelope.Status {
	s := d.runner.Controller().Status()
	es := envelope.Status{
		Machine: d.serial, Firmware: d.opts.Firmware, RvmID: s.RvmID, State: s.State,
		IntakeBlocked: len(s.Blocked) > 0 || s.Fault != "", BagFill: s.BagFill, BagCount: s.BagCount, Fault: s.Fault,
	}
	if len(s.Blocked) > 0 {
		es.BlockReason = s.Blocked[0]
	}
	if last, ok, _ := d.runner.Ledger().Meta(context.Background(), "last_transaction_at"); ok {
		es.LastTransactionAt = last
	}
	return es
}

func (d *Daemon) heartbeat() envelope.Heartbeat {
	s := d.runner.Controller().Status()
	hb := envelope.Heartbeat{StatusCode: 0, PowerStatus: "mains", Uptime: int64(time.Since(d.start).Seconds())}
	switch {
	case s.Fault != "":
		hb.StatusCode = 2
	case len(s.Blocked) == 1 && s.Blocked[0] == machine.BlockBagFull:
		hb.StatusCode = 1
	case len(s.Blocked) > 0:
		hb.StatusCode = 2
	}
	return hb
}

// watchBudget blocks intake while the outbox is over its disk budget.
func (d *Daemon) watchBudget(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		over, err := telemetry.OverBudget(ctx, d.runner.Ledger().DB(), d.cfg.OutboxBudgetBytes)
		if err != nil {
			d.log.Error("outbox budget", "err", err)
			continue
		}
		d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
			if over {
				return nil, c.Block(ctx, machine.BlockOutbox)
			}
			return nil, c.Unblock(ctx, machine.BlockOutbox)
		})
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
