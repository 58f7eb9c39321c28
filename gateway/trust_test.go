package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// The operator confirms a transaction as blocked from payment: the answer
// is recorded, listed, and the transaction's voucher is refused at a till.
func TestBlockedConfirmationIsRecorded(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	o := e.gatewayOptions("")
	o.APIToken = "pos"
	r := e.startGateway(o)
	const code = "2900000000015"
	issueVoucher(t, e, r, code, time.Now().Add(30*24*time.Hour))
	v, err := r.gw.Store().Voucher(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	url := r.api.URL + "/transaction/" + v.TransactionID + "/confirmation"
	if got := call(t, "PUT", url, "pos", `{"blocked":true,"amount":1.5,"currency":"PLN"}`, nil); got != http.StatusOK {
		t.Fatalf("PUT confirmation = %d; want 200", got)
	}
	var bl []store.Confirmation
	if got := call(t, "GET", r.api.URL+"/api/blocked", "pos", "", &bl); got != http.StatusOK || len(bl) != 1 ||
		bl[0].TransactionID != v.TransactionID || !bl[0].Blocked || bl[0].Amount != 150 {
		t.Errorf("GET /api/blocked = %d, %+v; want %s blocked, 1.50", got, bl, v.TransactionID)
	}
	var apiErr struct {
		Code string `json:"code"`
	}
	if got := call(t, "POST", r.api.URL+"/api/vouchers/"+code+"/redeem", "pos", `{"redeemType":1,"posId":"till-1"}`, &apiErr); got != http.StatusConflict || apiErr.Code != "VOUCHER_BLOCKED" {
		t.Errorf("redeem = %d %q; want 409 VOUCHER_BLOCKED", got, apiErr.Code)
	}
	if got := call(t, "PUT", url, "pos", `{"blocked":`, nil); got != http.StatusBadRequest {
		t.Errorf("PUT confirmation with a broken body = %d; want 400", got)
	}
}

// A machine without the operator's collection-point number repeats its
// registration; the failure report holds one open entry for the cause.
func TestRegistrationWithoutCollectionPointOneFailure(t *testing.T) {
	e := newEnv(t, drssim.Options{})
	r := e.startGateway(e.gatewayOptions(""))
	reg := drsapi.MachineUpdate{SerialNumber: "RVM-NEW", Bins: []drsapi.BinPost{{WasteType: []int{7}}}}
	var last string
	for range 4 {
		env := e.envelopeFor("RVM-NEW", envelope.KindRegistration, "", reg)
		last = env.ID
		e.publishEnvelope(env)
		waitFor(t, "the registration refused", func() bool {
			ev, err := r.gw.Store().Event(context.Background(), env.ID)
			return err == nil && ev.State == store.StateFailed
		})
	}
	fs, err := r.gw.Store().Failures(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].EventID != last || fs[0].Machine != "RVM-NEW" {
		t.Errorf("open failures = %+v; want one, the last registration %s", fs, last)
	}
}

// The operator answers a transaction with blocked (its
// 200TransactionProcessed response): the answer is recorded and listed.
func TestBlockedAnswerToTransactionIsRecorded(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	e.front.setHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost || req.URL.Path != "/transaction" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"printType":0,"blocked":true,"amount":0,"currency":"PLN"}`))
		return true
	})
	r := e.startGateway(e.gatewayOptions(""))
	id := e.publishTx("RVM-A", e.transaction("RVM-A", eanOK, 2, nil))
	waitFor(t, "the transaction delivered", func() bool {
		ev, err := r.gw.Store().Event(context.Background(), id)
		return err == nil && ev.State == store.StateDelivered
	})
	var bl []store.Confirmation
	if got := call(t, "GET", r.api.URL+"/api/blocked", "", "", &bl); got != http.StatusOK || len(bl) != 1 || bl[0].TransactionID != id || !bl[0].Blocked {
		t.Errorf("GET /api/blocked = %d, %+v; want %s blocked", got, bl, id)
	}
	ev, _ := r.gw.Store().Event(context.Background(), id)
	if !strings.Contains(string(ev.Response), `"blocked":true`) {
		t.Errorf("recorded answer = %s; want the operator's blocked flag in it", ev.Response)
	}
}
