package layers

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/deposit-rvm/rvm/"

// allowed lists, for each package, the project packages it may import. Every
// package with Go code must be listed: the test fails on one it has no rule
// for, so a new package is placed on the map before it lands.
var allowed = map[string][]string{
	"internal/money":         {},
	"internal/clock":         {},
	"internal/ean":           {},
	"internal/backoff":       {"internal/clock"},
	"internal/scenario":      {},
	"internal/sdnotify":      {},
	"internal/broker":        {},
	"internal/mqttconn":      {},
	"internal/testbroker":    {"internal/testlog"},
	"internal/testlog":       {},
	"internal/layers":        {},
	"internal/e2e":           {},
	"telemetry/envelope":     {},
	"telemetry/outbox":       {"internal/seqrange"},
	"internal/seqrange":      {},
	"hal":                    {},
	"calib":                  {},
	"fsm":                    {},
	"machine/config":         {},
	"machine/catalog/sample": {},
	"drs/drsapi":             {"internal/money", "internal/ean"},
	"machine/catalog":        {"internal/ean", "internal/money", "drs/drsapi"},
	"hal/sim":                {"hal", "internal/clock", "calib"},
	"internal/testhal":       {"hal"},
	"hal/periph/hx711":       {"hal", "internal/clock"},
	"hal/periph/barrier":     {"hal", "internal/clock"},
	"hal/periph/conveyor":    {"hal", "internal/clock"},
	"hal/periph/gate":        {"hal", "internal/clock"},
	"hal/periph/metal":       {"hal"},
	"hal/periph/curtain":     {"hal"},
	"hal/periph/board":       {"hal", "hal/periph/barrier", "hal/periph/conveyor", "hal/periph/curtain", "hal/periph/hx711", "hal/periph/metal", "hal/periph/scanner", "hal/periph/escpos", "internal/clock", "calib", "hal/periph/gate"},
	"machine/ledger":         {"telemetry/outbox", "drs/drsapi", "telemetry/envelope", "internal/money"},
	"machine":                {"hal", "fsm", "machine/catalog", "machine/config", "calib", "internal/clock", "drs/drsapi", "internal/ean", "telemetry/envelope", "machine/ledger", "internal/money", "internal/backoff"},
	"internal/simrun":        {"hal", "hal/sim", "calib", "machine/catalog", "internal/clock", "drs/drsapi", "telemetry/envelope", "machine/ledger", "machine", "telemetry/outbox", "internal/scenario", "hal/periph/board", "hal/periph/barrier", "hal/periph/conveyor", "hal/periph/scanner", "hal/periph/scanner/scannertest", "hal/periph/escpos", "hal/periph/escpos/escpostest", "internal/backoff"},
	"telemetry":              {"telemetry/outbox", "telemetry/envelope", "internal/clock", "internal/backoff", "internal/mqttconn"},
	// The daemon's production path knows no simulator: cmd/rvmd hands it a
	// Rig (the Pi's board or internal/simrun's); the kiosk's and the
	// console's simulated hands come through an optional interface of it.
	"internal/daemon":       {"internal/sdnotify", "machine/catalog", "machine/config", "drs/drsapi", "internal/ean", "telemetry/envelope", "machine/ledger", "machine", "telemetry/outbox", "telemetry", "internal/clock", "internal/kiosk", "internal/scenario", "hal", "internal/service"},
	"internal/kiosk":        {"machine"}, // the customer's page: HTTP, events from machine.Options.OnEvent
	"internal/service/wire": {},
	"internal/service":      {"calib", "drs/drsapi", "internal/clock", "internal/service/wire", "machine", "machine/ledger"},
	"internal/console":      {"internal/clock", "internal/service/wire"},
	"drs":                   {"drs/drsapi", "internal/clock", "internal/money", "internal/backoff"},
	"drs/drssim":            {"drs/drsapi", "internal/clock", "internal/money", "internal/ean", "machine/catalog"},
	"gateway/store":         {"internal/money", "drs/drsapi", "internal/ean", "internal/clock"},
	"gateway":               {"drs", "drs/drsapi", "gateway/store", "internal/clock", "internal/money", "internal/ean", "telemetry/envelope", "internal/backoff", "internal/seqrange", "internal/mqttconn"},
	// Mains wire; they may import what they run, never each other.
	"cmd/drs-sim":     {"drs/drssim", "machine/catalog/sample"},
	"cmd/rvm-gateway": {"gateway", "gateway/store", "drs", "drs/drsapi", "internal/clock"},
	"cmd/fleet-bench": {"drs", "drs/drsapi", "drs/drssim", "gateway", "gateway/store", "machine/config", "telemetry", "telemetry/envelope", "telemetry/outbox", "internal/clock", "internal/money", "internal/mqttconn"},
	"cmd/rvm-demo":    {"drs/drssim", "gateway", "internal/broker", "internal/daemon", "internal/simrun", "machine/catalog", "machine/catalog/sample", "machine/config"},
	"cmd/rvmctl":      {"internal/console"},
	"cmd/rvmd":        {"internal/sdnotify", "internal/service", "drs/drsapi", "hal", "hal/sim", "hal/periph/board", "internal/daemon", "internal/scenario", "internal/simrun", "machine", "machine/catalog", "machine/catalog/sample", "machine/config", "machine/ledger", "telemetry", "telemetry/envelope", "telemetry/outbox", "calib", "internal/clock", "hal/periph/escpos", "hal/periph/scanner", "internal/mqttconn"},

	// The serial devices (issue 9).
	"hal/periph/scanner":             {"hal", "internal/ean", "internal/backoff", "internal/clock"},
	"hal/periph/escpos":              {"hal", "internal/ean", "internal/money", "internal/clock"},
	"hal/periph/escpos/escpostest":   {},
	"hal/periph/scanner/scannertest": {},
}

// forbiddenThirdParty keeps the MQTT and HTTP worlds out of the core.
var forbiddenThirdParty = map[string][]string{
	"fsm":                 {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"machine":             {"github.com/eclipse/paho.mqtt.golang", "net/http"},
	"hal":                 {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"machine/ledger":      {"github.com/eclipse/paho.mqtt.golang", "net/http"},
	"hal/periph/hx711":    {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"hal/periph/barrier":  {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"hal/periph/conveyor": {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"hal/periph/gate":     {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"hal/periph/metal":    {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"hal/periph/curtain":  {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"hal/periph/board":    {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"hal/periph/scanner":  {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"hal/periph/escpos":   {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
}

func TestLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, ".") && rel != "." || strings.Contains(rel, "testdata") || rel == "bin" || rel == "dist" {
			return filepath.SkipDir
		}
		if !hasGo(path) {
			return nil
		}
		rules, ok := allowed[rel]
		if !ok {
			t.Errorf("%s: no rule in allowed: place the package on the map (docs/DESIGN.md) before it lands", rel)
			return nil
		}
		checked++
		ok2 := map[string]bool{}
		for _, a := range rules {
			ok2[a] = true
		}
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, path, func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ImportsOnly)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		for _, p := range pkgs {
			for name, f := range p.Files {
				for _, imp := range f.Imports {
					ip, _ := strconv.Unquote(imp.Path.Value)
					if strings.HasPrefix(ip, module) {
						dep := strings.TrimPrefix(ip, module)
						if !ok2[dep] {
							t.Errorf("%s imports %s (in %s): not allowed by docs/DESIGN.md", rel, dep, filepath.Base(name))
						}
					}
					for _, bad := range forbiddenThirdParty[rel] {
						if ip == bad || strings.HasPrefix(ip, bad+"/") {
							t.Errorf("%s imports %s (in %s): forbidden", rel, ip, filepath.Base(name))
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range allowed {
		if !hasGo(filepath.Join(root, pkg)) {
			t.Errorf("%s: listed in allowed but has no Go code: drop the stale rule", pkg)
		}
	}
	if checked < 15 {
		t.Errorf("checked only %d packages: did the layout change?", checked)
	}
}

// hasGo reports whether dir holds a Go file (tests included: a test-only
// package such as internal/e2e is checked too).
func hasGo(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}
