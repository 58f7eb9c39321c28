package drs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/deposit-rvm/rvm/internal/backoff"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// Sentinel errors. An [*APIError] unwraps to one of them where the status
// means something a caller acts on, so errors.Is works on any method's error.
var (
	// ErrAlreadyDelivered: the operator already holds a transaction with
	// this id (409 on POST /transaction). The delivery is done.
	ErrAlreadyDelivered = errors.New("drs: already delivered")
	// ErrAlreadyRedeemed: the voucher was redeemed before (409 on
	// POST /voucher/redeem).
	ErrAlreadyRedeemed = errors.New("drs: voucher already redeemed")
	// ErrNotFound: 404, an unknown machine, product or voucher.
	ErrNotFound = errors.New("drs: not found")
	// ErrUnauthorized: 401 or 403, a missing, wrong or expired token.
	ErrUnauthorized = errors.New("drs: unauthorized")
	// ErrConflict: any other 409.
	ErrConflict = errors.New("drs: conflict")
)

// Options tune a [Client]. The zero value of each field means its default.
type Options struct {
	// HTTPClient sends the requests. Default: a client with a 30 s timeout
	// that keeps up to 128 idle connections to the operator.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one call, the first included. Default 4.
	MaxAttempts int
	// BaseBackoff is the wait before the second try; each later wait
	// doubles, up to MaxBackoff. Defaults 200 ms and 30 s.
	BaseBackoff, MaxBackoff time.Duration
	// Logger receives one line per retry. Default: discard.
	Logger *slog.Logger
	// Clock times the waits between tries and reads Retry-After dates.
	// Default: the wall clock. Tests inject a clock.Stepper, whose waits
	// take no time and are recorded.
	Clock clock.Clock
}

// Default option values.
const (
	DefaultMaxAttempts = 4
	DefaultBaseBackoff = 200 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultTimeout     = 30 * time.Second
)

// maxBody bounds what is read of an error body: enough for any ApiException,
// not enough to exhaust memory on a misbehaving proxy.
const maxBody = 1 << 20

// Client calls the operator's RVM API. It is safe for concurrent use.
type Client struct {
	// Immutable.
	base        string
	token       string
	hc          *http.Client
	maxAttempts int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	log         *slog.Logger
	clk         clock.Clock
}

// New returns a client for the operator at baseURL, the URL that the
// operator's paths hang off ("https://drs-sandbox.kaucja.pl/api/rvm"), sending
// token as a bearer token on every request. opts may be nil.
func New(baseURL, token string, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Client{
		base:        strings.TrimRight(baseURL, "/"),
		token:       token,
		hc:          o.HTTPClient,
		maxAttempts: o.MaxAttempts,
		baseBackoff: o.BaseBackoff,
		maxBackoff:  o.MaxBackoff,
		log:         o.Logger,
		clk:         o.Clock,
	}
	if c.hc == nil {
		// The gateway calls one host from many goroutines at once (a
		// machine each): the default transport keeps 2 idle connections
		// a host and would dial (and, against the operator, handshake
		// TLS) afresh for most calls.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 128
		c.hc = &http.Client{Timeout: DefaultTimeout, Transport: t}
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.baseBackoff <= 0 {
		c.baseBackoff = DefaultBaseBackoff
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = DefaultMaxBackoff
	}
	if c.maxBackoff < c.baseBackoff {
		c.maxBackoff = c.baseBackoff
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.clk == nil {
		c.clk = clock.Real{}
	}
	return c
}

// APIError is an answer of the operator other than 2xx.
type APIError struct {
	Status       int
	Method, Path string
	// Exception is the decoded error body (either of the operator's
	// shapes, see [drsapi.ParseError]), nil when the body was neither.
	Exception *drsapi.ApiException
	// Body is the raw body, for a failure report when Exception is nil.
	Body string
	// RetryAfter is the wait the operator asked for (429, 503), 0 if none.
	RetryAfter time.Duration

	kind error // the sentinel this error unwraps to, or nil
}

// Error reads "drs: POST /transaction: 422 TRS_PRODUCT_BAD_STATUS containers.ean[2]: ...".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "drs: %s %s: %d", e.Method, e.Path, e.Status)
	switch {
	case e.Exception != nil && e.Exception.String() != "":
		b.WriteString(" " + e.Exception.String())
	case strings.TrimSpace(e.Body) != "":
		body := strings.TrimSpace(e.Body)
		if len(body) > 200 {
			body = body[:200] + "..."
		}
		b.WriteString(" " + body)
	default:
		b.WriteString(" " + http.StatusText(e.Status))
	}
	return b.String()
}

// Unwrap returns the sentinel matching the status ([ErrNotFound],
// [ErrAlreadyDelivered], ...), or nil.
func (e *APIError) Unwrap() error { return e.kind }

// Retryable reports whether trying err again later may succeed: 408, 429,
// 5xx, timeouts, connection errors and a cancelled context (the call was cut
// short, not refused). It is false for the operator's verdicts (400, 401,
// 403, 404, 409, 422 ...), which need a person or a code change, and for
// errors this client made before sending (an unencodable body).
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusTooManyRequests || ae.Status >= 500
	}
	var le *localError
	return !errors.As(err, &le)
}

// localError marks failures that happen before anything is sent; sending
// again cannot help.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// call describes one API operation.
type call struct {
	method string
	path   string // escaped, starting with "/"
	query  url.Values
	body   any
	out    any
	// conflict is what a 409 means for this operation.
	conflict error
}

// do performs c with retries. A 2xx answer is decoded into c.out if the
// body is not empty.
func (cl *Client) do(ctx context.Context, c call) error {
	var payload []byte
	if c.body != nil {
		var err error
		payload, err = json.Marshal(c.body)
		if err != nil {
			return &localError{fmt.Errorf("drs: %s %s: encode body: %w", c.method, c.path, err)}
		}
	}
	u := cl.base + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = cl.once(ctx, c, u, payload)
		if err == nil || !Retryable(err) || attempt >= cl.maxAttempts || ctx.Err() != nil {
			return err
		}
		wait := backoff.Policy{Min: cl.baseBackoff, Max: cl.maxBackoff}.Wait(attempt)
		var ae *APIError
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			if ae.RetryAfter > cl.maxBackoff {
				// Waiting longer than we ever would on our own blocks the
				// caller's queue; hand the wait back to it (RetryAfter).
				return err
			}
			wait = ae.RetryAfter
		}
		cl.log.LogAttrs(ctx, slog.LevelWarn, "drs: retrying",
			slog.String("method", c.method), slog.String("path", c.path),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("err", err.Error()))
		if serr := clock.Sleep(ctx, cl.clk, wait); serr != nil {
			return err
		}
	}
}

func (cl *Client) once(ctx context.Context, c call, u string, payload []byte) error {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u, body)
	if err != nil {
		return &localError{fmt.Errorf("drs: %s %s: %w", c.method, c.path, err)}
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	resp, err := cl.hc.Do(req)
	if err != nil {
		return fmt.Errorf("drs: %s %s: %w", c.method, c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		if c.out == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
			return nil
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return fmt.Errorf("drs: %s %s: read body: %w", c.method, c.path, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, c.out); err != nil {
			return fmt.Errorf("drs: %s %s: decode %d answer: %w", c.method, c.path, resp.StatusCode, err)
		}
		return nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	ae := &APIError{
		Status:     resp.StatusCode,
		Method:     c.method,
		Path:       c.path,
		Exception:  drsapi.ParseError(raw),
		Body:       string(raw),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), cl.clk.Now()),
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		ae.kind = ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		ae.kind = ErrUnauthorized
	case http.StatusConflict:
		ae.kind = ErrConflict
		if c.conflict != nil {
			ae.kind = c.conflict
		}
	}
	return ae
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date
// (RFC 9110 section 10.2.3). A date in the past, or garbage, is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return max(t.Sub(now), 0)
}

// RegisterMachine registers or updates a machine (POST /machine) and returns
// its rvmId: the one the operator generated, or m.ID when m carried one.
func (c *Client) RegisterMachine(ctx context.Context, m drsapi.MachineUpdate) (rvmID string, err error) {
	var out drsapi.MachineID
	if err := c.do(ctx, call{method: http.MethodPost, path: "/machine", body: m, out: &out}); err != nil {
		return "", err
	}
	if out.ID == "" {
		out.ID = m.ID
	}
	if out.ID == "" {
		return "", fmt.Errorf("drs: POST /machine: answer carries no id")
	}
	return out.ID, nil
}

// MachineExists asks whether the operator knows rvmID (HEAD /machine/{id}).
// A 404 is false with a nil error.
func (c *Client) MachineExists(ctx context.Context, rvmID string) (bool, error) {
	err := c.do(ctx, call{method: http.MethodHead, path: "/machine/" + url.PathEscape(rvmID)})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeleteMachine tells the operator that a machine is gone
// (DELETE /machine/{id}). An unknown id is an error wrapping [ErrNotFound].
func (c *Client) DeleteMachine(ctx context.Context, rvmID string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: "/machine/" + url.PathEscape(rvmID)})
}

// Products fetches one page of the catalogue (GET /product). startIndex is
// the 0-based index of the page's first product; pageLength is capped at
// [drsapi.MaxPageLength] (and 0 or less means the maximum). A zero
// updatedAfter fetches everything.
func (c *Client) Products(ctx context.Context, startIndex, pageLength int, updatedAfter time.Time) (drsapi.ProductPage, error) {
	q := drsapi.ProductQuery{StartIndex: startIndex, PageLength: pageLength, UpdatedAfter: updatedAfter}
	var page drsapi.ProductPage
	err := c.do(ctx, call{method: http.MethodGet, path: "/product", query: q.Values(), out: &page})
	return page, err
}

// AllProducts pages through the catalogue, products updated after
// updatedAfter only unless it is zero. A product that moves between pages
// while paging is returned once, in its last-seen version.
func (c *Client) AllProducts(ctx context.Context, updatedAfter time.Time) ([]drsapi.Product, error) {
	var all []drsapi.Product
	seen := map[string]int{}
	for start := 0; ; {
		page, err := c.Products(ctx, start, drsapi.MaxPageLength, updatedAfter)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Data {
			if i, ok := seen[p.EAN]; ok {
				all[i] = p
				continue
			}
			seen[p.EAN] = len(all)
			all = append(all, p)
		}
		start += len(page.Data)
		if len(page.Data) == 0 || start >= page.TotalItemCount {
			return all, nil
		}
	}
}

// Product fetches one product (GET /product/{ean}). An unknown EAN is an
// error wrapping [ErrNotFound].
func (c *Client) Product(ctx context.Context, ean string) (drsapi.Product, error) {
	var p drsapi.Product
	err := c.do(ctx, call{method: http.MethodGet, path: "/product/" + url.PathEscape(ean), out: &p})
	return p, err
}

// PostTransaction delivers one session (POST /transaction). The transaction
// id is the idempotency key: a 409 means the operator already has it, and the
// error wraps [ErrAlreadyDelivered].
func (c *Client) PostTransaction(ctx context.Context, t drsapi.Transaction) (drsapi.VoucherData, error) {
	a, err := c.PostTransactionAnswer(ctx, t)
	return a.VoucherData, err
}

// PostTransactionAnswer is [Client.PostTransaction] returning the whole
// answer, with the operator's blocked flag where it sends one.
func (c *Client) PostTransactionAnswer(ctx context.Context, t drsapi.Transaction) (drsapi.TransactionAnswer, error) {
	var a drsapi.TransactionAnswer
	err := c.do(ctx, call{method: http.MethodPost, path: "/transaction", body: t, out: &a, conflict: ErrAlreadyDelivered})
	return a, err
}

// PostBagFillStatus reports a bag's fill level (POST /bag-fill-status).
func (c *Client) PostBagFillStatus(ctx context.Context, s drsapi.BagFillStatus) error {
	_, err := c.BagFillStatus(ctx, s)
	return err
}

// BagFillStatus is [Client.PostBagFillStatus] returning the operator's
// answer, with the event id it assigned.
func (c *Client) BagFillStatus(ctx context.Context, s drsapi.BagFillStatus) (drsapi.BagFillStatusResponse, error) {
	var r drsapi.BagFillStatusResponse
	err := c.do(ctx, call{method: http.MethodPost, path: "/bag-fill-status", body: s, out: &r})
	return r, err
}

// PostBagReplacement reports a bag taken out (POST /bag-replacement). A 409
// (the bag id was reported before) wraps [ErrAlreadyDelivered].
func (c *Client) PostBagReplacement(ctx context.Context, r drsapi.BagReplacement) error {
	return c.do(ctx, call{method: http.MethodPost, path: "/bag-replacement", body: r, conflict: ErrAlreadyDelivered})
}

// PostBagSeal reports a seal put on a bag (POST /bag-seal).
func (c *Client) PostBagSeal(ctx context.Context, s drsapi.BagSeal) error {
	return c.do(ctx, call{method: http.MethodPost, path: "/bag-seal", body: s, conflict: ErrAlreadyDelivered})
}

// VoucherBuffer fetches voucher codes reserved for rvmID
// (GET /voucher/buffer), at most limit of them when limit > 0. Each code comes
// with the buffer's print type; IssuedAt and ValidUntil are empty because a
// voucher's validity runs from when the machine prints it (see
// [Client.VoucherBufferFull] for the validity period).
func (c *Client) VoucherBuffer(ctx context.Context, rvmID string, limit int) ([]drsapi.VoucherData, error) {
	b, err := c.VoucherBufferFull(ctx, rvmID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]drsapi.VoucherData, 0, len(b.VoucherIDList))
	for _, id := range b.VoucherIDList {
		out = append(out, drsapi.VoucherData{ID: id, PrintType: b.PrintType})
	}
	return out, nil
}

// VoucherBufferFull is [Client.VoucherBuffer] returning the operator's body
// as it is, with DaysUntilExpiration.
func (c *Client) VoucherBufferFull(ctx context.Context, rvmID string, limit int) (drsapi.VoucherBuffer, error) {
	q := url.Values{"rvmId": {rvmID}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var b drsapi.VoucherBuffer
	err := c.do(ctx, call{method: http.MethodGet, path: "/voucher/buffer", query: q, out: &b})
	return b, err
}

// RedeemVoucher tells the operator a voucher was paid out
// (POST /voucher/redeem). A voucher redeemed before is an error wrapping
// [ErrAlreadyRedeemed]; an unknown one wraps [ErrNotFound].
func (c *Client) RedeemVoucher(ctx context.Context, v drsapi.VoucherRedeem) error {
	return c.do(ctx, call{method: http.MethodPost, path: "/voucher/redeem", body: v, conflict: ErrAlreadyRedeemed})
}
