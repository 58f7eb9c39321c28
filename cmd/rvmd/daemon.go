package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/internal/daemon"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/internal/sdnotify"
	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rvmd run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	simFlag := fs.Bool("sim", false, "run on the simulated machine; without it, on the Pi's devices wired by the config's pins section")
	dbPath := fs.String("db", envOr("RVM_DB", "rvmd.db"), "ledger `file` (env RVM_DB)")
	simState := fs.String("sim-state", "", "the simulated machine's journal `file` (default: DB.sim)")
	catPath := fs.String("catalog", "", "product catalogue `file` used until the fleet sends one; default: the bundled sample")
	cfgPath := fs.String("config", "", "configuration `file` (JSON)")
	mqttURL := fs.String("mqtt", envOr("RVM_MQTT", ""), "broker `URL` (env RVM_MQTT); empty: no telemetry")
	serial := fs.String("machine", "", "machine serial (overrides the config's serial)")
	user := fs.String("mqtt-user", envOr("RVM_MQTT_USER", ""), "broker username (env RVM_MQTT_USER)")
	pass := fs.String("mqtt-password", envOr("RVM_MQTT_PASSWORD", ""), "broker password (env RVM_MQTT_PASSWORD)")
	ca := fs.String("mqtt-ca", "", "CA `file` for a TLS broker (ssl://)")
	cert := fs.String("mqtt-cert", "", "client certificate `file` for a TLS broker")
	key := fs.String("mqtt-key", "", "client key `file` for a TLS broker")
	customers := fs.Bool("customers", true, "with -sim: simulated customers use the machine")
	gap := fs.Duration("customer-gap", 20*time.Second, "with -sim: mean time between simulated customers")
	fast := fs.Bool("fast", false, "with -sim: run on virtual time as fast as possible (crash tests)")
	seed := fs.Uint64("seed", 0, "seed for generated ids of a new ledger (0: random)")
	svcPath := fs.String("service", "", "the technician console's Unix socket `path` (mode 0600; default: beside the ledger, rvmd.db -> rvmd.sock)")
	verbose := fs.Bool("v", false, "log debug detail")
	halName := fs.String("hal", simrun.HALSim, "with -sim: devices: sim (the simulated machine's) or pins (the real drivers on its simulated pins)")
	ui := fs.String("ui", envOr("RVM_UI", ""), "serve the customer's kiosk page on `ADDR`, e.g. 127.0.0.1:8088 (env RVM_UI); with -sim also its /sim/ controls")
	printerOut := fs.String("printer-out", "", "with -sim -hal pins: write the ESC/POS bytes the voucher printer received to `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *serial != "" {
		cfg.Serial = *serial
	}
	cat, err := loadCatalog(*catPath)
	if err != nil {
		return err
	}
	if *simState == "" {
		*simState = *dbPath + ".sim"
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	svcRequired := *svcPath != ""
	if *svcPath == "" {
		// Beside the ledger, named after it: rvmd.db serves rvmd.sock.
		*svcPath = strings.TrimSuffix(*dbPath, filepath.Ext(*dbPath)) + ".sock"
	}
	log := newLogger(stderr, *verbose)
	opts := daemon.Options{
		Config: cfg, DBPath: *dbPath, Catalog: cat, MQTT: *mqttURL,
		Username: *user, Password: *pass, Firmware: "rvmd " + Version, Seed: *seed, Logger: log,
		UI: *ui, Service: *svcPath, ServiceRequired: svcRequired,
		// systemd's Type=notify and watchdog, on the Pi and with -sim alike.
		Notify: sdnotify.FromEnv(log),
	}
	if *ca != "" || *cert != "" {
		if opts.TLS, err = telemetry.TLSConfig(*ca, *cert, *key); err != nil {
			return err
		}
	}
	if *simFlag {
		ro := simrun.RigOptions{
			Seed: *seed, SimState: *simState, Fast: *fast, Customers: *customers, CustomerGap: *gap, HAL: *halName, Logger: log,
			// Live, the simulated cells are off their data sheet so that a
			// technician's calibration has something to find; -fast crash
			// runs keep exact cells to check money against exact physics.
			CellErrors: !*fast,
		}
		closePrinter, err := printerOutput(*printerOut, *halName, &ro.PrinterOut)
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		opts.Rig = simrun.NewRig(ro)
		err = daemon.Run(ctx, opts)
		if cerr := closePrinter(); err == nil && cerr != nil {
			err = fmt.Errorf("run: %w", cerr)
		}
		return err
	}
	if *printerOut != "" {
		return fmt.Errorf("run: -printer-out needs -sim -hal %s (on the Pi the printer's bytes go to its port)", simrun.HALPins)
	}
	// The board last, once every input is checked, and before anything
	// (the ledger included) is opened: a Pi that cannot be wired stops here.
	dev, halt, err := openBoard(cfg.Pins, log)
	if err != nil {
		return err
	}
	pi := &piRig{dev: dev, halt: halt}
	defer pi.Close()
	opts.Rig = pi
	return daemon.Run(ctx, opts)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// simulateMQTT runs a scenario and publishes every event; it returns once
// the broker acknowledged all of them, or fails after drain.
func simulateMQTT(ctx context.Context, steps []scenario.Step, opts simrun.Options, cfg config.Config, url, serial string, drain time.Duration) error {
	if opts.DBPath == "" {
		return fmt.Errorf("simulate: no database")
	}
	var pub *telemetry.Publisher
	opts.OnCommit = func(recs []outbox.Record) {
		if pub != nil {
			pub.Notify()
		}
	}
	r, err := simrun.Start(ctx, steps, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	pub, err = telemetry.NewPublisher(r.Ledger().DB(), telemetry.Options{
		Broker: url, Serial: serial, Username: os.Getenv("RVM_MQTT_USER"), Password: os.Getenv("RVM_MQTT_PASSWORD"),
		Firmware: "rvmd " + Version, Logger: opts.Logger,
		// Simulate finishes once the broker has every event
		// (docs/interfaces.md): it waits for no gateway's confirmation.
		GatewayAcks: false,
	})
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pub.Run(pctx) }()
	playErr := r.Play(ctx, steps)
	var drainErr error
	if playErr == nil {
		dctx, cancel := context.WithTimeout(ctx, drain)
		drainErr = pub.Drain(dctx)
		cancel()
		if drainErr != nil {
			drainErr = fmt.Errorf("simulate: broker %s did not acknowledge every event within %v: %w", url, drain, drainErr)
		}
	}
	stop()
	<-done
	if playErr != nil {
		return playErr
	}
	if drainErr != nil {
		return drainErr
	}
	return r.Close()
}
