package simrun

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine/config"
)

// playHAL plays text on the given devices and returns the output and, with
// HALPins, the rig's counts.
func playHAL(t *testing.T, text, hal string) (out []byte, driven, direct, conversions int) {
	t.Helper()
	steps, err := scenario.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	o := Options{Catalog: sampleCatalog(t), DBPath: filepath.Join(t.TempDir(), "ledger.db"), Out: &buf,
		Machine: MachineOptions(config.Default()), HAL: hal}
	o.Machine.BagMaxContainers = 30
	ctx := context.Background()
	r, err := Start(ctx, steps, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Play(ctx, steps); err != nil {
		t.Fatal(err)
	}
	if r.rig != nil {
		driven, direct = r.rig.driven, r.rig.direct
		conversions = r.rig.pins.Conversions()
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), driven, direct, conversions
}

// The real drivers on the simulated pins hand the controller exactly what
// the simulated devices do: for random scenarios (power cuts, faults,
// pullbacks, bag exchanges) the output is byte for byte the same, and every
// barrier and door event went through a driver.
func TestPinsMatchSim(t *testing.T) {
	cat := sampleCatalog(t)
	var eans []string
	for _, p := range cat.Products() {
		eans = append(eans, p.EAN)
	}
	eans = append(eans, "5901234123457", "12345")
	n := 12
	if testing.Short() {
		n = 3
	}
	for seed := range n {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			text := randomScenario(rand.New(rand.NewPCG(uint64(seed), 7)), eans)
			want, _, _, _ := playHAL(t, text, HALSim)
			got, driven, direct, conv := playHAL(t, text, HALPins)
			if !bytes.Equal(got, want) {
				t.Errorf("-hal pins output differs from -hal sim:\n%s\nwant:\n%s", got, want)
			}
			t.Logf("rig: %d driven, %d conversions", driven, conv)
			if driven == 0 || conv == 0 || direct != 0 {
				t.Errorf("rig: %d events through the drivers, %d HX711 conversions, %d handed over directly; want some, some, none", driven, conv, direct)
			}
		})
	}
}

func TestUnknownHAL(t *testing.T) {
	_, err := Start(context.Background(), nil, Options{Catalog: sampleCatalog(t), DBPath: filepath.Join(t.TempDir(), "l.db"), HAL: "gpio"})
	if want := `simrun: unknown hal "gpio" (want sim or pins)`; err == nil || err.Error() != want {
		t.Errorf("Start(HAL gpio) = %v; want %q", err, want)
	}
}
