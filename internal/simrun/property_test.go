package simrun

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// randomScenario writes a scenario of random customers, power cuts at
// random phases, pauses, bag exchanges and seal replacements.
func randomScenario(rng *rand.Rand, eans []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"op":"start","at":"2026-02-0%dT09:00:00Z","seed":%d}`+"\n", 1+rng.IntN(8), rng.IntN(1000))
	seal := 0
	for i := 0; i < 40+rng.IntN(80); i++ {
		switch k := rng.IntN(30); {
		case k < 22:
			e := eans[rng.IntN(len(eans))]
			f := fmt.Sprintf(`"ean":%q`, e)
			switch rng.IntN(12) {
			case 0:
				f += `,"barcode":"damaged"`
			case 1:
				f = `"barcode":"missing"`
			case 2:
				f += fmt.Sprintf(`,"weight_g":%d`, 5+rng.IntN(400))
			case 3:
				f += `,"pullback":true`
			case 4:
				f += fmt.Sprintf(`,"cut_at":%q`, []string{"scanned", "chamber", "bag"}[rng.IntN(3)])
			case 5:
				f += fmt.Sprintf(`,"height_mm":%d`, 50+rng.IntN(300))
			}
			fmt.Fprintf(&b, `{"op":"insert",%s,"gap_ms":%d}`+"\n", f, rng.IntN(4000))
		case k < 25:
			p := []string{`"voucher"`, `"donation"`, `"digital","phone":"600100200"`}[rng.IntN(3)]
			fmt.Fprintf(&b, `{"op":"finish","payout":%s}`+"\n", p)
		case k == 25:
			b.WriteString(`{"op":"power-cut"}` + "\n")
		case k == 26:
			fmt.Fprintf(&b, `{"op":"wait","ms":%d}`+"\n", rng.IntN(60000))
		case k == 27:
			seal++
			fmt.Fprintf(&b, `{"op":"bag-exchange","seal":"77%06d","staff":"3f1e2d10-5b0c-4e57-9d53-4a349f610c7a"}`+"\n", seal)
		case k == 28 && seal > 0:
			seal++
			fmt.Fprintf(&b, `{"op":"seal-replace","old":"77%06d","new":"77%06d"}`+"\n", seal-1, seal)
		default:
			fmt.Fprintf(&b, `{"op":"fault","kind":%q}`+"\n"+`{"op":"service","action":"clear"}`+"\n",
				[]string{"jam", "scanner-dead", "door-open"}[rng.IntN(3)])
		}
	}
	return b.String()
}

// TestRandomScenarios is a property test: for random scenarios, every
// transaction's totals add up, every voucher pays exactly the deposits of
// the accepted rows, ids are unique, and the bag reports count what the
// transactions accepted.
func TestRandomScenarios(t *testing.T) {
	cat := sampleCatalog(t)
	var eans []string
	for _, p := range cat.Products() {
		eans = append(eans, p.EAN)
	}
	eans = append(eans, "5901234123457", "5900449000288", "12345")
	n := 40
	if testing.Short() {
		n = 5
	}
	for seed := 0; seed < n; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			text := randomScenario(rand.New(rand.NewPCG(uint64(seed), 99)), eans)
			small := func(o *Options) { o.Machine.BagMaxContainers = 30 }
			out := play(t, text, small)
			ls := parseOut(t, out)
			txs := transactions(t, ls)
			ids := map[string]bool{}
			vouchers := map[string]envelope.Voucher{}
			accepted, bagged := 0, 0
			for _, l := range ls {
				switch l.Kind {
				case "voucher":
					var v envelope.Voucher
					json.Unmarshal(l.Body, &v)
					if _, dup := vouchers[v.ID]; dup {
						t.Errorf("voucher %s issued twice", v.ID)
					}
					vouchers[v.ID] = v
				case "bag-replacement":
					var r drsapi.BagReplacement
					json.Unmarshal(l.Body, &r)
					bagged += r.ContainerAmount
				}
			}
			for _, tx := range txs {
				if ids[tx.ID] {
					t.Errorf("transaction %s sent twice", tx.ID)
				}
				ids[tx.ID] = true
				accepted += tx.TotalAccepted
				var due money.Grosze
				var wantWeight int64
				frauds := 0
				for _, c := range tx.Containers {
					if c.RejectionCauseCode == drsapi.CauseFraud {
						frauds += c.Count
					}
					if c.RejectionCauseCode == 0 {
						p, ok := cat.Lookup(c.EAN)
						if !ok {
							t.Errorf("transaction %s accepted unknown %q", tx.ID, c.EAN)
						}
						due += p.Deposit * money.Grosze(c.Count)
						wantWeight += c.Weight
					}
				}
				if tx.TotalWeight != wantWeight {
					t.Errorf("transaction %s: totalWeight %d, accepted rows weigh %d", tx.ID, tx.TotalWeight, wantWeight)
				}
				if want := frauds > config.Default().FraudBlockThreshold; tx.TransactionBlocked != want {
					t.Errorf("transaction %s with %d frauds: transactionBlocked %v; want %v", tx.ID, frauds, tx.TransactionBlocked, want)
				}
				if tx.TransactionBlocked {
					for _, v := range vouchers {
						if v.TransactionID == tx.ID {
							t.Errorf("blocked transaction %s paid voucher %+v", tx.ID, v)
						}
					}
				}
				if tx.Voucher == nil {
					continue
				}
				v, printed := vouchers[tx.Voucher.ID]
				if tx.Voucher.RedeemType == drsapi.RedeemCharity {
					if printed {
						t.Errorf("donation %s also printed a voucher", tx.ID)
					}
					continue
				}
				got, err := money.ParsePLN(string(v.Amount))
				if !printed || err != nil || got != due || v.TransactionID != tx.ID {
					t.Errorf("transaction %s: voucher %+v; want %v", tx.ID, v, due)
				}
			}
			if bagged > accepted {
				t.Errorf("bags hold %d containers, transactions accepted %d", bagged, accepted)
			}
		})
	}
}
