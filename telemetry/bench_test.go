package telemetry_test

import (
	"testing"

	"github.com/deposit-rvm/rvm/internal/testbroker"
)

// BenchmarkDrain measures the publisher draining b.N transaction events
// (about 600 bytes of body each) to a real mosquitto, from Run to the last
// PUBACK's record removed. Compare with `rvmd bench-mqtt`, which also
// measures raw paho against the same broker.
func BenchmarkDrain(b *testing.B) {
	br := testbroker.Start(b)
	db, _ := newDB(b)
	fill(b, db, transactions(0, b.N)...)
	b.SetBytes(int64(len(transactionBody(0))))
	b.ResetTimer()
	p := startPublisher(b, db, baseOptions(b, br.URL(), "B1"))
	took := drain(b, p)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
	p.stop(b)
}
