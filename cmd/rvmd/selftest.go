package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/deposit-rvm/rvm/hal/periph/board"
)

func runSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rvmd selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `file` with a \"pins\" section (docs/wiring.example.json)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	wait := fs.Duration("wait", 30*time.Second, "how long each step waits for the technician")
	run := fs.Duration("run", 500*time.Millisecond, "how long the conveyor runs each way (its dead-man limit)")
	reads := fs.Int("reads", 10, "conversions read from each scale")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	r := board.SelfTest(ctx, b, &board.CheckOpts{Wait: *wait, Run: *run, Reads: *reads,
		Prompt: func(_, text string) { fmt.Fprintln(stderr, "selftest:", text) }})
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
