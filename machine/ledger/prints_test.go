package ledger

import (
	"context"
	"testing"
)

// TestVoucherPrints: a paper voucher is due at issue and stays due until
// the printer confirms it; donations and digital vouchers are never due.
func TestVoucherPrints(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	b, err := l.EnsureBag(ctx, 1, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, v1 := session(t, l, b.ID, "voucher")
	session(t, l, b.ID, "donation")
	session(t, l, b.ID, "digital")
	_, v2 := session(t, l, b.ID, "voucher")

	ids := func() []string {
		vs, err := l.UnprintedVouchers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	if got := ids(); len(got) != 2 || got[0] != v1.ID || got[1] != v2.ID {
		t.Fatalf("UnprintedVouchers = %v; want [%s %s]", got, v1.ID, v2.ID)
	}
	vs, _ := l.UnprintedVouchers(ctx)
	if vs[0].Amount != 50 || !vs[0].ValidUntil.Equal(v1.ValidUntil) || vs[0].PrintType != v1.PrintType {
		t.Errorf("UnprintedVouchers()[0] = %+v; want %+v", vs[0], *v1)
	}
	if err := l.PrintFailed(ctx, v1.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkPrinted(ctx, v1.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkPrinted(ctx, v1.ID, t0.Add(1)); err != nil {
		t.Fatal(err)
	}
	if got := ids(); len(got) != 1 || got[0] != v2.ID {
		t.Errorf("after MarkPrinted(%s): UnprintedVouchers = %v; want [%s]", v1.ID, got, v2.ID)
	}
	ps, err := l.VoucherPrints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || !ps[0].Printed || !ps[0].PrintedAt.Equal(t0) || ps[0].Attempts != 2 || ps[1].Printed {
		t.Errorf("VoucherPrints = %+v; want v1 printed at t0 after 2 attempts, v2 not printed", ps)
	}
}
