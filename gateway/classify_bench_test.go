package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// BenchmarkClassify measures the consumer's decoding of one message of each
// kind an outage's backlog is made of, as rvmd's encoder writes them: a
// batch of 50 containers, a transaction of six products with its voucher,
// the voucher event and a heartbeat.
func BenchmarkClassify(b *testing.B) {
	g := &Gateway{o: Options{MaxPayload: 256 << 10}}
	now := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	for _, c := range classifyPayloads(b) {
		b.Run(c.kind, func(b *testing.B) {
			b.SetBytes(int64(len(c.payload)))
			b.ReportAllocs()
			for b.Loop() {
				if ev, _, _ := g.classify(c.topic, c.payload, now); ev == nil {
					b.Fatalf("%s not accepted", c.kind)
				}
			}
		})
	}
}

type classifyCase struct {
	kind, topic string
	payload     []byte
}

func classifyPayloads(tb testing.TB) []classifyCase {
	tb.Helper()
	const serial, rvm = "RVM-00042", "0f8e6f5a-3c1d-4a44-9a51-7a3f1f0b2c11"
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	eans := []string{"5900000000017", "5900000000024", "5900000000031", "5900000000048", "5900000000055", "5900000000062"}
	var batch envelope.ContainerBatch
	batch.TransactionID = "7d2b3a44-1f0e-4e9b-8a57-0c6a9b1e2f33"
	for i := 0; i < 50; i++ {
		batch.Containers = append(batch.Containers, envelope.BatchContainer{EAN: eans[i%len(eans)], WeightMg: 24000 + int64(i),
			DepositGrosze: 50, DecidedAt: at.Add(time.Duration(i) * 1700 * time.Millisecond).Format(time.RFC3339Nano)})
	}
	tx := drsapi.Transaction{ID: batch.TransactionID, RvmID: rvm, TotalAmount: 50, TotalAccepted: 50,
		TransactionStartTime: at.Format(time.RFC3339), TransactionEndTime: at.Add(time.Minute).Format(time.RFC3339),
		Voucher: &drsapi.VoucherBase{ID: "2900000000042", RedeemType: drsapi.RedeemValid}}
	for _, e := range eans {
		tx.Containers = append(tx.Containers, drsapi.Container{EAN: e, Count: 8, Weight: 192})
	}
	bodies := []struct {
		kind, id string
		body     any
	}{
		{envelope.KindContainers, "5c3e2a10-8b7d-4f61-9e2c-3d4b5a697801", batch},
		{envelope.KindTransaction, tx.ID, tx},
		{envelope.KindVoucher, "a1b2c3d4-e5f6-4711-8899-aabbccddeeff", envelope.Voucher{ID: "2900000000042", TransactionID: tx.ID,
			Amount: json.RawMessage("25.00"), Currency: "PLN", PrintType: 1, IssuedAt: at.Format(time.RFC3339), ValidUntil: at.AddDate(0, 0, 30).Format(time.RFC3339)}},
		{envelope.KindHeartbeat, "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3", map[string]any{"uptimeS": 3600, "outboxDepth": 12}},
	}
	var out []classifyCase
	for i, c := range bodies {
		raw, err := json.Marshal(c.body)
		if err != nil {
			tb.Fatal(err)
		}
		r := outbox.Record{Seq: int64(100 + i), ID: c.id, Kind: c.kind, TS: at, RvmID: rvm, Body: raw}
		out = append(out, classifyCase{c.kind, envelope.EventTopic(serial, c.kind), telemetry.EncodeEnvelope(nil, serial, r)})
	}
	return out
}
