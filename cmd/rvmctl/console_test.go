package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	_ "github.com/mattn/go-sqlite3"
)

// The console is driven the way a technician drives it: rvmctl on a real
// pseudo-terminal against a real "rvmd run -sim", both built from this
// tree.

var bins struct {
	once         sync.Once
	rvmd, rvmctl string
	err          error
}

const pin = "258046" // distinctive, so an echo of it would be seen

func build(t *testing.T) (rvmd, rvmctl string) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "rvmctl-test")
		if err != nil {
			bins.err = err
			return
		}
		bins.rvmd, bins.rvmctl = filepath.Join(dir, "rvmd"), filepath.Join(dir, "rvmctl")
		for _, b := range []struct{ out, pkg string }{{bins.rvmd, "../rvmd"}, {bins.rvmctl, "."}} {
			args := []string{"build", "-o", b.out}
			if os.Getenv("RVMCTL_TEST_RACE") != "" {
				args = append(args, "-race") // the daemon's console beside its loop under the race detector
			}
			if out, err := exec.Command("go", append(args, b.pkg)...).CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.rvmd, bins.rvmctl
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.rvmd != "" {
		os.RemoveAll(filepath.Dir(bins.rvmd))
	}
	os.Exit(code)
}

// rig is one running rvmd with its console socket.
type rig struct {
	t      *testing.T
	db     string
	sock   string
	rvmctl string
}

func startRvmd(t *testing.T, config string, args ...string) *rig {
	t.Helper()
	rvmd, rvmctl := build(t)
	dir := t.TempDir()
	r := &rig{t: t, db: filepath.Join(dir, "rvmd.db"), sock: filepath.Join(dir, "rvmd.sock"), rvmctl: rvmctl}
	set := exec.Command(rvmd, "pin", "set", "-db", r.db)
	set.Stdin = strings.NewReader(pin + "\n")
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("rvmd pin set: %v\n%s", err, out)
	}
	args = append([]string{"run", "-sim", "-db", r.db, "-seed", "7"}, args...)
	if config != "" {
		cf := filepath.Join(dir, "config.json")
		if err := os.WriteFile(cf, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-config", cf)
	}
	cmd := exec.Command(rvmd, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("rvmd exited with %v\n%s", err, logs.String())
			}
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("rvmd did not stop on SIGTERM\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat(r.sock); err == nil {
			if out, code := r.run(true, "status"); code == 0 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("rvmctl status = %d: %s", code, out)
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("rvmd exited early: %v\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no service socket %s after 90 s\n%s", r.sock, logs.String())
		}
	}
	return r
}

// term is rvmctl on a pseudo-terminal.
type term struct {
	t    *testing.T
	cmd  *exec.Cmd
	f    *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	seen int // output consumed by expect
	read chan struct{}
}

// open starts rvmctl on a new pty; withPIN puts the PIN in RVMCTL_PIN,
// otherwise rvmctl prompts for it.
func (r *rig) open(withPIN bool, args ...string) *term {
	r.t.Helper()
	cmd := exec.Command(r.rvmctl, append([]string{"-socket", r.sock}, args...)...)
	cmd.Env = append(os.Environ(), "RVMCTL_PIN=")
	if withPIN {
		cmd.Env = append(cmd.Env, "RVMCTL_PIN="+pin)
	}
	f, err := pty.Start(cmd)
	if err != nil {
		r.t.Fatal(err)
	}
	p := &term{t: r.t, cmd: cmd, f: f, read: make(chan struct{})}
	go func() {
		defer close(p.read)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return // EIO once rvmctl has exited
			}
		}
	}()
	r.t.Cleanup(func() {
		cmd.Process.Kill()
		f.Close()
	})
	return p
}

func (p *term) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// expect waits for s in the output after what earlier expects consumed.
func (p *term) expect(s string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p.mu.Lock()
		out := p.buf.String()
		p.mu.Unlock()
		if i := strings.Index(out[p.seen:], s); i >= 0 {
			p.seen += i + len(s)
			return
		}
		select {
		case <-p.read:
			p.mu.Lock()
			out = p.buf.String()
			p.mu.Unlock()
			if i := strings.Index(out[p.seen:], s); i >= 0 {
				p.seen += i + len(s)
				return
			}
			p.t.Fatalf("rvmctl ended without printing %q; output:\n%s", s, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q from rvmctl within 60 s; output:\n%s", s, out)
		}
	}
}

func (p *term) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.f, line+"\r"); err != nil {
		p.t.Fatal(err)
	}
}

// wait returns rvmctl's exit code and all it printed.
func (p *term) wait() (string, int) {
	p.t.Helper()
	err := p.cmd.Wait()
	<-p.read
	var ee *exec.ExitError
	switch {
	case err == nil:
		return p.output(), 0
	case errors.As(err, &ee):
		return p.output(), ee.ExitCode()
	}
	p.t.Fatal(err)
	return "", -1
}

// run is a one-shot command on a pty with the PIN from RVMCTL_PIN.
func (r *rig) run(jsonOut bool, args ...string) (string, int) {
	r.t.Helper()
	if jsonOut {
		args = append([]string{"-json"}, args...)
	}
	return r.open(true, args...).wait()
}

// ledger opens the daemon's ledger read-only, for what the console cannot
// show while it is locked.
func (r *rig) ledger() *sql.DB {
	r.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+r.db+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { db.Close() })
	return db
}

func (r *rig) count(query string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.ledger().QueryRow(query, args...).Scan(&n); err != nil {
		r.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestSocketPermissions(t *testing.T) {
	r := startRvmd(t, "", "-customers=false")
	fi, err := os.Stat(r.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("service socket %s mode = %v; want a socket, 0600", r.sock, fi.Mode())
	}
}

// jsonLine decodes the first JSON line rvmctl printed.
func jsonLine(t *testing.T, out string) any {
	t.Helper()
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	var v any
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &v); err != nil {
		t.Fatalf("rvmctl -json printed %q: %v", out, err)
	}
	return v
}

// TestOneShot runs every one-shot command, each as a person would (human
// text) and as a script would (-json), checking exit codes and output.
func TestOneShot(t *testing.T) {
	r := startRvmd(t, "", "-customer-gap", "200ms")
	// A customer's voucher to reprint later.
	deadline := time.Now().Add(3 * time.Minute)
	var voucher string
	for voucher == "" {
		if time.Now().After(deadline) {
			t.Fatal("no voucher issued by the simulated customers within 3 minutes")
		}
		r.ledger().QueryRow(`SELECT id FROM vouchers LIMIT 1`).Scan(&voucher)
		time.Sleep(200 * time.Millisecond)
	}
	steps := []struct {
		args []string
		json bool
		code int
		want string // in the output
	}{
		{[]string{"status"}, false, 0, "state "},
		{[]string{"status"}, true, 0, `"State":`},
		{[]string{"sensors"}, false, 0, "bag      scale:"},
		{[]string{"sensors"}, true, 0, `"chamber":{"scale":"chamber"`},
		{[]string{"sensors", "-watch", "-count", "2", "-every", "10ms"}, false, 0, "--"},
		{[]string{"sensors", "-watch", "-count", "2", "-every", "10ms"}, true, 0, `"bag":`},
		{[]string{"scale", "read", "-scale", "chamber"}, false, 0, "chamber scale:"},
		{[]string{"scale", "read"}, true, 0, `"grams":`},
		{[]string{"scale", "read", "-scale", "hopper"}, false, 2, "want bag or chamber"},
		{[]string{"service", "on"}, false, 0, "service mode on"},
		{[]string{"service", "on"}, true, 0, `{"service":true}`},
		{[]string{"actuate", "conveyor", "-ms", "200"}, false, 0, "conveyor runs for 200ms"},
		{[]string{"actuate", "conveyor", "-ms", "300"}, true, 0, `"device":"conveyor"`},
		{[]string{"actuate", "conveyor", "-ms", "60000"}, false, 1, "dead-man limit"},
		{[]string{"actuate", "gate", "-ms", "100"}, true, 1, `"ok":false`},
		{[]string{"actuate", "gate", "-ms", "100"}, false, 1, "no gate"},
		{[]string{"sim", "clear"}, false, 0, "taken off"},
		{[]string{"sim", "clear"}, true, 0, `{"grams":0}`},
		{[]string{"calib", "tare"}, false, 0, "bag scale tared"},
		{[]string{"calib", "tare"}, true, 0, `"tareRaw":`},
		{[]string{"calib", "span", "-grams", "1000"}, false, 1, "too close to the tare"},
		{[]string{"calib", "span", "-grams", "1000"}, true, 1, `"code":"refused"`},
		{[]string{"sim", "place", "-grams", "1000"}, false, 0, "1000.0 g reference mass placed"},
		{[]string{"sim", "place", "-grams", "2000"}, true, 0, `{"grams":2000}`},
		{[]string{"calib", "span", "-grams", "2000"}, false, 0, "new factors"},
		{[]string{"calib", "span", "-grams", "60000"}, true, 1, "capacity"},
		{[]string{"calib", "show"}, false, 0, "under way"},
		{[]string{"calib", "show"}, true, 0, `"draft":`},
		{[]string{"calib", "abort"}, false, 0, "old factors stay"},
		{[]string{"calib", "abort"}, true, 0, `"aborted":false`},
		{[]string{"calib", "accept"}, false, 1, "nothing to accept"},
		{[]string{"sim", "clear"}, false, 0, "taken off"},
		{[]string{"calib", "tare"}, false, 0, "tared"},
		{[]string{"sim", "place", "-grams", "2000"}, false, 0, "placed"},
		{[]string{"calib", "span", "-grams", "2000"}, false, 0, "new factors"},
		{[]string{"calib", "accept"}, false, 0, "bag scale calibrated"},
		{[]string{"calib", "tare", "-scale", "chamber"}, true, 0, `"scale":"chamber"`},
		{[]string{"calib", "accept", "-scale", "chamber"}, true, 1, "nothing to accept"},
		{[]string{"calib", "abort", "-scale", "chamber"}, true, 0, `"aborted":true`},
		{[]string{"calib", "history"}, false, 0, "-> "},
		{[]string{"calib", "history"}, true, 0, `"newCountsPerKg":`},
		// Drift watch: a 2 kg mass left on the bag scale makes the new
		// bag's tare 2 kg off the last one.
		{[]string{"bag", "exchange", "-seal", "SEAL-0001"}, false, 0, "SERVICE WARNING"},
		{[]string{"status"}, false, 0, "SERVICE WARNING: empty bag scale"},
		{[]string{"sim", "clear"}, false, 0, "taken off"},
		{[]string{"bag", "exchange", "-seal", "SEAL-0002"}, true, 0, `"bagReplacement":`},
		{[]string{"bag", "exchange", "-seal", "SEAL-0002"}, false, 1, "already used"},
		{[]string{"bag", "exchange"}, false, 0, "bag exchanged under seal SIM-"}, // the simulated seal reader
		{[]string{"seal", "replace", "-old", "SEAL-0001", "-new", "SEAL-0003"}, false, 0, "replaced by SEAL-0003"},
		{[]string{"seal", "replace", "-old", "SEAL-0002", "-new", "SEAL-0004"}, true, 0, "SEAL-0004"},
		{[]string{"seal", "replace", "-old", "SEAL-0002"}, false, 2, "-new CODE"},
		{[]string{"fault", "clear"}, false, 0, "no fault latched"},
		{[]string{"fault", "clear"}, true, 0, `{"cleared":""}`},
		{[]string{"voucher", "reprint", voucher}, false, 0, "reprinted"},
		{[]string{"voucher", "reprint", voucher}, true, 0, `"id":"` + voucher + `"`},
		{[]string{"voucher", "reprint", "NO-SUCH-VOUCHER"}, false, 1, "no voucher"},
		{[]string{"register"}, false, 1, "without a fleet connection"},
		{[]string{"register"}, true, 1, `"ok":false`},
		{[]string{"log", "-n", "3"}, false, 0, "login"},
		{[]string{"log", "-n", "3"}, true, 0, `"action":`},
		{[]string{"service", "off"}, false, 0, "service mode off"},
		{[]string{"service", "off"}, true, 0, `{"service":false}`},
		{[]string{"service", "maybe"}, false, 2, "want on or off"},
		{[]string{"frobnicate"}, false, 2, "unknown command"},
	}
	for _, st := range steps {
		out, code := r.run(st.json, st.args...)
		if code != st.code || !strings.Contains(out, st.want) {
			t.Errorf("rvmctl json=%v %s = exit %d, %q; want exit %d with %q", st.json, strings.Join(st.args, " "), code, out, st.code, st.want)
			continue
		}
		if st.json && code == 0 {
			jsonLine(t, out)
		}
	}
	// -json scale read carries grams as a number.
	out, _ := r.run(true, "scale", "read")
	if m, ok := jsonLine(t, out).(map[string]any); !ok || m["grams"] == nil {
		t.Errorf("rvmctl -json scale read = %s; want {\"grams\": G, ...}", out)
	}
	if n := r.count(`SELECT count(*) FROM outbox WHERE kind = 'service-warning'`); n < 1 {
		t.Errorf("%d service-warning events in the outbox; want the drift watch's", n)
	}
	if n := r.count(`SELECT count(*) FROM outbox WHERE kind = 'audit'`); n < 50 {
		t.Errorf("%d audit events in the outbox; want one per login and act", n)
	}
}

// TestGuidedCalibration: the guided flow end to end on a machine that
// starts with its cells' data sheet calibration, a span refused near the
// tare, another console told the scale is busy, the 5 kg check after a
// 2 kg span, abort keeping the factors, and the audit trail.
func TestGuidedCalibration(t *testing.T) {
	r := startRvmd(t, "", "-customers=false")

	// Uncalibrated, a 5 kg mass reads a few percent off.
	r.run(false, "sim", "place", "-grams", "5000")
	before := grams(t, r)
	if d := before - 5000; d > -50 && d < 50 {
		t.Errorf("on the data sheet's calibration 5 kg reads %.1f g; want a few percent off (seeded cell error)", before)
	}
	r.run(false, "sim", "clear")

	p := r.open(false, "calibrate", "-scale", "bag")
	p.expect("PIN: ")
	p.send(pin)
	p.expect("Step 1: take everything off the bag scale")
	p.send("")
	p.expect("tared at")
	p.expect("type its mass in grams")
	p.send("2000") // nothing on the scale yet
	p.expect("refused: ")
	p.expect("too close to the tare")

	// Meanwhile another technician's console.
	for _, args := range [][]string{{"calib", "tare"}, {"calib", "span", "-grams", "2000"}, {"calib", "abort"}} {
		if out, code := r.run(false, args...); code != 1 || !strings.Contains(out, "busy") || !strings.Contains(out, "being calibrated by console-") {
			t.Errorf("second console: rvmctl %s = exit %d, %q; want exit 1, the scale is busy", strings.Join(args, " "), code, out)
		}
	}

	if out, code := r.run(false, "sim", "place", "-grams", "2000"); code != 0 {
		t.Fatalf("sim place = %d, %s", code, out)
	}
	p.expect("type its mass in grams")
	p.send("2000")
	p.expect("new factors")
	p.expect("press Enter to finish")
	p.send("")
	p.expect("accept the new calibration? [y/N]")
	p.send("y")
	p.expect("bag scale calibrated")
	out, code := p.wait()
	if code != 0 {
		t.Fatalf("rvmctl calibrate = exit %d; output:\n%s", code, out)
	}
	if strings.Contains(out, pin) {
		t.Errorf("the PIN was echoed on the terminal:\n%s", out)
	}

	r.run(false, "sim", "place", "-grams", "5000")
	if g := grams(t, r); g < 4975 || g > 5025 {
		t.Errorf("after a 2 kg span, 5 kg reads %.1f g; want 5000 g within 0.5%%", g)
	}
	factors := show(t, r)

	// A guided calibration answered "no" keeps the factors.
	p = r.open(true, "calibrate")
	r.run(false, "sim", "clear")
	p.expect("press Enter")
	p.send("")
	p.expect("tared at")
	r.run(false, "sim", "place", "-grams", "3000")
	p.expect("grams")
	p.send("3000")
	p.expect("new factors")
	p.expect("press Enter to finish")
	p.send("")
	p.expect("[y/N]")
	p.send("n")
	p.expect("old factors stay")
	if out, code := p.wait(); code != 1 {
		t.Errorf("calibrate answered n = exit %d; want 1\n%s", code, out)
	}
	if got := show(t, r); got != factors {
		t.Errorf("after abort, calib show = %s; want the factors kept: %s", got, factors)
	}
	// So does a guided session that ends half way (the daemon aborts it).
	p = r.open(true, "calibrate")
	p.expect("press Enter")
	p.send("")
	p.expect("tared at")
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, code := r.run(false, "calib", "tare")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scale is still busy 60 s after the guided session died: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.run(false, "calib", "abort")
	if got := show(t, r); got != factors {
		t.Errorf("after a dead session, calib show = %s; want the factors kept: %s", got, factors)
	}

	// The audit trail: who, when, old and new factors, references.
	out, code = r.run(true, "calib", "history")
	var hist []map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &hist); code != 0 || err != nil || len(hist) != 1 {
		t.Fatalf("calib history -json = exit %d, %q (%v); want one calibration", code, out, err)
	}
	h := hist[0]
	if !strings.HasPrefix(fmt.Sprint(h["by"]), "console-") || h["at"] == "" || h["oldCountsPerKg"] == h["newCountsPerKg"] ||
		!strings.Contains(fmt.Sprint(h["references"]), "2000.000 g at") {
		t.Errorf("calib history = %v; want who, when, old and new factors, the 2 kg reference", h)
	}
	out, _ = r.run(false, "log", "-n", "200")
	for _, want := range []string{"login", "calib tare", "calib span", "calib accept", "calib abort", "(session ended)", "too close to the tare"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %q:\n%s", want, out)
		}
	}
}

func grams(t *testing.T, r *rig) float64 {
	t.Helper()
	out, code := r.run(true, "scale", "read")
	var v struct{ Grams float64 }
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &v); code != 0 || err != nil {
		t.Fatalf("scale read -json = exit %d, %q (%v)", code, out, err)
	}
	return v.Grams
}

func show(t *testing.T, r *rig) string {
	t.Helper()
	out, code := r.run(false, "calib", "show")
	if code != 0 {
		t.Fatalf("calib show = exit %d, %s", code, out)
	}
	return strings.TrimSpace(out)
}

// TestLockout: five wrong PINs typed at the prompt lock the console; the
// right PIN is then refused too; each step is audited and sent as an event.
func TestLockout(t *testing.T) {
	r := startRvmd(t, `{"consoleLockout": "1h"}`, "-customers=false")
	for i := 1; i <= 5; i++ {
		p := r.open(false, "status")
		p.expect("PIN: ")
		p.send("000" + strconv.Itoa(i))
		out, code := p.wait()
		want := "wrong PIN"
		if i == 5 {
			want = "console locked for 1h0m0s"
		}
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("wrong PIN %d: exit %d, %q; want exit 1, %q", i, code, out, want)
		}
	}
	p := r.open(false, "status")
	p.expect("PIN: ")
	p.send(pin)
	if out, code := p.wait(); code != 1 || !strings.Contains(out, "console locked") {
		t.Errorf("right PIN while locked: exit %d, %q; want exit 1, console locked", code, out)
	}
	if out, code := r.run(true, "status"); code != 1 || !strings.Contains(out, `"code":"locked"`) {
		t.Errorf("right PIN from RVMCTL_PIN while locked: exit %d, %q; want exit 1, locked", code, out)
	}
	if n := r.count(`SELECT count(*) FROM audit_log WHERE action = 'login' AND ok = 0 AND detail LIKE '%wrong PIN%'`); n != 5 {
		t.Errorf("%d wrong-PIN refusals in the audit log; want 5", n)
	}
	if n := r.count(`SELECT count(*) FROM audit_log WHERE action = 'lockout'`); n != 1 {
		t.Errorf("%d lockouts in the audit log; want 1", n)
	}
	if n := r.count(`SELECT count(*) FROM audit_log WHERE action = 'login' AND detail LIKE '%locked%'`); n != 2 {
		t.Errorf("%d locked refusals in the audit log; want 2", n)
	}
	if n := r.count(`SELECT count(*) FROM outbox WHERE kind = 'audit' AND body LIKE '%lockout%'`); n != 1 {
		t.Errorf("%d lockout events in the outbox; want 1", n)
	}
}
