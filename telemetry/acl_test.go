package telemetry_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// fleetACL is the mosquitto ACL a fleet runs with, the machine's username
// being its serial: a machine publishes only under its own rvm/SERIAL/ and
// reads only its own commands and the gateway's acks; the gateway (admin)
// does everything.
const fleetACL = `user admin
topic readwrite #

pattern write rvm/%u/#
pattern read rvm/%u/cmd/#
pattern read rvm/%u/ack
`

var fleetUsers = map[string]string{"A1": "a1-secret", "B2": "b2-secret", "admin": "admin-secret"}

func TestACLAndCredentials(t *testing.T) {
	b := testbroker.Start(t, testbroker.WithPasswords(fleetUsers), testbroker.WithACL(fleetACL))

	t.Run("own credentials", func(t *testing.T) {
		admin := subscribe(t, b.URL(), "rvm/A1/#", subOpts{user: "admin", pass: "admin-secret"})
		db, _ := newDB(t)
		want := fill(t, db, transactions(0, 20)...)
		opts := baseOptions(t, b.URL(), "A1")
		opts.Username, opts.Password = "A1", "a1-secret"
		opts.Commands = &recorder{}
		opts.GatewayAcks = true
		p := startPublisher(t, db, opts)
		drain(t, p)
		admin.waitEvents(len(want))
		checkDelivery(t, admin.messages(), "A1", want)

		// The gateway's ack reaches it under the ACL.
		ack, _ := json.Marshal(envelope.Ack{V: 1, Seqs: [][2]int64{{1, int64(len(want))}}})
		adminPublish(t, b.URL(), "admin", "admin-secret", envelope.AckTopic("A1"), false, ack)
		waitUntil(t, "the gateway's ack applied", func() bool { return p.Stats().Unconfirmed == 0 })

		// Its commands reach it under the ACL.
		replies := subscribe(t, b.URL(), envelope.ReplyTopic("A1"), subOpts{user: "admin", pass: "admin-secret"})
		adminPublish(t, b.URL(), "admin", "admin-secret", envelope.CommandTopic("A1", envelope.CmdUnblock), false, []byte(`{"id":"a1-c1","body":{}}`))
		replies.waitFor("a reply", func() bool { return len(replies.msgs) > 0 })
	})

	t.Run("another machine's credentials", func(t *testing.T) {
		admin := subscribe(t, b.URL(), "rvm/A9/#", subOpts{user: "admin", pass: "admin-secret"})
		db, _ := newDB(t)
		// mosquitto 2.0 drops the connection after each denied publish, so
		// a few records are enough.
		fill(t, db, transactions(0, 3)...)
		opts := baseOptions(t, b.URL(), "A9")
		opts.Username, opts.Password = "B2", "b2-secret"
		p := startPublisher(t, db, opts)
		// mosquitto acknowledges a denied publish and drops it, so the
		// forger's outbox drains; what matters is that nobody got it.
		drain(t, p)
		// mosquitto forwards a publish before acknowledging it, so a
		// marker sent after the drain arrives after anything forwarded.
		adminPublish(t, b.URL(), "admin", "admin-secret", "rvm/A9/marker", false, []byte("{}"))
		admin.waitFor("the marker", func() bool { return len(admin.msgs) > 0 })
		for _, m := range admin.messages() {
			if m.topic != "rvm/A9/marker" {
				t.Errorf("admin saw %s %s published with another machine's credentials; want nothing", m.topic, m.payload)
			}
		}
	})

	t.Run("a machine reads only its own commands", func(t *testing.T) {
		spy := subscribe(t, b.URL(), "rvm/+/cmd/#", subOpts{user: "A1", pass: "a1-secret"})
		adminPublish(t, b.URL(), "admin", "admin-secret", envelope.CommandTopic("B2", envelope.CmdBlock), false, []byte(`{"id":"b2-c1"}`))
		adminPublish(t, b.URL(), "admin", "admin-secret", envelope.CommandTopic("A1", "marker"), false, []byte(`{"id":"marker"}`))
		spy.waitFor("its own command", func() bool { return len(spy.msgs) > 0 })
		for _, m := range spy.messages() {
			if m.topic != envelope.CommandTopic("A1", "marker") {
				t.Errorf("A1 read %s; want only its own commands", m.topic)
			}
		}
	})

	t.Run("a machine reads only its own acks", func(t *testing.T) {
		spy := subscribe(t, b.URL(), "rvm/+/ack", subOpts{user: "A1", pass: "a1-secret"})
		adminPublish(t, b.URL(), "admin", "admin-secret", envelope.AckTopic("B2"), false, []byte(`{"v":1,"seqs":[[1,1]]}`))
		adminPublish(t, b.URL(), "admin", "admin-secret", envelope.AckTopic("A1"), false, []byte(`{"v":1,"seqs":[[7,7]]}`))
		spy.waitFor("its own ack", func() bool { return len(spy.msgs) > 0 })
		for _, m := range spy.messages() {
			if m.topic != envelope.AckTopic("A1") {
				t.Errorf("A1 read %s; want only its own acks", m.topic)
			}
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		db, _ := newDB(t)
		fill(t, db, transactions(0, 1)...)
		opts := baseOptions(t, b.URL(), "A1")
		opts.Username, opts.Password = "A1", "guess"
		p := startPublisher(t, db, opts)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if err := p.Drain(ctx); err == nil {
			t.Errorf("Drain() with a wrong password = nil; want an error")
		}
		if st := p.Stats(); st.Connected || st.Sent != 0 {
			t.Errorf("Stats() = %+v; want never connected, nothing sent", st)
		}
	})
}

func TestTLSConfigErrors(t *testing.T) {
	b := testbroker.Start(t, testbroker.WithTLS(false))
	cert, key := b.ClientCert("X1")
	tests := []struct {
		ca, cert, key string
		ok            bool
	}{
		{b.CAFile(), cert, key, true},
		{b.CAFile(), "", "", true},
		{"", "", "", true},
		{b.CAFile(), cert, "", false},
		{b.CAFile(), "", key, false},
		{"/nonexistent/ca.pem", "", "", false},
		{key, "", "", false}, // a key is not a CA certificate
		{b.CAFile(), key, cert, false},
	}
	for _, tt := range tests {
		_, err := telemetry.TLSConfig(tt.ca, tt.cert, tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("TLSConfig(%q, %q, %q) = %v; want ok %v", tt.ca, tt.cert, tt.key, err, tt.ok)
		}
	}
}
