package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// FuzzClassify feeds the consumer's classification arbitrary MQTT messages
// (topic and payload). It must never panic, must turn every message into
// at most one outcome, and must never accept an event whose identity
// disagrees with its topic: the envelope's machine and kind are the
// topic's, every rvmId the body names is the one the event speaks for, a
// registration names the topic's serial and a transaction's id is the
// envelope's. The seed corpus is in testdata/fuzz/FuzzClassify.
func FuzzClassify(f *testing.F) {
	f.Add("rvm/M-A/evt/transaction", []byte(`{"v":1,"id":"t1","machine":"M-A","rvmId":"AA","seq":1,"ts":"2026-01-05T08:00:00Z","kind":"transaction","body":{"id":"t1","rvmId":"aa"}}`))
	f.Add("rvm/M-EVIL/evt/transaction", []byte(`{"v":1,"id":"t1","machine":"M-EVIL","rvmId":"EE","seq":1,"kind":"transaction","body":{"id":"t1","rvmId":"AA"}}`))
	f.Add("rvm/M-A/evt/registration", []byte(`{"v":1,"id":"r1","machine":"M-A","seq":1,"kind":"registration","body":{"serialNumber":"M-B"}}`))
	f.Add("rvm/M-A/evt/voucher", []byte(`{"v":1,"id":"v1","machine":"M-A","seq":2,"kind":"voucher","body":{"id":"C1","amount":1.5,"transactionId":"t1"}}`))
	f.Add("rvm/M-A/evt/bag-replacement", []byte(`{"v":1,"id":"b1","machine":"M-A","seq":3,"kind":"bag-replacement","body":{"containers":[{"rvm\u0049d":"BB"}]}}`))
	f.Add("rvm/M-A/status", []byte(`{"online":true,"machine":"M-A","rvmId":"AA"}`))
	g := &Gateway{o: Options{MaxPayload: 1 << 16}}
	now := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		ev, q, st := g.classify(topic, payload, now)
		n := 0
		for _, set := range []bool{ev != nil, q != nil, st != nil} {
			if set {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("classify(%q, %q) gave %d outcomes; want at most one", topic, payload, n)
		}
		if q != nil && q.Reason == "" {
			t.Errorf("classify(%q, %q) quarantined without a reason", topic, payload)
		}
		if ev == nil {
			return
		}
		serial, kind, ok := envelope.ParseEventTopic(topic)
		if !ok || ev.Machine != serial || ev.Kind != kind {
			t.Fatalf("classify(%q, %q) accepted machine %q kind %q; want the topic's", topic, payload, ev.Machine, ev.Kind)
		}
		if strings.Contains(ev.ID, "@") {
			t.Fatalf("classify(%q, %q) accepted id %q; an @ could squat another machine's key", topic, payload, ev.ID)
		}
		var env envelope.Envelope
		if err := json.Unmarshal(payload, &env); err != nil {
			t.Fatalf("classify(%q, %q) accepted a payload that does not decode: %v", topic, payload, err)
		}
		if env.RvmID != "" && !strings.EqualFold(env.RvmID, ev.RvmID) {
			t.Fatalf("classify(%q, %q) speaks for %q; the envelope says %q", topic, payload, ev.RvmID, env.RvmID)
		}
		var body any
		if err := json.Unmarshal(env.Body, &body); err != nil {
			t.Fatalf("classify(%q, %q) accepted a body that does not decode: %v", topic, payload, err)
		}
		for _, id := range rvmIDsIn(body) {
			if id != "" && !strings.EqualFold(id, ev.RvmID) {
				t.Fatalf("classify(%q, %q) speaks for %q; the body names %q", topic, payload, ev.RvmID, id)
			}
		}
		var named struct {
			ID           string `json:"id"`
			SerialNumber string `json:"serialNumber"`
		}
		_ = json.Unmarshal(env.Body, &named)
		if kind == envelope.KindRegistration && named.SerialNumber != "" && named.SerialNumber != serial {
			t.Fatalf("classify(%q, %q) accepted a registration of %q", topic, payload, named.SerialNumber)
		}
		if kind == envelope.KindTransaction && named.ID != ev.ID {
			t.Fatalf("classify(%q, %q) accepted transaction %q under envelope id %q", topic, payload, named.ID, ev.ID)
		}
	})
}

// rvmIDsIn is the oracle's own walk: every value under a key that reads
// "rvmId" in any case, a non-string one as its JSON text.
func rvmIDsIn(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if strings.EqualFold(k, "rvmid") {
				if s, ok := c.(string); ok {
					out = append(out, s)
				} else if c != nil {
					b, _ := json.Marshal(c)
					out = append(out, string(b))
				}
				continue
			}
			out = append(out, rvmIDsIn(c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, rvmIDsIn(c)...)
		}
	}
	return out
}
