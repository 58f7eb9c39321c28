package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/internal/sdnotify"
	"github.com/deposit-rvm/rvm/internal/service"
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
	Catalog  *catalog.Catalog // used when the ledger holds no catalogue yet
	MQTT     string           // broker URL; "" runs without telemetry
	Username string
	Password string
	TLS      *tls.Config
	Firmware string
	// Rig supplies the machine's devices: the Pi's board or the simulator.
	Rig Rig
	// Seed seeds the generated ids of a new ledger (0: leave them as the
	// ledger has them).
	Seed uint64
	// Service is the technician console's socket (internal/service); ""
	// serves none. Without ServiceRequired a socket that cannot be opened
	// is logged and the machine runs on without its console (customers
	// come first); with it, Run fails.
	Service         string
	ServiceRequired bool
	// UI, when set, is the address the customer's kiosk page is served
	// on (package kiosk); on a simulated machine (a Rig with SimHands) its
	// /sim/ controls too.
	UI     string
	Logger *slog.Logger
	// Ready, when set, is called once the controller is up.
	Ready func(*Daemon)
	// Notify, when enabled (rvmd started by systemd with Type=notify),
	// hears READY=1 once the ledger is recovered and the devices answer,
	// WATCHDOG=1 from the control loop itself and STATUS= with the
	// machine's state (package sdnotify).
	Notify *sdnotify.Notifier
}

// Rig supplies the devices the controller runs on. cmd/rvmd wires either
// the Pi's board or the simulator (package simrun) in: the daemon knows
// neither.
type Rig interface {
	// Open opens the devices and returns them with the clock the controller
	// runs on. led is the machine's ledger; last is the latest time it has
	// seen (a rig on virtual time starts after it).
	Open(ctx context.Context, led *ledger.Ledger, last time.Time) (machine.Devices, clock.Clock, error)
	// Tune adjusts the controller's options to the rig.
	Tune(o *machine.Options)
	// Run does what the rig does beside the loop (the simulator's
	// customers and staff) until ctx ends; do runs acts on the loop. It
	// returns at once when there is nothing to do but wait.
	Run(ctx context.Context, do func(context.Context, machine.ActFunc) (any, error)) error
	// Close stops every actuator and releases the devices.
	Close() error
}

// SimHands is what a simulated rig (simrun.Rig) offers beside Rig: the
// hands the kiosk's /sim/ controls and the technician console use on a
// machine that is not there (a reference mass on the bag scale, the bag
// swap, a jam taken out, a customer's container, a fault). The daemon asks
// its Rig for them; the Pi's board has none, and then the kiosk serves no
// /sim/ controls and the console no reference mass. The methods may be
// called from acts (Offer only from acts, c being the act's controller).
type SimHands interface {
	service.Sim
	// Offer tries a customer's step (insert or finish) now; false means
	// "not yet" (the chute is busy, the belt is moving).
	Offer(ctx context.Context, c *machine.Controller, st scenario.Step) bool
	// Busy reports whether a container is on its way through the machine.
	Busy() bool
	// InjectFault makes the machine raise f.
	InjectFault(f hal.Fault)
}

// Daemon is a running controller daemon.
type Daemon struct {
	opts   Options
	cfg    config.Config // Mutable, loop only.
	patch  map[string]json.RawMessage
	led    *ledger.Ledger
	clk    clock.Clock
	ctrl   *machine.Controller
	loop   *machine.Loop
	pub    *telemetry.Publisher
	link   atomic.Bool // the publisher's broker connection is up
	log    *slog.Logger
	serial string
	start  time.Time
	// onEvent feeds the kiosk; set before the controller starts.
	onEvent func(machine.Event)
	// up is closed once the loop exists (ctrl and loop set), gone when Run
	// returns: acts from the kiosk, which is up while the machine boots,
	// wait for the one or fail with the other.
	up, gone chan struct{}
}

// machineOptions maps the configuration onto the controller's options, as
// the rig tunes them.
func (d *Daemon) machineOptions(c config.Config) machine.Options {
	o := machine.OptionsFromConfig(c)
	o.OnEvent = d.onEvent
	if d.opts.Rig != nil {
		d.opts.Rig.Tune(&o)
	}
	return o
}

// Run runs the daemon until ctx ends. On the way out the loop lets a
// container on its way come to rest and finishes an open session (the
// customer's credit is printed) and, with MQTT, the offline status is
// published.
func Run(ctx context.Context, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Rig == nil {
		return errors.New("daemon: no rig supplies the devices")
	}
	d := &Daemon{opts: opts, cfg: opts.Config, log: opts.Logger, serial: opts.Config.Serial,
		up: make(chan struct{}), gone: make(chan struct{})}
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
	defer close(d.gone) // before the kiosk's wait: its acts end first
	led, err := ledger.Open(opts.DBPath)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			led.Close()
		}
	}()
	d.led = led
	// Booting is recovery (settling what a power cut left in transit,
	// finishing the open session): it runs to its end even when a stop
	// signal arrives meanwhile; the loop then sees the signal.
	boot := context.WithoutCancel(ctx)
	if opts.Seed != 0 {
		if err := led.SeedIDs(boot, opts.Seed); err != nil {
			return err
		}
	}
	// The ledger remembers the catalogue, configuration and rvmId that
	// commands set; they win over the files.
	cat, rvmID, last, err := d.restore(boot)
	if err != nil {
		return err
	}
	dev, clk, err := opts.Rig.Open(boot, led, last)
	if err != nil {
		return err
	}
	defer opts.Rig.Close()
	d.clk, d.start = clk, clk.Now()
	registering := opts.MQTT != "" && rvmID == ""
	if rvmID == "" {
		// Provisional until the operator's arrives (set-rvm-id).
		rvmID = ledger.HashUUID([]byte(fmt.Sprintf("rvm-%d", opts.Seed)))
	}
	mo := d.machineOptions(d.cfg)
	mo.Clock, mo.Logger, mo.RvmID, mo.Catalog = clk, opts.Logger, rvmID, cat
	led.SetHook(d.onCommit)
	if d.ctrl, err = machine.New(boot, dev, led, mo); err != nil {
		return err
	}
	d.loop = machine.NewLoop(d.ctrl)
	if n := opts.Notify; n.Enabled() && n.Interval() > 0 {
		// A ping at least every half period, with room to spare.
		d.loop.Beat(clock.Real{}, n.Interval()/4, func(now time.Time) {
			n.Beat(now)
			n.Status(statusLine(d.ctrl.Status()))
		})
	}
	if registering {
		if err := d.register(boot); err != nil {
			return err
		}
	}
	if opts.MQTT != "" {
		// Offline until the publisher connects: containers wait for a
		// full batch or their transaction (machine.Controller.SetLink).
		d.ctrl.SetLink(false)
		pub, err := telemetry.NewPublisher(led.DB(), telemetry.Options{
			Broker: opts.MQTT, Serial: d.serial, Username: opts.Username, Password: opts.Password, TLS: opts.TLS,
			Firmware: opts.Firmware, Logger: opts.Logger, StatusFunc: d.status, Commands: d,
			HeartbeatInterval: opts.Config.HeartbeatInterval, HeartbeatFunc: d.heartbeat,
			GatewayAcks: d.cfg.GatewayAcks,
			OnLink:      func(up bool) { d.setLink(ctx, up) },
		})
		if err != nil {
			return err
		}
		d.pub = pub
	}
	// The technician console's socket is opened before the loop runs (a
	// required one that cannot be stops the start) and served once it
	// runs: its acts need the loop.
	var srv *service.Server
	if opts.Service != "" {
		srv, err = d.listenService(opts.Service, opts.MQTT != "")
		switch {
		case err == nil:
		case opts.ServiceRequired:
			return err
		default:
			d.log.Error("technician console unavailable", "err", err)
		}
	}
	pubDone := make(chan error, 1)
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()
	if d.pub != nil {
		go func() { pubDone <- d.pub.Run(pubCtx) }()
		go d.watchBudget(ctx)
		if registering {
			go d.reregister(ctx)
		}
	} else {
		pubDone <- nil
	}
	// The loop stops after the rig: a rig on virtual time brings what is
	// on its way to rest through the loop first.
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoop()
	loopDone := make(chan error, 1)
	go func() { loopDone <- d.loop.Run(loopCtx) }()
	close(d.up)
	svcDone := make(chan error, 1)
	svcCtx, stopSvc := context.WithCancel(ctx)
	defer stopSvc()
	if srv != nil {
		go func() { svcDone <- srv.Serve(svcCtx) }()
	} else {
		svcDone <- nil
	}
	opts.Notify.Ready(statusLine(d.ctrl.Status()))
	if opts.Ready != nil {
		opts.Ready(d)
	}
	d.log.Info("rvmd running", "serial", d.serial, "rvmId", d.ctrl.Status().RvmID, "db", opts.DBPath, "mqtt", opts.MQTT)
	rigCtx, stopRig := context.WithCancel(ctx)
	rigDone := make(chan error, 1)
	go func() { rigDone <- opts.Rig.Run(rigCtx, d.loop.Do) }()
	var runErr error
	select {
	case <-d.loop.Done(): // a controller that cannot record money stops
		stopRig()
		runErr = <-rigDone
	case runErr = <-rigDone:
		if runErr == nil { // a rig with nothing to do beside the loop
			select {
			case <-ctx.Done():
			case <-d.loop.Done():
			}
		}
	}
	stopRig()
	opts.Notify.Stopping()
	// The console goes before the loop: its acts under way need it.
	stopSvc()
	if err := <-svcDone; err != nil && runErr == nil {
		runErr = err
	}
	stopLoop()
	loopErr := <-loopDone
	if loopErr == nil {
		loopErr = runErr
	}
	// Let the publisher send what it can and go offline.
	if d.pub != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		d.pub.Drain(dctx)
		cancel()
	}
	stopPub()
	if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) && loopErr == nil {
		loopErr = err
	}
	closed = true
	if err := led.Close(); err != nil && loopErr == nil {
		loopErr = err
	}
	return loopErr
}

// register asks the operator for the machine's rvmId through the gateway
// (a "registration" event) and keeps intake blocked until the answer comes
// back as a set-rvm-id command: transactions under a provisional id would
// be refused.
func (d *Daemon) register(ctx context.Context) error {
	if err := d.ctrl.Block(ctx, machine.BlockUnregistered); err != nil {
		return err
	}
	d.log.Info("asking the operator for an rvmId", "serial", d.cfg.Serial)
	return d.led.AppendEvent(ctx, envelope.KindRegistration, d.clk.Now(), "", d.registration())
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
	t := d.clk.NewTicker(registerRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		v, err := d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
			for _, b := range c.Status().Blocked {
				if b == machine.BlockUnregistered {
					return true, d.led.AppendEvent(ctx, envelope.KindRegistration, d.clk.Now(), "", d.registration())
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
// patch, catalogue, rvmId. It returns the catalogue (opts.Catalog unless the
// ledger holds one), the rvmId ("" if none) and the latest time the ledger
// has seen.
func (d *Daemon) restore(ctx context.Context) (*catalog.Catalog, string, time.Time, error) {
	led, cat := d.led, d.opts.Catalog
	if p, ok, err := led.Meta(ctx, "config_patch"); err != nil {
		return nil, "", time.Time{}, err
	} else if ok {
		cfg, err := d.cfg.With(json.RawMessage(p))
		if err != nil {
			return nil, "", time.Time{}, fmt.Errorf("daemon: stored configuration: %w", err)
		}
		d.cfg = cfg
		json.Unmarshal([]byte(p), &d.patch)
	}
	if v, products, ok, err := led.LoadCatalog(ctx); err != nil {
		return nil, "", time.Time{}, err
	} else if ok {
		ps, err := catalog.Parse(products)
		if err != nil {
			return nil, "", time.Time{}, fmt.Errorf("daemon: stored catalogue: %w", err)
		}
		if cat, err = catalog.New(v, ps); err != nil {
			return nil, "", time.Time{}, fmt.Errorf("daemon: stored catalogue: %w", err)
		}
	}
	id, _, err := led.Meta(ctx, "rvm_id")
	if err != nil {
		return nil, "", time.Time{}, err
	}
	last, _, err := led.Meta(ctx, "last_transaction_at")
	if err != nil {
		return nil, "", time.Time{}, err
	}
	t, _ := time.Parse(time.RFC3339Nano, last)
	return cat, id, t.Add(time.Second), nil
}

func (d *Daemon) onCommit(recs []outbox.Record) {
	if d.pub != nil {
		d.pub.Notify()
		d.pub.StatusChanged()
	}
}

// setLink passes the broker link's state to the controller, as an act on
// the loop in a goroutine of its own: the publisher does not wait for the
// loop. Each act applies the latest state, so acts that overtake each
// other still leave the last word.
func (d *Daemon) setLink(ctx context.Context, up bool) {
	d.link.Store(up)
	go d.loop.Do(ctx, func(_ context.Context, c *machine.Controller) (any, error) {
		c.SetLink(d.link.Load())
		return nil, nil
	})
}

// listenService opens the technician console's socket beside the loop;
// its acts reach the controller through Do. On a simulated machine the
// rig's hands (SimHands) are the technician's.
func (d *Daemon) listenService(path string, fleet bool) (*service.Server, error) {
	so := service.Options{
		Path: path, Do: d.Do, Ledger: d.led, Logger: d.log,
		Lockout: d.cfg.ConsoleLockout,
	}
	if h := d.simHands(); h != nil {
		so.Sim = h
	}
	if fleet {
		so.Register = func(ctx context.Context) error {
			_, err := d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
				return nil, d.led.AppendEvent(ctx, envelope.KindRegistration, d.clk.Now(), "", d.registration())
			})
			return err
		}
	}
	return service.Listen(so)
}

// simHands is the rig's SimHands, nil on a rig that has none (the Pi).
func (d *Daemon) simHands() SimHands {
	h, _ := d.opts.Rig.(SimHands)
	return h
}

// Do runs f on the loop and waits for it: the act-runner the fleet's
// commands, the service console and the kiosk share. Before the loop is
// up (the kiosk serves while the machine boots) it waits for it; once Run
// has returned it fails with machine.ErrStopped.
func (d *Daemon) Do(ctx context.Context, f func(ctx context.Context, c *machine.Controller) (any, error)) (any, error) {
	select {
	case <-d.up:
	case <-d.gone:
		return nil, machine.ErrStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.loop.Do(ctx, f)
}

// Controller is the running controller; call its methods only through Do
// (its Status is safe from any goroutine).
func (d *Daemon) Controller() *machine.Controller { return d.ctrl }

func (d *Daemon) status() envelope.Status {
	s := d.ctrl.Status()
	es := envelope.Status{
		Machine: d.serial, Firmware: d.opts.Firmware, RvmID: s.RvmID, State: s.State,
		IntakeBlocked: len(s.Blocked) > 0 || s.Fault != "", BagFill: s.BagFill, BagCount: s.BagCount, Fault: s.Fault,
	}
	if len(s.Blocked) > 0 {
		es.BlockReason = s.Blocked[0]
	}
	if last, ok, _ := d.led.Meta(context.Background(), "last_transaction_at"); ok {
		es.LastTransactionAt = last
	}
	return es
}

func (d *Daemon) heartbeat() envelope.Heartbeat {
	s := d.ctrl.Status()
	hb := envelope.Heartbeat{StatusCode: 0, PowerStatus: "mains", Uptime: int64(d.clk.Since(d.start).Seconds())}
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
	t := d.clk.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		over, err := telemetry.OverBudget(ctx, d.led.DB(), d.cfg.OutboxBudgetBytes)
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

// statusLine is the machine's state in one line for systemd's STATUS=
// (systemctl status rvmd): its state, then a fault or what blocks intake.
func statusLine(st machine.Status) string {
	line := st.State
	switch {
	case st.Fault != "":
		line += "; fault: " + st.Fault
	case len(st.Blocked) > 0:
		line += "; blocked: " + strings.Join(st.Blocked, ", ")
	}
	if st.SessionOpen {
		line += fmt.Sprintf("; session: %d containers", st.SessionCount)
	}
	return line
}
