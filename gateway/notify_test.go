package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// webhook is an SMS provider's webhook that fails its first calls.
type webhook struct {
	mu    sync.Mutex
	fails int
	calls []gateway.Message
	keys  []string
}

func (wh *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m gateway.Message
	json.NewDecoder(r.Body).Decode(&m)
	wh.mu.Lock()
	defer wh.mu.Unlock()
	wh.calls = append(wh.calls, m)
	wh.keys = append(wh.keys, r.Header.Get("Idempotency-Key"))
	if len(wh.calls) <= wh.fails {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (wh *webhook) count() int {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return len(wh.calls)
}

// A digital voucher's code goes to the webhook once the operator accepted
// its transaction, again after the webhook's failures (backing off), and
// never once more after it succeeded, through a restart of the gateway.
func TestWebhookNotifierRetriesSendsOnce(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	wh := &webhook{fails: 2}
	srv := httptest.NewServer(wh)
	t.Cleanup(srv.Close)
	n, err := gateway.NewNotifier(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "gw.db")
	o := e.gatewayOptions(db)
	o.Notifier, o.CustomerInterval = n, 50*time.Millisecond
	r := e.startGateway(o)
	const code = "2900000000046"
	tx := e.transaction("RVM-A", eanOK, 2, &drsapi.VoucherBase{ID: code, RedeemType: drsapi.RedeemValid})
	valid := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	e.publishEnvelope(e.envelopeFor("RVM-A", envelope.KindVoucher, "", envelope.Voucher{
		ID: code, TransactionID: tx.ID, Amount: json.RawMessage(`1`), Currency: "PLN",
		IssuedAt: tx.TransactionEndTime, ValidUntil: valid.Format(time.RFC3339), Phone: "600100200",
	}))
	e.publishTx("RVM-A", tx)
	waitFor(t, "the webhook to accept the code", func() bool { return wh.count() == 3 })
	r.stop(t)
	r = e.startGateway(o)
	time.Sleep(500 * time.Millisecond) // ten looks of the notifier
	if got := wh.count(); got != 3 {
		t.Errorf("webhook calls = %d; want 3 (two failures, one success, none after)", got)
	}
	wh.mu.Lock()
	m := wh.calls[2]
	keys := wh.keys
	wh.mu.Unlock()
	want := gateway.Message{Phone: "600100200", Code: code, Amount: 100, ValidUntil: valid.Format(time.RFC3339), Text: m.Text}
	if m != want || m.Text == "" {
		t.Errorf("message = %+v; want %+v with a text", m, want)
	}
	for i, k := range keys {
		if k != "voucher-"+code {
			t.Errorf("call %d Idempotency-Key = %q; want voucher-%s", i, k, code)
		}
	}
	// A resend after the gap goes out again; one right after is refused.
	r.stop(t)
	o.ResendGap = time.Millisecond
	r = e.startGateway(o)
	if got := call(t, "POST", r.api.URL+"/api/vouchers/"+code+"/resend", "", "", nil); got != http.StatusAccepted {
		t.Fatalf("resend = %d; want 202", got)
	}
	waitFor(t, "the resent code", func() bool { return wh.count() == 4 })
	if _, err := r.gw.Store().Voucher(context.Background(), code); err != nil {
		t.Fatal(err)
	}
}

func TestNewNotifierRefusesBadTargets(t *testing.T) {
	for _, target := range []string{"sms:600100200", "file:", "ftp://example.com/x", "http://"} {
		if _, err := gateway.NewNotifier(target, nil); err == nil {
			t.Errorf("NewNotifier(%q) = nil error; want one naming the target", target)
		}
	}
}
