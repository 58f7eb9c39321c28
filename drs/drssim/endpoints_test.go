package drssim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
)

func TestMachineLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if e.rvmID == "" {
		t.Fatal("RegisterMachine returned no id")
	}
	if again := e.register(t, "SN-0001"); again != e.rvmID {
		t.Errorf("RegisterMachine(same serial) = %s; want the first id %s", again, e.rvmID)
	}
	other := e.register(t, "SN-0002")
	if other == e.rvmID {
		t.Errorf("RegisterMachine(another serial) = the first id; want a new one")
	}
	fixed := uuidN(42)
	id, err := e.c.RegisterMachine(ctx, drsapi.MachineUpdate{ID: fixed, SerialNumber: "SN-0003", DrsCpNo: "1", Bins: []drsapi.BinPost{}})
	if err != nil || id != fixed {
		t.Errorf("RegisterMachine with id = %q, %v; want %q", id, err, fixed)
	}
	tests := []struct {
		id   string
		want bool
	}{
		{e.rvmID, true}, {other, true}, {fixed, true}, {uuidN(43), false},
	}
	for _, tt := range tests {
		if got, err := e.c.MachineExists(ctx, tt.id); got != tt.want || err != nil {
			t.Errorf("MachineExists(%q) = %v, %v; want %v", tt.id, got, err, tt.want)
		}
	}
	if err := e.c.DeleteMachine(ctx, other); err != nil {
		t.Fatalf("DeleteMachine: %v", err)
	}
	if got, _ := e.c.MachineExists(ctx, other); got {
		t.Errorf("MachineExists(deleted) = true; want false")
	}
	if err := e.c.DeleteMachine(ctx, other); !errors.Is(err, drs.ErrNotFound) {
		t.Errorf("DeleteMachine(deleted) = %v; want ErrNotFound", err)
	}
	// A deleted machine's transactions are refused like an unknown one's.
	tx := e.tx(uuidN(1))
	tx.RvmID = other
	var ae *drs.APIError
	if _, err := e.c.PostTransaction(ctx, tx); !errors.As(err, &ae) || ae.Status != 400 || ae.Exception.Code() != "8" {
		t.Errorf("PostTransaction from a deleted machine = %v; want 400 MachineUnknown", err)
	}
	// A re-registration under its id brings it back.
	if _, err := e.c.RegisterMachine(ctx, drsapi.MachineUpdate{ID: other, SerialNumber: "SN-0002", DrsCpNo: "1", Bins: []drsapi.BinPost{}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.c.MachineExists(ctx, other); !got {
		t.Errorf("MachineExists(re-registered) = false; want true")
	}
	if status, _ := e.do(t, "HEAD", "/machine/SN-0001", nil); status != 400 {
		t.Errorf("HEAD /machine/SN-0001 = %d; want 400 (not a uuid)", status)
	}
	if status, _ := e.do(t, "DELETE", "/machine/nope", nil); status != 400 {
		t.Errorf("DELETE /machine/nope = %d; want 400 (not a uuid)", status)
	}
}

func TestMachineValidation(t *testing.T) {
	e := newEnv(t, nil)
	valid := func() map[string]any {
		return map[string]any{"serialNumber": "SN-9", "bins": []any{map[string]any{"wasteType": []any{7}, "litrage": 240}}, "drsCpNo": "1100061-152"}
	}
	tests := []struct {
		name   string
		mutate func(map[string]any)
		want   finding
	}{
		{"no serialNumber", func(m map[string]any) { delete(m, "serialNumber") }, finding{"REQUIRED", "serialNumber", -1}},
		{"blank serialNumber", func(m map[string]any) { m["serialNumber"] = " " }, finding{"REQUIRED", "serialNumber", -1}},
		{"no bins", func(m map[string]any) { delete(m, "bins") }, finding{"REQUIRED", "bins", -1}},
		{"no drsCpNo", func(m map[string]any) { delete(m, "drsCpNo") }, finding{"REQUIRED", "drsCpNo", -1}},
		{"id not a uuid", func(m map[string]any) { m["id"] = "abc" }, finding{"INCORRECT_FORMAT", "id", -1}},
		{"waste type 42", func(m map[string]any) { row(m, "bins", 0)["wasteType"] = []any{7, 42} }, finding{"ENUM_ERROR", "bins.wasteType", 0}},
		{"litrage as text", func(m map[string]any) { row(m, "bins", 0)["litrage"] = "240 l" }, finding{"INCORRECT_FORMAT", "bins.litrage", 0}},
		{"unknown field", func(m map[string]any) { m["location"] = "x" }, finding{"INCORRECT_FORMAT", "location", -1}},
	}
	for _, tt := range tests {
		m := valid()
		tt.mutate(m)
		status, body := e.do(t, "POST", "/machine", m)
		if status != 400 || !hasFinding(body, tt.want) {
			t.Errorf("POST /machine (%s) = %d %s; want 400 with %v", tt.name, status, body, tt.want)
		}
	}
	if status, body := e.do(t, "POST", "/machine", valid()); status != 200 {
		t.Errorf("POST /machine (valid) = %d %s; want 200", status, body)
	}
}

// Query parameters a route does not define, malformed queries and dates,
// and over-long identifiers are refused with the operator's 400.
func TestQueryAndLengthLimits(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("9", drsapi.MaxSerialLen+1)
	tests := []struct {
		method, path string
		body         any
		want         finding
	}{
		{"GET", "/product?pagelength=10", nil, finding{"INCORRECT_FORMAT", "pagelength", -1}},
		{"GET", "/product?updatedAfter=yesterday", nil, finding{"INCORRECT_FORMAT", "updatedAfter", -1}},
		{"GET", "/product?createdAfter=2026-02-30T00:00:00Z", nil, finding{"INCORRECT_FORMAT", "createdAfter", -1}},
		{"GET", "/product/5900449000287?sendImages=maybe", nil, finding{"INCORRECT_FORMAT", "sendImages", -1}},
		{"GET", "/product/59004490002870000", nil, finding{"TOO_LONG", "ean", -1}},
		{"GET", "/voucher/buffer?rvmId=" + e.rvmID + "&limt=5", nil, finding{"INCORRECT_FORMAT", "limt", -1}},
		{"POST", "/transaction?dryRun=1", e.tx("0b6c3a57-5a0e-4c47-9a53-1f7a4ad0c0a1"), finding{"INCORRECT_FORMAT", "dryRun", -1}},
		{"GET", "/_sim/transactions?all=1", nil, finding{"INCORRECT_FORMAT", "all", -1}},
		{"POST", "/machine", map[string]any{"serialNumber": long, "bins": []any{}, "drsCpNo": "1100061-152"}, finding{"TOO_LONG", "serialNumber", -1}},
		{"POST", "/voucher/redeem", map[string]any{"id": long, "redeemType": 1, "redeemDate": "2026-01-05T08:00:00Z"}, finding{"TOO_LONG", "id", -1}},
	}
	for _, tt := range tests {
		status, body := e.do(t, tt.method, tt.path, tt.body)
		if status != 400 || !hasFinding(body, tt.want) {
			t.Errorf("%s %s = %d %s; want 400 with %v", tt.method, tt.path, status, body, tt.want)
		}
	}
	if status, body := e.do(t, "GET", "/product?%zz", nil); status != 400 {
		t.Errorf("GET /product?%%zz = %d %s; want 400", status, body)
	}
	for _, path := range []string{"/product?startIndex=0&pageLength=10&sendImages=false", "/product/5900449000287?sendImages=true", "/_sim/stats"} {
		if status, body := e.do(t, "GET", path, nil); status != 200 {
			t.Errorf("GET %s = %d %s; want 200", path, status, body)
		}
	}
}

func TestProducts(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	all, err := e.c.AllProducts(ctx, time.Time{})
	if err != nil {
		t.Fatalf("AllProducts: %v", err)
	}
	var eans []string
	for _, p := range all {
		eans = append(eans, p.EAN)
		if p.Image != "" {
			t.Errorf("product %s comes with image %q; want none without sendImages", p.EAN, p.Image)
		}
		if p.ID == "" || p.UpdatedDate == "" || p.CreationDate == "" {
			t.Errorf("product %s = %+v; want id and dates filled in", p.EAN, p)
		}
	}
	want := "[5900449000287 5901012001120 5900000000017 5900000000024 0036000291452]"
	if fmt.Sprint(eans) != want {
		t.Errorf("AllProducts = %v; want %s in file order", eans, want)
	}

	p, err := e.c.Product(ctx, "5900449000287")
	if err != nil || p.Name != "Cola 0,5 L" || p.Deposit.Amount != 50 || p.Image != "" {
		t.Errorf("Product(cola) = %+v, %v; want the cola without its image", p, err)
	}
	if _, err := e.c.Product(ctx, "4000000000006"); !errors.Is(err, drs.ErrNotFound) {
		t.Errorf("Product(unknown) = %v; want ErrNotFound", err)
	}
	status, body := e.do(t, "GET", "/product/5900449000287?sendImages=true", nil)
	if status != 200 || !contains(body, "https://example.com/cola.jpg") {
		t.Errorf("GET /product/{ean}?sendImages=true = %d %s; want the image", status, body)
	}

	// Incremental: only what changed after the given time.
	since := time.Date(2025, 12, 15, 0, 0, 0, 0, time.UTC)
	got, err := e.c.AllProducts(ctx, since)
	if err != nil || len(got) != 1 || got[0].EAN != "0036000291452" {
		t.Errorf("AllProducts(updated after %v) = %v, %v; want the one updated in January", since, got, err)
	}
	e.clk.Advance(time.Hour)
	st := drsapi.StatusReject
	e.sim.PutProduct(drsapi.Product{EAN: "5901012001120", Name: "Beer can", Deposit: &drsapi.Deposit{Amount: 50}, CollectionStatusID: &st})
	got, err = e.c.AllProducts(ctx, t0)
	if err != nil || len(got) != 1 || got[0].EAN != "5901012001120" || got[0].UpdatedDate != "2026-01-05T09:00:00Z" {
		t.Errorf("AllProducts(after a change at 09:00) = %+v, %v; want the changed can", got, err)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

func TestProductPaging(t *testing.T) {
	var ps []drsapi.Product
	for i := range 120 {
		ps = append(ps, drsapi.Product{EAN: fmt.Sprintf("590%010d", i), Name: strconv.Itoa(i), Deposit: &drsapi.Deposit{Amount: 50}})
	}
	e := newEnv(t, func(o *drssim.Options) { o.Catalog = ps })
	ctx := context.Background()
	tests := []struct {
		start, length    int
		first, n, pageNo int
	}{
		{0, 50, 0, 50, 0},
		{0, 500, 0, 50, 0},
		{50, 50, 50, 50, 1},
		{100, 50, 100, 20, 2},
		{115, 10, 115, 5, 11},
		{120, 50, 0, 0, 2},
		{500, 50, 0, 0, 10},
	}
	for _, tt := range tests {
		page, err := e.c.Products(ctx, tt.start, tt.length, time.Time{})
		if err != nil {
			t.Fatalf("Products(%d, %d): %v", tt.start, tt.length, err)
		}
		if len(page.Data) != tt.n || page.TotalItemCount != 120 || page.PageNo != tt.pageNo {
			t.Errorf("Products(%d, %d) = %d items of %d, page %d; want %d of 120, page %d",
				tt.start, tt.length, len(page.Data), page.TotalItemCount, page.PageNo, tt.n, tt.pageNo)
		}
		if tt.n > 0 && page.Data[0].Name != strconv.Itoa(tt.first) {
			t.Errorf("Products(%d, %d) starts at %s; want %d", tt.start, tt.length, page.Data[0].Name, tt.first)
		}
	}
	all, err := e.c.AllProducts(ctx, time.Time{})
	if err != nil || len(all) != 120 {
		t.Errorf("AllProducts = %d, %v; want 120", len(all), err)
	}
	for _, q := range []string{"pageLength=-1", "startIndex=-5", "startIndex=abc", "pageLength=1.5", "updatedAfter=yesterday", "createdAfter=2026-01-01", "sendImages=maybe"} {
		if status, body := e.do(t, "GET", "/product?"+q, nil); status != 400 || drsapi.ParseError(body) == nil {
			t.Errorf("GET /product?%s = %d %s; want 400 with an ApiException", q, status, body)
		}
	}
	if status, body := e.do(t, "GET", "/product?startIndex=10.0&pageLength=0", nil); status != 200 || !contains(body, `"data":[]`) {
		t.Errorf("GET /product?startIndex=10.0&pageLength=0 = %d %s; want 200 and no data", status, body)
	}
}

func TestBagFillStatus(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	s := drsapi.BagFillStatus{RvmID: e.rvmID, BinID: uuidN(7), WasteType: []int{drsapi.WastePET}, FillLevelPercent: 0.8, ReportedAt: "2026-01-05T08:02:00Z"}
	r, err := e.c.BagFillStatus(ctx, s)
	if err != nil {
		t.Fatalf("BagFillStatus: %v", err)
	}
	if len(r.EventID) != 36 || r.RvmID != s.RvmID || r.FillLevelPercent != 0.8 || r.BinID != s.BinID || r.ReportedAt != s.ReportedAt {
		t.Errorf("BagFillStatus = %+v; want the event echoed with an eventId", r)
	}
	r2, _ := e.c.BagFillStatus(ctx, s)
	if r2.EventID == r.EventID {
		t.Errorf("two events share eventId %s", r.EventID)
	}
	if err := e.c.PostBagFillStatus(ctx, s); err != nil {
		t.Errorf("PostBagFillStatus: %v", err)
	}
	valid := asMap(t, s)
	tests := []struct {
		name   string
		mutate func(map[string]any)
		status int
		want   finding
	}{
		{"no reportedAt", func(m map[string]any) { delete(m, "reportedAt") }, 400, finding{"REQUIRED", "reportedAt", -1}},
		{"no rvmBlocked", func(m map[string]any) { delete(m, "rvmBlocked") }, 400, finding{"REQUIRED", "rvmBlocked", -1}},
		{"percent not fraction", func(m map[string]any) { m["fillLevelPercent"] = 80 }, 400, finding{"VALUE_TOO_HIGH", "fillLevelPercent", -1}},
		{"negative", func(m map[string]any) { m["fillLevelPercent"] = -0.1 }, 400, finding{"VALUE_TOO_LOW", "fillLevelPercent", -1}},
		{"waste type 14", func(m map[string]any) { m["wasteType"] = []any{7, 14} }, 400, finding{"ENUM_ERROR", "wasteType", 1}},
		{"binId not uuid", func(m map[string]any) { m["binId"] = "1" }, 400, finding{"INCORRECT_FORMAT", "binId", -1}},
		{"unknown machine", func(m map[string]any) { m["rvmId"] = uuidN(999) }, 400, finding{"8", "", -1}},
	}
	for _, tt := range tests {
		m := asMap(t, valid)
		tt.mutate(m)
		status, body := e.do(t, "POST", "/bag-fill-status", m)
		if status != tt.status || !hasFinding(body, tt.want) {
			t.Errorf("POST /bag-fill-status (%s) = %d %s; want %d with %v", tt.name, status, body, tt.status, tt.want)
		}
	}
}

func (e *env) replacement(bag string) drsapi.BagReplacement {
	return drsapi.BagReplacement{
		BagID: bag, RvmID: e.rvmID, BinNo: 1, SealNumber: "017824770475060", LockingPersonID: uuidN(5),
		ReplacementDate: "2026-01-05T18:00:00Z", BagWeight: 8.25, ContainerAmount: 3,
		RelatedTransactionsIDs: []string{uuidN(1)},
		Containers:             []drsapi.ContainerFull{{EAN: "5900449000287", Count: 2}, {EAN: "5901012001120", Count: 1}},
	}
}

func TestBagReplacementAndSeal(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r := e.replacement(uuidN(50))
	if err := e.c.PostBagReplacement(ctx, r); err != nil {
		t.Fatalf("PostBagReplacement: %v", err)
	}
	if err := e.c.PostBagReplacement(ctx, r); !errors.Is(err, drs.ErrAlreadyDelivered) {
		t.Errorf("PostBagReplacement again = %v; want ErrAlreadyDelivered", err)
	}
	tests := []struct {
		name   string
		mutate func(map[string]any)
		status int
		want   finding
	}{
		{"no containers", func(m map[string]any) { delete(m, "containers") }, 400, finding{"REQUIRED", "containers", -1}},
		{"container without count", func(m map[string]any) { delete(row(m, "containers", 1), "count") }, 400, finding{"REQUIRED", "containers.count", 1}},
		{"container with a cause", func(m map[string]any) { row(m, "containers", 0)["rejectionCauseCode"] = 0 }, 400,
			finding{"INCORRECT_FORMAT", "containers.rejectionCauseCode", 0}},
		{"ean twice", func(m map[string]any) { row(m, "containers", 1)["ean"] = "5900449000287" }, 400, finding{"INCONSISTENT", "containers.ean", 1}},
		{"containerAmount off", func(m map[string]any) { m["containerAmount"] = 4 }, 400, finding{"INCONSISTENT", "containerAmount", -1}},
		{"bagId not uuid", func(m map[string]any) { m["bagId"] = "BAG-1" }, 400, finding{"INCORRECT_FORMAT", "bagId", -1}},
		{"related id not uuid", func(m map[string]any) { m["relatedTransactionsIds"] = []any{uuidN(1), "x"} }, 400,
			finding{"INCORRECT_FORMAT", "relatedTransactionsIds", 1}},
		{"bad date", func(m map[string]any) { m["replacementDate"] = "today" }, 400, finding{"INCORRECT_FORMAT", "replacementDate", -1}},
		{"bin 0", func(m map[string]any) { m["binNo"] = 0 }, 400, finding{"VALUE_TOO_LOW", "binNo", -1}},
		{"weight in grams as text", func(m map[string]any) { m["bagWeight"] = "8250 g" }, 400, finding{"INCORRECT_FORMAT", "bagWeight", -1}},
		{"unknown machine", func(m map[string]any) { m["rvmId"] = uuidN(999) }, 400, finding{"8", "", -1}},
		{"product not in catalogue", func(m map[string]any) { row(m, "containers", 1)["ean"] = "4000000000006" }, 422,
			finding{"TRS_PRODUCT_BAD_STATUS", "containers.ean", 1}},
	}
	for i, tt := range tests {
		m := asMap(t, e.replacement(uuidN(60+i)))
		tt.mutate(m)
		status, body := e.do(t, "POST", "/bag-replacement", m)
		if status != tt.status || !hasFinding(body, tt.want) {
			t.Errorf("POST /bag-replacement (%s) = %d %s; want %d with %v", tt.name, status, body, tt.status, tt.want)
		}
	}

	seal := drsapi.BagSeal{LockingPersonID: uuidN(5), SealNumber: "017824770475060", BagID: uuidN(50), SealTime: "2026-01-05T18:00:05Z"}
	for i := range 2 {
		if err := e.c.PostBagSeal(ctx, seal); err != nil {
			t.Errorf("PostBagSeal #%d: %v", i+1, err)
		}
	}
	seal.SealNumber = "017824770475077" // a damaged seal replaced
	if err := e.c.PostBagSeal(ctx, seal); err != nil {
		t.Errorf("PostBagSeal (new seal): %v", err)
	}
	sealTests := []struct {
		name   string
		mutate func(map[string]any)
		want   finding
	}{
		{"no sealTime", func(m map[string]any) { delete(m, "sealTime") }, finding{"REQUIRED", "sealTime", -1}},
		{"empty seal", func(m map[string]any) { m["sealNumber"] = "" }, finding{"REQUIRED", "sealNumber", -1}},
		{"bagId not uuid", func(m map[string]any) { m["bagId"] = "B" }, finding{"INCORRECT_FORMAT", "bagId", -1}},
		{"person not uuid", func(m map[string]any) { m["lockingPersonId"] = "Jan" }, finding{"INCORRECT_FORMAT", "lockingPersonId", -1}},
	}
	for _, tt := range sealTests {
		m := asMap(t, seal)
		tt.mutate(m)
		status, body := e.do(t, "POST", "/bag-seal", m)
		if status != 400 || !hasFinding(body, tt.want) {
			t.Errorf("POST /bag-seal (%s) = %d %s; want 400 with %v", tt.name, status, body, tt.want)
		}
	}
	st, err := e.sim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BagReplacements != 1 || st.BagSeals != 2 {
		t.Errorf("stats = %d replacements, %d seals; want 1 and 2 (a repeated seal counts once)", st.BagReplacements, st.BagSeals)
	}
}

func validEAN13(s string) bool {
	if len(s) != 13 {
		return false
	}
	sum := 0
	for i := range 12 {
		d := int(s[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if i%2 == 1 {
			d *= 3
		}
		sum += d
	}
	return int(s[12]-'0') == (10-sum%10)%10
}

func TestVoucherBuffer(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	seen := map[string]bool{}
	tests := []struct {
		limit, want int
	}{
		{0, drssim.DefaultBufferLimit}, {3, 3}, {1000, drssim.MaxBufferLimit},
	}
	for _, tt := range tests {
		vs, err := e.c.VoucherBuffer(ctx, e.rvmID, tt.limit)
		if err != nil {
			t.Fatalf("VoucherBuffer(%d): %v", tt.limit, err)
		}
		if len(vs) != tt.want {
			t.Errorf("VoucherBuffer(%d) = %d codes; want %d", tt.limit, len(vs), tt.want)
		}
		for _, v := range vs {
			if !validEAN13(v.ID) || v.ID[:2] != "29" {
				t.Errorf("voucher code %q is not an EAN-13 in prefix 29", v.ID)
			}
			if seen[v.ID] {
				t.Errorf("voucher code %q handed out twice", v.ID)
			}
			seen[v.ID] = true
		}
	}
	b, err := e.c.VoucherBufferFull(ctx, e.rvmID, 1)
	if err != nil || b.DaysUntilExpiration != "30d" || b.PrintType != drsapi.PrintBarcode {
		t.Errorf("VoucherBufferFull = %+v, %v; want 30d, barcode", b, err)
	}
	for _, q := range []struct {
		query string
		want  finding
		code  int
	}{
		{"", finding{"REQUIRED", "rvmId", -1}, 400},
		{"?rvmId=SN-1", finding{"INCORRECT_FORMAT", "rvmId", -1}, 400},
		{"?rvmId=" + e.rvmID + "&limit=-1", finding{"VALUE_TOO_LOW", "limit", -1}, 400},
		{"?rvmId=" + e.rvmID + "&limit=0", finding{"VALUE_TOO_LOW", "limit", -1}, 400},
		{"?rvmId=" + uuidN(999), finding{"8", "", -1}, 400},
	} {
		status, body := e.do(t, "GET", "/voucher/buffer"+q.query, nil)
		if status != q.code || !hasFinding(body, q.want) {
			t.Errorf("GET /voucher/buffer%s = %d %s; want %d with %v", q.query, status, body, q.code, q.want)
		}
	}
}

func TestRedeemOnce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	v, err := e.c.PostTransaction(ctx, e.tx(uuidN(1)))
	if err != nil {
		t.Fatal(err)
	}
	redeem := drsapi.VoucherRedeem{ID: v.ID, RedeemType: drsapi.RedeemCash, RedeemDate: "2026-01-06T10:00:00Z", RvmID: e.rvmID}
	if err := e.c.RedeemVoucher(ctx, redeem); err != nil {
		t.Fatalf("RedeemVoucher: %v", err)
	}
	err = e.c.RedeemVoucher(ctx, redeem)
	var ae *drs.APIError
	if !errors.Is(err, drs.ErrAlreadyRedeemed) || !errors.As(err, &ae) || ae.Exception.Code() != "VOUCHER_ALREADY_REDEEMED" {
		t.Errorf("RedeemVoucher again = %v; want ErrAlreadyRedeemed with VOUCHER_ALREADY_REDEEMED", err)
	}
	if err := e.c.RedeemVoucher(ctx, drsapi.VoucherRedeem{ID: "2999999999999", RedeemType: 1, RedeemDate: "2026-01-06T10:00:00Z"}); !errors.Is(err, drs.ErrNotFound) {
		t.Errorf("RedeemVoucher(unknown) = %v; want ErrNotFound", err)
	}

	// A donation is redeemed at the machine already.
	tx := e.tx(uuidN(2))
	tx.Voucher = &drsapi.VoucherBase{Redeemed: true, RedeemType: drsapi.RedeemCharity}
	dv, err := e.c.PostTransaction(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.RedeemVoucher(ctx, drsapi.VoucherRedeem{ID: dv.ID, RedeemType: 1, RedeemDate: "2026-01-06T10:00:00Z"}); !errors.Is(err, drs.ErrAlreadyRedeemed) {
		t.Errorf("RedeemVoucher(donated) = %v; want ErrAlreadyRedeemed", err)
	}

	v3, _ := e.c.PostTransaction(ctx, e.tx(uuidN(3)))
	other := e.register(t, "SN-0002")
	tests := []struct {
		name   string
		r      drsapi.VoucherRedeem
		status int
		want   finding
	}{
		{"expired", drsapi.VoucherRedeem{ID: v3.ID, RedeemType: 1, RedeemDate: "2026-02-04T08:01:31Z"}, 422, finding{"VOUCHER_EXPIRED", "redeemDate", -1}},
		{"another machine", drsapi.VoucherRedeem{ID: v3.ID, RedeemType: 1, RedeemDate: "2026-01-06T10:00:00Z", RvmID: other}, 422, finding{"INCONSISTENT", "rvmId", -1}},
		{"redeemType 0", drsapi.VoucherRedeem{ID: v3.ID, RedeemType: 0, RedeemDate: "2026-01-06T10:00:00Z"}, 400, finding{"ENUM_ERROR", "redeemType", -1}},
		{"no date", drsapi.VoucherRedeem{ID: v3.ID, RedeemType: 1}, 400, finding{"INCORRECT_FORMAT", "redeemDate", -1}},
		{"no id", drsapi.VoucherRedeem{RedeemType: 1, RedeemDate: "2026-01-06T10:00:00Z"}, 400, finding{"REQUIRED", "id", -1}},
	}
	for _, tt := range tests {
		status, body := e.do(t, "POST", "/voucher/redeem", tt.r)
		if status != tt.status || !hasFinding(body, tt.want) {
			t.Errorf("POST /voucher/redeem (%s) = %d %s; want %d with %v", tt.name, status, body, tt.status, tt.want)
		}
	}
	// Still redeemable once the refusals are fixed: the last valid day.
	if err := e.c.RedeemVoucher(ctx, drsapi.VoucherRedeem{ID: v3.ID, RedeemType: 2, RedeemDate: "2026-02-04T08:01:30Z", RvmID: e.rvmID}); err != nil {
		t.Errorf("RedeemVoucher on the last valid second = %v; want nil", err)
	}
}

func TestConcurrentRedeemOneWins(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	codes, err := e.c.VoucherBuffer(ctx, e.rvmID, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codes {
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = e.c.RedeemVoucher(ctx, drsapi.VoucherRedeem{ID: code.ID, RedeemType: drsapi.RedeemCash, RedeemDate: "2026-01-06T10:00:00Z"})
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, drs.ErrAlreadyRedeemed):
				t.Errorf("concurrent RedeemVoucher(%s) = %v; want nil or ErrAlreadyRedeemed", code.ID, err)
			}
		}
		if wins != 1 {
			t.Errorf("concurrent RedeemVoucher(%s): %d winners; want exactly 1", code.ID, wins)
		}
	}
}

func TestTokenRequired(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, tok := range []string{"", "wrong", token + "x"} {
		c := drs.New(e.srv.URL, tok, &drs.Options{MaxAttempts: 1})
		_, err := c.MachineExists(ctx, e.rvmID)
		var ae *drs.APIError
		if !errors.Is(err, drs.ErrUnauthorized) || !errors.As(err, &ae) || ae.Status != 401 || drs.Retryable(err) {
			t.Errorf("MachineExists with token %q = %v; want a 401", tok, err)
		}
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/product", nil)
	req.Header.Set("Authorization", "Basic "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("GET /product with Basic auth = %d; want 401", resp.StatusCode)
	}
	// Without a configured token anything goes.
	open := newEnv(t, func(o *drssim.Options) { o.Token = "" })
	if ok, err := drs.New(open.srv.URL, "", nil).MachineExists(ctx, open.rvmID); !ok || err != nil {
		t.Errorf("MachineExists without a token on an open simulator = %v, %v; want true", ok, err)
	}
	st, _ := e.sim.Stats(ctx)
	if st.Rejects["401 UNAUTHORIZED"] != 4 {
		t.Errorf("stats rejects = %v; want 4 times 401 UNAUTHORIZED", st.Rejects)
	}
}

func TestUnknownPath(t *testing.T) {
	e := newEnv(t, nil)
	status, body := e.do(t, "GET", "/nothing/here", nil)
	if status != 404 || !hasFinding(body, finding{"NOT_FOUND", "path", -1}) {
		t.Errorf("GET /nothing/here = %d %s; want 404 NOT_FOUND", status, body)
	}
	// The operator defines no PUT: as unknown as any other path.
	if status, body := e.do(t, "PUT", "/transaction", "{}"); status != 404 || drsapi.ParseError(body) == nil {
		t.Errorf("PUT /transaction = %d %s; want 404 with an ApiException", status, body)
	}
}
