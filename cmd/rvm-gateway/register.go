package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
)

// register is `tills add` and `stations add`: each registers one party
// that takes money at the store and prints one JSON line about it.
func register(ctx context.Context, what string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("usage: rvm-gateway %s add ... (see rvm-gateway -h)", what)
	}
	args = args[1:]
	fs := flag.NewFlagSet("rvm-gateway "+what+" add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", env("RVM_DB", "gateway.db"), "SQLite path or postgres:// URL (RVM_DB)")
	name := fs.String("name", "", "the station's name")
	storeNo := fs.String("store", "", "the station's collection point number at the operator (drsCpNo)")
	drsURL := fs.String("drs", env("RVM_DRS", ""), "operator API base URL (RVM_DRS)")
	drsToken := fs.String("drs-token", env("RVM_DRS_TOKEN", ""), "operator API bearer token (RVM_DRS_TOKEN)")
	// NAME may come before or after the flags.
	var pos string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if pos == "" && fs.NArg() > 0 {
		pos = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	enc := json.NewEncoder(stdout)
	switch what {
	case "tills":
		if pos == "" {
			return errors.New("usage: rvm-gateway tills add -db DSN NAME")
		}
		tok, err := gateway.AddTill(ctx, st, pos, time.Now())
		if err != nil {
			return err
		}
		return enc.Encode(struct {
			Till  string `json:"till"`
			Token string `json:"token"`
		}{pos, tok})
	default:
		if *name == "" || *storeNo == "" {
			return errors.New("usage: rvm-gateway stations add -name NAME -store STORE -db DSN -drs URL [-drs-token TOKEN]")
		}
		rvmID, err := gateway.AddStation(ctx, st, gateway.StationOptions{Name: *name, Store: *storeNo, DRSURL: *drsURL, DRSToken: *drsToken}, time.Now())
		if err != nil {
			return err
		}
		return enc.Encode(struct {
			Station string `json:"station"`
			RvmID   string `json:"rvmId"`
		}{*name, rvmID})
	}
}
