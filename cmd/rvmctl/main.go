// Command rvmctl is the technician console: it talks to rvmd over the
// service socket.
//
//	rvmctl [-socket PATH] [-json] COMMAND [ARGS]
//
// The PIN comes from RVMCTL_PIN or a prompt without echo. See
// internal/console for the commands, or run "rvmctl help".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/deposit-rvm/rvm/internal/console"
)

func main() {
	fs := flag.NewFlagSet("rvmctl", flag.ContinueOnError)
	socket := fs.String("socket", envOr("RVMCTL_SOCKET", "rvmd.sock"), "the daemon's service socket `path` (env RVMCTL_SOCKET)")
	jsonOut := fs.Bool("json", false, "print JSON for scripts")
	fs.Usage = func() { fmt.Fprint(os.Stderr, console.Usage) }
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(console.ExitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := console.Run(ctx, fs.Args(), console.Options{
		Socket: *socket, JSON: *jsonOut, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		PIN: console.TerminalPIN(os.Stdin, os.Stderr),
	})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rvmctl:", err)
	}
	os.Exit(console.ExitCode(err))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
