package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/backoff"
	"github.com/deposit-rvm/rvm/internal/money"
)

// Message is what a customer's phone receives of a digital voucher.
type Message struct {
	Phone      string       `json:"phone"`
	Code       string       `json:"code"`
	Amount     money.Grosze `json:"amount"`
	ValidUntil string       `json:"validUntil"`
	Text       string       `json:"text"`
}

// Notifier sends a message to a phone. Send must be safe to call again
// with the same message: a send whose outcome was lost is repeated (the
// webhook gets the voucher's code as its Idempotency-Key).
type Notifier interface {
	Send(ctx context.Context, m Message) error
}

// NewNotifier returns the notifier target names: "file:PATH" appends one
// JSON line per message to PATH; an http(s) URL posts each message to that
// webhook.
func NewNotifier(target string, client *http.Client) (Notifier, error) {
	if path, ok := strings.CutPrefix(target, "file:"); ok && path != "" {
		return &FileNotifier{Path: path}, nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: -notify %q is neither file:PATH nor an http(s) URL", ErrOptions, target)
	}
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return &WebhookNotifier{URL: target, Client: client}, nil
}

// FileNotifier appends each message as one JSON line to Path, for demos
// and tests.
type FileNotifier struct {
	Path string
	mu   sync.Mutex
}

// Send appends m and syncs the file.
func (f *FileNotifier) Send(_ context.Context, m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("gateway: notify: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, err := os.OpenFile(f.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("gateway: notify: %w", err)
	}
	_, err = fh.Write(append(b, '\n'))
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gateway: notify %s: %w", f.Path, err)
	}
	return nil
}

// WebhookNotifier posts each message as JSON to URL (an SMS or e-mail
// provider's webhook); any 2xx is success.
type WebhookNotifier struct {
	URL    string
	Client *http.Client
}

// Send posts m with the voucher's code as Idempotency-Key.
func (wh *WebhookNotifier) Send(ctx context.Context, m Message) error {
	b, _ := json.Marshal(m)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("gateway: notify: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "voucher-"+m.Code)
	resp, err := wh.Client.Do(req)
	if err != nil {
		return fmt.Errorf("gateway: notify: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("gateway: notify: webhook answered %s", resp.Status)
	}
	return nil
}

// notifyBackoff spaces the attempts at a notification that failed.
var notifyBackoff = backoff.Policy{Min: time.Second, Max: 10 * time.Minute}

// notifyLease is how long a replica holds a notification it is sending.
const notifyLease = time.Minute

// customers runs the till side's background work on every replica (each
// step is safe beside another replica's): accepted digital vouchers become
// active or credited, due codes go to phones, stale reservations are
// cancelled.
func (g *Gateway) customers(ctx context.Context) {
	t := g.clk.NewTicker(g.o.CustomerInterval)
	defer t.Stop()
	for {
		g.customerStep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (g *Gateway) customerStep(ctx context.Context) {
	acts, err := g.st.ActivateDigital(ctx, g.clk.Now())
	for _, a := range acts {
		if a.Credited {
			g.log.Info("gateway: deposit credited to an account", slog.String("voucher", a.Code), slog.String("account", a.Account))
		}
	}
	if err != nil && ctx.Err() == nil {
		g.log.Error("gateway: activate digital vouchers", slog.String("err", err.Error()))
	}
	kind := "" // without a notifier, codes for phones wait in the queue
	if g.o.Notifier == nil {
		kind = store.NotifyRedeem
	}
	for ctx.Err() == nil {
		n, ok, err := g.st.ClaimNotification(ctx, kind, g.clk.Now(), notifyLease)
		if err != nil {
			g.log.Error("gateway: notifications", slog.String("err", err.Error()))
			break
		}
		if !ok {
			break
		}
		g.notify(ctx, n)
	}
	g.expireReservations(ctx)
}

// notify sends one claimed notification (to the phone, or the operator's
// redemption of a voucher credited to an account) and records the
// outcome.
func (g *Gateway) notify(ctx context.Context, n store.Notification) {
	v, err := g.st.Voucher(ctx, n.Code)
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if n.Kind == store.NotifyRedeem {
			err = g.drs.RedeemVoucher(sctx, drsapi.VoucherRedeem{
				ID: v.Code, RedeemType: drsapi.RedeemOther, RedeemDate: g.clk.Now().UTC().Format(time.RFC3339), RvmID: v.RvmID,
			})
			if errors.Is(err, drs.ErrAlreadyRedeemed) {
				err = nil // an earlier attempt went through
			}
		} else {
			m := Message{Phone: n.Phone, Code: v.Code, Amount: v.Amount, ValidUntil: rfc(v.ValidUntil)}
			m.Text = fmt.Sprintf("Kaucja: bon %s na %s PLN, ważny do %s.", v.Code, v.Amount, v.ValidUntil.UTC().Format(time.DateOnly))
			err = g.o.Notifier.Send(sctx, m)
		}
		cancel()
	}
	now := g.clk.Now()
	if err == nil {
		if err := g.st.NotificationSent(context.WithoutCancel(ctx), n, now); err != nil {
			g.log.Error("gateway: notification sent", slog.String("voucher", n.Code), slog.String("err", err.Error()))
		}
		return
	}
	g.log.Warn("gateway: notification failed", slog.String("voucher", n.Code), slog.Int("attempt", n.Attempts), slog.String("err", err.Error()))
	if ferr := g.st.NotificationFailed(context.WithoutCancel(ctx), n.Code, now.Add(notifyBackoff.Wait(n.Attempts)), err.Error()); ferr != nil {
		g.log.Error("gateway: notification failed", slog.String("voucher", n.Code), slog.String("err", ferr.Error()))
	}
}

func (g *Gateway) apiResend(w http.ResponseWriter, r *http.Request) {
	code, ok := g.pathID(w, r, "code", drsapi.MaxIDLen, false)
	if !ok {
		return
	}
	err := g.st.ResendNotification(r.Context(), code, actorOf(r), g.clk.Now(), g.o.ResendGap)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "NOT_DIGITAL", "voucher "+code+" has no phone to send to (printed, pending or erased)")
	case errors.Is(err, store.ErrRateLimited):
		w.Header().Set("Retry-After", fmt.Sprint(int(g.o.ResendGap.Seconds())))
		writeError(w, http.StatusTooManyRequests, "TOO_SOON", err.Error())
	case err != nil:
		g.internal(w, r, err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"code": code, "status": "queued"})
	}
}
