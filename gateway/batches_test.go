package gateway_test

import (
	"net/http"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// The gateway stores a "containers" batch as one event: today's counts,
// deposits and rejection totals follow its containers, and the same batch
// delivered again (a publish not acknowledged before a power cut) counts
// once.
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
	waitFor(t, "two batches and a duplicate", func() bool {
		m := r.gw.Metrics()
		return m.Consumed[envelope.KindContainers] == 2 && m.Duplicates == 1
	})
	var m gateway.MachineView
	if code := call(t, "GET", r.api.URL+"/api/machines/RVM-A", "", "", &m); code != http.StatusOK {
		t.Fatalf("GET /api/machines/RVM-A = %d", code)
	}
	if m.ContainersToday != 3 || m.DepositsToday != 150 {
		t.Errorf("machine = %d containers, %v deposits today; want 3, 1.50", m.ContainersToday, m.DepositsToday)
	}
	fams := scrape(t, r.api.URL)
	if got, _ := sample(fams, "rvm_machine_rejections_total", map[string]string{"machine": "RVM-A", "cause": "1"}); got != 1 {
		t.Errorf("rvm_machine_rejections_total{cause=1} = %v; want 1", got)
	}
}
