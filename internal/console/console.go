package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/service/wire"
)

// Exit codes Run's errors carry (see ExitCode).
const (
	ExitFailed = 1 // the daemon refused or the act failed
	ExitUsage  = 2 // bad command line
)

// Error is a failure with the exit code rvmctl should end with.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// ExitCode is the process exit code for err: 0 for nil.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailed
}

func usageErr(format string, args ...any) error {
	return &Error{Code: ExitUsage, Msg: fmt.Sprintf(format, args...)}
}

// Options configure one rvmctl run.
type Options struct {
	Socket string
	JSON   bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// PIN returns the technician PIN: RVMCTL_PIN, else a prompt without
	// echo on the terminal (see TerminalPIN).
	PIN func() (string, error)
}

// Usage lists the commands.
const Usage = `usage: rvmctl [-socket PATH] [-json] COMMAND [ARGS]

commands:
  status                         the machine's state, bag, blocks, warnings
  sensors [-watch] [-every D] [-count N]
                                 both scales, metal and shape sensors
  scale read [-scale bag|chamber]
  calib tare [-scale S]          zero from stable samples (intake stops while calibrating)
  calib span -grams G [-scale S] a reference mass on the scale; repeat for more points
  calib accept [-scale S]        put the new factors in use
  calib abort [-scale S]         keep the old factors
  calib show                     factors in use and any calibration under way
  calib history [-scale S]       every calibration made on the console
  calibrate [-scale S]           the same steps as a guided flow with prompts
  bag exchange [-seal CODE]      weigh and close the full bag, tare the new one (-seal: the
                                 seal's number where the seal reader is not wired; the
                                 simulated machine scans a fresh one)
  seal replace -old CODE -new CODE
  fault clear                    clear a latched fault
  actuate conveyor|gate -ms N    run an actuator (within its dead-man limit; service mode)
  voucher reprint ID
  register                       ask the operator for the machine's rvmId again
  log [-n N]                     the audit log
  service on|off                 block intake while you work, and lift it
  sim place -grams G             (simulated machine) a reference mass on the bag scale
  sim clear                      (simulated machine) take it off

The PIN comes from RVMCTL_PIN or a prompt without echo. Exit status 0 only on success.
`

// parsed is one command line turned into a request.
type parsed struct {
	req   wire.Request
	watch bool
	every time.Duration
	count int
	guide bool
}

func parse(args []string) (parsed, error) {
	if len(args) == 0 {
		return parsed{}, usageErr("no command\n%s", Usage)
	}
	var p parsed
	fs := flag.NewFlagSet("rvmctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	str := func(name, usage string) *string { return fs.String(name, "", usage) }
	var positional []string
	word := args[0]
	rest := args[1:]
	two := func(allowed ...string) error {
		if len(rest) == 0 {
			return usageErr("%s: want one of %s", word, strings.Join(allowed, ", "))
		}
		for _, a := range allowed {
			if rest[0] == a {
				word, rest = word+" "+a, rest[1:]
				return nil
			}
		}
		return usageErr("%s %s: unknown (want one of %s)", word, rest[0], strings.Join(allowed, ", "))
	}
	flags := map[string]*string{}
	want := func(names ...string) {
		for _, n := range names {
			flags[n] = str(n, "")
		}
	}
	var err error
	switch word {
	case "status", "register":
	case "sensors":
		fs.BoolVar(&p.watch, "watch", false, "")
		fs.DurationVar(&p.every, "every", time.Second, "")
		fs.IntVar(&p.count, "count", 0, "")
	case "scale":
		if err = two("read"); err == nil {
			want("scale")
		}
	case "calib":
		if err = two("tare", "span", "accept", "abort", "show", "history"); err == nil {
			switch word {
			case "calib span":
				want("scale", "grams")
			case "calib show":
			default:
				want("scale")
			}
		}
	case "calibrate":
		p.guide = true
		want("scale")
	case "bag":
		if err = two("exchange"); err == nil {
			want("seal")
		}
	case "seal":
		if err = two("replace"); err == nil {
			want("old", "new")
		}
	case "fault":
		err = two("clear")
	case "actuate":
		if len(rest) == 0 {
			return parsed{}, usageErr("actuate: want conveyor or gate")
		}
		positional = append(positional, "device="+rest[0])
		rest = rest[1:]
		want("ms")
	case "voucher":
		if err = two("reprint"); err == nil {
			if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
				return parsed{}, usageErr("voucher reprint: the voucher ID is required")
			}
			positional = append(positional, "id="+rest[0])
			rest = rest[1:]
		}
	case "log":
		want("n")
	case "service":
		if len(rest) != 1 || (rest[0] != "on" && rest[0] != "off") {
			return parsed{}, usageErr("service: want on or off")
		}
		positional = append(positional, "mode="+rest[0])
		rest = nil
	case "sim":
		if err = two("place", "clear"); err == nil && word == "sim place" {
			want("grams")
		}
	case "help", "-h", "-help":
		return parsed{}, usageErr("%s", Usage)
	default:
		return parsed{}, usageErr("unknown command %q\n%s", word, Usage)
	}
	if err != nil {
		return parsed{}, err
	}
	if err := fs.Parse(rest); err != nil {
		return parsed{}, usageErr("%s: %v", word, err)
	}
	if fs.NArg() > 0 {
		return parsed{}, usageErr("%s: unexpected %q", word, fs.Arg(0))
	}
	p.req = wire.Request{Cmd: word, Args: map[string]string{}}
	for _, kv := range positional {
		k, v, _ := strings.Cut(kv, "=")
		p.req.Args[k] = v
	}
	for n, v := range flags {
		if *v != "" {
			p.req.Args[n] = *v
		}
	}
	switch {
	case word == "calib span" && p.req.Args["grams"] == "", word == "sim place" && p.req.Args["grams"] == "":
		return parsed{}, usageErr("%s: -grams G is required", word)
	case word == "actuate" && p.req.Args["ms"] == "":
		return parsed{}, usageErr("actuate: -ms N is required")
	case word == "seal replace" && (p.req.Args["old"] == "" || p.req.Args["new"] == ""):
		return parsed{}, usageErr("seal replace: -old CODE and -new CODE are required")
	}
	return p, nil
}

// Run runs one rvmctl command line (after the global flags).
func Run(ctx context.Context, args []string, o Options) error {
	p, err := parse(args)
	if err != nil {
		return err
	}
	pin, err := o.PIN()
	if err != nil {
		return &Error{Code: ExitFailed, Msg: err.Error()}
	}
	c, err := wire.Dial(o.Socket, 5*time.Second)
	if err != nil {
		return &Error{Code: ExitFailed, Msg: fmt.Sprintf("%v (is rvmd running with -service %s?)", err, o.Socket)}
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	r, err := c.Do(wire.Request{Cmd: "login", PIN: pin})
	if err != nil {
		return err
	}
	if !r.OK {
		return o.refused(r)
	}
	switch {
	case p.guide:
		return guide(ctx, c, p.req.Args["scale"], o)
	case p.watch:
		return o.watch(ctx, c, p)
	}
	r, err = c.Do(p.req)
	if err != nil {
		return err
	}
	if !r.OK {
		return o.refused(r)
	}
	return o.show(r)
}

// refused prints a refusal (as JSON with -json) and returns its error.
func (o Options) refused(r wire.Reply) error {
	if o.JSON {
		b, _ := json.Marshal(map[string]any{"ok": false, "code": r.Code, "error": r.Error})
		fmt.Fprintf(o.Stdout, "%s\n", b)
	}
	code := ExitFailed
	if r.Code == wire.CodeUsage {
		code = ExitUsage
	}
	return &Error{Code: code, Msg: r.Error}
}

func (o Options) show(r wire.Reply) error {
	if o.JSON {
		data := r.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		_, err := fmt.Fprintf(o.Stdout, "%s\n", data)
		return err
	}
	_, err := fmt.Fprintln(o.Stdout, r.Text)
	return err
}

func (o Options) watch(ctx context.Context, c *wire.Conn, p parsed) error {
	for i := 0; p.count <= 0 || i < p.count; i++ {
		if i > 0 {
			if err := clock.Sleep(ctx, p.every); err != nil {
				return nil // interrupted: the end of a watch
			}
			if !o.JSON {
				fmt.Fprintln(o.Stdout, "--")
			}
		}
		r, err := c.Do(p.req)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !r.OK {
			return o.refused(r)
		}
		if err := o.show(r); err != nil {
			return err
		}
	}
	return nil
}

// TerminalPIN reads the PIN: RVMCTL_PIN if set, else from the terminal on
// stdin without echo. Without either it fails rather than read a PIN in
// the clear.
func TerminalPIN(stdin *os.File, prompt io.Writer) func() (string, error) {
	return func() (string, error) {
		if p := os.Getenv("RVMCTL_PIN"); p != "" {
			return p, nil
		}
		fd := int(stdin.Fd())
		if !term.IsTerminal(fd) {
			return "", errors.New("no PIN: set RVMCTL_PIN or run rvmctl on a terminal")
		}
		fmt.Fprint(prompt, "PIN: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read PIN: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
}

// lines reads answers from the technician.
type lines struct{ r *bufio.Reader }

func (l lines) next() (string, bool) {
	s, err := l.r.ReadString('\n')
	if err != nil && s == "" {
		return "", false
	}
	return strings.TrimSpace(s), true
}
