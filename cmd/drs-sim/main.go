// Command drs-sim runs the stand-in for the deposit-system operator's RVM
// API (package drs/drssim) for demos and tests.
//
//	drs-sim -listen ADDR [-catalog FILE] [-db FILE] [-token TOKEN]
//	        [-latency DUR] [-error-rate F] [-outage FROM-TO] [-seed N]
//
// -listen, -db and -token default to $RVM_LISTEN, $RVM_DB and
// $RVM_DRS_TOKEN; -catalog to the bundled sample (package machine/catalog/sample).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "drs-sim:", err)
		}
		os.Exit(2)
	}
}

// run parses args, starts the simulator and serves until ctx is done.
// ready, if not nil, gets the bound address (tests listen on port 0).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("drs-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", envOr(getenv, "RVM_LISTEN", "127.0.0.1:8081"), "address to listen on ($RVM_LISTEN)")
	catalogFile := fs.String("catalog", "", "product catalogue file: a JSON array of products or a GET /product page (default: the bundled sample)")
	db := fs.String("db", getenv("RVM_DB"), "SQLite file; empty keeps everything in memory ($RVM_DB)")
	token := fs.String("token", getenv("RVM_DRS_TOKEN"), "bearer token every call must carry; empty accepts any ($RVM_DRS_TOKEN)")
	latency := fs.Duration("latency", 0, "delay added to every operator call")
	errorRate := fs.Float64("error-rate", 0, "fraction of operator calls answered 503 (0..1)")
	outage := fs.String("outage", "", `window answered 503 with Retry-After: "FROM-TO" in RFC 3339, or "30s-90s" after start`)
	seed := fs.Uint64("seed", 1, "seed of fault injection, ids and voucher codes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	data, name := sample.SampleJSON, "bundled sample catalogue"
	if *catalogFile != "" {
		var err error
		if data, err = os.ReadFile(*catalogFile); err != nil {
			return err
		}
		name = *catalogFile
	}
	products, err := drssim.ParseCatalog(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	window, err := drssim.ParseOutage(*outage, time.Now())
	if err != nil {
		return err
	}
	sim, err := drssim.New(drssim.Options{
		Catalog:   products,
		DB:        *db,
		Token:     *token,
		Logger:    slog.New(slog.NewTextHandler(stderr, nil)),
		Latency:   *latency,
		ErrorRate: *errorRate,
		Outage:    window,
		Seed:      *seed,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "drs-sim listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stderr, "drs-sim: %d products from the %s\n", len(products), name)
	if ready != nil {
		ready(ln.Addr().String())
	}
	return sim.Serve(ctx, ln)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
