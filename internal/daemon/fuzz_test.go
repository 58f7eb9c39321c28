package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// commandNames are the fleet's commands, and one the machine does not know.
var commandNames = []string{
	envelope.CmdCatalog, envelope.CmdVouchers, envelope.CmdConfig, envelope.CmdBlock, envelope.CmdUnblock,
	envelope.CmdSetRvmID, envelope.CmdStatus, envelope.CmdClearFault, "reboot",
}

// machineState is what a command may change.
type machineState struct {
	cfg      config.Config
	catalog  *catalog.Catalog
	rvmID    string
	blocked  []string
	fault    string
	patch    string
	buffered int
}

func (d *Daemon) snapshot(t *testing.T) machineState {
	t.Helper()
	ctx := context.Background()
	c := d.runner.Controller()
	st := c.Status()
	led := d.runner.Ledger()
	patch, _, err := led.Meta(ctx, "config_patch")
	if err != nil {
		t.Fatal(err)
	}
	n, err := led.BufferedVouchers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return machineState{cfg: d.cfg, catalog: c.Catalog(), rvmID: st.RvmID, blocked: st.Blocked, fault: st.Fault, patch: patch, buffered: n}
}

// FuzzCommand feeds command bodies from the fleet to the machine's decode
// and apply paths, on a real controller and ledger: nothing panics, a
// refused command changes nothing (configuration, catalogue, rvmId, blocks,
// faults, the persisted patch, the voucher buffer), and an applied one
// leaves a configuration that validates.
func FuzzCommand(f *testing.F) {
	seeds := []struct {
		name int
		body string
	}{
		{0, `{"version":2,"full":true,"products":[{"ean":"5900449000287","name":"Cola","deposit":{"amount":0.5,"currency":"PLN"}}]}`},
		{0, `{"version":3,"products":[{"ean":"012345678905","deposit":{"amount":0.5}}],"removed":["5900449000287"]}`},
		{0, `{"version":4,"products":[{"ean":"5900449000287"}]}`},
		{1, `{"vouchers":[{"id":"2932061197499","printType":0},{"id":"Q1","printType":1,"validUntil":"2026-02-05T08:00:00Z"}]}`},
		{1, `{"vouchers":[{"id":"","printType":7}]}`},
		{2, `{"idleTimeout":"45s","fraudBlockThreshold":3}`},
		{2, `{"idleTimout":"45s"}`},
		{3, `{"reason":"fleet"}`},
		{4, `{}`},
		{5, `{"rvmId":"7f0c6f1e-3a5b-4c1d-9e2f-0a1b2c3d4e5f"}`},
		{5, `{"rvmId":"nope"}`},
		{6, ``},
		{7, `{"by":"tech"}`},
		{8, `{}`},
		{2, `null`},
		{3, `{"reason":1,"x":2}`},
	}
	for _, s := range seeds {
		f.Add(uint8(s.name), []byte(s.body))
	}
	ctx := context.Background()
	cat, err := catalog.New(1, mustParse(f))
	if err != nil {
		f.Fatal(err)
	}
	r, err := simrun.Start(ctx, nil, simrun.Options{Catalog: cat, DBPath: filepath.Join(f.TempDir(), "ledger.db"), Machine: simrun.MachineOptions(config.Default())})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	d := &Daemon{cfg: config.Default(), runner: r, serial: serial}
	f.Fuzz(func(t *testing.T, n uint8, body []byte) {
		name := commandNames[int(n)%len(commandNames)]
		before := d.snapshot(t)
		_, err := d.apply(ctx, r.Controller(), name, json.RawMessage(body))
		after := d.snapshot(t)
		if err != nil {
			if !errors.Is(err, ErrCommand) {
				t.Fatalf("apply(%s, %s) = %v; want a bad command, not a failure of the machine", name, body, err)
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("apply(%s, %s) = %v, yet the machine changed:\n%+v\nto\n%+v", name, body, err, before, after)
			}
			return
		}
		if err := d.cfg.Validate(); err != nil {
			t.Fatalf("apply(%s, %s) left an invalid configuration: %v", name, body, err)
		}
	})
}

func mustParse(f *testing.F) []catalog.Product {
	ps, err := catalog.Parse(sample.JSON())
	if err != nil {
		f.Fatal(err)
	}
	return ps
}
