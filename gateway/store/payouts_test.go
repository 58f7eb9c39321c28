package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/money"
)

// replicas runs f with two stores on one database, as two gateway
// replicas: a SQLite file and, when RVM_TEST_POSTGRES is set, PostgreSQL.
func replicas(t *testing.T, f func(t *testing.T, a, b *store.Store)) {
	run := func(t *testing.T, dsn string) {
		ctx := context.Background()
		a, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		b, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		f(t, a, b)
	}
	t.Run("sqlite", func(t *testing.T) { run(t, filepath.Join(t.TempDir(), "gw.db")) })
	t.Run("postgres", func(t *testing.T) {
		dsn := postgresDSN(t)
		if dsn == "" {
			t.Skip("RVM_TEST_POSTGRES not set")
		}
		run(t, dsn)
	})
}

// race runs n calls of f at once, alternating the replicas, and counts
// the nil errors and the errors that are want.
func race(t *testing.T, n int, a, b *store.Store, want error, f func(st *store.Store, i int) error) (won, refused int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := a
			if i%2 == 1 {
				st = b
			}
			err := f(st, i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, want):
				refused++
			default:
				t.Errorf("call %d = %v; want nil or %v", i, err, want)
			}
		}()
	}
	wg.Wait()
	return won, refused
}

func TestReserveConfirmOnce(t *testing.T) {
	replicas(t, func(t *testing.T, a, b *store.Store) {
		ctx := context.Background()
		if err := a.PutVoucher(ctx, store.Voucher{Code: "V1", Amount: 150, HasAmount: true, ValidUntil: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		won, refused := race(t, 8, a, b, store.ErrNotActive, func(st *store.Store, i int) error {
			_, err := st.ReserveVoucher(ctx, "V1", fmt.Sprint("P", i), store.Actor{Who: "till", Till: fmt.Sprint("till-", i)}, t0)
			return err
		})
		if won != 1 || refused != 7 {
			t.Fatalf("reservations: %d won, %d refused; want 1 and 7", won, refused)
		}
		ps, err := a.Payouts(ctx, store.PayoutReserved)
		if err != nil || len(ps) != 1 || ps[0].Amount != 150 {
			t.Fatalf("Payouts(reserved) = %+v, %v; want one of 1.50", ps, err)
		}
		id := ps[0].ID
		var mu sync.Mutex
		starts := 0
		race(t, 8, a, b, nil, func(st *store.Store, i int) error {
			_, w, _, err := st.BeginConfirm(ctx, id, store.Actor{Who: "staff"}, t0.Add(time.Second))
			if w {
				mu.Lock()
				starts++
				mu.Unlock()
			}
			return err
		})
		if starts != 1 {
			t.Errorf("confirmations begun = %d; want 1", starts)
		}
		p, err := b.Payout(ctx, id)
		if err != nil || p.Status != store.PayoutConfirming {
			t.Fatalf("Payout = %+v, %v; want confirming", p, err)
		}
		// A confirmation left behind by a dead replica is taken over later.
		if _, w, retaken, err := a.BeginConfirm(ctx, id, store.Actor{Who: "staff"}, t0.Add(time.Minute)); err != nil || !w || !retaken {
			t.Errorf("BeginConfirm of a stale confirmation = %v, %v, %v; want won, retaken", w, retaken, err)
		}
		if err := a.FinishConfirm(ctx, p, 1, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.CancelPayout(ctx, id, store.Actor{Who: "staff"}, t0, "late"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CancelPayout(confirmed) = %v; want ErrConflict", err)
		}
		if v, _ := a.Voucher(ctx, "V1"); v.Status != store.VoucherRedeemed || v.RedeemType != 1 {
			t.Errorf("voucher after confirmation = %+v; want redeemed in cash", v)
		}
		tests := []struct {
			code string
			at   time.Time
			want error
		}{
			{"V1", t0, store.ErrNotActive},
			{"V2", t0.Add(2 * time.Hour), store.ErrExpired},
			{"nope", t0, store.ErrNotFound},
		}
		a.PutVoucher(ctx, store.Voucher{Code: "V2", Amount: 50, HasAmount: true, ValidUntil: t0.Add(time.Hour)})
		for _, tt := range tests {
			if _, err := a.ReserveVoucher(ctx, tt.code, "X-"+tt.code, store.Actor{Who: "staff"}, tt.at); !errors.Is(err, tt.want) {
				t.Errorf("ReserveVoucher(%q) = %v; want %v", tt.code, err, tt.want)
			}
		}
		// Expiry gives a reservation back.
		if _, err := a.ReserveVoucher(ctx, "V2", "P-V2", store.Actor{Who: "till", Till: "t"}, t0); err != nil {
			t.Fatal(err)
		}
		gone, err := b.ExpireReservations(ctx, t0.Add(time.Minute), t0.Add(time.Minute))
		if err != nil || len(gone) != 1 || gone[0].ID != "P-V2" {
			t.Errorf("ExpireReservations = %+v, %v; want P-V2", gone, err)
		}
		if v, _ := a.Voucher(ctx, "V2"); v.Status != store.VoucherValid {
			t.Errorf("voucher after its reservation expired: %q; want valid", v.Status)
		}
	})
}

// credit makes a deposit of amount to phone's account as a session with
// payout "account" would: its voucher, its transaction accepted.
func credit(t *testing.T, st *store.Store, phone, txID string, amount money.Grosze) {
	t.Helper()
	ctx := context.Background()
	code := "C-" + txID
	ev := store.Event{ID: txID, Machine: "M1", Seq: 1, Kind: "transaction", Body: []byte(`{}`), Forward: true, ReceivedAt: t0,
		Vouchers: []store.Voucher{{Code: code, TransactionID: txID}}}
	vo := store.Event{ID: "voucher-" + txID, Machine: "M1", Seq: 2, Kind: "voucher", Body: []byte(`{}`), ReceivedAt: t0,
		Vouchers: []store.Voucher{{Code: code, TransactionID: txID, Amount: amount, HasAmount: true, Phone: phone, Payout: "account", ValidUntil: t0.Add(time.Hour)}}}
	if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev, vo}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkDelivered(ctx, txID, t0, nil); err != nil {
		t.Fatal(err)
	}
	acts, err := st.ActivateDigital(ctx, t0)
	if err != nil || len(acts) != 1 || !acts[0].Credited {
		t.Fatalf("ActivateDigital = %+v, %v; want one credit", acts, err)
	}
}

func TestAccountNeverOverdrawn(t *testing.T) {
	replicas(t, func(t *testing.T, a, b *store.Store) {
		ctx := context.Background()
		const phone = "600100200"
		if _, created, err := a.RegisterAccount(ctx, phone, store.Actor{Who: "staff"}, t0); err != nil || !created {
			t.Fatalf("RegisterAccount = %v, %v", created, err)
		}
		credit(t, a, phone, "T1", 300)
		// Eight tills ask 1.00 each of a 3.00 balance at once.
		won, refused := race(t, 8, a, b, store.ErrInsufficient, func(st *store.Store, i int) error {
			_, err := st.ReserveAccount(ctx, phone, 100, fmt.Sprint("A", i), store.Actor{Who: "till", Till: fmt.Sprint("till-", i)}, t0)
			return err
		})
		if won != 3 || refused != 5 {
			t.Errorf("account reservations: %d won, %d refused; want 3 and 5", won, refused)
		}
		acc, err := b.Account(ctx, phone)
		if err != nil || acc.Balance != 0 {
			t.Errorf("Account = %+v, %v; want balance 0 with 3.00 reserved", acc, err)
		}
		// Reversals: up to what the credit has left, at once from both replicas.
		won, refused = race(t, 6, a, b, store.ErrInsufficient, func(st *store.Store, i int) error {
			return st.ReverseCredit(ctx, phone, "T1", 100, store.Actor{Who: "staff"}, t0)
		})
		if won != 3 || refused != 3 {
			t.Errorf("reversals: %d won, %d refused; want 3 and 3", won, refused)
		}
		if err := a.ReverseCredit(ctx, phone, "T9", 1, store.Actor{Who: "staff"}, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReverseCredit(unknown transaction) = %v; want ErrNotFound", err)
		}
		if err := a.EraseAccount(ctx, phone, store.Actor{Who: "staff"}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Account(ctx, phone); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Account after erasure = %v; want ErrNotFound", err)
		}
		if d, err := a.DigitalVoucher(ctx, "C-T1"); err != nil || d.Phone != "" {
			t.Errorf("the account's voucher after erasure = %+v, %v; want no phone", d, err)
		}
		// The phone may register again: a new, empty account.
		acc, created, err := a.RegisterAccount(ctx, phone, store.Actor{Who: "staff"}, t0)
		if err != nil || !created || acc.Balance != 0 || len(acc.Entries) != 0 {
			t.Errorf("RegisterAccount after erasure = %+v, %v, %v; want a new empty account", acc, created, err)
		}
	})
}

func TestIdempotencyKeyOnce(t *testing.T) {
	replicas(t, func(t *testing.T, a, b *store.Store) {
		ctx := context.Background()
		won, refused := 0, 0
		for i, st := range []*store.Store{a, b, a} {
			first, rep, err := st.BeginIdempotent(ctx, "k", t0)
			switch {
			case err != nil:
				t.Fatal(err)
			case first:
				won++
				if err := st.FinishIdempotent(ctx, "k", store.Reply{Status: 201, Body: []byte(`{"id":"P1"}`)}); err != nil {
					t.Fatal(err)
				}
			case rep.Status != 201 || string(rep.Body) != `{"id":"P1"}`:
				t.Errorf("BeginIdempotent #%d = %+v; want the first reply", i, rep)
			default:
				refused++
			}
		}
		if won != 1 || refused != 2 {
			t.Errorf("first %d, replays %d; want 1 and 2", won, refused)
		}
	})
}

// BenchmarkPayout is one voucher paid out in two phases (reserve,
// confirm, finish) on a SQLite file: what a till's payout costs the store.
func BenchmarkPayout(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "gw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i := range b.N {
		if err := st.PutVoucher(ctx, store.Voucher{Code: fmt.Sprint("V", i), Amount: 150, HasAmount: true}); err != nil {
			b.Fatal(err)
		}
	}
	a := store.Actor{Who: "till", Till: "t"}
	b.ResetTimer()
	for i := range b.N {
		p, err := st.ReserveVoucher(ctx, fmt.Sprint("V", i), fmt.Sprint("P", i), a, t0)
		if err != nil {
			b.Fatal(err)
		}
		p, _, _, err = st.BeginConfirm(ctx, p.ID, a, t0)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.FinishConfirm(ctx, p, 1, t0); err != nil {
			b.Fatal(err)
		}
	}
}
