package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// ackLog collects the acks the gateway publishes, in arrival order.
type ackLog struct {
	mu   sync.Mutex
	msgs []string // "TOPIC BODY"
}

func (a *ackLog) handle(_ mqtt.Client, m mqtt.Message) {
	a.mu.Lock()
	a.msgs = append(a.msgs, m.Topic()+" "+string(m.Payload()))
	a.mu.Unlock()
}

func (a *ackLog) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.msgs...)
}

// The gateway tells each machine which of its events it committed: one
// message per machine and AckEvery, with the seqs held since the last one
// as merged ranges, duplicates again (that is how a lost ack heals), and
// events quarantined with a valid envelope of the machine (sending them
// again would not help); not an envelope that names another machine. The
// ack timer runs on the gateway's clock (clock.Fake): no ack goes out
// until the test moves it, so each round's events share one message.
func TestAcksMergedAndCoalesced(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A", "RVM-B")
	ctx := context.Background()
	// The store on the real clock (its retries wait on it); the gateway's
	// loops on the fake one.
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Now())
	o := e.gatewayOptions("")
	o.Store, o.Clock, o.AckEvery = st, clk, 5*time.Second
	r := e.startGateway(o)

	log := &ackLog{}
	sub := connect(t, e.broker.URL(), "acks-"+t.Name(), nil)
	if tok := sub.Subscribe("rvm/+/ack", 1, log.handle); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	beats := map[string]map[int64]envelope.Envelope{}
	beat := func(serial string, seq int64) envelope.Envelope {
		if env, ok := beats[serial][seq]; ok {
			return env // the same event again: a duplicate
		}
		b, _ := json.Marshal(envelope.Heartbeat{PowerStatus: "mains"})
		env := envelope.Envelope{V: 1, ID: fmt.Sprintf("%s-beat-%d", serial, seq), Machine: serial, RvmID: e.rvm[serial], Seq: seq,
			TS: time.Now().UTC().Format(time.RFC3339Nano), Kind: envelope.KindHeartbeat, Body: b}
		if beats[serial] == nil {
			beats[serial] = map[int64]envelope.Envelope{}
		}
		beats[serial][seq] = env
		return env
	}
	// round publishes what a machine sends, waits until the gateway has
	// handled it all, then moves the clock until the acks go out.
	round := func(name string, publish func(), handled func(m gateway.Snapshot) bool, acks int) {
		t.Helper()
		publish()
		waitFor(t, name+" handled", func() bool { return handled(r.gw.Metrics()) })
		before := len(log.all())
		waitFor(t, name+" acknowledged", func() bool {
			clk.Advance(time.Second)
			time.Sleep(time.Millisecond)
			return len(log.all()) >= before+acks
		})
	}

	round("round 1", func() {
		for _, s := range []int64{1, 2, 3, 6} {
			e.publishEnvelope(beat("RVM-A", s))
		}
		e.publishEnvelope(beat("RVM-B", 1))
	}, func(m gateway.Snapshot) bool { return m.Consumed[envelope.KindHeartbeat] == 5 }, 2)

	round("round 2", func() {
		for _, s := range []int64{4, 5, 6, 2} { // 6 and 2 again
			e.publishEnvelope(beat("RVM-A", s))
		}
	}, func(m gateway.Snapshot) bool { return m.Consumed[envelope.KindHeartbeat] == 7 && m.Duplicates == 2 }, 1)

	round("round 3", func() {
		// Quarantined, an envelope of RVM-A: its topic says another kind.
		seven := beat("RVM-A", 7)
		b, _ := json.Marshal(seven)
		e.publishRaw(envelope.EventTopic("RVM-A", envelope.KindFault), b, false)
		// Quarantined, not RVM-A's envelope: it names RVM-B.
		forged := beat("RVM-B", 8)
		b, _ = json.Marshal(forged)
		e.publishRaw(envelope.EventTopic("RVM-A", envelope.KindHeartbeat), b, false)
		e.publishEnvelope(beat("RVM-A", 9))
	}, func(m gateway.Snapshot) bool { return m.Consumed[envelope.KindHeartbeat] == 8 && m.Quarantined == 2 }, 1)

	got := log.all()
	want := []string{
		`rvm/RVM-A/ack {"v":1,"seqs":[[1,3],[6,6]]}`,
		`rvm/RVM-B/ack {"v":1,"seqs":[[1,1]]}`,
		`rvm/RVM-A/ack {"v":1,"seqs":[[2,2],[4,6]]}`,
		`rvm/RVM-A/ack {"v":1,"seqs":[[7,7],[9,9]]}`,
	}
	// The first round's two machines may come in either order.
	if len(got) >= 2 && got[0] > got[1] {
		got[0], got[1] = got[1], got[0]
	}
	if len(got) != len(want) {
		t.Fatalf("acks = %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ack %d = %s; want %s", i, got[i], want[i])
		}
	}
}
