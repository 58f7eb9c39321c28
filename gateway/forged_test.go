package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// fleetACL is the broker's access list the gateway's threat model assumes
// (see the package documentation): a machine writes only under its own
// rvm/SERIAL/ and reads only its commands and acks; the gateway reads
// everything and writes commands and acks.
const fleetACL = `user gateway
topic read rvm/#
topic write rvm/+/cmd/#
topic write rvm/+/ack

pattern write rvm/%u/#
pattern read rvm/%u/cmd/#
pattern read rvm/%u/ack
`

// machineClient connects as serial with its own password.
func machineClient(t *testing.T, url, serial, password string) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(serial + "-" + uuid.NewString()[:8]).SetUsername(serial).SetPassword(password).
		SetCleanSession(true).SetOrderMatters(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as %s: %v", serial, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// forge publishes env (as given, however false) on topic through c.
func forge(t *testing.T, c mqtt.Client, topic string, env envelope.Envelope) {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish(topic, 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForgedEventsAreRefused plays an honest fleet (M-A, M-B) beside a
// hostile machine M-EVIL that holds its own broker credentials and an
// operator registration, against real mosquitto with the fleet ACL, the
// real gateway and drs-sim. Every forgery is quarantined with its reason,
// none reaches the operator or the tills, and the honest machines' events
// arrive exactly once.
func TestForgedEventsAreRefused(t *testing.T) {
	pw := map[string]string{"gateway": "gw-secret", "M-A": "a-secret", "M-B": "b-secret", "M-EVIL": "evil-secret"}
	e := newWorld(t, drssim.Options{}, []testbroker.Option{testbroker.WithPasswords(pw), testbroker.WithACL(fleetACL)}, "M-A", "M-B", "M-EVIL")
	o := e.gatewayOptions("")
	o.MQTTUser, o.MQTTPassword, o.APIToken = "gateway", pw["gateway"], "api"
	r := e.startGateway(o)
	ctx := context.Background()

	// The operator registers M-A and M-B with the gateway (POST /machine):
	// that binds their serials. M-EVIL was registered before the gateway
	// bound serials: its first event binds it to its own rvmId.
	for _, s := range []string{"M-A", "M-B"} {
		body := `{"id":"` + e.rvm[s] + `","serialNumber":"` + s + `","bins":[{"wasteType":[7]}]}`
		if code := call(t, "POST", r.api.URL+"/machine", "api", body, nil); code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("POST /machine %s = %d", s, code)
		}
	}
	ma := machineClient(t, e.broker.URL(), "M-A", pw["M-A"])
	mb := machineClient(t, e.broker.URL(), "M-B", pw["M-B"])
	evil := machineClient(t, e.broker.URL(), "M-EVIL", pw["M-EVIL"])
	send := func(c mqtt.Client, serial, kind, id string, body any) envelope.Envelope {
		env := e.envelopeFor(serial, kind, id, body)
		forge(t, c, envelope.EventTopic(serial, kind), env)
		return env
	}
	send(evil, "M-EVIL", envelope.KindHeartbeat, "", map[string]any{"rvmId": e.rvm["M-EVIL"]})

	// M-A's honest session: a transaction and the voucher it printed.
	const code = "2900000000015"
	txA := e.transaction("M-A", eanOK, 3, &drsapi.VoucherBase{ID: code, RedeemType: drsapi.RedeemValid})
	until := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	send(ma, "M-A", envelope.KindVoucher, "", envelope.Voucher{ID: code, TransactionID: txA.ID, Amount: json.RawMessage(`1.5`),
		Currency: "PLN", IssuedAt: txA.TransactionEndTime, ValidUntil: until})
	envA := send(ma, "M-A", envelope.KindTransaction, txA.ID, txA)
	waitFor(t, "M-A's voucher at the tills", func() bool {
		v, err := r.gw.Store().Voucher(ctx, code)
		return err == nil && v.HasAmount
	})

	// M-B's next transaction id, which M-EVIL will squat.
	txB := e.transaction("M-B", eanOK, 2, nil)

	evilTx := func(rvmID, bodyRvmID string) drsapi.Transaction {
		tx := e.transaction("M-EVIL", eanOK, 400, nil)
		tx.RvmID = bodyRvmID
		return tx
	}
	evilEnv := func(kind, id, rvmID string, body any) envelope.Envelope {
		env := e.envelopeFor("M-EVIL", kind, id, body)
		env.RvmID = rvmID
		return env
	}
	forgeries := []struct {
		name   string
		topic  string
		env    envelope.Envelope
		reason string // part of the quarantine reason; "" for a message the broker's ACL drops
	}{
		{"(a) M-A's voucher code with a bigger amount", envelope.EventTopic("M-EVIL", envelope.KindVoucher),
			evilEnv(envelope.KindVoucher, "", e.rvm["M-EVIL"], envelope.Voucher{ID: code, TransactionID: txA.ID, Amount: json.RawMessage(`999`),
				Currency: "PLN", IssuedAt: txA.TransactionEndTime, ValidUntil: until}),
			"voucher " + code + " belongs to machine M-A"},
		{"(b) a transaction on M-EVIL's topic speaking for M-A", envelope.EventTopic("M-EVIL", envelope.KindTransaction),
			func() envelope.Envelope {
				tx := evilTx(e.rvm["M-A"], e.rvm["M-A"])
				return evilEnv(envelope.KindTransaction, tx.ID, e.rvm["M-A"], tx)
			}(),
			"belongs to machine M-A"},
		{"(b) M-EVIL's envelope, M-A's rvmId in the body", envelope.EventTopic("M-EVIL", envelope.KindTransaction),
			func() envelope.Envelope {
				tx := evilTx(e.rvm["M-EVIL"], e.rvm["M-A"])
				return evilEnv(envelope.KindTransaction, tx.ID, e.rvm["M-EVIL"], tx)
			}(),
			"body.rvmId names rvmId"},
		{"(b) a bag report naming M-A", envelope.EventTopic("M-EVIL", envelope.KindBagFillStatus),
			evilEnv(envelope.KindBagFillStatus, "", e.rvm["M-EVIL"], drsapi.BagFillStatus{RvmID: e.rvm["M-A"], FillLevelPercent: 100, RvmBlocked: true}),
			"body.rvmId names rvmId"},
		{"(c) M-B's next transaction id, first, as M-B", envelope.EventTopic("M-EVIL", envelope.KindTransaction),
			func() envelope.Envelope {
				tx := txB
				tx.TotalAccepted, tx.TotalAmount = 400, 400
				return evilEnv(envelope.KindTransaction, tx.ID, e.rvm["M-B"], tx)
			}(),
			"belongs to machine M-B"},
		{"(d) M-A's transaction id again with another body", envelope.EventTopic("M-A", envelope.KindTransaction),
			func() envelope.Envelope {
				tx := txA
				tx.TotalAccepted, tx.TotalAmount = 300, 300
				env := envA
				env.Body = mustJSON(t, tx)
				return env
			}(),
			"repeated with a different body"},
		{"(e) a registration naming M-A", envelope.EventTopic("M-EVIL", envelope.KindRegistration),
			evilEnv(envelope.KindRegistration, "", "", drsapi.MachineUpdate{SerialNumber: "M-A", Bins: []drsapi.BinPost{{WasteType: []int{7}}}, DrsCpNo: "1100061-152"}),
			`registration of serial "M-A" published by machine "M-EVIL"`},
		{"M-A's topic (the broker's ACL)", envelope.EventTopic("M-A", envelope.KindTransaction),
			func() envelope.Envelope {
				tx := e.transaction("M-A", eanOK, 500, nil)
				env := e.envelopeFor("M-A", envelope.KindTransaction, tx.ID, tx)
				return env
			}(),
			""},
	}
	for _, f := range forgeries {
		switch {
		case strings.HasPrefix(f.name, "(d)"):
			forge(t, ma, f.topic, f.env) // M-A itself (or whoever holds its credentials)
		case f.reason == "":
			// mosquitto 2.0 drops the connection after a denied publish:
			// a connection of its own.
			forge(t, machineClient(t, e.broker.URL(), "M-EVIL", pw["M-EVIL"]), f.topic, f.env)
		default:
			forge(t, evil, f.topic, f.env)
		}
	}
	// M-EVIL squats M-B's transaction id with an event of its own, too.
	send(evil, "M-EVIL", envelope.KindHeartbeat, txB.ID, map[string]any{})
	// The honest machines go on: M-B's real transaction, M-A's identical
	// repeat (a redelivery) and another session.
	send(mb, "M-B", envelope.KindTransaction, txB.ID, txB)
	forge(t, ma, envelope.EventTopic("M-A", envelope.KindTransaction), envA)
	txA2 := e.transaction("M-A", eanOK, 1, nil)
	send(ma, "M-A", envelope.KindTransaction, txA2.ID, txA2)

	want := map[string]drsapi.Transaction{txA.ID: txA, txB.ID: txB, txA2.ID: txA2}
	waitFor(t, "the honest transactions at the operator", func() bool {
		n := 0
		for _, tx := range e.simTransactions() {
			if _, ok := want[tx.ID]; ok {
				n++
			}
		}
		return n == len(want)
	})
	var reasons []string
	waitFor(t, "every forgery quarantined", func() bool {
		q, err := r.gw.Store().QuarantineList(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		reasons = reasons[:0]
		for _, x := range q {
			reasons = append(reasons, x.Topic+": "+x.Reason)
		}
		return len(q) >= len(forgeries)-1
	})
	for _, f := range forgeries {
		if f.reason == "" {
			continue
		}
		found := false
		for _, r := range reasons {
			found = found || (strings.HasPrefix(r, f.topic+": ") && strings.Contains(r, f.reason))
		}
		if !found {
			t.Errorf("%s: quarantine = %q; want a %s entry with %q", f.name, reasons, f.topic, f.reason)
		}
	}
	if len(reasons) != len(forgeries)-1 {
		t.Errorf("quarantine = %q; want exactly the %d forgeries", reasons, len(forgeries)-1)
	}

	// Nothing of the forgeries at the operator: each honest transaction
	// once, with its own body, and nothing else.
	seen := map[string]int{}
	for _, tx := range e.simTransactions() {
		seen[tx.ID]++
		w, ok := want[tx.ID]
		switch {
		case !ok:
			t.Errorf("operator accepted %s (rvmId %s, %d containers); want only the honest transactions", tx.ID, tx.RvmID, tx.TotalAccepted)
		case tx.RvmID != w.RvmID || tx.TotalAccepted != w.TotalAccepted:
			t.Errorf("operator has %s as rvmId %s, %d containers; want %s, %d", tx.ID, tx.RvmID, tx.TotalAccepted, w.RvmID, w.TotalAccepted)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("operator accepted %s %d times; want once", id, seen[id])
		}
	}
	// Nothing of them at the tills: M-A's voucher as printed.
	var v gateway.VoucherView
	if got := call(t, "GET", r.api.URL+"/api/vouchers/"+code, "api", "", &v); got != http.StatusOK {
		t.Fatalf("GET voucher = %d; want 200", got)
	}
	if v.Amount == nil || *v.Amount != 150 || v.Machine != "M-A" || v.TransactionID != txA.ID || v.Status != gateway.VoucherActiveView {
		t.Errorf("voucher %s = %+v; want M-A's, 1.50 PLN, %s, active", code, v, txA.ID)
	}
	// The squat moved aside: M-B holds its transaction id.
	if ev, err := r.gw.Store().Event(ctx, txB.ID); err != nil || ev.Machine != "M-B" || ev.State != store.StateDelivered {
		t.Errorf("Event(%s) = %s %s, %v; want M-B's, delivered", txB.ID, ev.Machine, ev.State, err)
	}
	// Nothing was registered in M-A's name.
	if n := e.front.count("POST /machine"); n != 3 {
		t.Errorf("operator registrations = %d; want the 3 of the set-up", n)
	}
}
