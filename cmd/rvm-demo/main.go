// Command rvm-demo runs the whole chain on one machine with embedded
// defaults, no outside server needed (make demo):
//
//   - an embedded MQTT broker (mochi-mqtt) on a free loopback port;
//   - drs-sim, the operator stand-in, with the bundled Polish catalogue;
//   - rvm-gateway, the RVM cloud, with its dashboard, APIs and metrics;
//   - three rvmd controllers on simulated machines with simulated customers,
//     each registering with the operator through the gateway.
//
// It prints the URLs to open; Ctrl-C stops everything cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/internal/broker"
	"github.com/deposit-rvm/rvm/internal/daemon"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "rvm-demo:", err)
		os.Exit(1)
	}
}

const demoToken = "demo-operator-token"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rvm-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "`directory` for the databases (default: a temporary one, removed at exit)")
	machines := fs.Int("machines", 3, "how many simulated machines")
	listen := fs.String("listen", "127.0.0.1:8080", "gateway HTTP `address`; a free port is used when it is taken")
	gap := fs.Duration("customer-gap", 6*time.Second, "mean time between simulated customers at each machine")
	verbose := fs.Bool("v", false, "log everything to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lvl := slog.LevelWarn
	if *verbose {
		lvl = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if *dir == "" {
		d, err := os.MkdirTemp("", "rvm-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The broker outlives everything that talks through it: it stops last,
	// after the machines have published their offline status.
	mqttURL, stopBroker, err := broker.Start(context.WithoutCancel(ctx), "127.0.0.1:0", log.With("part", "broker"))
	if err != nil {
		return err
	}
	defer stopBroker()

	products, err := drssim.ParseCatalog(sample.JSON())
	if err != nil {
		return err
	}
	sim, err := drssim.New(drssim.Options{Catalog: products, DB: filepath.Join(*dir, "drs-sim.db"), Token: demoToken, Logger: log.With("part", "drs-sim")})
	if err != nil {
		return err
	}
	defer sim.Close()
	drsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	drsURL := "http://" + drsLn.Addr().String()

	gw, err := gateway.New(gateway.Options{
		MQTTURL: mqttURL, DRSURL: drsURL, DRSToken: demoToken, DB: filepath.Join(*dir, "gateway.db"),
		ClientID: "rvm-gateway-demo", Logger: log.With("part", "gateway"),
	})
	if err != nil {
		return err
	}
	defer gw.Close()
	gwLn, err := net.Listen("tcp", *listen)
	if err != nil {
		gwLn, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
	}
	gwURL := "http://" + gwLn.Addr().String()
	gwSrv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 5 * time.Second}

	var wg sync.WaitGroup
	errs := make(chan error, 3+*machines)
	goRun := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	goRun("drs-sim", func() error { return sim.Serve(ctx, drsLn) })
	goRun("gateway", func() error { return gw.Run(ctx) })
	goRun("gateway http", func() error {
		go func() { <-ctx.Done(); gwSrv.Shutdown(context.WithoutCancel(ctx)) }()
		return gwSrv.Serve(gwLn)
	})
	cat, err := catalog.Parse(sample.JSON())
	if err != nil {
		return err
	}
	initial, err := catalog.New(1, cat)
	if err != nil {
		return err
	}
	for i := 1; i <= *machines; i++ {
		cfg := config.Default()
		cfg.Serial = fmt.Sprintf("RVM-DEMO-%04d", i)
		cfg.Name = fmt.Sprintf("Demo store %d, Warszawa", i)
		cfg.Model, cfg.Manufacturer, cfg.DrsCpNo = "RVM-1", "deposit-rvm", fmt.Sprintf("1100061-%03d", i)
		db := filepath.Join(*dir, cfg.Serial+".db")
		opts := daemon.Options{
			Config: cfg, DBPath: db, SimState: db + ".sim", Catalog: initial, MQTT: mqttURL,
			Firmware: "rvmd demo", Customers: true, CustomerGap: *gap, Seed: uint64(i), Logger: log.With("part", cfg.Serial),
		}
		goRun(cfg.Serial, func() error { return daemon.Run(ctx, opts) })
	}

	fmt.Fprintf(stdout, `rvm demo is running (Ctrl-C stops it)

  fleet dashboard   %[1]s/
  machines (JSON)   %[1]s/api/machines
  failure report    %[1]s/api/failures
  metrics           %[1]s/metrics
  drs-sim           %[2]s/_sim/transactions
                    (curl -H 'Authorization: Bearer %[5]s' ...)
  MQTT broker       %[3]s  (mosquitto_sub -L '%[3]s/rvm/#' -v)
  data              %[4]s
`, gwURL, drsURL, mqttURL, *dir, demoToken)

	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping...")
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
