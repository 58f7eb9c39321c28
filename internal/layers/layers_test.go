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

// allowed lists, for each package, the project packages it may import. A
// package not listed here may import nothing of the project (but cmd/ and
// internal/ test helpers, which are wiring).
var allowed = map[string][]string{
	"money":      {},
	"clock":      {},
	"ean":        {},
	"envelope":   {},
	"outbox":     {},
	"hal":        {},
	"calib":      {},
	"config":     {},
	"scenario":   {},
	"fsm":        {},
	"drsapi":     {"money"},
	"catalog":    {"ean", "money", "drsapi"},
	"hal/sim":    {"hal", "clock", "calib"},
	"hal/periph": {"hal", "clock"},
	"ledger":     {"outbox", "drsapi", "envelope", "money"},
	"machine":    {"hal", "fsm", "catalog", "calib", "clock", "drsapi", "ean", "envelope", "ledger", "money"},
	"simrun":     {"hal", "hal/sim", "calib", "catalog", "clock", "config", "drsapi", "envelope", "ledger", "machine", "outbox", "scenario"},
	"telemetry":  {"outbox", "envelope", "clock"},
	"daemon":     {"catalog", "config", "drsapi", "ean", "envelope", "hal/sim", "ledger", "machine", "outbox", "simrun", "telemetry"},
	"drs":        {"drsapi", "clock", "money"},
	"drs/drssim": {"drsapi", "clock", "money", "ean", "catalog"},
	"broker":     {},
}

// forbiddenThirdParty keeps the MQTT and HTTP worlds out of the core.
var forbiddenThirdParty = map[string][]string{
	"fsm":     {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"machine": {"github.com/eclipse/paho.mqtt.golang", "net/http"},
	"hal":     {"github.com/eclipse/paho.mqtt.golang", "database/sql", "net/http"},
	"ledger":  {"github.com/eclipse/paho.mqtt.golang", "net/http"},
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
		if strings.HasPrefix(rel, ".") && rel != "." || strings.Contains(rel, "testdata") {
			return filepath.SkipDir
		}
		rules, ok := allowed[rel]
		if !ok {
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
	if checked < 15 {
		t.Errorf("checked only %d packages: did the layout change?", checked)
	}
}
