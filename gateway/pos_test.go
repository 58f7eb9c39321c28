package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// issueVoucher publishes a transaction with a voucher and its voucher
// event, and waits until the operator has the transaction.
func issueVoucher(t *testing.T, e *env, r *running, code string, validUntil time.Time) {
	t.Helper()
	tx := e.transaction("RVM-A", eanOK, 3, &drsapi.VoucherBase{ID: code, RedeemType: drsapi.RedeemValid})
	e.publishEnvelope(e.envelopeFor("RVM-A", envelope.KindVoucher, "", envelope.Voucher{
		ID: code, TransactionID: tx.ID, Amount: json.RawMessage(`1.5`), Currency: "PLN",
		IssuedAt: tx.TransactionEndTime, ValidUntil: validUntil.UTC().Format(time.RFC3339),
	}))
	e.publishTx("RVM-A", tx)
	waitFor(t, "the voucher's transaction delivered", func() bool {
		ev, err := r.gw.Store().Event(context.Background(), tx.ID)
		return err == nil && ev.State == store.StateDelivered
	})
	waitFor(t, "the voucher event stored", func() bool {
		v, err := r.gw.Store().Voucher(context.Background(), code)
		return err == nil && v.HasAmount
	})
}

// Two tills redeem the same voucher at once: exactly one wins, and the
// operator is told once.
func TestPOSDoubleRedemption(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	o := e.gatewayOptions("")
	o.APIToken = "pos"
	r := e.startGateway(o)
	issueVoucher(t, e, r, "2900000000015", time.Now().Add(30*24*time.Hour))

	var v gateway.VoucherView
	if code := call(t, "GET", r.api.URL+"/api/vouchers/2900000000015", "pos", "", &v); code != http.StatusOK {
		t.Fatalf("GET voucher = %d; want 200", code)
	}
	if v.Status != gateway.VoucherActiveView || v.Amount == nil || *v.Amount != 150 || v.Machine != "RVM-A" || v.TransactionID == "" {
		t.Errorf("voucher = %+v; want valid, 1.50 PLN, RVM-A, with its transaction", v)
	}
	const tills = 2
	codes := make([]int, tills)
	bodies := make([]gateway.APIError, tills)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range tills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = call(t, "POST", r.api.URL+"/api/vouchers/2900000000015/redeem", "pos",
				`{"redeemType":1,"posId":"till-`+string(rune('1'+i))+`"}`, &bodies[i])
		}()
	}
	close(start)
	wg.Wait()
	ok, conflict := 0, 0
	for i, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			conflict++
			if bodies[i].Code != "VOUCHER_ALREADY_REDEEMED" {
				t.Errorf("409 body code = %q; want VOUCHER_ALREADY_REDEEMED", bodies[i].Code)
			}
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("redeem answers = %v; want one 200 and one 409", codes)
	}
	if n := e.front.count("POST /voucher/redeem"); n != 1 {
		t.Errorf("operator redeem calls = %d; want 1", n)
	}
	// A third try, later, is refused too, without asking the operator.
	if code := call(t, "POST", r.api.URL+"/api/vouchers/2900000000015/redeem", "pos", `{"redeemType":2,"posId":"till-3"}`, nil); code != http.StatusConflict {
		t.Errorf("third redeem = %d; want 409", code)
	}
	call(t, "GET", r.api.URL+"/api/vouchers/2900000000015", "pos", "", &v)
	if v.Status != gateway.VoucherRedeemedView || v.RedeemType != drsapi.RedeemCash {
		t.Errorf("after redemption: %+v; want redeemed, type 1", v)
	}
	if n := e.front.count("POST /voucher/redeem"); n != 1 {
		t.Errorf("operator redeem calls = %d; want still 1", n)
	}
}

func TestPOSRefusals(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	r := e.startGateway(e.gatewayOptions(""))
	issueVoucher(t, e, r, "2900000000022", time.Now().Add(-time.Hour))
	tests := []struct {
		code, body string
		want       int
		wantCode   string
	}{
		{"2900000000022", `{"redeemType":1,"posId":"t"}`, http.StatusGone, "VOUCHER_EXPIRED"},
		{"2999999999999", `{"redeemType":1,"posId":"t"}`, http.StatusNotFound, "VOUCHER_NOT_FOUND"},
		{"2900000000022", `{"redeemType":3,"posId":"t"}`, http.StatusBadRequest, "BAD_REDEEM_TYPE"},
		{"2900000000022", `{"redeemType":1}`, http.StatusBadRequest, "NO_POS_ID"},
		{"2900000000022", `{"redeemType":1,"posId":"t","x":1}`, http.StatusBadRequest, "BAD_REQUEST"},
	}
	for _, tt := range tests {
		var body gateway.APIError
		got := call(t, "POST", r.api.URL+"/api/vouchers/"+tt.code+"/redeem", "", tt.body, &body)
		if got != tt.want || body.Code != tt.wantCode {
			t.Errorf("redeem(%q, %q) = %d %q; want %d %q", tt.code, tt.body, got, body.Code, tt.want, tt.wantCode)
		}
	}
	var v gateway.VoucherView
	call(t, "GET", r.api.URL+"/api/vouchers/2900000000022", "", "", &v)
	if v.Status != "expired" {
		t.Errorf("expired voucher status = %q; want expired", v.Status)
	}
	if n := e.front.count("POST /voucher/redeem"); n != 0 {
		t.Errorf("operator redeem calls = %d; want 0", n)
	}
}

// The operator refuses a redemption: the claim is released, so that a
// later try can succeed; nothing is recorded as paid.
func TestPOSOperatorFailureReleases(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	r := e.startGateway(e.gatewayOptions(""))
	issueVoucher(t, e, r, "2900000000039", time.Now().Add(time.Hour))
	e.front.setHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path != "/voucher/redeem" {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	var body gateway.APIError
	if code := call(t, "POST", r.api.URL+"/api/vouchers/2900000000039/redeem", "", `{"redeemType":2,"posId":"t"}`, &body); code != http.StatusBadGateway {
		t.Fatalf("redeem with the operator down = %d %+v; want 502", code, body)
	}
	var v gateway.VoucherView
	call(t, "GET", r.api.URL+"/api/vouchers/2900000000039", "", "", &v)
	if v.Status != gateway.VoucherActiveView {
		t.Fatalf("after a failed redemption: status %q; want valid", v.Status)
	}
	e.front.setHook(nil)
	if code := call(t, "POST", r.api.URL+"/api/vouchers/2900000000039/redeem", "", `{"redeemType":2,"posId":"t"}`, &v); code != http.StatusOK || v.Status != gateway.VoucherRedeemedView {
		t.Errorf("redeem once the operator is back = %d %+v; want 200 redeemed", code, v)
	}
}
