package sim

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"periph.io/x/conn/v3/physic"
)

// transcript runs a fixed mix of trips on a machine seeded with seed and
// returns everything the controller saw, raw readings included.
func transcript(t *testing.T, seed uint64, timing Timing) string {
	t.Helper()
	cfg := DefaultConfig(seed)
	cfg.Timing = timing
	rejectWrongCode := func(c Container) bool { return c.Code == "5901234123457" && c.Mass < 100*physic.Gram }
	c := newCtl(t, cfg, rejectWrongCode)
	c.raws = true
	can := Container{Code: "5901234123457", Mass: 14500 * physic.MilliGram, Metal: true,
		Shape: &hal.Shape{Height: 115 * physic.MilliMetre, Diameter: 66 * physic.MilliMetre}}
	trips := []Container{
		bottle(),
		can,
		with(bottle(), func(x *Container) { x.Mass = 530 * physic.Gram }), // not empty: rejected
		with(bottle(), func(x *Container) { x.Pullback = true }),
		with(can, func(x *Container) { x.Barcode = BarcodeMissing }),
		with(can, func(x *Container) { x.Code = "1234" }),
		with(bottle(), func(x *Container) { x.CutAt = CutChamber }),
		with(can, func(x *Container) { x.CutAt = CutBag }),
		bottle(),
	}
	for i, x := range trips {
		c.logf("insert #%d %s %v barcode=%v pullback=%t cut=%v", i+1, x.Code, x.Mass, x.Barcode, x.Pullback, x.CutAt)
		c.insert(x)
		c.run()
		raws := make([]int32, 3)
		for j := range raws {
			raws[j], _ = c.m.BagCell().ReadRaw()
		}
		c.logf("  bag raw %v, %d in bag", raws, len(c.m.InBag()))
		c.clk.Advance(1500 * time.Millisecond)
	}
	return strings.Join(c.log, "\n") + "\n"
}

func TestGoldenTranscript(t *testing.T) {
	for _, tc := range []struct {
		name   string
		timing Timing
	}{{"default", DefaultTiming()}, {"zero", ZeroTiming()}} {
		t.Run(tc.name, func(t *testing.T) {
			got := transcript(t, 7, tc.timing)
			if again := transcript(t, 7, tc.timing); again != got {
				t.Fatalf("two runs with seed 7 differ:\n%s\n---\n%s", got, again)
			}
			if other := transcript(t, 8, tc.timing); other == got {
				t.Errorf("seeds 7 and 8 give the same transcript: the noise ignores the seed")
			}
			path := filepath.Join("testdata", "trips-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal([]byte(got), want) {
				t.Errorf("transcript(7, %s) differs from %s (run with -update if the change is intended):\n%s", tc.name, path, diff(string(want), got))
			}
		})
	}
}

// diff shows the first differing line.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n got %q\nwant %q", i+1, gl, wl)
		}
	}
	return ""
}
