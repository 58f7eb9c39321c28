package main

import (
	"context"
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
		{[]string{"-config", noPorts}, "board: no such port: pins.scanner.port /dev/ttyACM0: "},
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
