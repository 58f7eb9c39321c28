package gateway_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

const chromium = "/usr/bin/chromium"

// browser starts a headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no %s: %v", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun, chromedp.Flag("disable-sync", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	return ctx
}

// bounded returns a context for one step of a broken test: the browser
// itself lives as long as the test.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}

// eval evaluates a script in the page.
func eval[T any](t *testing.T, ctx context.Context, script string) T {
	t.Helper()
	c, cancel := bounded(ctx)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](script))
	if err != nil {
		t.Fatalf("evaluate %s: %v", script, err)
	}
	return v
}

// text returns the text of the element sel selects.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	c, cancel := bounded(ctx)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

// The fleet page follows the fleet without a reload, draws containers and
// deposits per hour as SVG, and links each machine to its page: state
// history, bags with their reconciliation, rejection mix and charts.
func TestFleetPageLiveAndMachinePage(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	r := e.startGateway(e.gatewayOptions(""))
	withCap := 24.0
	body, _ := json.Marshal(drsapi.Product{EAN: eanOK, Name: "Woda", Weight: drsapi.Weight{WithCap: &withCap}})
	if _, _, err := r.gw.Store().ApplyProducts(context.Background(), []store.Product{{EAN: eanOK, Body: body}}, true); err != nil {
		t.Fatal(err)
	}
	status := func(state string, fill float64) {
		b, _ := json.Marshal(envelope.Status{Online: true, Machine: "RVM-A", State: state, BagFill: fill, BagCount: int(fill * 400)})
		e.publishRaw(envelope.StatusTopic("RVM-A"), b, true)
	}
	status("idle", 0.1)
	e.publishEnvelope(e.envelopeFor("RVM-A", envelope.KindContainers, "", envelope.ContainerBatch{TransactionID: uuid.NewString(),
		Containers: []envelope.BatchContainer{
			{EAN: eanOK, DepositGrosze: 50, DecidedAt: "2026-05-01T12:00:00Z"},
			{EAN: eanOK, RejectionCauseCode: drsapi.CauseBarcodeMissing, DecidedAt: "2026-05-01T12:00:01Z"},
		}}))
	e.publishEnvelope(e.envelopeFor("RVM-A", envelope.KindBagReplacement, "", drsapi.BagReplacement{
		BagID: "bag-short", RvmID: e.rvm["RVM-A"], ReplacementDate: "2026-05-01T12:00:00Z", BagWeight: 0.216,
		ContainerAmount: 10, Containers: []drsapi.ContainerFull{{EAN: eanOK, Count: 10}}}))
	waitFor(t, "the batch and the bag", func() bool {
		m := r.gw.Metrics()
		return m.Consumed[envelope.KindContainers] == 1 && m.Consumed[envelope.KindBagReplacement] == 1
	})
	if err := r.gw.Store().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	ctx := browser(t)
	// The first Run starts the browser: no timeout on it (see chromedp.Run).
	if err := chromedp.Do(ctx, chromedp.Navigate(r.api.URL+"/")); err != nil {
		t.Fatalf("open the fleet page: %v", err)
	}
	if state := text(t, ctx, `[data-testid="state-RVM-A"]`); state != "idle" {
		t.Errorf("state cell = %q; want idle", state)
	}
	bars := eval[string](t, ctx, `Array.from(document.querySelectorAll('[data-testid="fleet-containers-chart"] rect.bar')).map(b => b.dataset.value).join(",")`)
	if got := lastBar(bars); got != "1" {
		t.Errorf("containers chart bars %q: this hour's = %q; want 1", bars, got)
	}
	// The machine moves on; the page follows without a reload.
	eval[bool](t, ctx, `window.notReloaded = true`)
	status("accepting", 0.5)
	waitFor(t, "the page to show the new state", func() bool {
		c, cancel := bounded(ctx)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(`[data-testid="state-RVM-A"]`)))
		return err == nil && s == "accepting"
	})
	if !eval[bool](t, ctx, `window.notReloaded === true`) {
		t.Error("the fleet page reloaded to show the new state; want a live update")
	}

	c, cancel := bounded(ctx)
	defer cancel()
	if err := chromedp.Do(c, chromedp.Click(chromedp.CSS(`a[href="machines/RVM-A"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="bags"]`))); err != nil {
		t.Fatalf("open the machine page: %v", err)
	}
	flagged := eval[int](t, ctx, `document.querySelectorAll('[data-testid="bags"] tr[data-flagged="true"]').length`)
	history := eval[int](t, ctx, `document.querySelectorAll('[data-testid="history"] tr').length - 1`)
	mixRows := eval[int](t, ctx, `document.querySelectorAll('[data-testid="mix"] tr').length - 1`)
	svg := eval[bool](t, ctx, `!!document.querySelector('svg[data-testid="machine-deposits-chart"] rect.bar')`)
	if flagged != 1 || history != 2 || mixRows != 1 || !svg {
		t.Errorf("machine page: %d flagged bags, %d state changes, %d rejection causes, chart %v; want 1, 2, 1, true", flagged, history, mixRows, svg)
	}
}

// lastBar returns the last of a comma-separated list.
func lastBar(list string) string {
	last := ""
	for i := len(list) - 1; i >= 0; i-- {
		if list[i] == ',' {
			return last
		}
		last = string(list[i]) + last
	}
	return last
}
