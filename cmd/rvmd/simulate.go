package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rvmd simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	catPath := fs.String("catalog", "", "product catalogue `file` (docs/interfaces.md, Catalogue file); default: the bundled sample")
	scenPath := fs.String("scenario", "", "scenario `file` (docs/interfaces.md, Scenario format)")
	dbPath := fs.String("db", "", "ledger `file`; default: a temporary file removed at exit")
	cfgPath := fs.String("config", "", "configuration `file` (JSON)")
	seed := fs.Uint64("seed", 0, "seed for generated ids (overrides the scenario's start line)")
	mqttURL := fs.String("mqtt", "", "broker `URL`: also publish every event and wait for every PUBACK")
	serial := fs.String("machine", "", "machine `serial` for MQTT topics")
	drain := fs.Duration("drain-timeout", 30*time.Second, "with -mqtt: fail when the broker has not acknowledged everything by then")
	verbose := fs.Bool("v", false, "log debug detail to stderr")
	halName := fs.String("hal", simrun.HALSim, "devices: sim (the simulated machine's) or pins (the real drivers on its simulated pins)")
	printerOut := fs.String("printer-out", "", "with -hal pins: write the ESC/POS bytes the voucher printer received to `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scenPath == "" {
		return fmt.Errorf("simulate: -scenario is required")
	}
	log := newLogger(stderr, *verbose)
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	cat, err := loadCatalog(*catPath)
	if err != nil {
		return err
	}
	f, err := os.Open(*scenPath)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	steps, err := scenario.Parse(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("simulate: %s: %w", *scenPath, err)
	}
	db := *dbPath
	if db == "" {
		dir, err := os.MkdirTemp("", "rvmd-simulate-")
		if err != nil {
			return err
		}
		db = filepath.Join(dir, "ledger.db")
		defer func() {
			// Events the broker never acknowledged live only in this
			// ledger: keep it rather than lose them.
			if *mqttURL != "" {
				if n, err := pendingEvents(db); n > 0 || err != nil {
					fmt.Fprintf(stderr, "simulate: %d events the broker did not acknowledge are kept in the ledger %s (remove its directory when done)\n", n, db)
					return
				}
			}
			os.RemoveAll(dir)
		}()
	}
	opts := simrun.Options{Catalog: cat, DBPath: db, Machine: simrun.MachineOptions(cfg), Out: stdout, Logger: log, HAL: *halName}
	if seedSet(fs) {
		opts.Seed = seed
	}
	closePrinter, err := printerOutput(*printerOut, *halName, &opts.PrinterOut)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if *mqttURL != "" {
		if *serial == "" {
			*serial = cfg.Serial
		}
		err = simulateMQTT(ctx, steps, opts, cfg, *mqttURL, *serial, *drain)
	} else {
		err = simrun.Run(ctx, steps, opts)
	}
	if cerr := closePrinter(); err == nil && cerr != nil {
		err = fmt.Errorf("simulate: %w", cerr)
	}
	return err
}

// printerOutput opens the -printer-out file (none when path is empty) as
// *w; the returned func closes it once the run, which writes it, is over.
func printerOutput(path, halName string, w *io.Writer) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	if halName != simrun.HALPins {
		return nil, fmt.Errorf("-printer-out needs -hal %s (the simulated printer receives no bytes)", simrun.HALPins)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	*w = f
	return f.Close, nil
}

// pendingEvents counts the outbox records of the ledger at path that no
// broker acknowledged.
func pendingEvents(path string) (int64, error) {
	led, err := ledger.Open(path)
	if err != nil {
		return 0, err
	}
	defer led.Close()
	n, _, err := outbox.Depth(context.Background(), led.DB())
	return n, err
}

func seedSet(fs *flag.FlagSet) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			set = true
		}
	})
	return set
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	lvl := slog.LevelInfo
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// loadCatalog reads a catalogue file, or the bundled sample when path is "".
func loadCatalog(path string) (*catalog.Catalog, error) {
	var ps []catalog.Product
	var err error
	if path == "" {
		ps, err = catalog.Parse(bytes.Clone(sample.SampleJSON))
	} else {
		ps, err = catalog.Load(path)
	}
	if err != nil {
		return nil, err
	}
	return catalog.New(1, ps)
}
