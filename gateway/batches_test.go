package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// The gateway stores a "containers" batch as one event: today's counts,
// deposits and rejection totals follow its containers, and the same batch
// delivered again (a publish not acknowledged before a power cut) counts
// once. Batches in the object form of older ledgers count too; rows that
// do not add up are quarantined.
func TestContainerBatchesCountedOnce(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	r := e.startGateway(e.gatewayOptions(""))
	batch := envelope.ContainerBatch{TransactionID: "tx-1", Containers: []envelope.BatchContainer{
		{EAN: eanOK, DepositGrosze: 50, DecidedAt: "2026-05-01T12:00:00Z"},
		{EAN: eanOK, DepositGrosze: 50, DecidedAt: "2026-05-01T12:00:01Z"},
		{EAN: eanOK, RejectionCauseCode: 1, DecidedAt: "2026-05-01T12:00:02Z"},
	}}
	env := e.envelopeFor("RVM-A", envelope.KindContainers, "", batch)
	e.publishEnvelope(env)
	e.publishEnvelope(env)
	second := e.envelopeFor("RVM-A", envelope.KindContainers, "", envelope.ContainerBatch{TransactionID: "tx-1",
		Containers: []envelope.BatchContainer{{EAN: eanOK, DepositGrosze: 50, DecidedAt: "2026-05-01T12:00:03Z"}}})
	e.publishEnvelope(second)
	// A batch from a ledger written before rows: one object a container.
	old := e.envelopeFor("RVM-A", envelope.KindContainers, "", envelope.BatchWire{TransactionID: "tx-2",
		Containers: []envelope.BatchContainer{{EAN: eanOK, DepositGrosze: 50, DecidedAt: "2026-05-01T12:01:00Z"}}})
	e.publishEnvelope(old)
	// Rows that do not add up are quarantined, and count nothing.
	for _, body := range []string{
		`{"transactionId":"tx-3","firstDecidedAt":"2026-05-01T12:02:00Z","eans":["` + eanOK + `"],"rows":[[1,0,24000,50,0]]}`,
		`{"transactionId":"tx-3","firstDecidedAt":"2026-05-01T12:02:00Z","eans":["` + eanOK + `"],"rows":[[0,0,24000,50]]}`,
		`{"transactionId":"tx-3","firstDecidedAt":"2026-05-01T12:02:00Z","eans":["` + eanOK + `"],"rows":[[0,0,24000,-50,0]]}`,
	} {
		bad := e.envelopeFor("RVM-A", envelope.KindContainers, "", json.RawMessage(body))
		e.publishEnvelope(bad)
	}
	waitFor(t, "three batches, a duplicate and three quarantined", func() bool {
		m := r.gw.Metrics()
		return m.Consumed[envelope.KindContainers] == 3 && m.Duplicates == 1 && m.Quarantined == 3
	})
	var m gateway.MachineView
	if code := call(t, "GET", r.api.URL+"/api/machines/RVM-A", "", "", &m); code != http.StatusOK {
		t.Fatalf("GET /api/machines/RVM-A = %d", code)
	}
	if m.ContainersToday != 4 || m.DepositsToday != 200 {
		t.Errorf("machine = %d containers, %v deposits today; want 4, 2.00", m.ContainersToday, m.DepositsToday)
	}
	fams := scrape(t, r.api.URL)
	if got, _ := sample(fams, "rvm_machine_rejections_total", map[string]string{"machine": "RVM-A", "cause": "1"}); got != 1 {
		t.Errorf("rvm_machine_rejections_total{cause=1} = %v; want 1", got)
	}
}
