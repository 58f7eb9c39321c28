package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/testbroker"
)

// staffToken is the gateway's -api-token in the tests of the till side.
const staffToken = "e2e-staff-token"

// stack is drs-sim, mosquitto and rvm-gateway running as binaries, with
// rvmd simulate runs published through them.
type stack struct {
	t       *testing.T
	bin     string
	dir     string
	broker  *testbroker.Broker
	drsURL  string
	gw      *proc
	gwURL   string
	gwArgs  []string
	notify  string // the notifier's file
	machine int    // simulate runs so far: each is a machine of its own
	spec    *openAPI
}

func newStack(t *testing.T, gwExtra ...string) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end: skipped with -short")
	}
	s := &stack{t: t, bin: binaries(t), dir: t.TempDir(), broker: testbroker.Start(t), spec: loadOpenAPI(t)}
	sim := start(t, filepath.Join(s.bin, "drs-sim"), "-listen", "127.0.0.1:0", "-db", filepath.Join(s.dir, "drs.db"), "-token", token)
	s.drsURL = sim.waitLine(t, drsListening)
	s.notify = filepath.Join(s.dir, "sms.jsonl")
	s.gwArgs = append([]string{"-mqtt", s.broker.URL(), "-drs-token", token, "-db", filepath.Join(s.dir, "gw.db"),
		"-listen", "127.0.0.1:0", "-client-id", "e2e-customers", "-api-token", staffToken, "-notify", "file:" + s.notify}, gwExtra...)
	s.startGateway(s.drsURL)
	return s
}

// startGateway (re)starts the gateway on its database, calling the
// operator at drsURL.
func (s *stack) startGateway(drsURL string) {
	s.t.Helper()
	s.gw = start(s.t, filepath.Join(s.bin, "rvm-gateway"), append([]string{"-drs", drsURL}, s.gwArgs...)...)
	s.gwURL = s.gw.waitLine(s.t, gwServing)
	gatewayReady(s.t, s.broker.URL(), s.gwURL, staffToken)
}

// tillToken registers a till with the gateway's command line.
func (s *stack) tillToken(name string) string {
	s.t.Helper()
	out, err := exec.Command(filepath.Join(s.bin, "rvm-gateway"), "tills", "add", "-db", filepath.Join(s.dir, "gw.db"), name).Output()
	if err != nil {
		s.t.Fatalf("tills add %s: %v", name, err)
	}
	var got struct{ Till, Token string }
	if err := json.Unmarshal(out, &got); err != nil || got.Till != name || got.Token == "" || bytes.Count(out, []byte("\n")) != 1 {
		s.t.Fatalf("tills add %s printed %q; want one JSON line {till, token}", name, out)
	}
	return got.Token
}

// issued is a voucher rvmd simulate printed.
type issued struct {
	ID            string          `json:"id"`
	TransactionID string          `json:"transactionId"`
	Amount        json.RawMessage `json:"amount"`
	ValidUntil    string          `json:"validUntil"`
	Phone         string          `json:"phone"`
	Payout        string          `json:"payout"`
}

// simulate runs rvmd simulate for a new machine with one session a
// finish line (each session two containers), starting at start, and
// returns the vouchers it issued, in order.
func (s *stack) simulate(start time.Time, config string, finishes ...string) []issued {
	s.t.Helper()
	s.machine++
	serial := fmt.Sprintf("RVM-CUST-%04d", s.machine)
	rvm := uuid.NewString()
	cl := drs.New(s.drsURL, token, nil)
	if _, err := cl.RegisterMachine(context.Background(), drsapi.MachineUpdate{ID: rvm, SerialNumber: serial, DrsCpNo: "1100061-152",
		Bins: []drsapi.BinPost{{WasteType: []int{7, 3}, Litrage: 240}}}); err != nil {
		s.t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"op":"start","at":%q,"rvmId":%q,"seed":%d}`+"\n", start.UTC().Format(time.RFC3339), rvm, s.machine)
	for _, f := range finishes {
		b.WriteString(`{"op":"insert","ean":"5900449000287"}` + "\n" + `{"op":"insert","ean":"5901012001120"}` + "\n" + f + "\n")
	}
	scen := filepath.Join(s.dir, serial+".jsonl")
	os.WriteFile(scen, []byte(b.String()), 0o644)
	args := []string{"simulate", "-scenario", scen, "-db", filepath.Join(s.dir, serial+".db"), "-mqtt", s.broker.URL(), "-machine", serial}
	if config != "" {
		cfg := filepath.Join(s.dir, serial+".json")
		os.WriteFile(cfg, []byte(config), 0o644)
		args = append(args, "-config", cfg)
	}
	cmd := exec.Command(filepath.Join(s.bin, "rvmd"), args...)
	var out, serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &serr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("simulate: %v\n%s", err, serr.String())
	}
	var vs []issued
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l struct {
			Kind string `json:"kind"`
			Body issued `json:"body"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Kind == "voucher" {
			vs = append(vs, l.Body)
		}
	}
	if len(vs) != len(finishes) {
		s.t.Fatalf("simulate issued %d vouchers; want %d:\n%s", len(vs), len(finishes), out.String())
	}
	return vs
}

// do calls the gateway; out receives the JSON answer. The answer is
// checked against docs/gateway-openapi.yaml.
func (s *stack) do(method, path, bearer, idemKey, body string, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.gwURL+path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s.spec.check(s.t, method, path, resp.StatusCode, b)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Errorf("%s %s = %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// redeems is how many redemptions the operator accepted.
func (s *stack) redeems() int {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.drsURL+"/_sim/stats", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Requests map[string]int `json:"requests"`
	}
	json.NewDecoder(resp.Body).Decode(&st)
	return st.Requests["POST /voucher/redeem 200"]
}

// voucher is GET /api/vouchers/{code} as staff.
type voucherAnswer struct {
	Code          string  `json:"code"`
	Amount        float64 `json:"amount"`
	Currency      string  `json:"currency"`
	Status        string  `json:"status"`
	ValidUntil    string  `json:"validUntil"`
	Machine       string  `json:"machine"`
	TransactionID string  `json:"transactionId"`
}

func (s *stack) voucher(code string) voucherAnswer {
	s.t.Helper()
	var v voucherAnswer
	s.do("GET", "/api/vouchers/"+code, staffToken, "", "", &v)
	return v
}

// waitStatus waits until the gateway shows the voucher in status.
func (s *stack) waitStatus(code, status string) voucherAnswer {
	s.t.Helper()
	var v voucherAnswer
	until(s.t, "voucher "+code+" "+status, func() bool { v = s.voucher(code); return v.Status == status })
	return v
}

// notified returns the notifier's lines about code.
func (s *stack) notified(code string) []map[string]any {
	s.t.Helper()
	b, _ := os.ReadFile(s.notify)
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["code"] == code {
			out = append(out, m)
		}
	}
	return out
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type payoutAnswer struct {
	ID     string  `json:"id"`
	Code   string  `json:"code"`
	Amount float64 `json:"amount"`
	Status string  `json:"status"`
	Till   string  `json:"till"`
}

// TestTillPayouts: printed vouchers from rvmd simulate, paid out in two
// phases by tills with tokens of their own: reserve, cancel, reserve,
// confirm (twice) pays once; two tills at once; a gateway SIGKILLed
// between reserve and confirm; a reservation left alone is cancelled;
// the till's token opens no staff route.
func TestTillPayouts(t *testing.T) {
	s := newStack(t, "-reservation-ttl", "3s")
	vs := s.simulate(time.Now(), "", `{"op":"finish","payout":"voucher"}`, `{"op":"finish","payout":"voucher"}`,
		`{"op":"finish","payout":"voucher"}`, `{"op":"finish","payout":"voucher"}`)
	for _, v := range vs {
		got := s.waitStatus(v.ID, "active")
		if got.TransactionID != v.TransactionID || got.Currency != "PLN" || got.Amount != 1 || got.Machine == "" {
			t.Errorf("GET voucher %s = %+v; want active 1.00 PLN of %s", v.ID, got, v.TransactionID)
		}
	}
	// The operator must know a voucher before it is redeemed.
	until(t, "the operator holds the transactions", func() bool { return len(operatorTransactions(t, s.drsURL)) == len(vs) })
	tillA, tillB := s.tillToken("till-a"), s.tillToken("till-b")

	t.Run("till token refused on staff routes", func(t *testing.T) {
		for _, path := range []string{"/api/machines", "/api/failures", "/api/quarantine", "/metrics", "/transaction", "/"} {
			if code := s.do("GET", path, tillA, "", "", nil); code != http.StatusForbidden {
				t.Errorf("GET %s with a till token = %d; want 403", path, code)
			}
		}
		if code := s.do("GET", "/api/machines", staffToken, "", "", nil); code != http.StatusOK {
			t.Errorf("GET /api/machines as staff = %d; want 200", code)
		}
		if code := s.do("GET", "/api/vouchers/"+vs[0].ID, "wrong", "", "", nil); code != http.StatusUnauthorized {
			t.Errorf("GET voucher with a wrong token = %d; want 401", code)
		}
	})

	t.Run("reserve cancel reserve confirm pays once", func(t *testing.T) {
		code := vs[0].ID
		var p1, again payoutAnswer
		if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillA, "k1", `{"till":"till-a"}`, &p1); c != http.StatusCreated || p1.Status != "reserved" || p1.Code != code || p1.Amount != 1 {
			t.Fatalf("reserve = %d %+v; want 201 reserved 1.00", c, p1)
		}
		// The same request again (same Idempotency-Key) answers the same.
		if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillA, "k1", `{"till":"till-a"}`, &again); c != http.StatusCreated || again.ID != p1.ID {
			t.Errorf("reserve repeated = %d %+v; want 201 with payout %s", c, again, p1.ID)
		}
		if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillB, "", `{}`, nil); c != http.StatusConflict {
			t.Errorf("reserve a reserved voucher = %d; want 409", c)
		}
		if v := s.voucher(code); v.Status != "reserved" {
			t.Errorf("voucher while reserved: %q; want reserved", v.Status)
		}
		var list []payoutAnswer
		s.do("GET", "/api/payouts?status=reserved", tillA, "", "", &list)
		if !hasPayout(list, p1.ID) {
			t.Errorf("GET /api/payouts?status=reserved = %+v; want %s listed", list, p1.ID)
		}
		var c1 payoutAnswer
		if c := s.do("POST", "/api/payouts/"+p1.ID+"/cancel", tillA, "", "", &c1); c != http.StatusOK || c1.Status != "cancelled" {
			t.Fatalf("cancel = %d %+v; want 200 cancelled", c, c1)
		}
		if v := s.voucher(code); v.Status != "active" {
			t.Errorf("voucher after cancel: %q; want active", v.Status)
		}
		var p2, ok payoutAnswer
		if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillB, "", `{}`, &p2); c != http.StatusCreated || p2.Till != "till-b" {
			t.Fatalf("reserve again = %d %+v; want 201 for till-b", c, p2)
		}
		before := s.redeems()
		for i := 0; i < 3; i++ {
			if c := s.do("POST", "/api/payouts/"+p2.ID+"/confirm", tillB, "", "", &ok); c != http.StatusOK || ok.Status != "confirmed" {
				t.Fatalf("confirm #%d = %d %+v; want 200 confirmed", i+1, c, ok)
			}
		}
		if n := s.redeems() - before; n != 1 {
			t.Errorf("operator redemptions = %d; want 1", n)
		}
		if c := s.do("POST", "/api/payouts/"+p2.ID+"/cancel", tillB, "", "", nil); c != http.StatusConflict {
			t.Errorf("cancel a confirmed payout = %d; want 409", c)
		}
		if c := s.do("POST", "/api/payouts/"+p1.ID+"/confirm", tillA, "", "", nil); c != http.StatusConflict {
			t.Errorf("confirm a cancelled payout = %d; want 409", c)
		}
		if v := s.voucher(code); v.Status != "redeemed" {
			t.Errorf("voucher after confirm: %q; want redeemed", v.Status)
		}
		if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillA, "", `{}`, nil); c != http.StatusConflict {
			t.Errorf("reserve a redeemed voucher = %d; want 409", c)
		}
		if c := s.do("POST", "/api/vouchers/2999999999999/payouts", tillA, "", `{}`, nil); c != http.StatusNotFound {
			t.Errorf("reserve an unknown voucher = %d; want 404", c)
		}
	})

	t.Run("two tills at once", func(t *testing.T) {
		code := vs[1].ID
		before := s.redeems()
		var wg sync.WaitGroup
		codes := make([]int, 2)
		ps := make([]payoutAnswer, 2)
		for i, tok := range []string{tillA, tillB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = s.do("POST", "/api/vouchers/"+code+"/payouts", tok, "", `{}`, &ps[i])
			}()
		}
		wg.Wait()
		won := -1
		for i, c := range codes {
			if c == http.StatusCreated {
				won = i
			}
		}
		if !(codes[0] == http.StatusCreated) == !(codes[1] == http.StatusCreated) || won < 0 {
			t.Fatalf("two reservations at once = %v; want one 201 and one 409", codes)
		}
		// Both tills confirm the reservation at once (the second sees the
		// first's receipt): one redemption.
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = s.do("POST", "/api/payouts/"+ps[won].ID+"/confirm", []string{tillA, tillB}[won], "", "", nil)
			}()
		}
		wg.Wait()
		if codes[0] != http.StatusOK || codes[1] != http.StatusOK {
			t.Errorf("two confirmations at once = %v; want 200 both", codes)
		}
		if n := s.redeems() - before; n != 1 {
			t.Errorf("operator redemptions = %d; want 1", n)
		}
	})

	t.Run("gateway killed between reserve and confirm", func(t *testing.T) {
		code := vs[2].ID
		var p payoutAnswer
		if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillA, "", `{}`, &p); c != http.StatusCreated {
			t.Fatalf("reserve = %d; want 201", c)
		}
		before := s.redeems()
		s.gw.kill()
		s.startGateway(s.drsURL)
		var list []payoutAnswer
		s.do("GET", "/api/payouts?status=reserved", tillA, "", "", &list)
		if !hasPayout(list, p.ID) {
			t.Errorf("after the restart, reserved payouts = %+v; want %s", list, p.ID)
		}
		var ok payoutAnswer
		if c := s.do("POST", "/api/payouts/"+p.ID+"/confirm", tillA, "", "", &ok); c != http.StatusOK || ok.Status != "confirmed" {
			t.Fatalf("confirm after the restart = %d %+v; want 200 confirmed", c, ok)
		}
		if n := s.redeems() - before; n != 1 {
			t.Errorf("operator redemptions = %d; want 1", n)
		}
	})

	t.Run("reservation left alone is cancelled", func(t *testing.T) {
		code := vs[3].ID
		var p payoutAnswer
		if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillA, "", `{}`, &p); c != http.StatusCreated {
			t.Fatalf("reserve = %d; want 201", c)
		}
		until(t, "the reservation cancelled by the gateway", func() bool {
			var list []payoutAnswer
			s.do("GET", "/api/payouts?status=cancelled", staffToken, "", "", &list)
			return hasPayout(list, p.ID)
		})
		if v := s.voucher(code); v.Status != "active" {
			t.Errorf("voucher after its reservation expired: %q; want active", v.Status)
		}
		if !strings.Contains(s.gw.logText(), "reservation not confirmed in time") {
			t.Errorf("gateway log has no line about the cancelled reservation")
		}
		// The one-shot redemption still works: reserve and confirm at once.
		var v voucherAnswer
		if c := s.do("POST", "/api/vouchers/"+code+"/redeem", tillB, "", `{"redeemType":1}`, &v); c != http.StatusOK || v.Status != "redeemed" {
			t.Errorf("one-shot redeem = %d %+v; want 200 redeemed", c, v)
		}
	})
}

func hasPayout(list []payoutAnswer, id string) bool {
	for _, p := range list {
		if p.ID == id {
			return true
		}
	}
	return false
}

// TestDigitalVoucher: a session finished with payout "digital" makes a
// voucher that stays pending while the operator cannot be reached, becomes
// active once it accepted the transaction, and reaches the notifier once;
// a resend is rate limited; an expired digital voucher is refused.
func TestDigitalVoucher(t *testing.T) {
	s := newStack(t)
	// The gateway cannot reach the operator: nothing is accepted.
	s.gw.kill()
	s.startGateway("http://127.0.0.1:1")
	vs := s.simulate(time.Now(), "", `{"op":"finish","payout":"digital","phone":"600100200"}`)
	code := vs[0].ID
	if vs[0].Phone != "600100200" {
		t.Errorf("simulate's voucher = %+v; want phone 600100200", vs[0])
	}
	s.waitStatus(code, "pending")
	tillA := s.tillToken("till-a")
	if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillA, "", `{}`, nil); c != http.StatusConflict {
		t.Errorf("reserve a pending voucher = %d; want 409", c)
	}
	time.Sleep(1500 * time.Millisecond) // the notifier looks every second
	if n := s.notified(code); len(n) != 0 {
		t.Fatalf("notified before the operator accepted: %v", n)
	}
	// The operator is back.
	s.gw.kill()
	s.startGateway(s.drsURL)
	v := s.waitStatus(code, "active")
	until(t, "the code at the notifier", func() bool { return len(s.notified(code)) > 0 })
	n := s.notified(code)[0]
	if n["phone"] != "600100200" || n["amount"] != 1.0 || n["validUntil"] != v.ValidUntil || !strings.Contains(fmt.Sprint(n["text"]), code) {
		t.Errorf("notification = %v; want phone 600100200, amount 1, validUntil %s, the code in the text", n, v.ValidUntil)
	}
	// Restarts and time do not send it again.
	s.gw.kill()
	s.startGateway(s.drsURL)
	time.Sleep(2 * time.Second)
	if got := len(s.notified(code)); got != 1 {
		t.Errorf("notifications of %s = %d; want 1", code, got)
	}
	// A resend right after the send is too soon.
	if c := s.do("POST", "/api/vouchers/"+code+"/resend", tillA, "", "", nil); c != http.StatusTooManyRequests {
		t.Errorf("resend at once = %d; want 429", c)
	}
	var p payoutAnswer
	if c := s.do("POST", "/api/vouchers/"+code+"/payouts", tillA, "", `{}`, &p); c != http.StatusCreated {
		t.Fatalf("reserve the active digital voucher = %d; want 201", c)
	}
	if c := s.do("POST", "/api/payouts/"+p.ID+"/confirm", tillA, "", "", nil); c != http.StatusOK {
		t.Errorf("confirm = %d; want 200", c)
	}

	// A digital voucher valid one day, issued three days ago.
	old := s.simulate(time.Now().Add(-72*time.Hour), `{"voucherValidityDays":1}`, `{"op":"finish","payout":"digital","phone":"600100201"}`)
	s.waitStatus(old[0].ID, "expired")
	if c := s.do("POST", "/api/vouchers/"+old[0].ID+"/payouts", tillA, "", `{}`, nil); c != http.StatusGone {
		t.Errorf("reserve an expired digital voucher = %d; want 410", c)
	}
}

type accountAnswer struct {
	Phone   string  `json:"phone"`
	Balance float64 `json:"balance"`
	Entries []struct {
		Kind          string  `json:"kind"`
		Amount        float64 `json:"amount"`
		TransactionID string  `json:"transactionId"`
	} `json:"entries"`
}

// TestDepositAccount: sessions finished with payout "account" credit the
// phone's account once the operator accepted them (a phone without an
// account gets a digital voucher instead); credits are reversed in part
// and in whole, never beyond; the balance is paid out in two phases; the
// person is erased and the money history stays without the phone.
func TestDepositAccount(t *testing.T) {
	s := newStack(t)
	const ph, stranger = "600100200", "600100299"
	tillA := s.tillToken("till-a")
	if c := s.do("PUT", "/api/accounts/"+ph, staffToken, "", `{}`, nil); c != http.StatusBadRequest {
		t.Errorf("register without consent = %d; want 400", c)
	}
	if c := s.do("PUT", "/api/accounts/60010020", staffToken, "", `{"consent":true}`, nil); c != http.StatusBadRequest {
		t.Errorf("register an eight-digit phone = %d; want 400", c)
	}
	if c := s.do("PUT", "/api/accounts/"+ph, tillA, "", `{"consent":true}`, nil); c != http.StatusForbidden {
		t.Errorf("register with a till's token = %d; want 403", c)
	}
	var acc accountAnswer
	if c := s.do("PUT", "/api/accounts/"+ph, staffToken, "", `{"consent":true}`, &acc); c != http.StatusCreated || acc.Phone != ph || acc.Balance != 0 {
		t.Fatalf("register = %d %+v; want 201, empty", c, acc)
	}
	if c := s.do("PUT", "/api/accounts/"+ph, staffToken, "", `{"consent":true}`, nil); c != http.StatusOK {
		t.Errorf("register again = %d; want 200", c)
	}
	vs := s.simulate(time.Now(), "", `{"op":"finish","payout":"account","phone":"`+ph+`"}`,
		`{"op":"finish","payout":"account","phone":"`+ph+`"}`, `{"op":"finish","payout":"account","phone":"`+stranger+`"}`)
	until(t, "two credits", func() bool { s.do("GET", "/api/accounts/"+ph, tillA, "", "", &acc); return len(acc.Entries) == 2 })
	if acc.Balance != 2 || acc.Entries[0].Kind != "credit" || acc.Entries[0].Amount != 1 || acc.Entries[0].TransactionID != vs[0].TransactionID {
		t.Errorf("account after two sessions = %+v; want balance 2.00, credits of 1.00 from %s and %s", acc, vs[0].TransactionID, vs[1].TransactionID)
	}
	if v := s.voucher(vs[0].ID); v.Status != "redeemed" {
		t.Errorf("a credited voucher's status = %q; want redeemed (it cannot be paid out twice)", v.Status)
	}
	// The store owes the customer now: the operator hears each credited
	// voucher redeemed, once.
	until(t, "the operator to redeem both credited vouchers", func() bool { return s.redeems() == 2 })
	// The stranger has no account: the code goes to the phone instead.
	until(t, "the stranger's code at the notifier", func() bool { return len(s.notified(vs[2].ID)) == 1 })
	if c := s.do("GET", "/api/accounts/"+stranger, tillA, "", "", nil); c != http.StatusNotFound {
		t.Errorf("GET an unregistered phone = %d; want 404", c)
	}

	tx1, tx2 := vs[0].TransactionID, vs[1].TransactionID
	reversals := []struct {
		tx, amount string
		want       int
		balance    float64
	}{
		{tx1, "0.3", http.StatusCreated, 1.7},
		{tx1, "0.8", http.StatusConflict, 1.7}, // 0.70 left of that credit
		{tx1, "0.7", http.StatusCreated, 1.0},
		{tx1, "0.01", http.StatusConflict, 1.0},
		{"no-such-transaction", "0.1", http.StatusNotFound, 1.0},
	}
	for _, r := range reversals {
		body := fmt.Sprintf(`{"transactionId":%q,"amount":%s}`, r.tx, r.amount)
		c := s.do("POST", "/api/accounts/"+ph+"/reversals", staffToken, "", body, nil)
		s.do("GET", "/api/accounts/"+ph, staffToken, "", "", &acc)
		if c != r.want || acc.Balance != r.balance {
			t.Errorf("reverse %s of %s = %d, balance %v; want %d, %v", r.amount, r.tx, c, acc.Balance, r.want, r.balance)
		}
	}
	if c := s.do("POST", "/api/accounts/"+ph+"/reversals", tillA, "", `{"transactionId":"`+tx2+`","amount":0.1}`, nil); c != http.StatusForbidden {
		t.Errorf("reversal with a till's token = %d; want 403", c)
	}

	// Payouts from the balance (1.00 PLN, all of tx2's credit).
	var p1, p2 payoutAnswer
	if c := s.do("POST", "/api/accounts/"+ph+"/payouts", tillA, "", `{"amount":0.8}`, &p1); c != http.StatusCreated || p1.Status != "reserved" || p1.Amount != 0.8 {
		t.Fatalf("reserve 0.80 = %d %+v; want 201 reserved", c, p1)
	}
	if c := s.do("POST", "/api/accounts/"+ph+"/payouts", tillA, "", `{"amount":0.5}`, nil); c != http.StatusConflict {
		t.Errorf("reserve 0.50 with 0.20 left = %d; want 409", c)
	}
	s.do("POST", "/api/payouts/"+p1.ID+"/cancel", tillA, "", "", nil)
	if c := s.do("POST", "/api/accounts/"+ph+"/payouts", tillA, "pay-1", `{"amount":0.8}`, &p2); c != http.StatusCreated {
		t.Fatalf("reserve 0.80 after the cancel = %d; want 201", c)
	}
	before := s.redeems()
	for i := 0; i < 2; i++ {
		var ok payoutAnswer
		if c := s.do("POST", "/api/payouts/"+p2.ID+"/confirm", tillA, "confirm-1", "", &ok); c != http.StatusOK || ok.Status != "confirmed" {
			t.Errorf("confirm #%d = %d %+v; want 200 confirmed", i+1, c, ok)
		}
	}
	s.do("GET", "/api/accounts/"+ph, tillA, "", "", &acc)
	if acc.Balance != 0.2 || acc.Entries[len(acc.Entries)-1].Kind != "payout" || acc.Entries[len(acc.Entries)-1].Amount != -0.8 {
		t.Errorf("account after the payout = %+v; want balance 0.20, a payout of -0.80 last", acc)
	}
	if n := s.redeems() - before; n != 0 {
		t.Errorf("operator redemptions for an account payout = %d; want 0", n)
	}

	// Erasure.
	if c := s.do("DELETE", "/api/accounts/"+ph, tillA, "", "", nil); c != http.StatusForbidden {
		t.Errorf("erase with a till's token = %d; want 403", c)
	}
	if c := s.do("DELETE", "/api/accounts/"+ph, staffToken, "", "", nil); c != http.StatusNoContent {
		t.Fatalf("erase = %d; want 204", c)
	}
	if c := s.do("GET", "/api/accounts/"+ph, staffToken, "", "", nil); c != http.StatusNotFound {
		t.Errorf("GET after erasure = %d; want 404", c)
	}
	var audit []struct{ Action, Subject, Detail string }
	s.do("GET", "/api/audit", staffToken, "", "", &audit)
	kinds := map[string]int{}
	for _, e := range audit {
		if strings.Contains(e.Subject+e.Detail, ph) {
			t.Errorf("audit entry %+v names the erased phone", e)
		}
		if strings.HasPrefix(e.Subject, "account ") {
			kinds[e.Action]++
		}
	}
	if kinds["credit"] != 2 || kinds["reverse"] != 2 || kinds["confirm"] != 1 || kinds["erase"] != 1 {
		t.Errorf("the account's audit trail after erasure = %v; want 2 credits, 2 reversals, 1 confirmation, 1 erasure kept", kinds)
	}
}

type returnAnswer struct {
	TransactionID string         `json:"transactionId"`
	Amount        float64        `json:"amount"`
	Voucher       *voucherAnswer `json:"voucher"`
	Refused       []struct {
		EAN   string `json:"ean"`
		Count int    `json:"count"`
		Cause string `json:"cause"`
	} `json:"refused"`
}

// TestTillReturn: a station registered with `rvm-gateway stations add`
// takes containers back by hand; bad lines (a wrong check digit, a
// product not collected) are refused with their cause, the rest becomes
// one transaction the operator receives once, in its format.
func TestTillReturn(t *testing.T) {
	s := newStack(t)
	out, err := exec.Command(filepath.Join(s.bin, "rvm-gateway"), "stations", "add", "-name", "counter-1", "-store", "1100061-152",
		"-db", filepath.Join(s.dir, "gw.db"), "-drs", s.drsURL, "-drs-token", token).Output()
	var st struct{ Station, RvmID string }
	if err != nil || json.Unmarshal(out, &st) != nil || st.Station != "counter-1" || st.RvmID == "" {
		t.Fatalf("stations add = %q, %v; want one JSON line {station, rvmId}", out, err)
	}
	till := s.tillToken("till-a")
	// Wait for the gateway's copy of the catalogue: a withdrawn product is
	// "not-collected" once it is there.
	var refused returnAnswer
	until(t, "the gateway's catalogue", func() bool {
		c := s.do("POST", "/api/returns", till, "", `{"station":"counter-1","payout":"voucher","items":[{"ean":"5900777012501","count":1}]}`, &refused)
		return c == http.StatusUnprocessableEntity && len(refused.Refused) == 1 && refused.Refused[0].Cause == "not-collected"
	})
	if c := s.do("POST", "/api/returns", till, "", `{"station":"nowhere","payout":"voucher","items":[{"ean":"5900449000287","count":1}]}`, nil); c != http.StatusNotFound {
		t.Errorf("return at an unknown station = %d; want 404", c)
	}
	body := `{"station":"counter-1","payout":"voucher","items":[{"ean":"5900449000287","count":3},{"ean":"5900449000288","count":1},
		{"ean":"5901012001120","count":1},{"ean":"5900777012501","count":2}]}`
	var r, again returnAnswer
	if c := s.do("POST", "/api/returns", till, "ret-1", body, &r); c != http.StatusCreated || r.Amount != 2 || r.Voucher == nil || r.Voucher.Status != "active" {
		t.Fatalf("return = %d %+v; want 201, 2.00 PLN, an active voucher", c, r)
	}
	causes := map[string]string{}
	for _, f := range r.Refused {
		causes[f.EAN] = f.Cause
	}
	if len(causes) != 2 || causes["5900449000288"] != "invalid-ean" || causes["5900777012501"] != "not-collected" {
		t.Errorf("refused = %+v; want 5900449000288 invalid-ean, 5900777012501 not-collected", r.Refused)
	}
	if c := s.do("POST", "/api/returns", till, "ret-1", body, &again); c != http.StatusCreated || again.TransactionID != r.TransactionID {
		t.Errorf("return repeated with its Idempotency-Key = %d %s; want 201 %s", c, again.TransactionID, r.TransactionID)
	}
	var cash returnAnswer
	if c := s.do("POST", "/api/returns", till, "", `{"station":"counter-1","payout":"cash","items":[{"ean":"5900541000178","count":2}]}`, &cash); c != http.StatusCreated || cash.Voucher != nil || cash.Amount != 1 {
		t.Fatalf("cash return = %d %+v; want 201, 1.00 PLN, no voucher", c, cash)
	}
	var got map[string]drsapi.Transaction
	until(t, "both returns at the operator", func() bool {
		got = map[string]drsapi.Transaction{}
		for _, raw := range operatorTransactions(t, s.drsURL) {
			var tx drsapi.Transaction
			json.Unmarshal(raw, &tx)
			if _, dup := got[tx.ID]; dup {
				t.Errorf("transaction %s accepted twice", tx.ID)
			}
			got[tx.ID] = tx
		}
		return len(got) >= 2
	})
	time.Sleep(time.Second) // anything more would be a duplicate
	if n := len(operatorTransactions(t, s.drsURL)); n != 2 {
		t.Errorf("operator holds %d transactions; want 2", n)
	}
	tx := got[r.TransactionID]
	if tx.RvmID != st.RvmID || tx.TotalAccepted != 4 || tx.TotalAmount != 4 || len(tx.Containers) != 2 || tx.Voucher == nil ||
		tx.Voucher.ID != r.Voucher.Code || tx.Voucher.Redeemed {
		t.Errorf("operator's transaction = %+v; want the station's, 4 accepted in 2 rows, voucher %s not redeemed", tx, r.Voucher.Code)
	}
	if ct := got[cash.TransactionID]; ct.Voucher == nil || !ct.Voucher.Redeemed || ct.Voucher.RedeemType != drsapi.RedeemCash {
		t.Errorf("cash return at the operator = %+v; want its voucher redeemed in cash", ct)
	}
	// The voucher of the first return is paid out like a machine's.
	var p payoutAnswer
	if c := s.do("POST", "/api/vouchers/"+r.Voucher.Code+"/payouts", till, "", `{}`, &p); c != http.StatusCreated {
		t.Fatalf("reserve the return's voucher = %d; want 201", c)
	}
	if c := s.do("POST", "/api/payouts/"+p.ID+"/confirm", till, "", "", nil); c != http.StatusOK {
		t.Errorf("confirm = %d; want 200", c)
	}
}
