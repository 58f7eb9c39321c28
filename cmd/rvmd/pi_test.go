package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunWithoutPi: rvmd run without -sim on a machine that cannot be
// wired fails at once, naming what is missing, and opens nothing.
func TestRunWithoutPi(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skipf("this machine has a GPIO chip (%s)", chips[0])
	}
	example, err := os.ReadFile("../../docs/wiring.example.json")
	if err != nil {
		t.Fatal(err)
	}
	// The example's serial ports, made to exist here, so that the GPIO
	// pins are what is missing.
	dir := t.TempDir()
	wiring := string(example)
	for _, port := range []string{"/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyUSB0"} {
		p := filepath.Join(dir, filepath.Base(port))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		wiring = strings.ReplaceAll(wiring, port, p)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no configuration", nil, []string{`"pins"`, "-config"}},
		{"configuration without pins", []string{"-config", write(t, "c.json", `{"serial":"RVM-PI-0001"}`)}, []string{`"pins"`}},
		{"pins not an object", []string{"-config", write(t, "bad.json", `{"pins":"GPIO17"}`)}, []string{"pins", "object"}},
		{"wiring without a device", []string{"-config", write(t, "entry.json", `{"pins":{"entry":{"pin":"GPIO17"}}}`)}, []string{"pins.chamber"}},
		{"printer port missing", []string{"-config", write(t, "pi.json", string(example))}, []string{"pins.printer.port", "/dev/ttyUSB0"}},
		{"no GPIO chip", []string{"-config", write(t, "pi.json", wiring)}, []string{"GPIO"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "rvmd.db")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := run(ctx, append([]string{"run", "-db", db}, tt.args...), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatalf("run %v succeeded; want an error naming %q", tt.args, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run %v = %q; want it to name %q", tt.args, err, w)
				}
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("run %v left %s behind (half-started): %v", tt.args, db, err)
			}
		})
	}
}
