package sim_test

import (
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/physic"
)

// A controller that accepts everything, fed by the runner's loop.
func Example() {
	clk := clock.NewFake(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	m, err := sim.New(clk, sim.DefaultConfig(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	belt := m.Conveyor()
	m.Insert(sim.Container{Code: "5901234123457", Mass: 25 * physic.Gram})
	for {
		ev, _, ok := m.Pop()
		if !ok {
			break
		}
		fmt.Println(ev.At.Format("15:04:05.000"), ev.Kind)
		switch ev.Kind {
		case hal.EntryBlocked, hal.ChamberBlocked:
			belt.Forward(5 * time.Second) // into the chamber; then on to the bag
		case hal.ExitCleared:
			belt.Stop()
		}
	}
	fmt.Println(clk.Now().Format("15:04:05.000"), len(m.InBag()), "in the bag")
	// Output:
	// 08:00:00.000 entry-blocked
	// 08:00:00.100 entry-cleared
	// 08:00:00.200 barcode-read
	// 08:00:00.400 chamber-blocked
	// 08:00:00.400 chamber-cleared
	// 08:00:00.700 exit-blocked
	// 08:00:00.700 exit-cleared
	// 08:00:00.900 1 in the bag
}
