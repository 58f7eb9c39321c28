package gateway

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/gateway/store"
)

// metrics are the gateway's Prometheus series, written in the text
// exposition format (version 0.0.4).
//
// They are kept here rather than in github.com/prometheus/client_golang
// because the module's go.sum lacks that library's own dependencies
// (client_model, common, xxhash, perks); the format is small and stable.
type metrics struct {
	st *store.Store

	mu          sync.Mutex
	consumed    map[string]float64 // by kind; guarded by mu
	duplicates  float64
	quarantined float64
	forwardedC  map[string]float64
	failures    map[string]float64
	retries     map[string]float64
	redeemed    map[string]float64
	latency     histogram
}

// histogram is a cumulative Prometheus histogram.
type histogram struct {
	bounds []float64
	counts []uint64 // per bound, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}

func newMetrics(st *store.Store) *metrics {
	return &metrics{
		st:         st,
		consumed:   map[string]float64{},
		forwardedC: map[string]float64{},
		failures:   map[string]float64{},
		retries:    map[string]float64{},
		redeemed:   map[string]float64{},
		latency:    histogram{bounds: latencyBuckets, counts: make([]uint64, len(latencyBuckets)+1)},
	}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

// quantile estimates the q-quantile by linear interpolation inside the
// bucket, as Prometheus' histogram_quantile does.
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := q * float64(h.n)
	var cum uint64
	for i, c := range h.counts {
		if float64(cum+c) >= rank && c > 0 {
			lo := 0.0
			if i > 0 {
				lo = h.bounds[i-1]
			}
			if i == len(h.bounds) {
				return lo
			}
			return lo + (h.bounds[i]-lo)*(rank-float64(cum))/float64(c)
		}
		cum += c
	}
	return h.bounds[len(h.bounds)-1]
}

func (m *metrics) saved(res store.SaveResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, n := range res.Kinds {
		m.consumed[k] += float64(n)
	}
	m.duplicates += float64(res.Duplicates)
	m.quarantined += float64(res.Quarantined)
}

func (m *metrics) forwarded(kind string, latency time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forwardedC[kind]++
	m.latency.observe(latency.Seconds())
}

func (m *metrics) failed(kind string) {
	m.mu.Lock()
	m.failures[kind]++
	m.mu.Unlock()
}

func (m *metrics) retried(kind string) {
	m.mu.Lock()
	m.retries[kind]++
	m.mu.Unlock()
}

func (m *metrics) redemption(result string) {
	m.mu.Lock()
	m.redeemed[result]++
	m.mu.Unlock()
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
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := func(src map[string]float64) map[string]float64 {
		out := make(map[string]float64, len(src))
		for k, v := range src {
			out[k] = v
		}
		return out
	}
	return Snapshot{
		Consumed: cp(m.consumed), Duplicates: m.duplicates, Quarantined: m.quarantined,
		Forwarded: cp(m.forwardedC), Failures: cp(m.failures), Retries: cp(m.retries),
		LatencyP50: m.latency.quantile(0.5), LatencyP99: m.latency.quantile(0.99),
	}
}

func writeFamily(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func writeLabelled(w io.Writer, name, label string, vals map[string]float64) {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{%s=%s} %s\n", name, label, strconv.Quote(k), fmtFloat(vals[k]))
	}
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// ServeHTTP writes the metrics in the Prometheus text format.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	online, err := m.st.OnlineCount(ctx)
	if err != nil {
		online = -1
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.mu.Lock()
	defer m.mu.Unlock()
	writeFamily(w, "rvm_gateway_events_consumed_total", "counter", "Events stored for the first time, by kind.")
	writeLabelled(w, "rvm_gateway_events_consumed_total", "kind", m.consumed)
	writeFamily(w, "rvm_gateway_events_duplicate_total", "counter", "Events received again and ignored (same id).")
	fmt.Fprintf(w, "rvm_gateway_events_duplicate_total %s\n", fmtFloat(m.duplicates))
	writeFamily(w, "rvm_gateway_events_quarantined_total", "counter", "Messages refused at the door and quarantined.")
	fmt.Fprintf(w, "rvm_gateway_events_quarantined_total %s\n", fmtFloat(m.quarantined))
	writeFamily(w, "rvm_gateway_events_forwarded_total", "counter", "Events the operator accepted (or already had), by kind.")
	writeLabelled(w, "rvm_gateway_events_forwarded_total", "kind", m.forwardedC)
	writeFamily(w, "rvm_gateway_forward_failures_total", "counter", "Events the operator refused for good (failure report), by kind.")
	writeLabelled(w, "rvm_gateway_forward_failures_total", "kind", m.failures)
	writeFamily(w, "rvm_gateway_forward_retries_total", "counter", "Transient delivery failures, retried later, by kind.")
	writeLabelled(w, "rvm_gateway_forward_retries_total", "kind", m.retries)
	writeFamily(w, "rvm_gateway_voucher_redemptions_total", "counter", "POS redemption requests, by result.")
	writeLabelled(w, "rvm_gateway_voucher_redemptions_total", "result", m.redeemed)
	writeFamily(w, "rvm_gateway_machines_online", "gauge", "Machines whose retained status says online.")
	fmt.Fprintf(w, "rvm_gateway_machines_online %d\n", online)
	const h = "rvm_gateway_delivery_latency_seconds"
	writeFamily(w, h, "histogram", "From storing an event to the operator accepting it.")
	var cum uint64
	for i, b := range m.latency.bounds {
		cum += m.latency.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", h, fmtFloat(b), cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", h, m.latency.n, h, fmtFloat(m.latency.sum), h, m.latency.n)
}
