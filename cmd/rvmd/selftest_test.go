package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// On a machine without the Pi's GPIO chip or its serial ports, selftest
// exits at once with a message naming the key and the pin or port.
func TestSelftestNoHardware(t *testing.T) {
	if _, err := os.Stat("/dev/gpiochip0"); err == nil {
		t.Skip("this machine has a GPIO chip")
	}
	example, err := os.ReadFile("../../docs/wiring.example.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	noPorts := filepath.Join(dir, "noports.json")
	os.WriteFile(noPorts, example, 0o644)
	withPorts := filepath.Join(dir, "ports.json")
	// Ports that exist everywhere, so that the pins are what fails.
	r := strings.NewReplacer("/dev/ttyACM0", dir, "/dev/ttyACM1", noPorts, "/dev/ttyUSB0", "/dev/null")
	os.WriteFile(withPorts, []byte(r.Replace(string(example))), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-config", noPorts}, "board: no such port: pins.printer.port /dev/ttyUSB0: "},
		{[]string{"-config", withPorts, "-json"}, "board: no such pin: pins.entry.pin: GPIO17 not found (no GPIO chip on this machine?)"},
		{nil, "selftest: -config is required"},
	}
	for _, tt := range tests {
		err := runSelftest(context.Background(), tt.args, io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("rvmd selftest %v = %v; want %q", tt.args, err, tt.want)
		}
	}
}

// rvmd selftest -json on the rig: the real drivers on the simulated
// machine's pins and pseudo-terminals, a simulated technician acting on
// each prompt: the scanner driver reads the code typed into its port, the
// seal reader's the seal, the fake printer answers the status query.
func TestSelftestRig(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"selftest", "-hal", "pins", "-json", "-run", "50ms", "-reads", "5"}, &out, &errOut)
	if err != nil {
		t.Fatalf("rvmd selftest -hal pins -json = %v\n%s", err, errOut.String())
	}
	var r struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Key    string `json:"key"`
			Status string `json:"status"`
			Detail string `json:"detail"`
			Scale  *struct {
				Reads, Errors, Saturated int
				Spread                   int32
			} `json:"scale"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("selftest -json output is not JSON: %v\n%s", err, out.String())
	}
	want := map[string]string{
		"entry": "ok", "chamber": "ok", "exit": "ok", "door": "ok", "metal": "ok", "conveyor": "ok",
		"chamberScale": "ok", "bagScale": "ok", "shape": "skipped", "scanner": "ok",
		"sealReader": "ok", "printer": "ok",
	}
	details := map[string]string{
		"scanner":    "read 5901234123457 (EAN-13)",
		"sealReader": "read seal 017824770475060",
		"printer":    "answers; paper loaded, cover closed",
	}
	if !r.OK || len(r.Checks) != len(want) {
		t.Errorf("report ok %t with %d checks; want true with %d", r.OK, len(r.Checks), len(want))
	}
	for _, c := range r.Checks {
		if c.Status != want[c.Key] {
			t.Errorf("check %s = %s (%s); want %s", c.Key, c.Status, c.Detail, want[c.Key])
		}
		if d, ok := details[c.Key]; ok && c.Detail != d {
			t.Errorf("check %s: %q; want %q", c.Key, c.Detail, d)
		}
		if c.Key == "chamberScale" && (c.Scale == nil || c.Scale.Reads != 5 || c.Scale.Errors != 0 || c.Scale.Spread == 0) {
			t.Errorf("chamber scale stats %+v; want 5 reads, no errors, some noise", c.Scale)
		}
	}
	if !strings.Contains(errOut.String(), "selftest: break and clear the entry barrier (GPIO17)") {
		t.Errorf("prompts on stderr:\n%s\nwant the entry barrier's", errOut.String())
	}
}
