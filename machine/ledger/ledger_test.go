package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

func open(t *testing.T) *Ledger {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// session records one accepted container and finishes its session.
func session(t *testing.T, l *Ledger, bag string, payout string) (drsapi.Transaction, *Voucher) {
	t.Helper()
	ctx := context.Background()
	s := &Session{RvmID: "r", BagID: bag, StartedAt: t0}
	c := &Container{BagID: bag, EAN: "5900449000287", WeightMg: 21300, Deposit: 50, State: InTransit, DecidedAt: t0}
	if err := l.RecordContainer(ctx, s, c); err != nil {
		t.Fatal(err)
	}
	tx, v, err := l.FinishSession(ctx, Finish{
		SessionID: s.ID, RvmID: "r", EndedAt: t0.Add(time.Minute), Payout: payout, Confirm: []int64{c.ID},
		Amount: 50, Validity: 30 * 24 * time.Hour,
		Build: func(v *Voucher) drsapi.Transaction {
			tx := drsapi.Transaction{ID: s.ID}
			if v != nil {
				tx.Voucher = &drsapi.VoucherBase{ID: v.ID}
			}
			return tx
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tx, v
}

// TestOutboxSeq: sequence numbers count up without gaps, also after acks
// and a reopen, and the depth counters follow.
func TestOutboxSeq(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []outbox.Record
	l.SetHook(func(rs []outbox.Record) { got = append(got, rs...) })
	b, err := l.EnsureBag(ctx, 1, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	session(t, l, b.ID, "voucher")
	session(t, l, b.ID, "donation")
	// containers, transaction, voucher; containers, transaction
	kinds := []string{envelope.KindContainers, envelope.KindTransaction, envelope.KindVoucher, envelope.KindContainers, envelope.KindTransaction}
	for i, r := range got {
		if r.Kind != kinds[i] || r.Seq != int64(i+1) {
			t.Errorf("hook record %d = seq %d kind %s; want seq %d kind %s", i, r.Seq, r.Kind, i+1, kinds[i])
		}
	}
	stored, err := outbox.Pending(ctx, l.DB(), 0, 10)
	if err != nil || len(stored) != 5 {
		t.Fatalf("outbox: %d records, %v", len(stored), err)
	}
	for i, r := range stored {
		if r.Seq != int64(i+1) || r.Kind != kinds[i] {
			t.Errorf("stored record %d = seq %d kind %s; want seq %d kind %s", i, r.Seq, r.Kind, i+1, kinds[i])
		}
	}
	// The session's batch is written exactly as the envelope type marshals.
	want, _ := json.Marshal(envelope.ContainerBatch{TransactionID: stored[1].ID, BagID: b.ID, Containers: []envelope.BatchContainer{
		{EAN: "5900449000287", WeightMg: 21300, DepositGrosze: 50, DecidedAt: "2026-05-01T12:00:00Z"}}})
	if string(stored[0].Body) != string(want) || stored[0].ID != ContainerBatchID(stored[1].ID, 1) || stored[0].RvmID != "r" || !stored[0].TS.Equal(t0) {
		t.Errorf("container event %+v body %s; want body %s", stored[0], stored[0].Body, want)
	}
	if err := outbox.Ack(ctx, l.DB(), 1, 2, 3, 4, 5); err != nil {
		t.Fatal(err)
	}
	if rows, bytes, _ := outbox.Depth(ctx, l.DB()); rows != 0 || bytes != 0 {
		t.Errorf("depth after acking everything = %d rows %d bytes", rows, bytes)
	}
	l.Close()
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got = nil
	l.SetHook(func(rs []outbox.Record) { got = append(got, rs...) })
	session(t, l, b.ID, "voucher")
	if len(got) != 3 || got[1].Seq != 7 {
		t.Errorf("after acks and reopen: %d records, the transaction's seq %d; want 7", len(got), got[1].Seq)
	}
	if rows, _, _ := outbox.Depth(ctx, l.DB()); rows != 3 {
		t.Errorf("depth = %d; want 3", rows)
	}
}

// TestVoucherBuffer: operator codes are used first, once each, skipping
// expired ones; then codes are generated locally, unique and EAN-13.
func TestVoucherBuffer(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	b, _ := l.EnsureBag(ctx, 1, 0, t0)
	n, err := l.AddVouchers(ctx, []envelope.BufferedVoucher{
		{ID: "OP-EXPIRED", ValidUntil: t0.Add(-time.Hour).Format(time.RFC3339)},
		{ID: "OP-1", PrintType: 1, ValidUntil: t0.Add(24 * time.Hour).Format(time.RFC3339)},
		{ID: "OP-2"},
		{ID: "OP-1"},
	})
	if err != nil || n != 3 {
		t.Fatalf("AddVouchers = %d, %v; want 3 new", n, err)
	}
	_, v1 := session(t, l, b.ID, "voucher")
	_, v2 := session(t, l, b.ID, "voucher")
	_, v3 := session(t, l, b.ID, "voucher")
	if v1.ID != "OP-1" || v1.PrintType != 1 || !v1.ValidUntil.Equal(t0.Add(24*time.Hour)) || v1.Source != "buffer" {
		t.Errorf("first voucher = %+v; want OP-1, QR, valid until the operator's date", v1)
	}
	if v2.ID != "OP-2" {
		t.Errorf("second voucher = %+v; want OP-2", v2)
	}
	if v3.Source != "local" || len(v3.ID) != 13 || v3.ID[:2] != "29" {
		t.Errorf("third voucher = %+v; want a local EAN-13 starting 29", v3)
	}
	if n, _ := l.AddVouchers(ctx, []envelope.BufferedVoucher{{ID: "OP-1"}}); n != 0 {
		t.Errorf("a used code was buffered again")
	}
}

// TestSeals: a seal number is used once per machine.
func TestSeals(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	if _, err := l.EnsureBag(ctx, 1, 0, t0); err != nil {
		t.Fatal(err)
	}
	rep, _, err := l.ExchangeBag(ctx, Exchange{Seal: "S1", Staff: "st", At: t0, RvmID: "r"})
	if err != nil || rep.SealNumber != "S1" {
		t.Fatalf("exchange: %+v, %v", rep, err)
	}
	if _, _, err := l.ExchangeBag(ctx, Exchange{Seal: "S1", At: t0, RvmID: "r"}); !errors.Is(err, ErrSealUsed) {
		t.Errorf("second use of S1: %v; want ErrSealUsed", err)
	}
	bs, err := l.ReplaceSeal(ctx, "S1", "S2", "", t0, "r")
	if err != nil || bs.BagID != rep.BagID || bs.LockingPersonID != "st" {
		t.Errorf("replace: %+v, %v", bs, err)
	}
	if _, err := l.ReplaceSeal(ctx, "S1", "S3", "", t0, "r"); err == nil {
		t.Error("a replaced seal was replaced again")
	}
	if _, err := l.ReplaceSeal(ctx, "NOPE", "S4", "", t0, "r"); !errors.Is(err, ErrNoSeal) {
		t.Errorf("unknown old seal: %v; want ErrNoSeal", err)
	}
	if _, _, err := l.ExchangeBag(ctx, Exchange{Seal: "S2", At: t0, RvmID: "r"}); !errors.Is(err, ErrSealUsed) {
		t.Errorf("exchange with the replacement seal: %v; want ErrSealUsed", err)
	}
	var body drsapi.BagReplacement
	json.Unmarshal(mustJSON(rep), &body)
	if body.Containers == nil || body.RelatedTransactionsIDs == nil {
		t.Errorf("empty bag report must carry empty arrays: %s", mustJSON(rep))
	}
}

// TestSettle: in-transit containers are credited or dropped; a session
// left with nothing disappears.
func TestSettle(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	b, _ := l.EnsureBag(ctx, 1, 0, t0)
	s := &Session{RvmID: "r", BagID: b.ID, StartedAt: t0}
	c1 := &Container{BagID: b.ID, EAN: "1", WeightMg: 20000, Deposit: 50, State: InTransit, DecidedAt: t0}
	c2 := &Container{BagID: b.ID, EAN: "2", WeightMg: 20000, Deposit: 50, State: InTransit, DecidedAt: t0}
	l.RecordContainer(ctx, s, c1)
	l.RecordContainer(ctx, s, c2)
	st, _ := l.Load(ctx)
	if len(st.InTransit) != 2 || st.Session == nil || st.Session.ID != s.ID {
		t.Fatalf("load: %+v", st)
	}
	if err := l.Settle(ctx, []int64{c1.ID}, []int64{c2.ID}); err != nil {
		t.Fatal(err)
	}
	st, _ = l.Load(ctx)
	if len(st.InTransit) != 0 || st.BagCount != 1 || st.BagMassMg != 20000 || len(st.Containers) != 1 {
		t.Errorf("after settle: %+v", st)
	}
	s2 := &Session{RvmID: "r", BagID: b.ID, StartedAt: t0}
	c3 := &Container{BagID: b.ID, EAN: "3", State: InTransit, DecidedAt: t0}
	l.RecordContainer(ctx, s2, c3)
	l.Settle(ctx, nil, []int64{c3.ID})
	var n int
	l.DB().QueryRow(`SELECT count(*) FROM sessions WHERE id = ?`, s2.ID).Scan(&n)
	if n != 0 {
		t.Error("a session whose only container was handed back still exists")
	}
}
