package simrun

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine/catalog"
)

// Customers generates a stream of simulated customers: each arrives after a
// pause, offers a handful of containers (mostly good, some damaged, invalid,
// full or unknown) and ends with a voucher, a donation, a digital voucher or
// by walking away.
type Customers struct {
	rng      *rand.Rand
	products []catalog.Product
	MeanGap  time.Duration // between customers; default 20 s
	queue    []scenario.Step
}

// NewCustomers makes a deterministic customer stream over a catalogue.
func NewCustomers(seed uint64, cat *catalog.Catalog) *Customers {
	return &Customers{rng: rand.New(rand.NewPCG(seed, 0x5eed)), products: cat.Products(), MeanGap: 20 * time.Second}
}

// next returns the next step; its Gap is the pause before it.
func (cu *Customers) next() scenario.Step {
	if len(cu.queue) == 0 {
		cu.visit()
	}
	st := cu.queue[0]
	cu.queue = cu.queue[1:]
	return st
}

func (cu *Customers) visit() {
	r := cu.rng
	n := 1 + r.IntN(15)
	gap := time.Duration(r.ExpFloat64() * float64(cu.MeanGap))
	for i := 0; i < n; i++ {
		p := cu.products[r.IntN(len(cu.products))]
		st := scenario.Step{Op: scenario.OpInsert, EAN: p.EAN, Barcode: "ok", Gap: 1200*time.Millisecond + time.Duration(r.IntN(1500))*time.Millisecond}
		if i == 0 {
			st.Gap += gap
		}
		switch k := r.IntN(40); {
		case k == 0:
			st.Barcode = "damaged"
		case k == 1:
			st.Barcode, st.EAN = "missing", ""
		case k == 2 && p.WeightWithCap > 0:
			w := float64(p.WeightWithCap)/1e9*1.5 + 200 // still full of drink
			st.WeightG = &w
		case k == 3:
			st.EAN = "5901234123458" // bad check digit
		}
		cu.queue = append(cu.queue, st)
	}
	fin := scenario.Step{Op: scenario.OpFinish, Payout: "voucher", Gap: 2 * time.Second}
	switch k := r.IntN(10); {
	case k == 0:
		fin.Payout = "donation"
	case k == 1:
		fin.Payout, fin.Phone = "digital", fmt.Sprintf("6%08d", r.IntN(1e8))
	case k == 2:
		fin = scenario.Step{Op: scenario.OpWait, Wait: 0} // walks away: idle timeout ends it
	}
	cu.queue = append(cu.queue, fin)
}
