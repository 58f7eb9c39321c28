package simrun

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/fsm"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/config"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

func kinds(ls []line) string {
	var k []string
	for _, l := range ls {
		k = append(k, l.Kind)
	}
	return strings.Join(k, ",")
}

func repeat(line string, n int) string { return strings.Repeat(line+"\n", n) }

const coke = `{"op":"insert","ean":"5900449000287"}`

// TestSessionEnds covers each way a session ends.
func TestSessionEnds(t *testing.T) {
	start := `{"op":"start","at":"2026-03-02T10:00:00Z","rvmId":"0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6","seed":7}` + "\n"
	tests := []struct {
		name      string
		script    string
		wantKinds string
		check     func(t *testing.T, ls []line, txs []drsapi.Transaction)
	}{
		{"finish with voucher", repeat(coke, 2) + `{"op":"finish","payout":"voucher"}`, "transaction,voucher",
			func(t *testing.T, ls []line, txs []drsapi.Transaction) {
				var v envelope.Voucher
				json.Unmarshal(ls[1].Body, &v)
				if txs[0].Voucher == nil || v.ID != txs[0].Voucher.ID || v.TransactionID != txs[0].ID || string(v.Amount) != "1" ||
					txs[0].Voucher.Redeemed || txs[0].Voucher.RedeemType != 0 {
					t.Errorf("voucher %+v for transaction %+v", v, txs[0])
				}
				issued, _ := time.Parse(time.RFC3339, v.IssuedAt)
				until, _ := time.Parse(time.RFC3339, v.ValidUntil)
				if until.Sub(issued) != 30*24*time.Hour || v.IssuedAt != txs[0].TransactionEndTime {
					t.Errorf("voucher valid %s..%s, transaction ended %s", v.IssuedAt, v.ValidUntil, txs[0].TransactionEndTime)
				}
			}},
		{"donation", coke + "\n" + `{"op":"finish","payout":"donation"}`, "transaction",
			func(t *testing.T, ls []line, txs []drsapi.Transaction) {
				if v := txs[0].Voucher; v == nil || !v.Redeemed || v.RedeemType != drsapi.RedeemCharity {
					t.Errorf("donation voucher = %+v", v)
				}
			}},
		{"digital voucher", coke + "\n" + `{"op":"finish","payout":"digital","phone":"600100200"}`, "transaction,voucher",
			func(t *testing.T, ls []line, txs []drsapi.Transaction) {
				var v envelope.Voucher
				json.Unmarshal(ls[1].Body, &v)
				if v.Phone != "600100200" || txs[0].Voucher.Redeemed {
					t.Errorf("digital voucher %+v", v)
				}
			}},
		{"idle timeout 30 s after the last insert", coke + "\n" + `{"op":"insert","ean":"5900449000287","gap_ms":10000}` + "\n" + `{"op":"wait","ms":60000}`, "transaction,voucher",
			func(t *testing.T, ls []line, txs []drsapi.Transaction) {
				if txs[0].TransactionStartTime != "2026-03-02T10:00:01Z" || txs[0].TransactionEndTime != "2026-03-02T10:00:41Z" {
					t.Errorf("session %s..%s; want 10:00:01..10:00:41", txs[0].TransactionStartTime, txs[0].TransactionEndTime)
				}
			}},
		{"end of scenario runs the clock on", coke, "transaction,voucher", nil},
		{"nothing accepted: transaction without voucher", `{"op":"insert","ean":"5901234123457"}` + "\n" + `{"op":"finish","payout":"voucher"}`, "transaction",
			func(t *testing.T, ls []line, txs []drsapi.Transaction) {
				if txs[0].Voucher != nil || txs[0].TotalRejected != 1 {
					t.Errorf("transaction %+v", txs[0])
				}
			}},
		{"finish without a session does nothing", `{"op":"finish","payout":"voucher"}`, "", nil},
		{"power cut finishes the session at restart", repeat(coke, 2) + `{"op":"power-cut"}` + "\n" + coke, "transaction,voucher,transaction,voucher",
			func(t *testing.T, ls []line, txs []drsapi.Transaction) {
				if txs[0].TotalAccepted != 2 || txs[1].TotalAccepted != 1 {
					t.Errorf("accepted %d then %d; want 2 then 1", txs[0].TotalAccepted, txs[1].TotalAccepted)
				}
			}},
		{"fault finishes the session safely", repeat(coke, 2) + `{"op":"fault","kind":"jam"}` + "\n" + coke + "\n" + `{"op":"service","action":"clear"}` + "\n" + coke,
			"transaction,voucher,transaction,voucher",
			func(t *testing.T, ls []line, txs []drsapi.Transaction) {
				if txs[0].TotalAccepted != 2 || txs[1].TotalAccepted != 1 || txs[1].TotalAmount != 1 {
					t.Errorf("transactions %+v; the insert during the fault must be refused at the chute", txs)
				}
			}},
		{"a latched fault survives a power cut", coke + "\n" + `{"op":"fault","kind":"jam"}` + "\n" + `{"op":"power-cut"}` + "\n" + coke + "\n" + `{"op":"service","action":"clear"}` + "\n" + coke,
			"transaction,voucher,transaction,voucher",
			func(t *testing.T, ls []line, txs []drsapi.Transaction) {
				if txs[1].TotalAmount != 1 {
					t.Errorf("after the restart the machine took a container while its fault was latched: %+v", txs[1])
				}
			}},
		{"door open is a fault", coke + "\n" + `{"op":"fault","kind":"door-open"}` + "\n" + coke + "\n" + `{"op":"service","action":"clear"}` + "\n" + coke,
			"transaction,voucher,transaction,voucher", nil},
		{"dead scanner is a fault", coke + "\n" + `{"op":"fault","kind":"scanner-dead"}` + "\n" + coke + "\n" + `{"op":"service","action":"clear"}` + "\n" + coke,
			"transaction,voucher,transaction,voucher", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := parseOut(t, play(t, start+tt.script+"\n", nil))
			if got := kinds(ls); got != tt.wantKinds {
				t.Fatalf("kinds = %q; want %q", got, tt.wantKinds)
			}
			txs := transactions(t, ls)
			if tt.check != nil {
				tt.check(t, ls, txs)
			}
		})
	}
}

// TestBagCycle: warning, full, blocked, exchange, resume; and a session
// that crosses both levels reports only full.
func TestBagCycle(t *testing.T) {
	small := func(o *Options) { o.Machine.BagMaxContainers = 10 }
	script := repeat(coke, 9) + `{"op":"finish","payout":"voucher"}` + "\n" + // 90%: warning at session end
		coke + "\n" + // 10th: full at once, session ends
		coke + "\n" + // refused at the chute
		`{"op":"bag-exchange","seal":"017824770475060","staff":"3f1e2d10-5b0c-4e57-9d53-4a349f610c7a","bin":1}` + "\n" +
		coke + "\n" + `{"op":"finish","payout":"voucher"}` + "\n"
	ls := parseOut(t, play(t, script, small))
	want := "transaction,voucher,bag-fill-status,bag-fill-status,transaction,voucher,bag-replacement,transaction,voucher"
	if got := kinds(ls); got != want {
		t.Fatalf("kinds = %s; want %s", got, want)
	}
	txs := transactions(t, ls)
	var warn, full drsapi.BagFillStatus
	json.Unmarshal(ls[2].Body, &warn)
	json.Unmarshal(ls[3].Body, &full)
	if warn.RvmBlocked || warn.FillLevelPercent != 0.9 || full.FillLevelPercent != 1 || !full.RvmBlocked || len(full.WasteType) == 0 {
		t.Errorf("warning %+v, full %+v", warn, full)
	}
	if txs[1].TotalAccepted != 1 || txs[1].TotalAmount != 1 {
		t.Errorf("second session %+v; the insert while full must leave no record", txs[1])
	}
	var rep drsapi.BagReplacement
	json.Unmarshal(ls[6].Body, &rep)
	if rep.ContainerAmount != 10 || len(rep.Containers) != 1 || rep.Containers[0].Count != 10 ||
		rep.SealNumber != "017824770475060" || rep.LockingPersonID != "3f1e2d10-5b0c-4e57-9d53-4a349f610c7a" ||
		len(rep.RelatedTransactionsIDs) != 2 || rep.RelatedTransactionsIDs[0] != txs[0].ID || rep.BagWeight < 0.2 || rep.BagWeight > 0.22 {
		t.Errorf("bag replacement %+v", rep)
	}

	both := repeat(coke, 10) + `{"op":"finish","payout":"voucher"}` + "\n"
	ls = parseOut(t, play(t, both, small))
	if got := kinds(ls); got != "bag-fill-status,transaction,voucher" {
		t.Errorf("crossing warning and full in one session: kinds = %s; want only full", got)
	}
}

// TestBagFullByWeight: 15 kg of glass fills the bag before 400 containers.
func TestBagFullByWeight(t *testing.T) {
	glass := `{"op":"insert","ean":"5901012005012"}` // 310 g
	ls := parseOut(t, play(t, repeat(glass, 50), nil))
	txs := transactions(t, ls)
	// 49 bottles are 15.19 kg: full; the 50th is refused at the chute.
	if len(txs) != 1 || txs[0].TotalAccepted != 49 || txs[0].TotalAmount != 49 {
		t.Fatalf("kinds %s, transactions %+v", kinds(ls), txs)
	}
	if got := kinds(ls); got != "bag-fill-status,transaction,voucher" {
		t.Errorf("kinds = %s; want full first", got)
	}
}

// TestSeals: seal replacement and refusal of seals already used.
func TestSeals(t *testing.T) {
	script := coke + "\n" +
		`{"op":"bag-exchange","seal":"1000001","staff":"3f1e2d10-5b0c-4e57-9d53-4a349f610c7a"}` + "\n" +
		`{"op":"seal-replace","old":"1000001","new":"1000002"}` + "\n" +
		coke + "\n" +
		`{"op":"bag-exchange","seal":"1000001"}` + "\n" + // used: refused
		`{"op":"bag-exchange","seal":"1000002"}` + "\n" + // used (replacement): refused
		`{"op":"seal-replace","old":"9999999","new":"1000003"}` + "\n" + // unknown old: refused
		`{"op":"bag-exchange","seal":"1000004"}` + "\n"
	ls := parseOut(t, play(t, script, nil))
	want := "transaction,voucher,bag-replacement,bag-seal,transaction,voucher,bag-replacement"
	if got := kinds(ls); got != want {
		t.Fatalf("kinds = %s; want %s", got, want)
	}
	var rep drsapi.BagReplacement
	var seal drsapi.BagSeal
	json.Unmarshal(ls[2].Body, &rep)
	json.Unmarshal(ls[3].Body, &seal)
	if seal.SealNumber != "1000002" || seal.BagID != rep.BagID || seal.LockingPersonID != rep.LockingPersonID {
		t.Errorf("bag-seal %+v for bag %+v", seal, rep)
	}
	var rep2 drsapi.BagReplacement
	json.Unmarshal(ls[6].Body, &rep2)
	if rep2.SealNumber != "1000004" || rep2.ContainerAmount != 1 || rep2.BagID == rep.BagID {
		t.Errorf("second bag %+v", rep2)
	}
}

// TestFaultWhileFalling: a fault that comes while an accepted container is
// falling into the bag (past the exit barrier) waits for the bag to weigh
// it: the container is credited, then the fault latches and the session
// ends with its voucher.
func TestFaultWhileFalling(t *testing.T) {
	ctx := context.Background()
	steps, _ := scenario.Parse(strings.NewReader(coke + "\n"))
	var out bytes.Buffer
	r, err := Start(ctx, steps, Options{Catalog: sampleCatalog(t), DBPath: filepath.Join(t.TempDir(), "l.db"), Out: &out,
		Machine: machine.OptionsFromConfig(config.Default())})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.insert(ctx, steps[0]); err != nil {
		t.Fatal(err)
	}
	for r.Controller().State() != fsm.Dropping {
		if ok, err := r.next(ctx, time.Time{}); err != nil || !ok {
			t.Fatalf("never dropping: %v", err)
		}
	}
	r.sim.InjectFault(hal.FaultDoorOpen)
	if err := r.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()
	txs := transactions(t, parseOut(t, out.Bytes()))
	if len(txs) != 1 || txs[0].TotalAccepted != 1 || txs[0].Voucher == nil {
		t.Fatalf("transactions %+v; want the falling container credited", txs)
	}
	if st := r.Controller().Status(); st.Fault != string(hal.FaultDoorOpen) {
		t.Errorf("fault = %q; want door-open latched after the credit", st.Fault)
	}
}
