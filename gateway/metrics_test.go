package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// scrape reads url's /metrics with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample returns the value of family name's series with labels, and
// whether it exists.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// A fleet with a machine in every state the metrics describe: every
// family is there, parsed by the Prometheus text parser, with the values
// the events imply; and every query of the Grafana dashboard names only
// metrics that exist.
func TestMetricsScrapedAndDashboard(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A", "RVM-B")
	r := e.startGateway(e.gatewayOptions(""))
	for _, s := range []envelope.Status{
		{Online: true, Machine: "RVM-A", BagFill: 0.42, BagCount: 168, OutboxDepth: 3, Fault: "jam"},
		{Online: false, Machine: "RVM-B", BagFill: 0.1, OutboxDepth: 7, OutboxUnconfirmed: 9},
	} {
		b, _ := json.Marshal(s)
		e.publishRaw(envelope.StatusTopic(s.Machine), b, true)
	}
	e.publishEnvelope(e.envelopeFor("RVM-A", envelope.KindContainer, "", envelope.ContainerEvent{EAN: eanOK, DepositGrosze: 50}))
	e.publishEnvelope(e.envelopeFor("RVM-A", envelope.KindContainer, "", envelope.ContainerEvent{EAN: eanOK, RejectionCauseCode: 3}))
	e.publishTx("RVM-A", e.transaction("RVM-A", eanOK, 1, nil))
	e.publishRaw("rvm/RVM-A/evt/transaction", []byte("{not json"), false)
	waitFor(t, "delivered", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 1 })
	waitFor(t, "quarantined", func() bool { return r.gw.Metrics().Quarantined == 1 })

	fams := scrape(t, r.api.URL)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rvm_gateway_events_consumed_total", map[string]string{"kind": "transaction"}, 1},
		{"rvm_gateway_events_consumed_total", map[string]string{"kind": "container"}, 2},
		{"rvm_gateway_events_forwarded_total", map[string]string{"kind": "transaction"}, 1},
		{"rvm_gateway_events_quarantined_total", nil, 1},
		{"rvm_gateway_quarantine_messages", nil, 1},
		{"rvm_gateway_delivery_latency_seconds", nil, 1},
		{"rvm_gateway_machines_online", nil, 1},
		{"rvm_gateway_operator_queue", map[string]string{"state": "pending"}, 0},
		{"rvm_gateway_operator_queue", map[string]string{"state": "delivered"}, 1},
		{"rvm_gateway_inbox_depth", nil, 0},
		{"rvm_gateway_scrape_errors", nil, 0},
		{"rvm_machine_online", map[string]string{"machine": "RVM-A"}, 1},
		{"rvm_machine_online", map[string]string{"machine": "RVM-B"}, 0},
		{"rvm_machine_bag_fill_ratio", map[string]string{"machine": "RVM-A"}, 0.42},
		{"rvm_machine_outbox_depth", map[string]string{"machine": "RVM-B"}, 7},
		{"rvm_machine_outbox_unconfirmed", map[string]string{"machine": "RVM-B"}, 9},
		{"rvm_machine_fault", map[string]string{"machine": "RVM-A", "fault": "jam"}, 1},
		{"rvm_machine_containers_today", map[string]string{"machine": "RVM-A"}, 1},
		{"rvm_machine_deposits_today_grosze", map[string]string{"machine": "RVM-A"}, 50},
		{"rvm_machine_rejections_total", map[string]string{"machine": "RVM-A", "cause": "3"}, 1},
	}
	for _, tt := range tests {
		got, ok := sample(fams, tt.name, tt.labels)
		if !ok || got != tt.want {
			t.Errorf("sample(%q, %v) = %v, %v; want %v, true", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	checkDashboard(t, "../deploy/grafana/rvm-fleet.json", fams)
	// The dashboard checks the absence of a name too: a family not scraped
	// is reported.
	delete(fams, "rvm_gateway_inbox_depth")
	if missing := dashboardMissing(t, "../deploy/grafana/rvm-fleet.json", fams); len(missing) != 1 || missing[0] != "rvm_gateway_inbox_depth" {
		t.Errorf("dashboardMissing(without rvm_gateway_inbox_depth) = %v; want [rvm_gateway_inbox_depth]", missing)
	}
}

// promIdent matches the names in a PromQL expression; those of this
// project start with rvm_.
var promIdent = regexp.MustCompile(`\brvm_[a-zA-Z0-9_:]*`)

// checkDashboard fails unless every query of the dashboard at path names
// at least one metric and only metrics in fams.
func checkDashboard(t *testing.T, path string, fams map[string]*dto.MetricFamily) {
	t.Helper()
	if missing := dashboardMissing(t, path, fams); len(missing) > 0 {
		t.Errorf("dashboard %s names metrics the gateway does not export: %v", path, missing)
	}
}

func dashboardMissing(t *testing.T, path string, fams map[string]*dto.MetricFamily) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard %s: %v", path, err)
	}
	if len(dash.Panels) == 0 {
		t.Fatalf("dashboard %s has no panels", path)
	}
	exists := func(name string) bool {
		if _, ok := fams[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := fams[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
		return false
	}
	missing := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := promIdent.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no rvm_ metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				if !exists(n) {
					missing[n] = true
				}
			}
		}
	}
	out := make([]string, 0, len(missing))
	for n := range missing {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
