package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/money"
)

// claimed is an event of machine speaking for rvmID.
func claimed(id, machine, rvmID string, seq int64, kind, body string) store.Event {
	e := ev(id, machine, seq, kind, kind == "transaction")
	e.RvmID, e.Body, e.Topic, e.Raw = rvmID, []byte(body), "rvm/"+machine+"/evt/"+kind, []byte(body)
	return e
}

// save stores one batch and returns the reasons of what it refused.
func save(t *testing.T, st *store.Store, evs ...store.Event) (store.SaveResult, []string) {
	t.Helper()
	res, err := st.SaveBatch(context.Background(), store.Batch{Events: evs})
	if err != nil {
		t.Fatalf("SaveBatch: %v", err)
	}
	var reasons []string
	for _, q := range res.Refused {
		reasons = append(reasons, q.Reason)
	}
	return res, reasons
}

func wantRefused(t *testing.T, what string, reasons []string, substr string) {
	t.Helper()
	if len(reasons) != 1 || !strings.Contains(reasons[0], substr) {
		t.Errorf("%s: refused %q; want one reason with %q", what, reasons, substr)
	}
}

func TestBindingsRefuseAnotherMachinesRvmID(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := st.PutRegistration(ctx, "M-A", "AAAA", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		// M-OLD was registered before bindings: its first event binds it.
		if _, r := save(t, st, claimed("o1", "M-OLD", "0000", 1, "heartbeat", `{}`)); len(r) != 0 {
			t.Fatalf("first sight of M-OLD refused: %q", r)
		}
		cases := []struct {
			name string
			e    store.Event
			want string // "" admitted, else a part of the reason
		}{
			{"own rvmId", claimed("a1", "M-A", "aaaa", 1, "heartbeat", `{}`), ""},
			{"no rvmId yet", claimed("a2", "M-A", "", 2, "heartbeat", `{}`), ""},
			{"M-A's rvmId from M-EVIL", claimed("e1", "M-EVIL", "aaaa", 1, "transaction", `{}`), "belongs to machine M-A"},
			{"M-OLD's rvmId from M-EVIL", claimed("e2", "M-EVIL", "0000", 1, "heartbeat", `{}`), "belongs to machine M-OLD"},
			{"another rvmId from M-OLD", claimed("o2", "M-OLD", "1111", 2, "heartbeat", `{}`), "bound to 0000"},
		}
		for _, c := range cases {
			_, r := save(t, st, c.e)
			if c.want == "" {
				if len(r) != 0 {
					t.Errorf("%s: refused %q; want admitted", c.name, r)
				}
				continue
			}
			wantRefused(t, c.name, r, c.want)
		}
		// M-EVIL bound itself on first sight to an rvmId the operator then
		// registers for M-B: the operator's word wins.
		if _, r := save(t, st, claimed("e3", "M-EVIL", "bbbb", 2, "heartbeat", `{}`)); len(r) != 0 {
			t.Fatalf("first sight of M-EVIL refused: %q", r)
		}
		if err := st.SetRvmID(ctx, "M-B", "BBBB"); err != nil {
			t.Fatal(err)
		}
		_, r := save(t, st, claimed("e4", "M-EVIL", "bbbb", 3, "heartbeat", `{}`))
		wantRefused(t, "M-B's rvmId from M-EVIL after registration", r, "belongs to machine M-B")
		if _, r := save(t, st, claimed("b1", "M-B", "bbbb", 1, "transaction", `{}`)); len(r) != 0 {
			t.Errorf("M-B after registration refused: %q", r)
		}
		bs, err := st.Bindings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, b := range bs {
			got[b.Serial] = b.RvmID + "/" + b.Source
		}
		want := map[string]string{"M-A": "aaaa/operator", "M-B": "bbbb/operator", "M-OLD": "0000/first-sight"}
		if len(got) != len(want) {
			t.Errorf("Bindings = %v; want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("Bindings[%s] = %q; want %q", k, got[k], v)
			}
		}
		// A forged status is refused like an event.
		res, err := st.SaveBatch(ctx, store.Batch{Statuses: []store.StatusUpdate{{Serial: "M-EVIL", Online: true, RvmID: "AAAA", Raw: []byte(`{}`), At: t0}}})
		if err != nil || len(res.Refused) != 1 {
			t.Errorf("SaveBatch(forged status) = %+v, %v; want it refused", res, err)
		}
	})
}

func TestDeduplicatesPerMachine(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		// M-EVIL squats M-B's next ids with events of its own.
		if _, r := save(t, st, claimed("X", "M-EVIL", "", 1, "heartbeat", `{"n":1}`), claimed("Y", "M-EVIL", "", 2, "heartbeat", `{}`)); len(r) != 0 {
			t.Fatalf("squats refused: %q", r)
		}
		res, r := save(t, st, claimed("X", "M-B", "", 1, "transaction", `{"id":"X"}`), claimed("Y", "M-B", "", 2, "heartbeat", `{}`))
		if len(r) != 0 || res.Inserted != 2 || res.Duplicates != 0 {
			t.Fatalf("M-B's own events = %+v, %q; want both stored", res, r)
		}
		e, err := st.Event(ctx, "X")
		if err != nil || e.Machine != "M-B" || e.State != store.StatePending {
			t.Errorf("Event(X) = %+v, %v; want M-B's pending transaction", e, err)
		}
		if e, err := st.Event(ctx, "X@M-EVIL"); err != nil || e.Machine != "M-EVIL" {
			t.Errorf("Event(X@M-EVIL) = %+v, %v; want M-EVIL's heartbeat moved aside", e, err)
		}
		if e, err := st.Event(ctx, "Y@M-B"); err != nil || e.Machine != "M-B" {
			t.Errorf("Event(Y@M-B) = %+v, %v; want M-B's heartbeat under its own key", e, err)
		}
		// Repeats: identical ones are duplicates, another body is refused
		// and the first stands; they find their machine's event under
		// either key.
		res, r = save(t, st, claimed("X", "M-B", "", 1, "transaction", `{ "id": "X" }`), claimed("Y", "M-B", "", 2, "heartbeat", `{}`),
			claimed("X", "M-EVIL", "", 1, "heartbeat", `{"n":1}`))
		if len(r) != 0 || res.Duplicates != 3 || res.Inserted != 0 {
			t.Errorf("identical repeats = %+v, %q; want 3 duplicates", res, r)
		}
		_, r = save(t, st, claimed("X", "M-B", "", 1, "transaction", `{"id":"X","totalAccepted":99}`))
		wantRefused(t, "X with another body", r, "different body")
		if e, _ := st.Event(ctx, "X"); string(e.Body) != `{"id":"X"}` {
			t.Errorf("Event(X).Body = %s; want the first body", e.Body)
		}
		// Another machine's transaction under a transaction id held by a
		// transaction is refused: the operator knows the id as the first's.
		_, r = save(t, st, claimed("X", "M-C", "", 1, "transaction", `{"id":"X"}`))
		wantRefused(t, "M-C's transaction X", r, "already machine M-B's transaction")
	})
}

func TestVoucherBelongsToItsFirstMachine(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := st.AddVoucherBuffer(ctx, "M-A", []string{"BUF1"}, t0); err != nil {
			t.Fatal(err)
		}
		voucher := func(id, machine, code, tx string, amount money.Grosze) store.Event {
			e := claimed(id, machine, "", 1, "voucher", `{}`)
			e.Vouchers = []store.Voucher{{Code: code, TransactionID: tx, Amount: amount, HasAmount: true, Currency: "PLN", ValidUntil: t0.AddDate(0, 0, 30)}}
			return e
		}
		if _, r := save(t, st, voucher("v1", "M-A", "CODE1", "T1", 150)); len(r) != 0 {
			t.Fatalf("M-A's voucher refused: %q", r)
		}
		cases := []struct {
			name string
			e    store.Event
			want string
		}{
			{"M-A's code, bigger, from M-EVIL", voucher("e1", "M-EVIL", "CODE1", "T1", 99900), "belongs to machine M-A"},
			{"M-A's code, bigger, from M-A", voucher("v2", "M-A", "CODE1", "T1", 99900), "was issued for 1.50 PLN"},
			{"M-A's code, other transaction", voucher("v3", "M-A", "CODE1", "T9", 150), "belongs to transaction T1"},
			{"M-A's buffer code from M-EVIL", voucher("e2", "M-EVIL", "BUF1", "TE", 150), "belongs to machine M-A"},
			{"both in one batch", voucher("e3", "M-EVIL", "CODE2", "TE", 100), ""},
		}
		for _, c := range cases {
			evs := []store.Event{c.e}
			if c.want == "" {
				evs = append(evs, voucher("v4", "M-A", "CODE2", "T2", 100))
				c.want = "belongs to machine M-EVIL"
			}
			_, r := save(t, st, evs...)
			wantRefused(t, c.name, r, c.want)
		}
		v, err := st.Voucher(ctx, "CODE1")
		if err != nil || v.Machine != "M-A" || v.Amount != 150 || v.TransactionID != "T1" {
			t.Errorf("Voucher(CODE1) = %+v, %v; want M-A's, 1.50 PLN, T1", v, err)
		}
		if _, r := save(t, st, voucher("v5", "M-A", "BUF1", "T3", 50)); len(r) != 0 {
			t.Errorf("M-A's own buffer code refused: %q", r)
		}
		// A transaction naming another machine's code is refused whole.
		tx := claimed("T7", "M-EVIL", "", 3, "transaction", `{"id":"T7"}`)
		tx.Vouchers = []store.Voucher{{Code: "CODE1", TransactionID: "T7", Status: store.VoucherRedeemed}}
		_, r := save(t, st, tx)
		wantRefused(t, "M-EVIL's transaction with M-A's code", r, "belongs to machine M-A")
		if v, _ := st.Voucher(ctx, "CODE1"); v.Status != store.VoucherValid {
			t.Errorf("Voucher(CODE1).Status = %q; want valid", v.Status)
		}
		if _, err := st.Event(ctx, "T7"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Event(T7) = %v; want not found", err)
		}
	})
}

func TestBlockedConfirmationStopsRedemption(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tx := claimed("T1", "M-A", "", 1, "transaction", `{"id":"T1"}`)
		tx.Vouchers = []store.Voucher{{Code: "C1", TransactionID: "T1"}}
		ok := claimed("T2", "M-A", "", 2, "transaction", `{"id":"T2"}`)
		ok.Vouchers = []store.Voucher{{Code: "C2", TransactionID: "T2"}}
		save(t, st, tx, ok)
		if err := st.ConfirmTransactionWith(ctx, store.Confirmation{TransactionID: "T1", Blocked: true, Amount: 250, Currency: "PLN", ConfirmedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := st.ConfirmTransactionWith(ctx, store.Confirmation{TransactionID: "T2", ConfirmedAt: t0}); err != nil {
			t.Fatal(err)
		}
		c, found, err := st.Confirmation(ctx, "T1")
		if err != nil || !found || !c.Blocked || c.Amount != 250 || c.Currency != "PLN" {
			t.Errorf("Confirmation(T1) = %+v, %v, %v; want blocked, 2.50 PLN", c, found, err)
		}
		if _, err := st.ReserveVoucher(ctx, "C1", "P1", store.Actor{Who: "till", Till: "till-1"}, t0); !errors.Is(err, store.ErrBlocked) {
			t.Errorf("ReserveVoucher(C1) = %v; want ErrBlocked", err)
		}
		if _, err := st.ReserveVoucher(ctx, "C2", "P2", store.Actor{Who: "till", Till: "till-1"}, t0); err != nil {
			t.Errorf("ReserveVoucher(C2) = %v; want nil", err)
		}
		bl, err := st.BlockedTransactions(ctx)
		if err != nil || len(bl) != 1 || bl[0].TransactionID != "T1" {
			t.Errorf("BlockedTransactions = %+v, %v; want T1", bl, err)
		}
		if err := st.ConfirmTransactionWith(ctx, store.Confirmation{TransactionID: "nope", ConfirmedAt: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ConfirmTransactionWith(nope) = %v; want ErrNotFound", err)
		}
	})
}

func TestRegistrationFailuresOneEntryPerCause(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var evs []store.Event
		for i, id := range []string{"r1", "r2", "r3", "r4"} {
			evs = append(evs, ev(id, "M-A", int64(i+1), "registration", true))
		}
		evs = append(evs, ev("t1", "M-A", 5, "transaction", true), ev("t2", "M-A", 6, "transaction", true))
		save(t, st, evs...)
		fail := func(id, kind, field string) {
			t.Helper()
			f := store.Failure{EventID: id, Machine: "M-A", Kind: kind, Reason: "drs: 400 for " + id, HTTPStatus: 400,
				Code: "REQUIRED", Message: "REQUIRED " + field, LastTry: t0}
			if err := st.MarkFailed(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		fail("r1", "registration", "drsCpNo")
		fail("r2", "registration", "drsCpNo")
		fail("r3", "registration", "bins")
		fail("r4", "registration", "drsCpNo")
		fail("t1", "transaction", "containers")
		fail("t2", "transaction", "containers")
		fs, err := st.Failures(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.EventID)
		}
		want := "r3 r4 t1 t2"
		if g := strings.Join(sortStrings(got), " "); g != want {
			t.Errorf("open failures = %q; want %q (one per registration cause, each transaction its own)", g, want)
		}
		for _, id := range []string{"r1", "r2"} {
			if e, _ := st.Event(ctx, id); e.State != store.StateDismissed {
				t.Errorf("Event(%s).State = %q; want dismissed (superseded)", id, e.State)
			}
		}
	})
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
