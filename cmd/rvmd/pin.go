package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/deposit-rvm/rvm/internal/service"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// runPin is "rvmd pin set -db FILE": the technician PIN, read from stdin
// (4 to 8 digits), stored as a salted slow hash in the ledger.
func runPin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "set" {
		return fmt.Errorf("pin: usage: rvmd pin set -db FILE (the PIN is read from stdin)")
	}
	fs := flag.NewFlagSet("rvmd pin set", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbPath := fs.String("db", envOr("RVM_DB", "rvmd.db"), "ledger `file` (env RVM_DB)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var line string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		// At a terminal the PIN is typed without echo.
		fmt.Fprint(stderr, "new technician PIN (4-8 digits): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return fmt.Errorf("pin: read the PIN: %w", err)
		}
		line = string(b)
	} else {
		var err error
		line, err = bufio.NewReader(stdin).ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return fmt.Errorf("pin: read the PIN from stdin: %w", err)
		}
	}
	pin := strings.TrimSpace(line)
	hash, err := service.HashPIN(pin)
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	led, err := ledger.Open(*dbPath)
	if err != nil {
		return err
	}
	defer led.Close()
	if err := led.SetPIN(ctx, hash, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "technician PIN set in %s\n", *dbPath)
	return led.Close()
}
