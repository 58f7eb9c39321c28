package simrun

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// TestRig runs simulated customers through the controller's loop, live
// (events pumped in real time) and fast (virtual time), on the simulated
// devices and through the real drivers on simulated pins, stops, and checks
// that the stop left no session open and every container settled.
func TestRig(t *testing.T) {
	tests := []struct {
		name string
		o    RigOptions
		want int // credited containers to wait for
	}{
		{"live", RigOptions{Seed: 1, Customers: true, CustomerGap: time.Millisecond}, 3},
		{"fast", RigOptions{Seed: 1, Customers: true, Fast: true}, 500},
		{"live through the drivers", RigOptions{Seed: 1, Customers: true, CustomerGap: time.Millisecond, HAL: HALPins}, 3},
		{"fast through the drivers", RigOptions{Seed: 1, Customers: true, Fast: true, HAL: HALPins}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			led, err := ledger.Open(filepath.Join(dir, "rvm.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer led.Close()
			tt.o.SimState = filepath.Join(dir, "rvm.sim")
			g := NewRig(tt.o)
			dev, clk, err := g.Open(ctx, led, time.Time{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer g.Close()
			mo := machine.OptionsFromConfig(config.Default())
			g.Tune(&mo)
			mo.Clock, mo.Catalog, mo.RvmID = clk, sampleCatalog(t), "6283cb0c-ee81-42bf-9fef-7fb6aadeb4ba"
			c, err := machine.New(ctx, dev, led, mo)
			if err != nil {
				t.Fatalf("machine.New: %v", err)
			}
			l := machine.NewLoop(c)
			loopCtx, stopLoop := context.WithCancel(ctx)
			loopDone := make(chan error, 1)
			go func() { loopDone <- l.Run(loopCtx) }()
			rigCtx, stopRig := context.WithCancel(ctx)
			rigDone := make(chan error, 1)
			go func() { rigDone <- g.Run(rigCtx, l.Do) }()

			credited := func() int {
				var n int
				if err := led.DB().QueryRow(`SELECT count(*) FROM containers WHERE cause = 0`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			for deadline := time.Now().Add(2 * time.Minute); credited() < tt.want; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d containers accepted in 2 minutes; want %d", credited(), tt.want)
				}
			}
			stopRig()
			if err := <-rigDone; err != nil {
				t.Errorf("Rig.Run = %v; want nil", err)
			}
			stopLoop()
			if err := <-loopDone; err != nil {
				t.Errorf("Loop.Run = %v; want nil", err)
			}
			if c.SessionOpen() || !c.AtRest() {
				t.Errorf("after the stop: session open %v, at rest %v; want false, true", c.SessionOpen(), c.AtRest())
			}
			var transit int
			if err := led.DB().QueryRow(`SELECT count(*) FROM containers WHERE state = ?`, ledger.InTransit).Scan(&transit); err != nil {
				t.Fatal(err)
			}
			if transit != 0 {
				t.Errorf("%d containers still in transit after the stop; want 0", transit)
			}
		})
	}
}
