package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/deposit-rvm/rvm/hal/periph/board"
	"github.com/deposit-rvm/rvm/internal/simrun"
)

func runSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rvmd selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `file` with a \"pins\" section (docs/wiring.example.json)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	wait := fs.Duration("wait", 30*time.Second, "how long each step waits for the technician")
	run := fs.Duration("run", 500*time.Millisecond, "how long the conveyor runs each way (its dead-man limit)")
	reads := fs.Int("reads", 10, "conversions read from each scale")
	halName := fs.String("hal", "periph", "periph: the Pi's devices as -config wires them; pins: the simulated machine's pins with a simulated technician (the rig)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := &board.CheckOpts{Wait: *wait, Run: *run, Reads: *reads,
		Prompt: func(_, text string) { fmt.Fprintln(stderr, "selftest:", text) }}
	var r board.Report
	switch *halName {
	case "pins":
		var err error
		if r, err = simrun.SelfTestRig(ctx, 1, opts); err != nil {
			return err
		}
	case "periph":
		if *cfgPath == "" {
			return errors.New("selftest: -config is required")
		}
		w, err := board.ParseFile(*cfgPath)
		if err != nil {
			return err
		}
		b, err := board.Open(w, nil)
		if err != nil {
			return err
		}
		defer b.Halt()
		r = board.SelfTest(ctx, b, opts)
	default:
		return fmt.Errorf("selftest: unknown -hal %q (want periph or pins)", *halName)
	}
	var err error
	if *asJSON {
		err = r.WriteJSON(stdout)
	} else {
		err = r.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if !r.OK {
		return errors.New("selftest: a device failed its check")
	}
	return nil
}
