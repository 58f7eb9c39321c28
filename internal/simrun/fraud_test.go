package simrun

import (
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/machine/config"
)

// TestFraudBlocksTransaction plays sessions with fraud rejections (cause 1:
// pull-back, metal in a PET bottle, a label on a lighter container) against
// the threshold: beyond it the transaction goes out with transactionBlocked
// true, no voucher event and no printed ticket; up to it the customer is
// paid as usual.
func TestFraudBlocksTransaction(t *testing.T) {
	const (
		pull  = `{"op":"insert","ean":"5900449000287","pullback":true}`
		metal = `{"op":"insert","ean":"5900449000287","metal":true}`
		light = `{"op":"insert","ean":"5900449000287","weight_g":10}`
	)
	start := `{"op":"start","at":"2026-03-02T10:00:00Z","rvmId":"0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6","seed":7}` + "\n"
	tests := []struct {
		name        string
		threshold   int
		script      string
		wantBlocked bool
	}{
		{"no fraud", 2, repeat(coke, 2), false},
		{"two frauds at threshold 2", 2, repeat(coke, 2) + pull + "\n" + metal + "\n", false},
		{"three frauds at threshold 2", 2, repeat(coke, 2) + pull + "\n" + metal + "\n" + light + "\n", true},
		{"three pull-backs at threshold 2", 2, repeat(coke, 2) + repeat(pull, 3), true},
		{"one fraud at threshold 0", 0, repeat(coke, 2) + light + "\n", true},
		{"three pull-backs at threshold 3", 3, repeat(coke, 2) + repeat(pull, 3), false},
	}
	for _, tt := range tests {
		for _, payout := range []string{"voucher", "donation"} {
			t.Run(tt.name+"/"+payout, func(t *testing.T) {
				text := start + tt.script + `{"op":"finish","payout":"` + payout + `"}` + "\n"
				cfg := config.Default()
				cfg.FraudBlockThreshold = tt.threshold
				r, out := playOn(t, text, cfg, nil)
				tickets := r.Sim().Tickets()
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				ls := parseOut(t, out.Bytes())
				txs := transactions(t, ls)
				if len(txs) != 1 {
					t.Fatalf("%d transactions; want 1", len(txs))
				}
				tx := txs[0]
				checkTotals(t, tx)
				if tx.TotalAccepted != 2 {
					t.Errorf("totalAccepted = %d; want 2 (the containers stay in the bag)", tx.TotalAccepted)
				}
				if tx.TransactionBlocked != tt.wantBlocked {
					t.Errorf("transactionBlocked = %v; want %v", tx.TransactionBlocked, tt.wantBlocked)
				}
				wantKinds, wantTickets := "transaction", 0
				if payout == "voucher" && !tt.wantBlocked {
					wantKinds, wantTickets = "transaction,voucher", 1
				}
				if got := kinds(ls); got != wantKinds {
					t.Errorf("events %q; want %q", got, wantKinds)
				}
				if len(tickets) != wantTickets {
					t.Errorf("%d tickets printed; want %d", len(tickets), wantTickets)
				}
				if tt.wantBlocked && tx.Voucher != nil {
					t.Errorf("blocked transaction carries voucher %+v", tx.Voucher)
				}
				if !tt.wantBlocked && tx.Voucher == nil {
					t.Errorf("transaction without a voucher; want one")
				}
				frauds := 0
				for _, c := range tx.Containers {
					if c.RejectionCauseCode == drsapi.CauseFraud {
						frauds += c.Count
					}
				}
				if want := strings.Count(tt.script, "pullback") + strings.Count(tt.script, "metal") + strings.Count(tt.script, "weight_g"); frauds != want {
					t.Errorf("%d fraud rows; want %d", frauds, want)
				}
			})
		}
	}
}
