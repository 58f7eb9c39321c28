package drssim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/internal/clock"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

const token = "tok"

// env is a simulator on a real loopback HTTP server, a client for it and a
// registered machine.
type env struct {
	sim   *drssim.Server
	srv   *httptest.Server
	c     *drs.Client
	clk   *clock.Stepper
	rvmID string
}

func loadCatalog(t *testing.T) []drsapi.Product {
	t.Helper()
	data, err := os.ReadFile("testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := drssim.ParseCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// newEnv starts a simulator; mod may change its options.
func newEnv(t *testing.T, mod func(*drssim.Options)) *env {
	t.Helper()
	clk := clock.NewStepper(t0)
	o := drssim.Options{Catalog: loadCatalog(t), Clock: clk, Token: token, Seed: 1}
	if mod != nil {
		mod(&o)
	}
	sim, err := drssim.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e := &env{sim: sim, srv: srv, clk: clk}
	e.c = e.client(1)
	e.rvmID = e.register(t, "SN-0001")
	return e
}

// client returns a client whose backoff waits move the fake clock instead
// of sleeping.
func (e *env) client(attempts int) *drs.Client {
	return drs.New(e.srv.URL, token, &drs.Options{
		MaxAttempts: attempts,
		MaxBackoff:  10 * time.Minute,
		Clock:       e.clk,
	})
}

func (e *env) register(t *testing.T, serial string) string {
	t.Helper()
	id, err := e.c.RegisterMachine(context.Background(), drsapi.MachineUpdate{
		SerialNumber: serial, Name: "Store 1", DrsCpNo: "1100061-152", Model: "RVM-1", Manufacturer: "deposit-rvm",
		Bins: []drsapi.BinPost{{WasteType: []int{drsapi.WastePET}, Litrage: 240}},
	})
	if err != nil {
		t.Fatalf("RegisterMachine(%s): %v", serial, err)
	}
	return id
}

// do sends a raw request with the token; body may be nil, a string, []byte
// or anything JSON-encodable.
func (e *env) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// tx returns a valid transaction of the env's machine: two accepted colas,
// one crushed can and one unreadable container, with a voucher to print.
func (e *env) tx(id string) drsapi.Transaction {
	return drsapi.Transaction{
		ID:                   id,
		RvmID:                e.rvmID,
		TotalAmount:          4,
		TotalWeight:          43,
		TransactionStartTime: "2026-01-05T08:00:00Z",
		TransactionEndTime:   "2026-01-05T08:01:30Z",
		TotalAccepted:        2,
		TotalRejected:        2,
		Containers: []drsapi.Container{
			{EAN: "5900449000287", Count: 2, Weight: 43, RejectionCauseCode: drsapi.CauseOK},
			{EAN: "5901012001120", Count: 1, Weight: 12, RejectionCauseCode: drsapi.CauseCrushed},
			{EAN: "", Count: 1, Weight: 30, RejectionCauseCode: drsapi.CauseBarcodeMissing},
		},
		Voucher: &drsapi.VoucherBase{RedeemType: drsapi.RedeemValid},
	}
}

// asMap turns v into generic JSON for mutation.
func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func row(m map[string]any, list string, i int) map[string]any {
	return m[list].([]any)[i].(map[string]any)
}

// finding is one expected entry of an error body: an ErrorMsg code and
// field (and row, -1 for none), or an ErrorMessage code with field "".
type finding struct {
	code, field string
	row         int
}

func (f finding) String() string { return fmt.Sprintf("%s %s[%d]", f.code, f.field, f.row) }

// hasFinding reports whether the error body lists f.
func hasFinding(body []byte, f finding) bool {
	ex := drsapi.ParseError(body)
	if ex == nil {
		return false
	}
	for _, m := range ex.ErrorMsg {
		r := -1
		if m.IDRow != nil {
			r = *m.IDRow
		}
		if m.ErrorCode == f.code && m.Field == f.field && r == f.row {
			return true
		}
	}
	return false
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		buf.Reset()
		buf.Write(got)
	}
	got = append(bytes.TrimSpace(buf.Bytes()), '\n')
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

// uuidN returns a fixed, valid uuid numbered n.
func uuidN(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
