package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/internal/mqttconn"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// batchBytes bounds the payloads of one batch, beside Options.BatchMax:
// a batch of the largest events allowed would otherwise hold gigabytes.
const batchBytes = 64 << 20

// pingTimeout is how long the consumer waits for the broker's PINGRESP
// before it drops the connection (paho's default is 10 s). The broker
// queues the PINGRESP behind every message it has for the gateway, and
// after an outage that is the fleet's confirm windows: 10,000 machines
// times 64 records, minutes of storing. paho pings when the gateway has
// sent nothing for the keepalive, as in a long commit, and took the late
// answer for a dead link: it reconnected, and the broker sent again all
// it had sent unacknowledged (625,889 duplicates in an hour's release,
// BENCHMARKS.md). A dead peer on a quiet link is still found by TCP
// keepalive (Go's dialer: about 2.5 minutes), a closed one at once.
const pingTimeout = 5 * time.Minute

// quarantineKeep bounds the payload kept of an oversized event: enough to
// see what it was, not enough to fill the database.
const quarantineKeep = 4 << 10

// forwardKinds are the events the operator receives.
var forwardKinds = map[string]bool{
	envelope.KindTransaction:    true,
	envelope.KindBagFillStatus:  true,
	envelope.KindBagReplacement: true,
	envelope.KindBagSeal:        true,
	envelope.KindRegistration:   true,
}

// EventFilter is the shared subscription of the replicas in group.
func EventFilter(group string) string { return "$share/" + group + "/rvm/+/evt/#" }

// StatusFilter is every machine's retained status; each replica reads all.
const StatusFilter = "rvm/+/status"

func (g *Gateway) connect(ctx context.Context) (mqtt.Client, error) {
	// The handler only hands the message to a worker: paho must not be
	// held up, and the worker acknowledges after the commit. paho runs it
	// on a goroutine per message (SetOrderMatters(false)); after an outage
	// hundreds of thousands of them wait here. Called in order instead,
	// a full g.in would stop paho's reading, and with it the PUBACKs of the
	// gateway's own publishes, queued behind the broker's backlog: the
	// machines' acks timed out and an hour's release stalled
	// (BENCHMARKS.md).
	handler := func(_ mqtt.Client, m mqtt.Message) {
		if _, ok := replySerial(m.Topic()); ok {
			g.onReply(m)
			return
		}
		select {
		case g.in <- m:
		case <-ctx.Done():
			// Not acknowledged: the broker redelivers it to the session.
		}
	}
	subs := map[string]byte{EventFilter(g.o.Group): 1, StatusFilter: 1, ReplyFilter(g.o.Group): 1}
	opts := mqtt.NewClientOptions().
		AddBroker(g.o.MQTTURL).
		SetClientID(g.o.ClientID).
		SetUsername(g.o.MQTTUser).
		SetPassword(g.o.MQTTPassword).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetPingTimeout(pingTimeout).
		SetOrderMatters(false).
		SetAutoAckDisabled(true).
		// A persistent session delivers what was queued for it as soon as
		// the connection is up, before OnConnect has subscribed again; the
		// default handler catches those (without one paho drops them unacked).
		SetDefaultPublishHandler(handler).
		SetOnConnectHandler(func(c mqtt.Client) {
			g.log.Info("gateway: connected to broker", slog.String("broker", g.o.MQTTURL), slog.String("clientId", g.o.ClientID))
			t := c.SubscribeMultiple(subs, handler)
			go func() {
				if !t.WaitTimeout(30 * time.Second) {
					g.log.Error("gateway: subscribe: no answer in 30s")
					return
				}
				if err := t.Error(); err != nil {
					g.log.Error("gateway: subscribe", slog.String("err", err.Error()))
					return
				}
				g.readyOnce.Do(func() { close(g.ready) })
			}()
		}).
		SetConnectionNotificationHandler(g.brokerNotice).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			g.log.Warn("gateway: broker connection lost", slog.String("err", err.Error()))
		})
	mqttconn.Use(opts, g.o.MQTTURL)
	c := mqtt.NewClient(opts)
	for topic := range subs {
		c.AddRoute(topic, handler)
	}
	t := c.Connect()
	// With ConnectRetry the token completes only when connected; the
	// context bounds the wait.
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return nil, fmt.Errorf("gateway: connect %s: %w", g.o.MQTTURL, err)
		}
	case <-ctx.Done():
		c.Disconnect(0)
		return nil, ctx.Err()
	}
	g.mu.Lock()
	g.client = c
	g.mu.Unlock()
	return c, nil
}

// consume stores what the handler queued, a batch per commit, and
// acknowledges each message only once its batch is committed.
func (g *Gateway) consume(ctx context.Context) {
	batch := make([]mqtt.Message, 0, g.o.BatchMax)
	for {
		select {
		case m := <-g.in:
			batch = takeBatch(append(batch[:0], m), g.in, g.o.BatchMax, batchBytes)
		case <-ctx.Done():
			return
		}
		if !g.storeBatch(ctx, batch) {
			return
		}
		for _, m := range inReceiptOrder(batch) {
			m.Ack()
		}
	}
}

// inReceiptOrder sorts msgs, in place, into the order the broker sent
// them, and returns them. paho hands each message to the handler on a
// goroutine of its own, so a batch holds them in no particular order; but
// MQTT wants a session's PUBACKs in the order of its PUBLISHes, and
// mosquitto looks each one up from the oldest message in flight on: a
// batch of thousands acknowledged out of order cost it a scan of thousands
// per acknowledgement (BENCHMARKS.md). The broker numbers a session's
// messages 1 to 65535 and wraps round, so the batch's first message is the
// one after the widest gap between their ids.
func inReceiptOrder(msgs []mqtt.Message) []mqtt.Message {
	slices.SortFunc(msgs, func(a, b mqtt.Message) int { return cmp.Compare(a.MessageID(), b.MessageID()) })
	n := len(msgs)
	if n < 2 {
		return msgs
	}
	first, widest := 0, int(msgs[0].MessageID())+math.MaxUint16-int(msgs[n-1].MessageID())
	for i := 1; i < n; i++ {
		if gap := int(msgs[i].MessageID()) - int(msgs[i-1].MessageID()); gap > widest {
			first, widest = i, gap
		}
	}
	slices.Reverse(msgs[:first])
	slices.Reverse(msgs[first:])
	slices.Reverse(msgs)
	return msgs
}

// takeBatch adds to batch what already waits in in, without waiting for
// more, until the batch holds maxEvents messages or maxBytes of payloads
// (the message that crosses maxBytes is the batch's last).
func takeBatch(batch []mqtt.Message, in <-chan mqtt.Message, maxEvents, maxBytes int) []mqtt.Message {
	size := 0
	for _, m := range batch {
		size += len(m.Payload())
	}
	for len(batch) < maxEvents && size < maxBytes {
		select {
		case m := <-in:
			batch = append(batch, m)
			size += len(m.Payload())
		default:
			return batch
		}
	}
	return batch
}

// storeBatch commits batch, retrying while the database is unavailable.
// It returns false when ctx ended first; the messages stay unacknowledged.
func (g *Gateway) storeBatch(ctx context.Context, msgs []mqtt.Message) bool {
	now := g.clk.Now()
	var b store.Batch
	for _, m := range msgs {
		ev, q, st := g.classify(m.Topic(), m.Payload(), now)
		switch {
		case ev != nil:
			b.Events = append(b.Events, *ev)
		case q != nil:
			b.Quarantine = append(b.Quarantine, *q)
			g.log.Warn("gateway: quarantined", slog.String("topic", q.Topic), slog.String("reason", q.Reason))
		case st != nil:
			b.Statuses = append(b.Statuses, *st)
		}
	}
	wait := 50 * time.Millisecond
	for {
		res, err := g.st.SaveBatch(ctx, b)
		if err == nil {
			g.met.saved(res)
			g.noteHeld(b)
			for _, q := range res.Refused {
				g.log.Warn("gateway: quarantined", slog.String("topic", q.Topic), slog.String("reason", q.Reason))
			}
			g.noteStates(ctx, b.Statuses)
			if res.Forward {
				g.wakeForwarder()
			}
			for _, st := range b.Statuses {
				if st.Online {
					g.machineOnline(st.Serial)
				}
			}
			return true
		}
		g.log.Error("gateway: store batch", slog.Int("events", len(msgs)), slog.String("err", err.Error()))
		if clock.Sleep(ctx, g.clk, wait) != nil {
			return false
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// classify turns one MQTT message into exactly one of: an event to store,
// a quarantine entry, or a status update. It returns all nil for a message
// to acknowledge and drop (a retained status being cleared).
func (g *Gateway) classify(topic string, payload []byte, now time.Time) (*store.Event, *store.Quarantined, *store.StatusUpdate) {
	quarantine := func(reason string) (*store.Event, *store.Quarantined, *store.StatusUpdate) {
		keep := payload
		if len(keep) > g.o.MaxPayload {
			keep = keep[:quarantineKeep]
		}
		return nil, &store.Quarantined{Topic: topic, Payload: append([]byte(nil), keep...), Size: int64(len(payload)), Reason: reason, ReceivedAt: now}, nil
	}
	if len(payload) > g.o.MaxPayload {
		return quarantine(fmt.Sprintf("oversized: %d bytes, limit %d", len(payload), g.o.MaxPayload))
	}
	if serial, ok := statusSerial(topic); ok {
		if len(payload) == 0 {
			return nil, nil, nil
		}
		var s envelope.Status
		if err := json.Unmarshal(payload, &s); err != nil {
			return quarantine("malformed status JSON: " + err.Error())
		}
		if s.Machine != "" && s.Machine != serial {
			return quarantine(fmt.Sprintf("topic serial %q differs from status machine %q", serial, s.Machine))
		}
		return nil, nil, &store.StatusUpdate{Serial: serial, Online: s.Online, RvmID: s.RvmID, Fault: s.Fault, Raw: append([]byte(nil), payload...), At: now}
	}
	serial, kind, ok := envelope.ParseEventTopic(topic)
	if !ok {
		return quarantine("not an event topic rvm/SERIAL/evt/KIND")
	}
	var env envelope.Envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return quarantine("malformed JSON: " + err.Error())
	}
	if err := env.Validate(); err != nil {
		return quarantine(err.Error())
	}
	if env.Machine != serial {
		return quarantine(fmt.Sprintf("topic serial %q differs from envelope machine %q", serial, env.Machine))
	}
	if env.Kind != kind {
		return quarantine(fmt.Sprintf("topic kind %q differs from envelope kind %q", kind, env.Kind))
	}
	if strings.Contains(env.ID, "@") {
		// The store keys another machine's id as ID@SERIAL: an id with an
		// @ could squat such a key.
		return quarantine(fmt.Sprintf("event id %q contains @", env.ID))
	}
	// The rvmId the event speaks for: the envelope's, and every rvmId its
	// body names must be the same one. Whether it is the serial's is the
	// store's to say (it holds the bindings).
	rvmID, reason := claimedRvmID(env.RvmID, env.Body)
	if reason != "" {
		return quarantine(reason)
	}
	ev := &store.Event{
		ID: env.ID, Machine: env.Machine, RvmID: rvmID, Seq: env.Seq, Kind: env.Kind, TS: env.TS,
		Body: []byte(env.Body), Forward: forwardKinds[env.Kind], ReceivedAt: now,
		Topic: topic, Raw: append([]byte(nil), payload...),
	}
	switch env.Kind {
	case envelope.KindRegistration:
		var m drsapi.MachineUpdate
		if err := json.Unmarshal(env.Body, &m); err != nil {
			return quarantine("registration body: " + err.Error())
		}
		if m.SerialNumber != "" && m.SerialNumber != serial {
			return quarantine(fmt.Sprintf("registration of serial %q published by machine %q", m.SerialNumber, serial))
		}
	case envelope.KindTransaction:
		var t drsapi.Transaction
		if err := json.Unmarshal(env.Body, &t); err != nil {
			return quarantine("transaction body: " + err.Error())
		}
		if t.ID != env.ID {
			return quarantine(fmt.Sprintf("transaction id %q differs from envelope id %q", t.ID, env.ID))
		}
		if t.Voucher != nil && t.Voucher.ID != "" {
			v := store.Voucher{Code: t.Voucher.ID, TransactionID: t.ID}
			if t.Voucher.Redeemed || t.Voucher.RedeemType != drsapi.RedeemValid {
				v.Status, v.RedeemType = store.VoucherRedeemed, t.Voucher.RedeemType
				v.RedeemedAt = parseTime(t.TransactionEndTime)
			}
			ev.Vouchers = append(ev.Vouchers, v)
		}
		ev.Signals = transactionSignals(t)
	case envelope.KindVoucher:
		var vb envelope.Voucher
		if err := json.Unmarshal(env.Body, &vb); err != nil || vb.ID == "" {
			return quarantine(fmt.Sprintf("voucher body without id: %v", err))
		}
		var amount money.Grosze
		if len(vb.Amount) > 0 {
			if err := amount.UnmarshalJSON(vb.Amount); err != nil {
				return quarantine("voucher amount: " + err.Error())
			}
		}
		ev.Vouchers = append(ev.Vouchers, store.Voucher{
			Code: vb.ID, TransactionID: vb.TransactionID, Amount: amount, HasAmount: true, Currency: vb.Currency,
			PrintType: vb.PrintType, IssuedAt: parseTime(vb.IssuedAt), ValidUntil: parseTime(vb.ValidUntil),
			Phone: vb.Phone, Payout: vb.Payout,
		})
		ev.VoucherUse = 1
	case envelope.KindContainers:
		var w envelope.BatchWire
		if err := json.Unmarshal(env.Body, &w); err != nil {
			return quarantine("containers body: " + err.Error())
		}
		if err := w.Validate(); err != nil {
			return quarantine(err.Error())
		}
		ev.Containers, ev.Deposits, ev.Signals = batchTally(&w)
	case envelope.KindContainer:
		var c envelope.ContainerEvent
		// Today's containers and deposits count the accepted ones.
		if err := json.Unmarshal(env.Body, &c); err == nil {
			ev.Signals = containerSignals(c)
			if c.RejectionCauseCode == 0 {
				ev.Containers, ev.Deposits = 1, money.Grosze(c.DepositGrosze)
			}
		}
	}
	return ev, nil, nil
}

func statusSerial(topic string) (string, bool) {
	p := strings.Split(topic, "/")
	if len(p) == 3 && p[0] == "rvm" && p[2] == "status" && p[1] != "" {
		return p[1], true
	}
	return "", false
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
