package gateway_test

import (
	"context"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway/store"
)

// TestOperatorAnswerCompletesTheVoucher: what the operator's answer to a
// transaction says of its voucher reaches the store when the machine's
// events did not say it: a code the operator issued itself, or the
// validity of a code whose voucher event never came.
func TestOperatorAnswerCompletesTheVoucher(t *testing.T) {
	for _, c := range []struct {
		name string
		code string // the machine's code; "" lets the operator issue one
	}{
		{name: "the operator issues the code"},
		{name: "no voucher event", code: "2900000000077"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, drssim.Options{}, "RVM-A")
			r := e.startGateway(e.gatewayOptions(""))
			tx := e.transaction("RVM-A", eanOK, 2, &drsapi.VoucherBase{ID: c.code, RedeemType: drsapi.RedeemValid})
			e.publishTx("RVM-A", tx)
			ctx := context.Background()
			waitFor(t, "the transaction delivered", func() bool {
				ev, err := r.gw.Store().Event(ctx, tx.ID)
				return err == nil && ev.State == store.StateDelivered
			})
			v, err := r.gw.Store().VoucherOfTransaction(ctx, tx.ID)
			if err != nil {
				t.Fatalf("VoucherOfTransaction(%s) = %v", tx.ID, err)
			}
			if v.Code == "" || c.code != "" && v.Code != c.code || v.Machine != "RVM-A" || v.IssuedAt.IsZero() || v.ValidUntil.IsZero() {
				t.Errorf("voucher = %+v; want code %q (any if empty) of RVM-A, with the operator's issue and validity", v, c.code)
			}
		})
	}
}
