package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway"
)

// apiOnly is a gateway serving its HTTP side from a fresh store, with no
// broker: enough for what is refused at the door.
func apiOnly(t *testing.T) (*gateway.Gateway, string) {
	t.Helper()
	g, err := gateway.New(gateway.Options{DRSURL: "http://127.0.0.1:1", DB: filepath.Join(t.TempDir(), "gw.db"), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		ts.Close()
		g.Close()
	})
	return g, ts.URL
}

func product(ean, deposit string) string {
	return fmt.Sprintf(`{"ean":%q,"name":"Woda","deposit":%s,"collectionStatusId":1,"packaging":{"packagingCode":1},"diameters":{},"weight":{}}`, ean, deposit)
}

// Products are checked where they enter: EAN check digit, a deposit in
// PLN within the operator's bounds; a bulk push with one bad product
// stores none, and the answer lists every finding with its row.
func TestProductValidation(t *testing.T) {
	g, url := apiOnly(t)
	ok := product("5901234123457", `{"amount":0.5,"currency":"PLN"}`)
	tests := []struct {
		path, body string
		want       int
		finding    drsapi.ErrorMsg // code, field, row (-1: none)
	}{
		{"/product", ok, 200, drsapi.ErrorMsg{}},
		{"/product", product("59012341234570", `{"amount":1}`), 400, drsapi.ErrorMsg{ErrorCode: drsapi.CodeIncorrectFormat, Field: "ean"}},
		{"/product", product("5901234123458", `{"amount":0.5}`), 400, drsapi.ErrorMsg{ErrorCode: drsapi.CodeIncorrectFormat, Field: "ean"}},
		{"/product", product("", `{"amount":0.5}`), 400, drsapi.ErrorMsg{ErrorCode: drsapi.CodeRequired, Field: "ean"}},
		{"/product", product("5901234123457", `null`), 400, drsapi.ErrorMsg{ErrorCode: drsapi.CodeRequired, Field: "deposit"}},
		{"/product", product("5901234123457", `{"amount":0}`), 400, drsapi.ErrorMsg{ErrorCode: drsapi.CodeValueTooLow, Field: "deposit.amount"}},
		{"/product", product("5901234123457", `{"amount":-0.5}`), 400, drsapi.ErrorMsg{ErrorCode: drsapi.CodeValueTooLow, Field: "deposit.amount"}},
		{"/product", product("5901234123457", `{"amount":5}`), 400, drsapi.ErrorMsg{ErrorCode: drsapi.CodeValueTooHigh, Field: "deposit.amount"}},
		{"/product", product("5901234123457", `{"amount":0.5,"currency":"EUR"}`), 400, drsapi.ErrorMsg{ErrorCode: drsapi.CodeIncorrectFormat, Field: "deposit.currency"}},
		{"/product/bulk", "[" + ok + "," + product("5900000000000", `{"amount":0.5}`) + "]", 400,
			drsapi.ErrorMsg{ErrorCode: drsapi.CodeIncorrectFormat, Field: "ean", IDRow: new(int)}},
		{"/product/bulk", "[" + ok + "," + product("96385074", `{"amount":1}`) + "]", 200, drsapi.ErrorMsg{}},
	}
	*tests[9].finding.IDRow = 1
	for _, tt := range tests {
		var ex drsapi.ApiException
		code := call(t, "POST", url+tt.path, "", tt.body, &ex)
		if code != tt.want {
			t.Errorf("POST %s %s = %d %+v; want %d", tt.path, tt.body, code, ex, tt.want)
			continue
		}
		if tt.want == 200 {
			continue
		}
		if ex.HTTPStatus != 400 || ex.ErrorType != drsapi.ErrorTypeValidation || len(ex.ErrorMsg) != 1 {
			t.Errorf("POST %s %s = %+v; want one validation finding", tt.path, tt.body, ex)
			continue
		}
		got := ex.ErrorMsg[0]
		wantRow := 0
		if tt.finding.IDRow != nil {
			wantRow = *tt.finding.IDRow
		}
		if got.ErrorCode != tt.finding.ErrorCode || got.Field != tt.finding.Field || got.IDRow == nil || *got.IDRow != wantRow {
			t.Errorf("POST %s %s finding = %+v; want %s on %s, row %d", tt.path, tt.body, got, tt.finding.ErrorCode, tt.finding.Field, wantRow)
		}
	}
	// The refused bulk stored nothing: two accepted pushes, two versions.
	if v, err := g.Store().CatalogVersion(context.Background()); err != nil || v != 2 {
		t.Errorf("catalogue version = %d, %v; want 2", v, err)
	}
}

// Bodies, identifiers and query parameters are bounded at the door.
func TestRequestLimits(t *testing.T) {
	_, url := apiOnly(t)
	long := strings.Repeat("A", drsapi.MaxSerialLen+1)
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/product/bulk", "[" + strings.Repeat(product("5901234123457", `{"amount":0.5}`)+",", 9<<20/150) + "{}]", 400},
		{"POST", "/product", `{"ean":"` + strings.Repeat("5", 2<<20) + `"}`, 400},
		{"POST", "/machine", `{"serialNumber":"` + long + `","bins":[]}`, 400},
		{"POST", "/machine", `{"serialNumber":"RVM-1","bins":[]}`, 200},
		{"GET", "/api/machines/" + long, "", 400},
		{"GET", "/api/vouchers/" + long, "", 400},
		{"POST", "/api/vouchers/" + long + "/redeem", `{"redeemType":1,"posId":"till-1"}`, 400},
		{"POST", "/api/vouchers/2900000000019/redeem", `{"redeemType":1,"posId":"` + long + `"}`, 400},
		{"POST", "/api/failures/" + long + "/retry", "", 400},
		{"GET", "/machine/" + long, "", 400},
		{"GET", "/transaction/nope", "", 400},
		{"PUT", "/transaction/nope/confirmation", "", 400},
		{"GET", "/api/machines?foo=1", "", 400},
		{"GET", "/api/machines", "", 200},
		{"GET", "/api/failures?all=1", "", 200},
		{"GET", "/api/failures?al=1", "", 400},
		{"GET", "/transaction?delivred=false", "", 400},
		{"GET", "/transaction?delivered=false&pagelength=10&startindex=0", "", 200},
		{"GET", "/transaction?from=yesterday", "", 400},
		{"GET", "/transaction?to=2026-13-01T00:00:00Z", "", 400},
		{"GET", "/transaction?from=2026-01-01T00:00:00Z", "", 200},
		{"GET", "/transaction?rvmId=RVM-1", "", 400},
		{"GET", "/transaction?%zz", "", 400},
		{"GET", "/machine?pageLength=10", "", 200},
		{"GET", "/machine?page=2", "", 400},
	}
	for _, tt := range tests {
		if got := call(t, tt.method, url+tt.path, "", tt.body, nil); got != tt.want {
			t.Errorf("%s %.80s = %d; want %d", tt.method, tt.path, got, tt.want)
		}
	}
}

// An oversized body is refused as TOO_LONG, in the operator's shape.
func TestOversizedBodyIsTooLong(t *testing.T) {
	_, url := apiOnly(t)
	var ex drsapi.ApiException
	body := "[" + strings.Repeat(`{"ean":"5901234123457"},`, 9<<20/24) + "{}]"
	if code := call(t, "POST", url+"/product/bulk", "", body, &ex); code != http.StatusBadRequest || ex.Code() != drsapi.CodeTooLong {
		t.Errorf("POST /product/bulk of 9 MiB = %d %+v; want 400 TOO_LONG", code, ex)
	}
}
