package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/gateway/store"
)

// Tills authenticate with a token of their own (rvm-gateway tills add),
// stored as its SHA-256: the database never holds a usable token. A till
// may use only the till routes; staff (-api-token) may use every route.

var tillNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// HashToken is how a till's token is kept in the store.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// AddTill registers a till named name in st and returns its token, which
// is shown this once.
func AddTill(ctx context.Context, st *store.Store, name string, now time.Time) (string, error) {
	if !tillNameRE.MatchString(name) {
		return "", fmt.Errorf("%w: %q", ErrTillName, name)
	}
	tok := NewTillToken()
	if err := st.AddTill(ctx, name, HashToken(tok), now); err != nil {
		return "", fmt.Errorf("gateway: till %s: %w", name, err)
	}
	return tok, nil
}

type actorKey struct{}

func actorOf(r *http.Request) store.Actor {
	a, _ := r.Context().Value(actorKey{}).(store.Actor)
	return a
}

// bearer returns the request's bearer token ("" when none).
func bearer(r *http.Request) string {
	t, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return t
}

// isStaff reports whether the request carries the staff token (or the
// gateway runs without one).
func (g *Gateway) isStaff(r *http.Request) bool {
	if g.o.APIToken == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(g.o.APIToken)) == 1
}

// tillOf returns the till whose token the request carries.
func (g *Gateway) tillOf(r *http.Request) (string, bool) {
	tok := bearer(r)
	if tok == "" {
		return "", false
	}
	name, err := g.st.TillByToken(r.Context(), HashToken(tok))
	return name, err == nil
}

// till guards a till route: staff or a till may call it; the actor goes
// into the request's context for the audit trail.
func (g *Gateway) till(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var a store.Actor
		if name, ok := g.tillOf(r); ok {
			a = store.Actor{Who: "till", Till: name}
		} else if g.isStaff(r) {
			a = store.Actor{Who: "staff"}
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rvm-gateway"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "a valid bearer token is required")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, a)))
	}
}

// refuseTill answers 403 to a till's token on a staff route.
func (g *Gateway) refuseTill(w http.ResponseWriter, r *http.Request) bool {
	if g.o.APIToken != "" && g.isStaff(r) {
		return false
	}
	if _, ok := g.tillOf(r); ok {
		writeError(w, http.StatusForbidden, "TILL_FORBIDDEN", "a till's token may use only the till routes")
		return true
	}
	return false
}

// tillName is the till a money operation is for: a till's own name, or
// the "till" a staff caller names. A till naming another is refused.
func tillName(w http.ResponseWriter, r *http.Request, named string) (store.Actor, bool) {
	a := actorOf(r)
	switch {
	case a.Who == "till" && named != "" && named != a.Till:
		writeError(w, http.StatusForbidden, "OTHER_TILL", fmt.Sprintf("till %s may not act as till %q", a.Till, named))
		return a, false
	case a.Who == "till":
		return a, true
	case len(named) > 64:
		writeError(w, http.StatusBadRequest, "TOO_LONG", "till is longer than 64 bytes")
		return a, false
	}
	a.Till = named
	return a, true
}

// recorder keeps a copy of what a handler answers.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (rec *recorder) WriteHeader(status int) {
	rec.status = status
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	rec.body.Write(b)
	return rec.ResponseWriter.Write(b)
}

// idempotent makes a money route answer a repeated request with the same
// Idempotency-Key (from the same caller, on the same path) as it answered
// the first, without acting again. A first request that failed inside
// (5xx) had no effect and is forgotten, so it may be made again.
func (g *Gateway) idempotent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("Idempotency-Key")
		if k == "" {
			h(w, r)
			return
		}
		if len(k) > 255 {
			writeError(w, http.StatusBadRequest, "TOO_LONG", "Idempotency-Key is longer than 255 bytes")
			return
		}
		a := actorOf(r)
		key := a.Who + "/" + a.Till + " " + r.Method + " " + r.URL.Path + " " + k
		first, rep, err := g.st.BeginIdempotent(r.Context(), key, g.clk.Now())
		if err != nil {
			g.internal(w, r, err)
			return
		}
		if !first {
			if rep.Status == 0 {
				writeError(w, http.StatusConflict, "IN_PROGRESS", "a request with this Idempotency-Key is still running")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replay", "true")
			w.WriteHeader(rep.Status)
			w.Write(rep.Body)
			return
		}
		rec := &recorder{ResponseWriter: w}
		h(rec, r)
		keep := store.Reply{Status: rec.status, Body: rec.body.Bytes()}
		if rec.status >= 500 {
			keep = store.Reply{}
		}
		if err := g.st.FinishIdempotent(context.WithoutCancel(r.Context()), key, keep); err != nil {
			g.log.Error("gateway: idempotency reply", "err", err.Error())
		}
	}
}

// NewTillToken makes a random till token.
func NewTillToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "till_" + hex.EncodeToString(b)
}

// ErrTillName is returned for a till or station name that is not 1-64
// letters, digits, dots, dashes or underscores.
var ErrTillName = errors.New("gateway: a name is 1-64 letters, digits, '.', '-' or '_'")
