package kiosk_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "github.com/mattn/go-sqlite3"

	"github.com/deposit-rvm/rvm/drs/drsapi"
)

var update = flag.Bool("update", false, "write the screenshots into docs/kiosk/")

// rvmd is a real rvmd process serving the kiosk.
type rvmd struct {
	t      *testing.T
	cmd    *exec.Cmd
	logs   string        // its stderr
	exited chan struct{} // closed when the process has ended
	url    string        // http://127.0.0.1:PORT/
}

var urlRE = regexp.MustCompile(`msg=kiosk url=(http://\S+)`)

// startRvmd runs `rvmd run -sim -customers=false -ui ADDR` and waits for
// the kiosk's URL in its log.
func startRvmd(t *testing.T, bin, dir, addr string) *rvmd {
	t.Helper()
	cmd := exec.Command(bin, "run", "-sim", "-customers=false", "-ui", addr,
		"-db", filepath.Join(dir, "ledger.db"), "-config", filepath.Join(dir, "config.json"), "-seed", "7")
	logf, err := os.CreateTemp(dir, "rvmd-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	r := &rvmd{t: t, cmd: cmd, logs: logf.Name(), exited: make(chan struct{})}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.kill)
	deadline := time.After(2 * time.Minute)
	for {
		logs, _ := os.ReadFile(r.logs)
		if m := urlRE.FindSubmatch(logs); m != nil {
			r.url = string(m[1])
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("rvmd exited before serving the kiosk:\n%s", logs)
		case <-deadline:
			t.Fatalf("rvmd printed no kiosk URL:\n%s", logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *rvmd) kill() {
	r.cmd.Process.Kill()
	<-r.exited
}

// step plays one scenario line on the simulated machine (sim-only control).
func (r *rvmd) step(line string) {
	r.t.Helper()
	resp, err := http.Post(r.url+"sim/step", "application/json", strings.NewReader(line))
	if err != nil {
		r.t.Fatalf("sim step %s: %v", line, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		r.t.Fatalf("sim step %s: %s %s", line, resp.Status, b)
	}
}

func (r *rvmd) service(on bool) {
	r.t.Helper()
	resp, err := http.Post(fmt.Sprintf("%ssim/service?on=%v", r.url, on), "", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		r.t.Fatalf("sim service on=%v: %s", on, resp.Status)
	}
}

func buildRvmd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rvmd")
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "../../cmd/rvmd")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// browser starts a headless Chromium (Debian's) with an empty profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := "/usr/bin/chromium"
	if _, err := os.Stat(exe); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed")
		}
		t.Skip("chromium is not installed at /usr/bin/chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs browser actions with a generous bound (a loaded machine is slow;
// nothing here asserts on time).
func run(t *testing.T, ctx context.Context, what string, acts ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(c, acts...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// until waits for a JavaScript expression to be true.
func until(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	_, err := chromedp.Run(c, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(80*time.Second)))
	if err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func tid(id string) string { return fmt.Sprintf(`document.querySelector('[data-testid="%s"]')`, id) }

func click(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	run(t, ctx, "click "+id, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="%s"]`, id))))
}

// shot keeps a screenshot of the screen: in docs/kiosk/ with -update, in
// a temporary directory otherwise.
func shot(t *testing.T, ctx context.Context, dir, name string, w, h int64) {
	t.Helper()
	run(t, ctx, "resize for "+name, chromedp.EmulateViewport(w, h),
		chromedp.Sleep(300*time.Millisecond)) // let layout settle after the resize
	c, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	run(t, ctx, "resize back", chromedp.EmulateViewport(1280, 800))
	if len(png) < 1000 {
		t.Fatalf("screenshot %s: %d bytes", name, len(png))
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lastTransaction reads the newest transaction the machine handed to its
// outbox, as the operator will receive it.
func lastTransaction(t *testing.T, db string) (drsapi.Transaction, int) {
	t.Helper()
	h, err := sql.Open("sqlite3", "file:"+db+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var n int
	var body []byte
	if err := h.QueryRow(`SELECT count(*) FROM outbox WHERE kind = 'transaction'`).Scan(&n); err != nil {
		t.Fatalf("ledger: %v", err)
	}
	if n == 0 {
		return drsapi.Transaction{}, 0
	}
	if err := h.QueryRow(`SELECT body FROM outbox WHERE kind = 'transaction' ORDER BY seq DESC LIMIT 1`).Scan(&body); err != nil {
		t.Fatalf("ledger: %v", err)
	}
	var tx drsapi.Transaction
	if err := json.Unmarshal(body, &tx); err != nil {
		t.Fatalf("transaction %s: %v", body, err)
	}
	return tx, n
}

func sessionPhone(t *testing.T, db, id string) string {
	t.Helper()
	h, err := sql.Open("sqlite3", "file:"+db+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var p sql.NullString
	if err := h.QueryRow(`SELECT phone FROM sessions WHERE id = ?`, id).Scan(&p); err != nil {
		t.Fatalf("ledger: session %s: %v", id, err)
	}
	return p.String
}

// TestKioskInChromium drives the customer's page in a real Chromium against
// a real `rvmd run -sim -ui` process: a session's containers and total, the
// English switch, a donation, the phone keypad, the service screen, and the
// page's "out of order" while rvmd is down and its recovery.
func TestKioskInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	ctx := browser(t)
	bin := buildRvmd(t)
	dir := t.TempDir()
	// A long idle timeout: a slow test must not see the session end by
	// itself. A small bag: the fifth container credited fills it.
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"idleTimeout":"10m","bagMaxContainers":5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "ledger.db")
	shots := t.TempDir()
	if *update {
		shots = filepath.Join("..", "..", "docs", "kiosk")
		os.MkdirAll(shots, 0o755)
	}
	m := startRvmd(t, bin, dir, "127.0.0.1:0")

	run(t, ctx, "open "+m.url, chromedp.Navigate(m.url))
	until(t, ctx, "the machine ready", tid("machine-state")+`.dataset.state === "ready"`)
	if got := eval[string](t, ctx, `document.documentElement.lang`); got != "pl" {
		t.Errorf(`<html lang> = %q; want "pl" by default`, got)
	}
	shot(t, ctx, shots, "welcome", 1280, 800)

	// One session: every kind of container the machine can decide.
	type want struct {
		line, status, reason, text string
	}
	session := []want{
		{`{"op":"insert","ean":"5900449000287"}`, "accepted", "0", "+0,50 zł"},
		{`{"op":"insert","ean":"5901012001120"}`, "accepted", "0", "+0,50 zł"},
		{`{"op":"insert","ean":"5901012005012"}`, "accepted", "0", "+1,00 zł"},
		{`{"op":"insert","barcode":"missing"}`, "rejected", "4", "brak kodu kreskowego"},
		{`{"op":"insert","ean":"5900449000287","weight_g":520}`, "rejected", "6", "nie jest puste"},
		{`{"op":"insert","ean":"5901234123457"}`, "rejected", "6", "poza systemem kaucyjnym"},
		{`{"op":"insert","ean":"5900449000287","barcode":"damaged"}`, "rejected", "3", "nieczytelny kod kreskowy"},
		{`{"op":"insert","ean":"5901234123458"}`, "rejected", "5", "błędny kod kreskowy"},
		{`{"op":"insert","ean":"5900449000287","height_mm":120}`, "rejected", "2", "zgniecione"},
		{`{"op":"insert","ean":"5900449000287","pullback":true}`, "rejected", "1", "wyjęte z powrotem"},
	}
	for i, w := range session {
		m.step(w.line)
		until(t, ctx, fmt.Sprintf("container %d decided", i+1),
			fmt.Sprintf(`document.querySelectorAll('[data-testid="container"]').length === %d`, i+1))
	}
	until(t, ctx, "the total", tid("session-total")+`.textContent === "2,00 zł" && `+
		`document.querySelector('[data-testid="container"]').dataset.status === "rejected"`)
	checkContainers := func(texts func(want) string) {
		t.Helper()
		type item struct{ Status, Reason, Text string }
		got := eval[[]item](t, ctx, `[...document.querySelectorAll('[data-testid="container"]')].map(e => ({Status: e.dataset.status, Reason: e.dataset.reason, Text: e.querySelector('.what').textContent}))`)
		if len(got) != len(session) {
			t.Fatalf("the page shows %d containers; want %d", len(got), len(session))
		}
		for i, w := range session {
			g := got[len(got)-1-i] // newest first
			if g.Status != w.status || g.Reason != w.reason || !strings.HasPrefix(g.Text, texts(w)) {
				t.Errorf("container %d (%s) = %+v; want status %q, data-reason %q, text %q", i+1, w.line, g, w.status, w.reason, texts(w))
			}
		}
	}
	checkContainers(func(w want) string { return w.text })
	shot(t, ctx, shots, "session", 1280, 800)
	shot(t, ctx, shots, "session-800x480", 800, 480)

	// A page that loads mid-session shows it at once.
	run(t, ctx, "reload", chromedp.Reload())
	until(t, ctx, "the session after a reload", tid("session-total")+`.textContent === "2,00 zł" && `+
		`document.querySelectorAll('[data-testid="container"]').length === 10`)

	// English with one touch; the document's language follows.
	click(t, ctx, "lang-en")
	until(t, ctx, "English", `document.documentElement.lang === "en"`)
	english := map[string]string{"0": "", "4": "no barcode", "3": "barcode unreadable", "5": "barcode not valid", "2": "crushed", "1": "taken back"}
	checkContainers(func(w want) string {
		switch {
		case w.status == "accepted":
			return "+PLN " + strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(w.text, "+"), " zł"), ",", ".")
		case w.text == "nie jest puste":
			return "not empty"
		case w.reason == "6":
			return "not in the deposit system"
		}
		return english[w.reason]
	})
	for id, text := range map[string]string{"session-total": "PLN 2.00", "btn-donate": "Donate to charity", "btn-voucher": "Print a voucher", "machine-state": "Ready"} {
		if got := eval[string](t, ctx, tid(id)+`.textContent`); got != text {
			t.Errorf("in English, %s reads %q; want %q", id, got, text)
		}
	}
	shot(t, ctx, shots, "session-en", 1280, 800)
	click(t, ctx, "lang-pl")
	until(t, ctx, "Polish again", `document.documentElement.lang === "pl" && `+tid("session-total")+`.textContent === "2,00 zł"`)
	// ?lang=en starts in English.
	run(t, ctx, "open ?lang=en", chromedp.Navigate(m.url+"?lang=en"))
	until(t, ctx, "English from the URL", `document.documentElement.lang === "en" && `+tid("session-total")+`.textContent === "PLN 2.00"`)

	// Donate: the session becomes a transaction whose voucher went to charity.
	_, before := lastTransaction(t, db)
	click(t, ctx, "btn-donate")
	until(t, ctx, "the thank-you screen", `document.body.dataset.screen === "thanks"`)
	shot(t, ctx, shots, "thanks", 1280, 800)
	tx, n := lastTransaction(t, db)
	if n != before+1 || tx.Voucher == nil || tx.Voucher.RedeemType != drsapi.RedeemCharity || !tx.Voucher.Redeemed ||
		tx.TotalAccepted != 3 || tx.TotalRejected != 7 {
		t.Errorf("after donate: %d transactions (want %d), last %+v voucher %+v; want redeemType %d redeemed, 3 accepted, 7 rejected",
			n, before+1, tx, tx.Voucher, drsapi.RedeemCharity)
	}

	// The phone keypad: 8 digits are refused, 9 are sent.
	run(t, ctx, "open", chromedp.Navigate(m.url))
	until(t, ctx, "welcome", `document.body.dataset.screen === "welcome"`)
	m.step(`{"op":"insert","ean":"5901012001120"}`)
	until(t, ctx, "the session", tid("session-total")+`.textContent === "0,50 zł"`)
	click(t, ctx, "btn-digital")
	until(t, ctx, "the keypad", `document.body.dataset.screen === "phone"`)
	for _, k := range "60010020" {
		click(t, ctx, "key-"+string(k))
	}
	click(t, ctx, "phone-send")
	until(t, ctx, "the refusal", `document.getElementById("phone-msg").textContent !== ""`)
	if got := eval[string](t, ctx, tid("phone-input")+`.value`); got != "60010020" {
		t.Errorf("phone-input = %q; want %q", got, "60010020")
	}
	shot(t, ctx, shots, "phone", 1280, 800)
	shot(t, ctx, shots, "phone-800x480", 800, 480)
	if _, n := lastTransaction(t, db); n != before+1 || eval[string](t, ctx, `document.body.dataset.screen`) != "phone" {
		t.Errorf("8 digits: %d transactions, screen %q; want %d and still the keypad", n, eval[string](t, ctx, `document.body.dataset.screen`), before+1)
	}
	click(t, ctx, "key-0")
	click(t, ctx, "key-9") // a tenth digit is ignored
	click(t, ctx, "phone-send")
	until(t, ctx, "the thank-you screen", `document.body.dataset.screen === "thanks"`)
	tx, n = lastTransaction(t, db)
	if n != before+2 || tx.Voucher == nil || tx.Voucher.RedeemType != drsapi.RedeemValid || tx.TotalAccepted != 1 {
		t.Errorf("digital voucher: %d transactions, last %+v voucher %+v; want %d, a valid voucher for 1 container", n, tx, tx.Voucher, before+2)
	}
	if p := sessionPhone(t, db, tx.ID); p != "600100200" {
		t.Errorf("digital voucher sent to %q; want 600100200", p)
	}

	// The technician's service screen.
	m.service(true)
	until(t, ctx, "service", tid("machine-state")+`.dataset.state === "service" && document.body.dataset.screen === "service"`)
	if got := eval[string](t, ctx, `document.getElementById("service-list").textContent`); !strings.Contains(got, "Opakowań w worku4") {
		t.Errorf("service screen = %q; want the bag's 4 containers", got)
	}
	shot(t, ctx, shots, "service", 1280, 800)
	m.service(false)
	until(t, ctx, "ready after service", tid("machine-state")+`.dataset.state === "ready"`)

	// The fifth container fills the bag: the session ends, thanks, then
	// the bag-full screen until staff swap it.
	m.step(`{"op":"insert","ean":"5900449000287"}`)
	until(t, ctx, "bag full", tid("machine-state")+`.dataset.state === "bag full" && document.body.dataset.screen === "down"`)
	if got := eval[string](t, ctx, `document.getElementById("down-title").textContent`); got != "Worek jest pełny" {
		t.Errorf("bag-full screen title = %q; want %q", got, "Worek jest pełny")
	}
	shot(t, ctx, shots, "bag-full", 1280, 800)

	// rvmd dies: the page says out of order; it comes back by itself.
	addr := strings.TrimSuffix(strings.TrimPrefix(m.url, "http://"), "/")
	m.kill()
	until(t, ctx, "out of order", tid("machine-state")+`.dataset.state === "out of order" && document.body.dataset.screen === "down"`)
	if got := eval[string](t, ctx, tid("machine-state")+`.textContent`); got != "Nieczynny" {
		t.Errorf("machine-state while rvmd is down = %q; want %q", got, "Nieczynny")
	}
	shot(t, ctx, shots, "out-of-order", 1280, 800)
	startRvmd(t, bin, dir, addr)
	// Back with the bag still full (or already swapped by the simulated staff).
	state := tid("machine-state") + `.dataset.state`
	until(t, ctx, "recovery", `(`+state+` === "bag full" && document.body.dataset.screen === "down" && `+
		`document.getElementById("down-title").textContent === "Worek jest pełny") || `+
		`(`+state+` === "ready" && document.body.dataset.screen === "welcome")`)
}
