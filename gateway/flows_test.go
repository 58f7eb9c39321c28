package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// machineSide records the commands the gateway sends to the fleet, and
// answers catalogue commands as a machine does: ok with the version it now
// holds, or refused while refuse is above 0.
type machineSide struct {
	mu     sync.Mutex
	cmds   map[string][]envelope.Command // topic -> commands
	refuse int                           // catalogue commands still to refuse
}

func listen(t *testing.T, e *env) *machineSide {
	t.Helper()
	ms := &machineSide{cmds: map[string][]envelope.Command{}}
	c := connect(t, e.broker.URL(), "machines", nil)
	tok := c.Subscribe("rvm/+/cmd/#", 1, func(c mqtt.Client, m mqtt.Message) {
		var cmd envelope.Command
		if err := json.Unmarshal(m.Payload(), &cmd); err != nil {
			t.Errorf("command on %s: %v", m.Topic(), err)
			return
		}
		ms.mu.Lock()
		ms.cmds[m.Topic()] = append(ms.cmds[m.Topic()], cmd)
		refuse := ms.refuse > 0
		if refuse {
			ms.refuse--
		}
		ms.mu.Unlock()
		serial, name, _ := strings.Cut(strings.TrimPrefix(m.Topic(), "rvm/"), "/cmd/")
		if name != envelope.CmdCatalog {
			return
		}
		r := envelope.Reply{ID: cmd.ID, Name: name, OK: !refuse}
		if refuse {
			r.Error = "daemon: bad command: product 0: no deposit"
		} else {
			var cu envelope.CatalogUpdate
			json.Unmarshal(cmd.Body, &cu)
			r.Result, _ = json.Marshal(map[string]int64{"version": cu.Version})
		}
		b, _ := json.Marshal(r)
		c.Publish(envelope.ReplyTopic(serial), 1, false, b) // not waited for: paho's handler must not block
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	return ms
}

func (ms *machineSide) get(topic string) []envelope.Command {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]envelope.Command(nil), ms.cmds[topic]...)
}

// A machine asks to be registered; the operator's id comes back to it.
func TestRegistration(t *testing.T) {
	e := newEnv(t, drssim.Options{})
	side := listen(t, e)
	r := e.startGateway(e.gatewayOptions(""))
	e.publishEnvelope(e.envelopeFor("RVM-NEW", envelope.KindRegistration, "", drsapi.MachineUpdate{
		SerialNumber: "RVM-NEW", Name: "Biedronka Mokotów", Bins: []drsapi.BinPost{{WasteType: []int{7, 3}, Litrage: 240}},
		Model: "RV-1", Manufacturer: "deposit-rvm", DrsCpNo: "1100061-152",
	}))
	topic := envelope.CommandTopic("RVM-NEW", envelope.CmdSetRvmID)
	waitFor(t, "set-rvm-id command", func() bool { return len(side.get(topic)) == 1 })
	var body struct {
		RvmID string `json:"rvmId"`
	}
	if err := json.Unmarshal(side.get(topic)[0].Body, &body); err != nil || len(body.RvmID) != 36 {
		t.Fatalf("set-rvm-id body %s (%v); want an rvmId uuid", side.get(topic)[0].Body, err)
	}
	m, err := r.gw.Store().Machine(context.Background(), "RVM-NEW", time.Now().UTC().Format(time.DateOnly))
	if err != nil || m.RvmID != body.RvmID {
		t.Errorf("stored machine = %+v, %v; want rvmId %s", m, err, body.RvmID)
	}
	// The operator now knows the machine: its transactions go through.
	e.rvm["RVM-NEW"] = body.RvmID
	e.publishTx("RVM-NEW", e.transaction("RVM-NEW", eanOK, 1, nil))
	waitFor(t, "the new machine's transaction", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 2 })
}

// The catalogue is pulled in full and incrementally, versioned, and pushed
// to machines: a full snapshot first, then a delta.
func TestCatalogSyncAndPush(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	side := listen(t, e)
	o := e.gatewayOptions("")
	o.CatalogIncrementalEvery = time.Nanosecond // every call is due
	r := e.startGateway(o)
	ctx := context.Background()
	e.firstCatalogPush(r, "RVM-A")
	topic := envelope.CommandTopic("RVM-A", envelope.CmdCatalog)
	waitFor(t, "the full catalogue", func() bool { return len(side.get(topic)) == 1 })
	var cu envelope.CatalogUpdate
	if err := json.Unmarshal(side.get(topic)[0].Body, &cu); err != nil {
		t.Fatal(err)
	}
	if !cu.Full || cu.Version != 1 || len(cu.Products) != 2 {
		t.Fatalf("first push: full %v version %d, %d products; want full, 1, 2", cu.Full, cu.Version, len(cu.Products))
	}
	waitCatalogVersion(t, r.gw, "RVM-A", 1)
	// Nothing changed: no new version, nothing pushed.
	if err := r.gw.SyncCatalog(ctx, false); err != nil {
		t.Fatal(err)
	}
	p := testCatalog(t)[0]
	p.Name = "Woda 0.5 l (nowa etykieta)"
	e.sim.PutProduct(p)
	if err := r.gw.SyncCatalog(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := r.gw.PushCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delta", func() bool { return len(side.get(topic)) == 2 })
	cu = envelope.CatalogUpdate{}
	if err := json.Unmarshal(side.get(topic)[1].Body, &cu); err != nil {
		t.Fatal(err)
	}
	if cu.Full || cu.Version != 2 || len(cu.Products) != 1 || !strings.Contains(string(cu.Products[0]), "nowa etykieta") {
		t.Errorf("second push: full %v version %d products %s; want a delta, version 2, the renamed product", cu.Full, cu.Version, cu.Products)
	}
	waitCatalogVersion(t, r.gw, "RVM-A", 2)
	if err := r.gw.PushCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(side.get(topic)); n != 2 {
		t.Errorf("pushes after an idle push = %d; want 2", n)
	}
}

// firstCatalogPush brings serial online, pulls the operator's catalogue
// and pushes it.
func (e *env) firstCatalogPush(r *running, serial string) {
	e.t.Helper()
	ctx := context.Background()
	st, _ := json.Marshal(envelope.Status{Online: true, Machine: serial, RvmID: e.rvm[serial]})
	e.publishRaw(envelope.StatusTopic(serial), st, true)
	waitFor(e.t, "the machine online", func() bool {
		m, err := r.gw.Store().Machine(ctx, serial, "")
		return err == nil && m.Online
	})
	if err := r.gw.SyncCatalog(ctx, true); err != nil {
		e.t.Fatal(err)
	}
	if err := r.gw.PushCatalog(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// waitCatalogVersion waits until the gateway records serial at version,
// which it does only from the machine's reply.
func waitCatalogVersion(t *testing.T, g *gateway.Gateway, serial string, version int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s at catalogue version %d", serial, version), func() bool {
		m, err := g.Store().Machine(context.Background(), serial, "")
		return err == nil && m.CatalogVersion == version
	})
}

// A machine that refuses a catalogue is not recorded at its version; the
// push is repeated, after a back-off, with a new command id, until the
// machine accepts it, and then no more.
func TestCatalogRefusedIsPushedAgain(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-R")
	side := listen(t, e)
	side.refuse = 1
	clk := newClock()
	o := e.gatewayOptions("")
	o.Clock = clk
	r := e.startGateway(o)
	ctx := context.Background()
	e.firstCatalogPush(r, "RVM-R")
	topic := envelope.CommandTopic("RVM-R", envelope.CmdCatalog)
	waitFor(t, "the refusal recorded", func() bool {
		v, err := r.gw.Store().KV(ctx, "catalog.push/RVM-R")
		return err == nil && strings.Contains(v, "no deposit")
	})
	if m, _ := r.gw.Store().Machine(ctx, "RVM-R", ""); m.CatalogVersion != 0 {
		t.Errorf("catalogue version after a refused push = %d; want 0", m.CatalogVersion)
	}
	// Backing off: not pushed again at once.
	if err := r.gw.PushCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(side.get(topic)); n != 1 {
		t.Fatalf("catalogue commands right after the refusal = %d; want 1", n)
	}
	clk.Advance(2 * time.Minute)
	if err := r.gw.PushCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second push", func() bool { return len(side.get(topic)) == 2 })
	waitCatalogVersion(t, r.gw, "RVM-R", 1)
	cmds := side.get(topic)
	if cmds[0].ID == cmds[1].ID {
		t.Errorf("both pushes have command id %q; want a new id (a machine answers a repeated id with its first reply)", cmds[0].ID)
	}
	clk.Advance(time.Hour)
	if err := r.gw.PushCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(side.get(topic)); n != 2 {
		t.Errorf("catalogue commands after the machine accepted = %d; want 2", n)
	}
}

// A registered machine with an empty buffer gets operator voucher codes.
func TestVoucherTopUp(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	side := listen(t, e)
	o := e.gatewayOptions("")
	o.VoucherLow, o.VoucherTarget = 5, 12
	r := e.startGateway(o)
	ctx := context.Background()
	st, _ := json.Marshal(envelope.Status{Online: true, Machine: "RVM-A", RvmID: e.rvm["RVM-A"]})
	e.publishRaw(envelope.StatusTopic("RVM-A"), st, true)
	waitFor(t, "the machine's rvmId", func() bool {
		m, err := r.gw.Store().Machine(ctx, "RVM-A", "")
		return err == nil && m.RvmID != ""
	})
	if err := r.gw.TopUpVouchers(ctx); err != nil {
		t.Fatal(err)
	}
	topic := envelope.CommandTopic("RVM-A", envelope.CmdVouchers)
	waitFor(t, "a voucher top-up", func() bool { return len(side.get(topic)) == 1 })
	var top envelope.VoucherTopUp
	if err := json.Unmarshal(side.get(topic)[0].Body, &top); err != nil || len(top.Vouchers) != 12 {
		t.Fatalf("top-up %s (%v); want 12 codes", side.get(topic)[0].Body, err)
	}
	// Full now: no second top-up.
	if err := r.gw.TopUpVouchers(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(side.get(topic)); n != 1 {
		t.Errorf("top-ups with a full buffer = %d; want 1", n)
	}
}

// A machine's status may name an rvmId the operator does not know yet (its
// registration still on the way): its voucher buffer is asked for only
// once the operator has accepted the registration.
func TestVoucherTopUpWaitsForRegistration(t *testing.T) {
	e := newEnv(t, drssim.Options{})
	side := listen(t, e)
	o := e.gatewayOptions("")
	o.VoucherLow, o.VoucherTarget = 5, 12
	r := e.startGateway(o)
	ctx := context.Background()
	st, _ := json.Marshal(envelope.Status{Online: true, Machine: "RVM-NEW", RvmID: uuid.NewString()})
	e.publishRaw(envelope.StatusTopic("RVM-NEW"), st, true)
	waitFor(t, "the machine's rvmId", func() bool {
		m, err := r.gw.Store().Machine(ctx, "RVM-NEW", "")
		return err == nil && m.RvmID != ""
	})
	if err := r.gw.TopUpVouchers(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.front.count("GET /voucher/buffer"); n != 0 {
		t.Errorf("voucher buffer requests before the registration = %d; want 0", n)
	}
	e.publishEnvelope(e.envelopeFor("RVM-NEW", envelope.KindRegistration, "", drsapi.MachineUpdate{
		SerialNumber: "RVM-NEW", Bins: []drsapi.BinPost{{WasteType: []int{7}}}, DrsCpNo: "1100061-152",
	}))
	waitFor(t, "the registration delivered", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 1 })
	if err := r.gw.TopUpVouchers(ctx); err != nil {
		t.Fatal(err)
	}
	topic := envelope.CommandTopic("RVM-NEW", envelope.CmdVouchers)
	waitFor(t, "a voucher top-up after the registration", func() bool { return len(side.get(topic)) == 1 })
}

// The fleet view follows the retained status and the last will.
func TestFleetStatusAndMetrics(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	r := e.startGateway(e.gatewayOptions(""))
	st, _ := json.Marshal(envelope.Status{Online: true, Machine: "RVM-A", BagFill: 0.42, BagCount: 168, OutboxDepth: 3, Fault: "jam"})
	e.publishRaw(envelope.StatusTopic("RVM-A"), st, true)
	var m gateway.MachineView
	waitFor(t, "online", func() bool {
		return call(t, "GET", r.api.URL+"/api/machines/RVM-A", "", "", &m) == http.StatusOK && m.Online
	})
	if m.BagFill != 0.42 || m.BagCount != 168 || m.OutboxDepth != 3 || m.Fault != "jam" || m.LastSeen == "" {
		t.Errorf("machine = %+v; want bag 0.42/168, outbox 3, fault jam, last seen", m)
	}
	// The machine dies: the broker publishes its last will.
	will, _ := json.Marshal(envelope.Status{Online: false, Machine: "RVM-A"})
	e.publishRaw(envelope.StatusTopic("RVM-A"), will, true)
	waitFor(t, "offline", func() bool {
		return call(t, "GET", r.api.URL+"/api/machines/RVM-A", "", "", &m) == http.StatusOK && !m.Online
	})
	if code := call(t, "GET", r.api.URL+"/api/machines/NOPE", "", "", nil); code != http.StatusNotFound {
		t.Errorf("unknown machine = %d; want 404", code)
	}
	e.publishTx("RVM-A", e.transaction("RVM-A", eanOK, 1, nil))
	waitFor(t, "delivered", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 1 })
	resp, err := http.Get(r.api.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	for _, want := range []string{
		`rvm_gateway_events_consumed_total{kind="transaction"} 1`,
		`rvm_gateway_events_forwarded_total{kind="transaction"} 1`,
		`rvm_gateway_machines_online 0`,
		`rvm_gateway_delivery_latency_seconds_count 1`,
		"# TYPE rvm_gateway_events_quarantined_total counter",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp2, err := http.Get(r.api.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var page strings.Builder
	_, _ = io.Copy(&page, resp2.Body)
	if !strings.Contains(page.String(), "RVM-A") || !strings.Contains(page.String(), "offline") {
		t.Errorf("dashboard lacks the machine: %s", page.String())
	}
}

// The operator's lost-data sync: undelivered transactions are listed,
// then confirmed.
func TestLostDataSync(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	// The operator refuses everything for now: transactions stay
	// undelivered (a 503 is transient).
	e.front.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	o := e.gatewayOptions("")
	o.APIToken = "drs-calls-us"
	o.BaseBackoff, o.MaxBackoff = time.Hour, time.Hour
	r := e.startGateway(o)
	id := e.publishTx("RVM-A", e.transaction("RVM-A", eanOK, 2, nil))
	waitFor(t, "an attempt", func() bool { return r.gw.Metrics().Retries[envelope.KindTransaction] > 0 })
	var page gateway.TransactionPage
	if code := call(t, "GET", r.api.URL+"/transaction?delivered=false", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("without token = %d; want 401", code)
	}
	if code := call(t, "GET", r.api.URL+"/transaction?delivered=false&startindex=0&pagelength=10", "drs-calls-us", "", &page); code != http.StatusOK {
		t.Fatalf("GET /transaction = %d; want 200", code)
	}
	if page.TotalItemCount != 1 || len(page.Data) != 1 || page.Data[0].ID != id || page.Data[0].TotalAccepted != 2 {
		t.Fatalf("undelivered = %+v; want the one transaction", page)
	}
	if code := call(t, "PUT", r.api.URL+"/transaction/"+id+"/confirmation", "drs-calls-us", "", nil); code != http.StatusOK {
		t.Fatalf("confirm = %d; want 200", code)
	}
	if code := call(t, "PUT", r.api.URL+"/transaction/"+uuid.NewString()+"/confirmation", "drs-calls-us", "", nil); code != http.StatusNotFound {
		t.Errorf("confirm unknown = %d; want 404", code)
	}
	call(t, "GET", r.api.URL+"/transaction?delivered=false", "drs-calls-us", "", &page)
	if page.TotalItemCount != 0 {
		t.Errorf("undelivered after confirmation = %d; want 0", page.TotalItemCount)
	}
	var tv gateway.TransactionView
	if code := call(t, "GET", r.api.URL+"/transaction/"+id, "drs-calls-us", "", &tv); code != http.StatusOK || tv.ID != id {
		t.Errorf("GET /transaction/{id} = %d %+v", code, tv)
	}
	if ev, _ := r.gw.Store().Event(context.Background(), id); ev.State != store.StateDelivered {
		t.Errorf("confirmed event state = %q; want delivered (the forwarder stops)", ev.State)
	}
}

// The operator registers a machine with us, reads it back, pushes a
// product, and deletes the machine (Kaucja.pl RVM API 1.0.12, the RVM vendor's side).
func TestOperatorMachineAndProductAPI(t *testing.T) {
	e := newEnv(t, drssim.Options{})
	side := listen(t, e)
	o := e.gatewayOptions("")
	o.APIToken = "op"
	r := e.startGateway(o)
	var id drsapi.MachineID
	body := `{"serialNumber":"RVM-OP","name":"Lidl Wola","bins":[{"wasteType":[7],"litrage":240}],"location":{"city":"Warszawa","zipcode":"01-001","country":"PL","address":"Wolska 1"}}`
	if code := call(t, "POST", r.api.URL+"/machine", "op", body, &id); code != http.StatusOK || len(id.ID) != 36 {
		t.Fatalf("POST /machine = %d %+v; want 200 and an id", code, id)
	}
	var again drsapi.MachineID
	call(t, "POST", r.api.URL+"/machine", "op", body, &again)
	if again.ID != id.ID {
		t.Errorf("POST /machine again = %s; want the same id %s", again.ID, id.ID)
	}
	var bad drsapi.ApiException
	if code := call(t, "POST", r.api.URL+"/machine", "op", `{"name":"x","bins":[]}`, &bad); code != http.StatusBadRequest || bad.Code() != drsapi.CodeRequired {
		t.Errorf("POST /machine without serial = %d %+v; want 400 REQUIRED", code, bad)
	}
	var m struct {
		ID           string `json:"id"`
		SerialNumber string `json:"serialNumber"`
		Name         string `json:"name"`
		Health       struct {
			StatusCode int `json:"statusCode"`
		} `json:"health"`
		Bins []map[string]any `json:"bins"`
	}
	if code := call(t, "GET", r.api.URL+"/machine/"+id.ID, "op", "", &m); code != http.StatusOK || m.SerialNumber != "RVM-OP" || m.Name != "Lidl Wola" || len(m.Bins) != 1 {
		t.Errorf("GET /machine/{id} = %d %+v", code, m)
	}
	var page struct {
		TotalItemCount int `json:"totalItemCount"`
	}
	if code := call(t, "GET", r.api.URL+"/machine?startindex=0&pagelength=10", "op", "", &page); code != http.StatusOK || page.TotalItemCount != 1 {
		t.Errorf("GET /machine = %d %+v; want 1 machine", code, page)
	}
	// A product pushed by the operator reaches the (known) machine.
	if code := call(t, "POST", r.api.URL+"/product", "op", `{"ean":"5901234123457","name":"Woda","deposit":{"amount":0.5,"currency":"PLN"},"collectionStatusId":1,"packaging":{"packagingCode":1},"diameters":{},"weight":{}}`, nil); code != http.StatusOK {
		t.Fatalf("POST /product = %d; want 200", code)
	}
	waitFor(t, "the catalogue pushed to RVM-OP", func() bool { return len(side.get(envelope.CommandTopic("RVM-OP", envelope.CmdCatalog))) == 1 })
	if code := call(t, "DELETE", r.api.URL+"/machine/"+id.ID, "op", "", nil); code != http.StatusOK {
		t.Errorf("DELETE /machine = %d; want 200", code)
	}
	if code := call(t, "DELETE", r.api.URL+"/machine/"+id.ID, "op", "", nil); code != http.StatusNotFound {
		t.Errorf("DELETE /machine again = %d; want 404", code)
	}
}
