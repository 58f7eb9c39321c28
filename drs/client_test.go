package drs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// script is a server answering from a list of canned replies, one per
// request, the last one repeated; it records what it was asked.
type script struct {
	mu      sync.Mutex
	replies []reply
	reqs    []*http.Request
	bodies  []string
}

type reply struct {
	status int
	header map[string]string
	body   string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, r)
	s.bodies = append(s.bodies, string(b))
	rep := s.replies[min(n, len(s.replies)-1)]
	s.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (s *script) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func newScripted(t *testing.T, opts *Options, replies ...reply) (*Client, *script) {
	t.Helper()
	sc := &script{replies: replies}
	srv := httptest.NewServer(sc)
	t.Cleanup(srv.Close)
	return New(srv.URL+"/", "secret", opts), sc
}

var tx = drsapi.Transaction{
	ID: "497f6eca-6276-4993-bfeb-53cbbbba6f08", RvmID: "658f31ac-13dd-457e-8c8a-f79ab379d57f",
	TotalAmount: 1, TotalAccepted: 1, TotalWeight: 21,
	TransactionStartTime: "2026-01-05T08:00:00Z", TransactionEndTime: "2026-01-05T08:01:00Z",
	Containers: []drsapi.Container{{EAN: "5900449000287", Count: 1, Weight: 21}},
}

func TestPostTransactionSendsBodyAndToken(t *testing.T) {
	rec := clock.NewStepper(time.Now())
	c, sc := newScripted(t, &Options{Clock: rec},
		reply{200, nil, `{"id":"2900000000017","printType":0,"issuedAt":"2026-01-05T08:01:00Z","validUntil":"2026-02-04T08:01:00Z"}`})
	v, err := c.PostTransaction(context.Background(), tx)
	if err != nil {
		t.Fatalf("PostTransaction: %v", err)
	}
	want := drsapi.VoucherData{ID: "2900000000017", IssuedAt: "2026-01-05T08:01:00Z", ValidUntil: "2026-02-04T08:01:00Z"}
	if v != want {
		t.Errorf("PostTransaction = %+v; want %+v", v, want)
	}
	r := sc.reqs[0]
	if r.Method != "POST" || r.URL.Path != "/transaction" {
		t.Errorf("request = %s %s; want POST /transaction", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer secret" {
		t.Errorf("Authorization = %q; want %q", got, "Bearer secret")
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	var sent drsapi.Transaction
	if err := json.Unmarshal([]byte(sc.bodies[0]), &sent); err != nil || sent.ID != tx.ID || len(sent.Containers) != 1 {
		t.Errorf("body = %s (%v); want the transaction", sc.bodies[0], err)
	}
	if len(rec.Waits()) != 0 {
		t.Errorf("waits = %v; want none", rec.Waits())
	}
}

func TestRetryOn429HonoursRetryAfter(t *testing.T) {
	rec := clock.NewStepper(time.Now())
	exc := `{"httpStatus":429,"errorType":"api.err.type.technical","errorMsg":[{"errorCode":"TOO_MANY_REQUESTS"}]}`
	date := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	c, sc := newScripted(t, &Options{Clock: rec, MaxAttempts: 5, MaxBackoff: 10 * time.Minute},
		reply{429, map[string]string{"Retry-After": "7"}, exc},
		reply{429, map[string]string{"Retry-After": date}, exc},
		reply{200, nil, `{}`})
	if _, err := c.PostTransaction(context.Background(), tx); err != nil {
		t.Fatalf("PostTransaction: %v", err)
	}
	if sc.calls() != 3 {
		t.Errorf("calls = %d; want 3", sc.calls())
	}
	if len(rec.Waits()) != 2 || rec.Waits()[0] != 7*time.Second {
		t.Fatalf("waits = %v; want [7s, ~2m]", rec.Waits())
	}
	// An HTTP date has one-second resolution and the clock moved on.
	if w := rec.Waits()[1]; w < time.Minute || w > 2*time.Minute {
		t.Errorf("wait after Retry-After date = %v; want about 2m", w)
	}
	for i, b := range sc.bodies {
		if b != sc.bodies[0] {
			t.Errorf("body of try %d = %s; want the same as the first", i+1, b)
		}
		if got := sc.reqs[i].Header.Get("Authorization"); got != "Bearer secret" {
			t.Errorf("try %d Authorization = %q; want the token", i+1, got)
		}
	}
}

func TestRetryAfterBeyondMaxBackoffIsHandedBack(t *testing.T) {
	rec := clock.NewStepper(time.Now())
	c, sc := newScripted(t, &Options{Clock: rec, MaxBackoff: time.Second},
		reply{503, map[string]string{"Retry-After": "120"}, `{"httpStatus":503}`})
	_, err := c.PostTransaction(context.Background(), tx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.RetryAfter != 2*time.Minute {
		t.Fatalf("PostTransaction error = %v; want a 503 APIError with RetryAfter 2m", err)
	}
	if sc.calls() != 1 || len(rec.Waits()) != 0 {
		t.Errorf("calls = %d, waits = %v; want 1 call and no wait", sc.calls(), rec.Waits())
	}
	if !Retryable(err) {
		t.Errorf("Retryable(%v) = false; want true", err)
	}
}

func TestBackoffIsJitteredExponentialAndBounded(t *testing.T) {
	rec := clock.NewStepper(time.Now())
	c, sc := newScripted(t, &Options{Clock: rec, MaxAttempts: 6, BaseBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
		reply{500, nil, "boom"})
	_, err := c.Product(context.Background(), "5900449000287")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Body != "boom" {
		t.Fatalf("Product error = %v; want the 500", err)
	}
	if sc.calls() != 6 {
		t.Errorf("calls = %d; want MaxAttempts 6", sc.calls())
	}
	ceilings := []time.Duration{100, 200, 400, 500, 500}
	if len(rec.Waits()) != len(ceilings) {
		t.Fatalf("waits = %v; want %d", rec.Waits(), len(ceilings))
	}
	for i, w := range rec.Waits() {
		hi := ceilings[i] * time.Millisecond
		if w < hi/2 || w > hi {
			t.Errorf("wait %d = %v; want in [%v, %v]", i+1, w, hi/2, hi)
		}
	}
}

func TestVerdictsAreNotRetried(t *testing.T) {
	tests := []struct {
		status int
		want   error
	}{
		{400, nil},
		{401, ErrUnauthorized},
		{403, ErrUnauthorized},
		{404, ErrNotFound},
		{409, ErrAlreadyDelivered},
		{422, nil},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			rec := clock.NewStepper(time.Now())
			c, sc := newScripted(t, &Options{Clock: rec}, reply{tt.status, nil, `{"httpStatus":` + strconv.Itoa(tt.status) + `}`})
			_, err := c.PostTransaction(context.Background(), tx)
			if err == nil {
				t.Fatalf("PostTransaction = nil; want a %d error", tt.status)
			}
			if Retryable(err) {
				t.Errorf("Retryable(%v) = true; want false", err)
			}
			if sc.calls() != 1 {
				t.Errorf("calls = %d; want 1", sc.calls())
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false; want true", err, tt.want)
			}
			for _, s := range []error{ErrNotFound, ErrUnauthorized, ErrAlreadyDelivered, ErrAlreadyRedeemed} {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = true; want false", err, s)
				}
			}
		})
	}
}

func TestConflictMeaningDependsOnCall(t *testing.T) {
	c, _ := newScripted(t, nil, reply{409, nil, `{"errorCode":5,"msg":"Conflicting ID of the request."}`})
	err := c.RedeemVoucher(context.Background(), drsapi.VoucherRedeem{ID: "x", RedeemType: 1, RedeemDate: "2026-01-05T08:00:00Z"})
	if !errors.Is(err, ErrAlreadyRedeemed) || errors.Is(err, ErrAlreadyDelivered) {
		t.Errorf("RedeemVoucher 409 = %v; want ErrAlreadyRedeemed only", err)
	}
	err = c.PostBagReplacement(context.Background(), drsapi.BagReplacement{})
	if !errors.Is(err, ErrAlreadyDelivered) {
		t.Errorf("PostBagReplacement 409 = %v; want ErrAlreadyDelivered", err)
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	for _, status := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			rec := clock.NewStepper(time.Now())
			c, sc := newScripted(t, &Options{Clock: rec, MaxAttempts: 3}, reply{status, nil, ""}, reply{200, nil, ""})
			if err := c.PostBagSeal(context.Background(), drsapi.BagSeal{}); err != nil {
				t.Fatalf("PostBagSeal after one %d = %v; want nil", status, err)
			}
			if sc.calls() != 2 {
				t.Errorf("calls = %d; want 2", sc.calls())
			}
		})
	}
}

func TestConnectionErrorIsRetriedThenRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	rec := clock.NewStepper(time.Now())
	c := New(url, "", &Options{Clock: rec, MaxAttempts: 3})
	_, err := c.MachineExists(context.Background(), "x")
	if err == nil || !Retryable(err) {
		t.Fatalf("MachineExists on a closed port = %v; want a retryable error", err)
	}
	if len(rec.Waits()) != 2 {
		t.Errorf("waits = %v; want 2 (3 attempts)", rec.Waits())
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; the client gives up
	}))
	t.Cleanup(srv.Close)
	rec := clock.NewStepper(time.Now())
	c := New(srv.URL, "", &Options{HTTPClient: &http.Client{Timeout: 20 * time.Millisecond}, Clock: rec, MaxAttempts: 2})
	_, err := c.Products(context.Background(), 0, 50, time.Time{})
	if err == nil || !Retryable(err) {
		t.Fatalf("Products against a silent server = %v; want a retryable error", err)
	}
	if len(rec.Waits()) != 1 {
		t.Errorf("waits = %v; want 1", rec.Waits())
	}
}

// cancelling is a clock whose every wait is cut short by its caller giving
// up: the timer never fires, the context is cancelled.
type cancelling struct {
	*clock.Fake
	cancel func()
	waits  int
}

func (c *cancelling) NewTimer(d time.Duration) clock.Timer {
	c.waits++
	c.cancel()
	return c.Fake.NewTimer(d)
}

func TestCancelledContextStopsRetrying(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := &cancelling{Fake: clock.NewFake(time.Now()), cancel: cancel}
	c, sc := newScripted(t, &Options{MaxAttempts: 10, Clock: clk}, reply{503, nil, ""})
	_, err := c.PostTransaction(ctx, tx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("PostTransaction = %v; want the last 503", err)
	}
	if sc.calls() != 1 || clk.waits != 1 {
		t.Errorf("calls = %d, waits = %d; want 1 and 1", sc.calls(), clk.waits)
	}
}

func TestEncodeErrorIsNotRetryable(t *testing.T) {
	c := New("http://127.0.0.1:1", "", nil)
	err := c.do(context.Background(), call{method: "POST", path: "/x", body: func() {}})
	if err == nil || Retryable(err) {
		t.Errorf("do with an unencodable body = %v; want a non-retryable error", err)
	}
}

func TestAPIErrorDecodesBothShapes(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
		code       string
	}{
		{"ApiException",
			`{"httpStatus":422,"errorType":"api.err.type.business","path":"POST /transaction","objectId":"497f6eca-6276-4993-bfeb-53cbbbba6f08",` +
				`"errorMsg":[{"errorCode":"TRS_PRODUCT_BAD_STATUS","field":"containers.ean","idRow":2,"errorMsgLabel":"api.err.msg.trs.product.bad.status","errorMsgArgs":["INACTIVE"]}]}`,
			"drs: POST /transaction: 422 TRS_PRODUCT_BAD_STATUS containers.ean[2]: api.err.msg.trs.product.bad.status (INACTIVE)",
			"TRS_PRODUCT_BAD_STATUS"},
		{"ErrorMessage",
			`{"msg":"Machine doesn't belong to given DRS operator.","errorCode":8,"path":"/transaction"}`,
			"drs: POST /transaction: 422 8: Machine doesn't belong to given DRS operator.",
			"8"},
		{"not JSON", `<html>bad gateway</html>`, "drs: POST /transaction: 422 <html>bad gateway</html>", ""},
		{"empty", ``, "drs: POST /transaction: 422 Unprocessable Entity", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newScripted(t, nil, reply{422, nil, tt.body})
			_, err := c.PostTransaction(context.Background(), tx)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("PostTransaction = %v; want *APIError", err)
			}
			if got := ae.Error(); got != tt.want {
				t.Errorf("Error() = %q; want %q", got, tt.want)
			}
			if got := ae.Exception.Code(); got != tt.code {
				t.Errorf("Exception.Code() = %q; want %q", got, tt.code)
			}
			if ae.Body != tt.body {
				t.Errorf("Body = %q; want %q", ae.Body, tt.body)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"999999999", 24 * time.Hour},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"Monday, 05-Jan-26 08:00:30 GMT", 30 * time.Second},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

func TestProductsQuery(t *testing.T) {
	tests := []struct {
		start, length int
		after         time.Time
		want          string
	}{
		{0, 50, time.Time{}, "pageLength=50&startIndex=0"},
		{100, 500, time.Time{}, "pageLength=50&startIndex=100"},
		{0, 0, time.Time{}, "pageLength=50&startIndex=0"},
		{5, 10, time.Date(2026, 1, 5, 9, 0, 0, 500, time.FixedZone("CET", 3600)),
			"pageLength=10&startIndex=5&updatedAfter=2026-01-05T08%3A00%3A00Z"},
	}
	for _, tt := range tests {
		c, sc := newScripted(t, nil, reply{200, nil, `{"pageNo":0,"pageSize":50,"totalItemCount":0,"data":[]}`})
		if _, err := c.Products(context.Background(), tt.start, tt.length, tt.after); err != nil {
			t.Fatalf("Products: %v", err)
		}
		if got := sc.reqs[0].URL.RawQuery; got != tt.want {
			t.Errorf("Products(%d, %d, %v) query = %q; want %q", tt.start, tt.length, tt.after, got, tt.want)
		}
	}
}

// catalogServer pages through n products like the operator does.
func catalogServer(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
		length, _ := strconv.Atoi(r.URL.Query().Get("pageLength"))
		page := drsapi.ProductPage{PageSize: length, TotalItemCount: n, Data: []drsapi.Product{}}
		for i := start; i < min(start+length, n); i++ {
			page.Data = append(page.Data, drsapi.Product{EAN: fmt.Sprintf("%013d", i)})
		}
		_ = json.NewEncoder(w).Encode(page)
	}
}

func TestAllProductsPagesThrough(t *testing.T) {
	for _, n := range []int{0, 1, 50, 51, 120} {
		var calls int
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			catalogServer(n)(w, r)
		}))
		ps, err := New(srv.URL, "", nil).AllProducts(context.Background(), time.Time{})
		srv.Close()
		if err != nil {
			t.Fatalf("AllProducts(%d products): %v", n, err)
		}
		if len(ps) != n {
			t.Errorf("AllProducts(%d products) = %d products; want %d", n, len(ps), n)
		}
		for i, p := range ps {
			if want := fmt.Sprintf("%013d", i); p.EAN != want {
				t.Fatalf("AllProducts(%d products)[%d] = %s; want %s", n, i, p.EAN, want)
			}
		}
		if want := max(1, (n+49)/50); calls != want {
			t.Errorf("AllProducts(%d products) made %d calls; want %d", n, calls, want)
		}
	}
}

func TestMachineCalls(t *testing.T) {
	tests := []struct {
		status int
		exists bool
		err    bool
	}{
		{200, true, false},
		{404, false, false},
		{400, false, true},
	}
	for _, tt := range tests {
		c, sc := newScripted(t, nil, reply{tt.status, nil, ""})
		got, err := c.MachineExists(context.Background(), "658f31ac-13dd-457e-8c8a-f79ab379d57f")
		if got != tt.exists || (err != nil) != tt.err {
			t.Errorf("MachineExists with %d = %v, %v; want %v, error %v", tt.status, got, err, tt.exists, tt.err)
		}
		if r := sc.reqs[0]; r.Method != "HEAD" || r.URL.Path != "/machine/658f31ac-13dd-457e-8c8a-f79ab379d57f" {
			t.Errorf("request = %s %s; want HEAD /machine/{id}", r.Method, r.URL.Path)
		}
	}

	c, _ := newScripted(t, nil, reply{200, nil, `{"id":"658f31ac-13dd-457e-8c8a-f79ab379d57f"}`})
	id, err := c.RegisterMachine(context.Background(), drsapi.MachineUpdate{SerialNumber: "S1", DrsCpNo: "1100061-152"})
	if err != nil || id != "658f31ac-13dd-457e-8c8a-f79ab379d57f" {
		t.Errorf("RegisterMachine = %q, %v; want the operator's id", id, err)
	}
	c, _ = newScripted(t, nil, reply{200, nil, `{}`})
	id, err = c.RegisterMachine(context.Background(), drsapi.MachineUpdate{ID: "7d0c4c4e-55b6-4d55-9f3e-2a7b54f1d4a1", SerialNumber: "S1", DrsCpNo: "1"})
	if err != nil || id != "7d0c4c4e-55b6-4d55-9f3e-2a7b54f1d4a1" {
		t.Errorf("RegisterMachine with an id = %q, %v; want that id", id, err)
	}
	c, _ = newScripted(t, nil, reply{200, nil, `{}`})
	if id, err := c.RegisterMachine(context.Background(), drsapi.MachineUpdate{SerialNumber: "S1", DrsCpNo: "1"}); err == nil {
		t.Errorf("RegisterMachine without any id = %q, nil; want an error", id)
	}
	c, sc := newScripted(t, nil, reply{404, nil, ""})
	if err := c.DeleteMachine(context.Background(), "a/b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteMachine unknown = %v; want ErrNotFound", err)
	}
	if got := sc.reqs[0].URL.EscapedPath(); got != "/machine/a%2Fb" {
		t.Errorf("DeleteMachine path = %q; want the id escaped", got)
	}
}

func TestVoucherBuffer(t *testing.T) {
	c, sc := newScripted(t, nil, reply{200, nil, `{"voucherIdList":["2900000000017","2900000000024"],"printType":1,"daysUntilExpiration":"30d"}`})
	vs, err := c.VoucherBuffer(context.Background(), "658f31ac-13dd-457e-8c8a-f79ab379d57f", 2)
	if err != nil {
		t.Fatalf("VoucherBuffer: %v", err)
	}
	want := []drsapi.VoucherData{{ID: "2900000000017", PrintType: 1}, {ID: "2900000000024", PrintType: 1}}
	if fmt.Sprint(vs) != fmt.Sprint(want) {
		t.Errorf("VoucherBuffer = %v; want %v", vs, want)
	}
	if got := sc.reqs[0].URL.RawQuery; got != "limit=2&rvmId=658f31ac-13dd-457e-8c8a-f79ab379d57f" {
		t.Errorf("query = %q; want limit and rvmId", got)
	}
}
