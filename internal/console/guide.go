package console

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/deposit-rvm/rvm/internal/service/wire"
)

// guide is "rvmctl calibrate": tare, one or more references, accept or
// abort, with a prompt before each step. The calibration is held by this
// session: another console is told the scale is busy, and if this one
// ends early the daemon aborts it and the old factors stay.
func guide(ctx context.Context, c *wire.Conn, scale string, o Options) error {
	if scale == "" {
		scale = "bag"
	}
	in := lines{bufio.NewReader(o.Stdin)}
	out := o.Stdout
	if o.JSON {
		out = o.Stderr // prompts for the person, stdout for the script
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	do := func(cmd string, args map[string]string) (wire.Reply, error) {
		if args == nil {
			args = map[string]string{}
		}
		args["scale"] = scale
		return c.Do(wire.Request{Cmd: cmd, Args: args})
	}
	abort := func(why string) error {
		r, err := do("calib abort", nil)
		if err != nil {
			return err
		}
		if !r.OK {
			return o.refused(r)
		}
		say("%s\n", r.Text)
		return &Error{Code: ExitFailed, Msg: "calibration aborted (" + why + "); the old factors stay in use"}
	}
	say("Calibrating the %s scale.\n", scale)
	for {
		say("Step 1: take everything off the %s scale, then press Enter (q to quit): ", scale)
		a, ok := in.next()
		if !ok || a == "q" {
			return &Error{Code: ExitFailed, Msg: "calibration not started"}
		}
		r, err := do("calib tare", map[string]string{"hold": "true"})
		if err != nil {
			return err
		}
		if r.OK {
			say("%s\n", r.Text)
			break
		}
		if r.Code != wire.CodeRefused {
			return o.refused(r)
		}
		say("refused: %s\n", r.Error)
	}
	points := 0
	for {
		if points == 0 {
			say("Step 2: place a reference mass on the scale and type its mass in grams (q to abort): ")
		} else {
			say("Add another reference (its grams), or press Enter to finish (q to abort): ")
		}
		a, ok := in.next()
		if !ok || a == "q" {
			return abort("quit")
		}
		if a == "" {
			if points > 0 {
				break
			}
			continue
		}
		r, err := do("calib span", map[string]string{"grams": strings.TrimSuffix(strings.TrimSpace(a), "g")})
		if err != nil {
			return err
		}
		if !r.OK {
			if r.Code != wire.CodeRefused && r.Code != wire.CodeUsage {
				return o.refused(r)
			}
			say("refused: %s\n", r.Error)
			continue
		}
		points++
		say("%s\n", r.Text)
	}
	say("Step 3: accept the new calibration? [y/N]: ")
	a, _ := in.next()
	if a != "y" && a != "yes" {
		return abort("not accepted")
	}
	r, err := do("calib accept", nil)
	if err != nil {
		return err
	}
	if !r.OK {
		return o.refused(r)
	}
	if o.JSON {
		return o.show(r)
	}
	say("%s\n", r.Text)
	return nil
}
