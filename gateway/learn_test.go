package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// A bag whose scale reading is one container short of its containers'
// catalogue weight is flagged, in the API and as the alert metric; an
// honest bag (within the scale's noise) is not. A machine whose fraud
// rejections run at ten times the rest of the fleet's is flagged with the
// reason; the honest machines are not.
func TestBagReconciliationAndFraudSignals(t *testing.T) {
	serials := []string{"RVM-BAG", "RVM-FRAUD"}
	for i := 1; i <= 9; i++ {
		serials = append(serials, fmt.Sprintf("RVM-H%d", i))
	}
	e := newEnv(t, drssim.Options{}, serials...)
	r := e.startGateway(e.gatewayOptions(""))
	withCap := 24.0
	body, _ := json.Marshal(drsapi.Product{EAN: eanOK, Name: "Woda", Weight: drsapi.Weight{WithCap: &withCap}})
	if _, _, err := r.gw.Store().ApplyProducts(context.Background(), []store.Product{{EAN: eanOK, Body: body}}, true); err != nil {
		t.Fatal(err)
	}
	bag := func(measuredKg float64, n int) string {
		id := uuid.NewString()
		e.publishEnvelope(e.envelopeFor("RVM-BAG", envelope.KindBagReplacement, "", drsapi.BagReplacement{
			BagID: id, RvmID: e.rvm["RVM-BAG"], ReplacementDate: "2026-05-01T12:00:00Z", BagWeight: measuredKg,
			ContainerAmount: n, Containers: []drsapi.ContainerFull{{EAN: eanOK, Count: n}}}))
		return id
	}
	honest := bag(0.243, 10)  // 10 × 24 g = 240 g, the scale 3 g over
	missing := bag(0.216, 10) // one of 10 containers not in the bag
	// 100 containers each: the honest machines reject 1 for fraud, the
	// fraudulent one 10.
	batch := func(serial string, fraud int) {
		var cs []envelope.BatchContainer
		for i := range 100 {
			c := envelope.BatchContainer{EAN: eanOK, DepositGrosze: 50, DecidedAt: "2026-05-01T12:00:00Z"}
			if i < fraud {
				c.RejectionCauseCode, c.DepositGrosze = drsapi.CauseFraud, 0
			}
			cs = append(cs, c)
		}
		e.publishEnvelope(e.envelopeFor(serial, envelope.KindContainers, "", envelope.ContainerBatch{TransactionID: uuid.NewString(), Containers: cs}))
	}
	for _, s := range serials {
		switch s {
		case "RVM-FRAUD":
			batch(s, 10)
		default:
			batch(s, 1)
		}
	}
	waitFor(t, "every batch and bag", func() bool {
		m := r.gw.Metrics()
		return m.Consumed[envelope.KindContainers] == float64(len(serials)) && m.Consumed[envelope.KindBagReplacement] == 2
	})

	// The fleet counters of the last second are written with the next
	// batch; there is none: write them now.
	if err := r.gw.Store().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var bagView gateway.MachineView
	waitFor(t, "the bag checks", func() bool {
		return call(t, "GET", r.api.URL+"/api/machines/RVM-BAG", "", "", &bagView) == http.StatusOK && len(bagView.Bags) == 2
	})
	flagged := map[string]bool{}
	for _, c := range bagView.Bags {
		flagged[c.BagID] = c.Flagged
		if c.TheoreticalG != 240 {
			t.Errorf("bag %s theoretical weight %v g; want 240", c.BagID, c.TheoreticalG)
		}
	}
	if flagged[honest] || !flagged[missing] {
		t.Errorf("bag flags: honest %v, one container missing %v; want false, true (%+v)", flagged[honest], flagged[missing], bagView.Bags)
	}
	if bagView.BagsFlagged != 1 {
		t.Errorf("RVM-BAG bagsFlagged = %d; want 1", bagView.BagsFlagged)
	}

	tests := []struct {
		serial string
		want   bool
	}{{"RVM-FRAUD", true}, {"RVM-H1", false}, {"RVM-H9", false}, {"RVM-BAG", false}}
	for _, tt := range tests {
		var v gateway.MachineView
		if code := call(t, "GET", r.api.URL+"/api/machines/"+tt.serial, "", "", &v); code != http.StatusOK || v.Fraud == nil {
			t.Fatalf("GET /api/machines/%s = %d, fraud %v", tt.serial, code, v.Fraud)
		}
		if v.FraudFlagged != tt.want || v.Fraud.Flagged != tt.want || (tt.want && len(v.Fraud.Reasons) == 0) {
			t.Errorf("machine %s fraud flagged %v (%+v); want %v with a reason", tt.serial, v.FraudFlagged, *v.Fraud, tt.want)
		}
	}
	fams := scrape(t, r.api.URL)
	metrics := []struct {
		name, machine string
		want          float64
	}{
		{"rvm_machine_fraud_flagged", "RVM-FRAUD", 1},
		{"rvm_machine_fraud_flagged", "RVM-H1", 0},
		{"rvm_machine_bags_flagged", "RVM-BAG", 1},
		{"rvm_machine_bags_flagged", "RVM-H1", 0},
	}
	for _, m := range metrics {
		if got, ok := sample(fams, m.name, map[string]string{"machine": m.machine}); !ok || got != m.want {
			t.Errorf("%s{machine=%q} = %v, %v; want %v", m.name, m.machine, got, ok, m.want)
		}
	}
}
