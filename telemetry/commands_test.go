package telemetry_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// recorder is a CommandHandler that counts what it applied.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int // by command id
	names []string
}

var errRefused = errors.New("config: unknown key \"turbo\"")

func (r *recorder) HandleCommand(_ context.Context, name string, cmd envelope.Command) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[cmd.ID]++
	r.names = append(r.names, name)
	if strings.Contains(string(cmd.Body), "turbo") {
		return nil, errRefused
	}
	if strings.Contains(string(cmd.Body), "panic") {
		panic("handler bug")
	}
	return map[string]string{"applied": name}, nil
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// commander sends commands one at a time and returns each reply.
type commander struct {
	t       *testing.T
	url     string
	serial  string
	replies *collector
	seen    int
}

func (c *commander) send(name, payload string) string {
	c.t.Helper()
	adminPublish(c.t, c.url, "", "", envelope.CommandTopic(c.serial, name), false, []byte(payload))
	c.replies.waitFor("a reply to "+payload, func() bool { return len(c.replies.msgs) > c.seen })
	c.seen++
	return string(c.replies.messages()[c.seen-1].payload)
}

// commanded is a publisher of machine C1 serving commands with a recorder,
// online, and a subscriber to its status.
type commanded struct {
	b      *testbroker.Broker
	db     *sql.DB
	h      *recorder
	opts   telemetry.Options
	status *collector
	p      *running
}

func startCommanded(t *testing.T) commanded {
	t.Helper()
	c := commanded{b: testbroker.Start(t), h: &recorder{}}
	c.db, _ = newDB(t)
	c.opts = baseOptions(t, c.b.URL(), "C1")
	c.opts.Commands = c.h
	c.status = subscribe(t, c.b.URL(), envelope.StatusTopic("C1"), subOpts{})
	c.p = startPublisher(t, c.db, c.opts)
	// Online is published once the command subscription is in place.
	c.waitOnline(true)
	return c
}

// waitOnline waits for the status to say online (or offline).
func (c commanded) waitOnline(online bool) {
	c.status.waitFor(fmt.Sprintf("online %v", online), func() bool { st, ok := c.status.lastStatus(); return ok && st.Online == online })
}

func TestCommands(t *testing.T) {
	m := startCommanded(t)
	b, db, h, opts, status, p := m.b, m.db, m.h, m.opts, m.status, m.p
	c := &commander{t: t, url: b.URL(), serial: "C1", replies: subscribe(t, b.URL(), envelope.ReplyTopic("C1"), subOpts{})}

	tests := []struct {
		name, payload string
		want          string
		calls         int // how often the handler saw the id afterwards
	}{
		{envelope.CmdCatalog, `{"id":"c1","body":{"version":7,"full":true,"products":[]}}`, `{"id":"c1","name":"catalog","ok":true,"result":{"applied":"catalog"}}`, 1},
		{envelope.CmdVouchers, `{"id":"c2","body":{"vouchers":[{"id":"V1","printType":1}]}}`, `{"id":"c2","name":"vouchers","ok":true,"result":{"applied":"vouchers"}}`, 1},
		{envelope.CmdConfig, `{"id":"c3","body":{"idleTimeoutS":45}}`, `{"id":"c3","name":"config","ok":true,"result":{"applied":"config"}}`, 1},
		{envelope.CmdBlock, `{"id":"c4","body":{"reason":"maintenance"}}`, `{"id":"c4","name":"block","ok":true,"result":{"applied":"block"}}`, 1},
		{envelope.CmdUnblock, `{"id":"c5","body":{}}`, `{"id":"c5","name":"unblock","ok":true,"result":{"applied":"unblock"}}`, 1},
		{envelope.CmdSetRvmID, `{"id":"c6","body":{"rvmId":"` + rvmID + `"}}`, `{"id":"c6","name":"set-rvm-id","ok":true,"result":{"applied":"set-rvm-id"}}`, 1},
		{envelope.CmdClearFault, `{"id":"c7","body":{"by":"tech-1"}}`, `{"id":"c7","name":"clear-fault","ok":true,"result":{"applied":"clear-fault"}}`, 1},
		// A repeated id is answered again, without acting twice.
		{envelope.CmdVouchers, `{"id":"c2","body":{"vouchers":[{"id":"V1","printType":1}]}}`, `{"id":"c2","name":"vouchers","ok":true,"result":{"applied":"vouchers"}}`, 1},
		// The handler's refusal is the reply, and it too is remembered.
		{envelope.CmdConfig, `{"id":"c8","body":{"turbo":true}}`, `{"id":"c8","name":"config","ok":false,"error":"config: unknown key \"turbo\""}`, 1},
		{envelope.CmdConfig, `{"id":"c8","body":{"turbo":true}}`, `{"id":"c8","name":"config","ok":false,"error":"config: unknown key \"turbo\""}`, 1},
		{envelope.CmdBlock, `{"id":"c9","body":{"panic":1}}`, `{"id":"c9","name":"block","ok":false,"error":"telemetry: command block panicked: handler bug"}`, 1},
		// Malformed commands never reach the handler.
		{envelope.CmdBlock, `not json`, `{"id":"","name":"block","ok":false,"error":"telemetry: malformed command: invalid character 'o' in literal null (expecting 'u')"}`, 0},
		{envelope.CmdBlock, `{"body":{}}`, `{"id":"","name":"block","ok":false,"error":"telemetry: malformed command: no id"}`, 0},
		{envelope.CmdBlock, `{"id":"m3","body":[1,2]}`, `{"id":"m3","name":"block","ok":false,"error":"telemetry: malformed command: body is not an object"}`, 0},
		{envelope.CmdBlock, `{"id":"m4","body":"x"}`, `{"id":"m4","name":"block","ok":false,"error":"telemetry: malformed command: body is not an object"}`, 0},
	}
	for _, tt := range tests {
		got := c.send(tt.name, tt.payload)
		if got != tt.want {
			t.Errorf("command %s %s: reply %s; want %s", tt.name, tt.payload, got, tt.want)
		}
		var cmd envelope.Command
		_ = json.Unmarshal([]byte(tt.payload), &cmd)
		if n := h.count(cmd.ID); n != tt.calls {
			t.Errorf("command %s %s: handler called %d times; want %d", tt.name, tt.payload, n, tt.calls)
		}
	}

	// The status command is answered by the publisher, fresh.
	var reply envelope.Reply
	if err := json.Unmarshal([]byte(c.send(envelope.CmdStatus, `{"id":"s1","body":{}}`)), &reply); err != nil {
		t.Fatal(err)
	}
	var st envelope.Status
	if err := json.Unmarshal(reply.Result, &st); err != nil || !reply.OK || !st.Online || st.Machine != "C1" || st.RvmID != rvmID {
		t.Errorf("status reply = %+v (%v); want ok, online, machine C1", reply, err)
	}

	// The memory of answered ids survives a restart of the publisher.
	p.stop(t)
	status.waitFor("offline", func() bool { st, ok := status.lastStatus(); return ok && !st.Online })
	startPublisher(t, db, opts)
	status.waitFor("online again", func() bool { st, ok := status.lastStatus(); return ok && st.Online })
	if got, want := c.send(envelope.CmdCatalog, `{"id":"c1","body":{"version":7,"full":true,"products":[]}}`), `{"id":"c1","name":"catalog","ok":true,"result":{"applied":"catalog"}}`; got != want {
		t.Errorf("repeat after restart: reply %s; want %s", got, want)
	}
	if n := h.count("c1"); n != 1 {
		t.Errorf("handler calls for c1 after restart = %d; want 1", n)
	}
}

func TestCommandsWithoutHandler(t *testing.T) {
	b := testbroker.Start(t)
	db, _ := newDB(t)
	status := subscribe(t, b.URL(), envelope.StatusTopic("C2"), subOpts{})
	startPublisher(t, db, baseOptions(t, b.URL(), "C2"))
	status.waitFor("online", func() bool { st, ok := status.lastStatus(); return ok && st.Online })
	c := &commander{t: t, url: b.URL(), serial: "C2", replies: subscribe(t, b.URL(), envelope.ReplyTopic("C2"), subOpts{})}
	want := `{"id":"x1","name":"block","ok":false,"error":"` + telemetry.ErrNoHandler.Error() + `"}`
	if got := c.send(envelope.CmdBlock, `{"id":"x1","body":{}}`); got != want {
		t.Errorf("reply %s; want %s", got, want)
	}
}

// TestCommandsQueuedWhileOffline: commands sent while the machine is away
// wait in its broker session and arrive the moment it connects again; each
// is applied once and answered. (A reply finished while the publisher had
// no connection used to be dropped; it now waits for the next one. The
// window for that is too narrow for this test to hit reliably.)
func TestCommandsQueuedWhileOffline(t *testing.T) {
	m := startCommanded(t)
	b, db, h, opts, p := m.b, m.db, m.h, m.opts, m.p
	replies := subscribe(t, b.URL(), envelope.ReplyTopic("C1"), subOpts{})
	const rounds, each = 3, 20
	for round := range rounds {
		p.stop(t)
		m.waitOnline(false)
		for i := range each {
			adminPublish(t, b.URL(), "", "", envelope.CommandTopic("C1", envelope.CmdBlock), false,
				[]byte(fmt.Sprintf(`{"id":"q%d-%d","body":{"reason":"maintenance"}}`, round, i)))
		}
		p = startPublisher(t, db, opts)
		want := (round + 1) * each
		replies.waitFor(fmt.Sprintf("%d replies", want), func() bool { return len(replies.msgs) >= want })
	}
	for round := range rounds {
		for i := range each {
			if id := fmt.Sprintf("q%d-%d", round, i); h.count(id) != 1 {
				t.Errorf("handler calls for %s = %d; want 1", id, h.count(id))
			}
		}
	}
}
