package gateway

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// metrics are the gateway's Prometheus series, on a registry of its own
// (two gateways in one test process must not share counters).
//
// The gateway's own counters are updated as things happen; the per machine
// gauges and the queue depths are read from the store at each scrape
// (scrapeCollector), so they cannot drift from what the fleet API shows.
type metrics struct {
	reg *prometheus.Registry

	consumed    *prometheus.CounterVec // by kind
	duplicates  prometheus.Counter
	quarantined prometheus.Counter
	forwardedC  *prometheus.CounterVec // by kind
	failures    *prometheus.CounterVec // by kind
	retries     *prometheus.CounterVec // by kind
	redeemed    *prometheus.CounterVec // by result
	latency     prometheus.Histogram
}

// redemptionResults are the results a POS redemption counts under.
var redemptionResults = []string{"redeemed", "not-found", "already-redeemed", "blocked", "expired", "operator-error"}

var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}

// Metric names the dashboard and the alerts rely on (deploy/grafana).
const (
	metricConsumed     = "rvm_gateway_events_consumed_total"
	metricLatency      = "rvm_gateway_delivery_latency_seconds"
	metricRejections   = "rvm_machine_rejections_total"
	metricMachineOnl   = "rvm_machine_online"
	metricBagFill      = "rvm_machine_bag_fill_ratio"
	metricOutbox       = "rvm_machine_outbox_depth"
	metricUnconfirmed  = "rvm_machine_outbox_unconfirmed"
	metricFault        = "rvm_machine_fault"
	metricContainers   = "rvm_machine_containers_today"
	metricDeposits     = "rvm_machine_deposits_today_grosze"
	metricFleetOnline  = "rvm_gateway_machines_online"
	metricOperatorQ    = "rvm_gateway_operator_queue"
	metricInbox        = "rvm_gateway_inbox_depth"
	metricQuarantine   = "rvm_gateway_quarantine_messages"
	metricScrapeErrors = "rvm_gateway_scrape_errors"
	metricFraudFlag    = "rvm_machine_fraud_flagged"
	metricBagFlag      = "rvm_machine_bags_flagged"
)

func newMetrics(g *Gateway) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricConsumed,
			Help: "Events stored for the first time, by kind."}, []string{"kind"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "rvm_gateway_events_duplicate_total",
			Help: "Events received again and ignored (same id)."}),
		quarantined: prometheus.NewCounter(prometheus.CounterOpts{Name: "rvm_gateway_events_quarantined_total",
			Help: "Messages refused at the door and quarantined."}),
		forwardedC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rvm_gateway_events_forwarded_total",
			Help: "Events the operator accepted (or already had), by kind."}, []string{"kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rvm_gateway_forward_failures_total",
			Help: "Events the operator refused for good (failure report), by kind."}, []string{"kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rvm_gateway_forward_retries_total",
			Help: "Transient delivery failures (operator errors), retried later, by kind."}, []string{"kind"}),
		redeemed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rvm_gateway_voucher_redemptions_total",
			Help: "POS redemption requests, by result."}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricLatency,
			Help: "From storing an event to the operator accepting it (operator latency included).", Buckets: latencyBuckets}),
	}
	// The series of every kind and result exist from the start, at 0, so
	// that a dashboard's rate() sees the first one.
	for k := range forwardKinds {
		m.forwardedC.WithLabelValues(k)
		m.failures.WithLabelValues(k)
		m.retries.WithLabelValues(k)
	}
	for _, r := range redemptionResults {
		m.redeemed.WithLabelValues(r)
	}
	m.reg.MustRegister(m.consumed, m.duplicates, m.quarantined, m.forwardedC, m.failures, m.retries,
		m.redeemed, m.latency, &scrapeCollector{g: g})
	return m
}

func (m *metrics) saved(res store.SaveResult) {
	for k, n := range res.Kinds {
		m.consumed.WithLabelValues(k).Add(float64(n))
	}
	m.duplicates.Add(float64(res.Duplicates))
	m.quarantined.Add(float64(res.Quarantined))
}

func (m *metrics) forwarded(kind string, latency time.Duration) {
	m.forwardedC.WithLabelValues(kind).Inc()
	m.latency.Observe(latency.Seconds())
}

func (m *metrics) failed(kind string)       { m.failures.WithLabelValues(kind).Inc() }
func (m *metrics) retried(kind string)      { m.retries.WithLabelValues(kind).Inc() }
func (m *metrics) redemption(result string) { m.redeemed.WithLabelValues(result).Inc() }

// ServeHTTP writes the metrics in the Prometheus text format.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// scrapeCollector reads the fleet and the queues from the store at each
// scrape.
type scrapeCollector struct{ g *Gateway }

var (
	descOnline     = prometheus.NewDesc(metricMachineOnl, "1 while the machine's retained status says online.", []string{"machine"}, nil)
	descBagFill    = prometheus.NewDesc(metricBagFill, "The machine's bag fill, 0 to 1, from its status.", []string{"machine"}, nil)
	descOutbox     = prometheus.NewDesc(metricOutbox, "Events waiting in the machine's outbox, from its status.", []string{"machine"}, nil)
	descUnconf     = prometheus.NewDesc(metricUnconfirmed, "Events the machine keeps until the gateway confirms them, from its status; one that stays is an event the gateway cannot take.", []string{"machine"}, nil)
	descFault      = prometheus.NewDesc(metricFault, "1 while the machine reports a latched fault, by fault.", []string{"machine", "fault"}, nil)
	descContainers = prometheus.NewDesc(metricContainers, "Containers the machine credited today (UTC).", []string{"machine"}, nil)
	descDeposits   = prometheus.NewDesc(metricDeposits, "Deposits the machine credited today (UTC), grosze.", []string{"machine"}, nil)
	descFleetOnl   = prometheus.NewDesc(metricFleetOnline, "Machines whose retained status says online.", nil, nil)
	descOperatorQ  = prometheus.NewDesc(metricOperatorQ, "Events in the gateway's store, by delivery state (pending is the operator queue).", []string{"state"}, nil)
	descInbox      = prometheus.NewDesc(metricInbox, "MQTT messages received and not yet stored.", nil, nil)
	descQuarantine = prometheus.NewDesc(metricQuarantine, "Messages held in the quarantine.", nil, nil)
	descRejections = prometheus.NewDesc(metricRejections, "Containers the machine rejected, by rejection cause code.", []string{"machine", "cause"}, nil)
	descFraudFlag  = prometheus.NewDesc(metricFraudFlag, "1 while the machine's fraud signals are well outside the fleet's (alert).", []string{"machine"}, nil)
	descBagFlag    = prometheus.NewDesc(metricBagFlag, "Bag exchanges of the last 7 days whose weight did not reconcile with the catalogue (alert).", []string{"machine"}, nil)
	descScrapeErr  = prometheus.NewDesc(metricScrapeErrors, "Store reads that failed during this scrape.", nil, nil)
)

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOnline, descBagFill, descOutbox, descUnconf, descFault, descContainers, descDeposits,
		descFleetOnl, descOperatorQ, descInbox, descQuarantine, descRejections, descFraudFlag, descBagFlag, descScrapeErr} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	errs := 0
	gauge(descInbox, float64(len(g.in)))
	ms, err := g.st.Machines(ctx, g.today())
	if err != nil {
		errs++
	}
	fraud, bags, err := g.learn(ctx)
	if err != nil {
		errs++
	}
	online := 0
	for _, m := range ms {
		flag := 0.0
		if fraud[m.Serial].Flagged {
			flag = 1
		}
		gauge(descFraudFlag, flag, m.Serial)
		gauge(descBagFlag, float64(flagBags(bags[m.Serial])), m.Serial)
		on := 0.0
		if m.Online {
			on, online = 1, online+1
		}
		gauge(descOnline, on, m.Serial)
		var s envelope.Status
		if len(m.Status) > 0 && json.Unmarshal(m.Status, &s) == nil {
			gauge(descBagFill, s.BagFill, m.Serial)
			gauge(descOutbox, float64(s.OutboxDepth), m.Serial)
			gauge(descUnconf, float64(s.OutboxUnconfirmed), m.Serial)
		}
		if m.Fault != "" {
			gauge(descFault, 1, m.Serial, m.Fault)
		}
		gauge(descContainers, float64(m.ContainersToday), m.Serial)
		gauge(descDeposits, float64(m.DepositsToday), m.Serial)
	}
	gauge(descFleetOnl, float64(online))
	counts, err := g.st.EventCounts(ctx)
	if err != nil {
		errs++
	}
	for _, state := range []string{store.StatePending, store.StateDelivered, store.StateFailed, store.StateDismissed, store.StateStored} {
		gauge(descOperatorQ, float64(counts[state]), state)
	}
	q, err := g.st.QuarantineCount(ctx)
	if err != nil {
		errs++
	}
	gauge(descQuarantine, float64(q))
	sigs, err := g.st.Signals(ctx)
	if err != nil {
		errs++
	}
	for machine, byName := range sigs {
		for name, n := range byName {
			cause, ok := strings.CutPrefix(name, store.SignalCause)
			if ok && cause != "0" {
				ch <- prometheus.MustNewConstMetric(descRejections, prometheus.CounterValue, float64(n), machine, cause)
			}
		}
	}
	gauge(descScrapeErr, float64(errs))
}

// Snapshot is a copy of the gateway's counters, for tests and the bench.
type Snapshot struct {
	Consumed    map[string]float64
	Duplicates  float64
	Quarantined float64
	Forwarded   map[string]float64
	Failures    map[string]float64
	Retries     map[string]float64
	// LatencyP50 and LatencyP99 are estimated from the histogram, seconds.
	LatencyP50, LatencyP99 float64
}

// Metrics returns a snapshot of the counters.
func (g *Gateway) Metrics() Snapshot {
	m := g.met
	byLabel := func(v *prometheus.CounterVec) map[string]float64 {
		out := map[string]float64{}
		ch := make(chan prometheus.Metric, 64)
		go func() { v.Collect(ch); close(ch) }()
		for pm := range ch {
			var d dto.Metric
			if pm.Write(&d) == nil && len(d.Label) == 1 {
				out[d.Label[0].GetValue()] = d.GetCounter().GetValue()
			}
		}
		return out
	}
	value := func(c prometheus.Metric) float64 {
		var d dto.Metric
		_ = c.Write(&d)
		return d.GetCounter().GetValue()
	}
	var h dto.Metric
	_ = m.latency.Write(&h)
	return Snapshot{
		Consumed: byLabel(m.consumed), Duplicates: value(m.duplicates), Quarantined: value(m.quarantined),
		Forwarded: byLabel(m.forwardedC), Failures: byLabel(m.failures), Retries: byLabel(m.retries),
		LatencyP50: quantile(h.GetHistogram(), 0.5), LatencyP99: quantile(h.GetHistogram(), 0.99),
	}
}

// quantile estimates the q-quantile of a histogram by linear
// interpolation inside the bucket, as Prometheus' histogram_quantile does.
func quantile(h *dto.Histogram, q float64) float64 {
	n := h.GetSampleCount()
	if n == 0 {
		return math.NaN()
	}
	rank := q * float64(n)
	lo, prev := 0.0, uint64(0)
	for _, b := range h.GetBucket() {
		cum := b.GetCumulativeCount()
		if float64(cum) >= rank && cum > prev {
			return lo + (b.GetUpperBound()-lo)*(rank-float64(prev))/float64(cum-prev)
		}
		lo, prev = b.GetUpperBound(), cum
	}
	return lo
}
