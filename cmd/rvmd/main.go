// Command rvmd is the reverse-vending machine's controller daemon.
//
//	rvmd simulate -catalog FILE -scenario FILE [-db FILE] [-config FILE] [-seed N] [-mqtt URL -machine SERIAL]
//	rvmd run -sim [-db FILE] [-catalog FILE] [-config FILE] [-mqtt URL] [-machine SERIAL] [-ui ADDR] [-service PATH]
//	rvmd pin set -db FILE
//	rvmd bench -containers N
//	rvmd bench-mqtt -mqtt URL -events N
//	rvmd voucher-render -code CODE -amount A -print-type N [-valid-until DATE] [-codepage cp852]
//	rvmd selftest -config FILE [-json]   (-hal pins: on the simulated machine's pins)
//
// See the README for what each does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: rvmd COMMAND [flags]

commands:
  simulate    run a scenario file against the simulated machine (docs/interfaces.md, "rvmd simulate")
  run         run the controller daemon (-sim: on the simulated machine with simulated customers)
  pin         set the technician console's PIN: rvmd pin set -db FILE (reads the PIN from stdin)
  bench       measure the intake pipeline: rvmd bench -containers N
  bench-mqtt  measure the outbox drain to a broker: rvmd bench-mqtt -mqtt URL -events N
  voucher-render  write one voucher's ESC/POS bytes to stdout: -code CODE -amount A -print-type N
  selftest    exercise each device of the Pi's wiring: rvmd selftest -config FILE [-json] (-hal pins: on the rig)
  version     print the version

Run "rvmd COMMAND -h" for a command's flags.
`

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "rvmd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "simulate":
		return runSimulate(ctx, rest, stdout, stderr)
	case "run":
		return runDaemon(ctx, rest, stdout, stderr)
	case "pin":
		return runPin(ctx, rest, os.Stdin, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "bench-mqtt":
		return runBenchMQTT(ctx, rest, stdout)
	case "voucher-render":
		return runVoucherRender(rest, stdout, stderr)
	case "selftest":
		return runSelftest(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "rvmd", Version)
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
