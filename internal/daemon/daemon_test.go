package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

const serial = "RVM-T-0001"

// fleet is the test's side of MQTT: it sends commands and collects replies
// and events.
type fleet struct {
	t       *testing.T
	c       mqtt.Client
	replies chan envelope.Reply
	events  chan envelope.Envelope
	n       int
}

func newFleet(t *testing.T, url string) *fleet {
	f := &fleet{t: t, replies: make(chan envelope.Reply, 100), events: make(chan envelope.Envelope, 1000)}
	f.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("fleet-test"))
	if tok := f.c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	f.c.Subscribe(envelope.ReplyTopic(serial), 1, func(_ mqtt.Client, m mqtt.Message) {
		var r envelope.Reply
		json.Unmarshal(m.Payload(), &r)
		f.replies <- r
	}).Wait()
	f.c.Subscribe("rvm/"+serial+"/evt/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		var e envelope.Envelope
		json.Unmarshal(m.Payload(), &e)
		f.events <- e
	}).Wait()
	t.Cleanup(func() { f.c.Disconnect(100) })
	return f
}

// send publishes a command and waits for its reply.
func (f *fleet) send(name, body string) envelope.Reply {
	f.t.Helper()
	f.n++
	id := fmt.Sprintf("cmd-%d", f.n)
	payload := fmt.Sprintf(`{"id":%q,"body":%s}`, id, body)
	if !json.Valid([]byte(payload)) {
		payload, id = body, "" // a malformed command has no id to answer by
	}
	f.c.Publish(envelope.CommandTopic(serial, name), 1, false, payload).Wait()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case r := <-f.replies:
			if r.ID == id {
				return r
			}
		case <-timeout:
			f.t.Fatalf("no reply to %s %s", name, payload)
		}
	}
}

func (f *fleet) waitEvent(kind string) envelope.Envelope {
	f.t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case e := <-f.events:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			f.t.Fatalf("no %s event", kind)
		}
	}
}

func startDaemon(t *testing.T, url, db string) (stop func()) {
	t.Helper()
	cfg := config.Default()
	cfg.Serial, cfg.DrsCpNo = serial, "1100061-152"
	ps, _ := catalog.Parse(sample.JSON())
	cat, _ := catalog.New(1, ps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, DBPath: db, Rig: simrun.NewRig(simrun.RigOptions{Seed: 1, SimState: db + ".sim"}), Catalog: cat, MQTT: url, Seed: 1})
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func product(ean, name string) string {
	return fmt.Sprintf(`{"ean":%q,"name":%q,"deposit":{"amount":0.5},"collectionStatusId":1,"packaging":{"packagingCode":1},"weight":{"withCap":20}}`, ean, name)
}

// TestCommands drives every command over a real mosquitto: registration,
// catalogue snapshot and delta (and a stale and a bad one), voucher top-up,
// configuration, block and unblock; bad payloads are refused with a reply
// and change nothing; the catalogue survives a restart.
func TestCommands(t *testing.T) {
	b := testbroker.Start(t)
	db := filepath.Join(t.TempDir(), "rvmd.db")
	f := newFleet(t, b.URL())
	stop := startDaemon(t, b.URL(), db)

	reg := f.waitEvent(envelope.KindRegistration)
	if !strings.Contains(string(reg.Body), `"serialNumber":"`+serial+`"`) || !strings.Contains(string(reg.Body), `"drsCpNo":"1100061-152"`) {
		t.Errorf("registration body %s", reg.Body)
	}
	st := f.send(envelope.CmdStatus, `{}`)
	if !strings.Contains(string(st.Result), `"blockReason":"unregistered"`) {
		t.Errorf("an unregistered machine must block intake: %s", st.Result)
	}
	const rvm = "6283cb0c-ee81-42bf-9fef-7fb6aadeb4ba"
	steps := []struct {
		name, body string
		ok         bool
		result     string // substring of the result or error
	}{
		{envelope.CmdSetRvmID, `{"rvmId":"not-a-uuid"}`, false, "not a UUID"},
		{envelope.CmdSetRvmID, `{"rvmId":"` + rvm + `"}`, true, rvm},
		{envelope.CmdStatus, `{}`, true, `"intakeBlocked":false`},
		{envelope.CmdCatalog, `{"version":2,"full":true,"products":[` + product("5900449000287", "Cola") + `,` + product("5901012001120", "Tyskie") + `,` + product("5901014002194", "Lech") + `]}`, true, `"products":3`},
		{envelope.CmdCatalog, `{"version":2,"full":true,"products":[]}`, true, `"stale":true`},
		{envelope.CmdCatalog, `{"version":3,"products":[{"ean":"5900449000287","name":"no deposit"}]}`, false, "deposit"},
		{envelope.CmdCatalog, `{"version":3,"products":[` + product("5900541000178", "Żywiec") + `],"removed":["5901014002194","5901012001120"]}`, true, `"products":2`},
		{envelope.CmdCatalog, `{"version":"x"}`, false, "body"},
		{envelope.CmdVouchers, `{"vouchers":[{"id":"V1","printType":0},{"id":"V2","printType":1}]}`, true, `"added":2`},
		{envelope.CmdVouchers, `{"vouchers":[{"id":"V1","printType":0}]}`, true, `"added":0`},
		{envelope.CmdVouchers, `{"vouchers":[{"id":"","printType":0}]}`, false, "voucher 0"},
		{envelope.CmdConfig, `{"idleTimeout":"45s"}`, true, `"idleTimeout":"45s"`},
		{envelope.CmdConfig, `{"idleTimout":"5s"}`, false, "idleTimeout"},
		{envelope.CmdConfig, `{"bagWarnPct":150}`, false, "bagWarnPct"},
		{envelope.CmdBlock, `{"reason":"maintenance"}`, true, ""},
		{envelope.CmdStatus, `{}`, true, `"blockReason":"operator"`},
		{envelope.CmdUnblock, `{}`, true, ""},
		{envelope.CmdStatus, `{}`, true, `"intakeBlocked":false`},
		{"dance", `{}`, false, "dance"},
		{envelope.CmdCatalog, `{not json`, false, ""},
	}
	for _, s := range steps {
		r := f.send(s.name, s.body)
		got := string(r.Result) + r.Error
		if r.OK != s.ok || !strings.Contains(got, s.result) {
			t.Errorf("%s %s = ok %v %q; want ok %v and %q", s.name, s.body, r.OK, got, s.ok, s.result)
		}
	}
	stop()

	led, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	v, products, ok, err := led.LoadCatalog(context.Background())
	id, _, _ := led.Meta(context.Background(), "rvm_id")
	n, _ := led.BufferedVouchers(context.Background())
	led.Close()
	if err != nil || !ok || v != 3 || strings.Count(string(products), `"ean"`) != 2 || id != rvm || n != 2 {
		t.Fatalf("persisted: catalogue v%d %s (%v), rvmId %q, %d vouchers", v, products, err, id, n)
	}

	// After a restart the catalogue, rvmId and configuration are the ones
	// the fleet set: a version-3 update is stale, intake is open.
	stop = startDaemon(t, b.URL(), db)
	defer stop()
	if r := f.send(envelope.CmdCatalog, `{"version":3,"full":true,"products":[]}`); !strings.Contains(string(r.Result), `"stale":true,"version":3`) {
		t.Errorf("after restart: %+v; want stale at version 3", r)
	}
	if r := f.send(envelope.CmdStatus, `{}`); !strings.Contains(string(r.Result), `"intakeBlocked":false`) || !strings.Contains(string(r.Result), rvm) {
		t.Errorf("after restart: status %s", r.Result)
	}
}
