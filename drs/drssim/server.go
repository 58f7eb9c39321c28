package drssim

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// Options configure a [Server]. Only Catalog is needed; zero values of the
// rest mean their defaults.
type Options struct {
	// Catalog is the product catalogue served and checked against (see
	// [ParseCatalog]).
	Catalog []drsapi.Product
	// DB is the SQLite file; "" keeps everything in memory for the life of
	// the Server.
	DB string
	// Token, when set, is the bearer token every operator call must carry
	// (401 otherwise), the /_sim/ pages included: they list every
	// transaction accepted.
	Token string
	// Clock tells receipt times, voucher hand-out times and the outage
	// window. Default: the wall clock.
	Clock clock.Clock
	// Logger gets one line per request. Default: discard.
	Logger *slog.Logger

	// Latency is added to every operator call, waited on Clock.
	Latency time.Duration
	// ErrorRate is the fraction of operator calls answered 503, drawn from
	// a generator seeded with Seed.
	ErrorRate float64
	// Outage is a window during which every operator call is answered 503
	// with a Retry-After until its end.
	Outage Outage
	// Seed makes fault injection, ids and voucher codes repeatable.
	Seed uint64

	// VoucherValidity is how long a voucher is valid after the transaction
	// that issued it ends. Default 30 days.
	VoucherValidity time.Duration
	// PrintType is the voucher print type handed out (drsapi.PrintBarcode
	// by default).
	PrintType int
}

// Defaults of the voucher buffer.
const (
	DefaultBufferLimit = 10
	MaxBufferLimit     = 100
)

// Outage is a window [From, To) of unavailability; the zero value is none.
type Outage struct {
	From, To time.Time
}

// Active reports whether t falls in the window.
func (o Outage) Active(t time.Time) bool {
	return !o.To.IsZero() && !t.Before(o.From) && t.Before(o.To)
}

// ErrOutage is wrapped by [ParseOutage] errors.
var ErrOutage = errors.New("drssim: bad outage window")

// ParseOutage reads an outage window: "FROM-TO" with two RFC 3339 times, or
// two durations relative to start ("30s-90s"). "" is no outage.
func ParseOutage(s string, start time.Time) (Outage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Outage{}, nil
	}
	// RFC 3339 times contain '-' themselves: try every split point.
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			continue
		}
		a, b := s[:i], s[i+1:]
		if da, err := time.ParseDuration(a); err == nil {
			if db, err := time.ParseDuration(b); err == nil {
				return checkOutage(s, Outage{From: start.Add(da), To: start.Add(db)})
			}
		}
		if ta, err := time.Parse(time.RFC3339, a); err == nil {
			if tb, err := time.Parse(time.RFC3339, b); err == nil {
				return checkOutage(s, Outage{From: ta, To: tb})
			}
		}
	}
	return Outage{}, fmt.Errorf("%w: %q is neither FROM-TO in RFC 3339 nor durations like 30s-90s", ErrOutage, s)
}

func checkOutage(s string, o Outage) (Outage, error) {
	if !o.To.After(o.From) {
		return Outage{}, fmt.Errorf("%w: %q ends before it starts", ErrOutage, s)
	}
	return o, nil
}

// Server is the operator stand-in: an http.Handler serving the operator's
// RVM API at its root and the simulator's own pages under /_sim/.
type Server struct {
	// Immutable after New.
	opts Options
	clk  clock.Clock
	log  *slog.Logger
	cat  *catalog
	st   *store
	mux  *http.ServeMux

	idMu  sync.Mutex
	idRNG *rand.ChaCha8 // guarded by idMu

	faultMu  sync.Mutex
	faultRNG *rand.Rand // guarded by faultMu

	statsMu  sync.Mutex
	requests map[string]int // "POST /transaction 200" -> n; guarded by statsMu
	rejects  map[string]int // "422 TRS_PRODUCT_BAD_STATUS" -> n; guarded by statsMu
	faults   map[string]int // "outage", "error-rate" -> n; guarded by statsMu
}

// New opens (or creates) the simulator's database and returns the server.
// Close it when done.
func New(o Options) (*Server, error) {
	if o.ErrorRate < 0 || o.ErrorRate > 1 || math.IsNaN(o.ErrorRate) {
		return nil, fmt.Errorf("drssim: error rate %v outside 0..1", o.ErrorRate)
	}
	if o.Latency < 0 {
		return nil, fmt.Errorf("drssim: negative latency %v", o.Latency)
	}
	if o.PrintType != drsapi.PrintBarcode && o.PrintType != drsapi.PrintQR {
		return nil, fmt.Errorf("drssim: print type %d is neither 0 nor 1", o.PrintType)
	}
	if o.VoucherValidity <= 0 {
		o.VoucherValidity = 30 * 24 * time.Hour
	}
	s := &Server{
		opts:     o,
		clk:      o.Clock,
		log:      o.Logger,
		cat:      newCatalog(o.Catalog),
		requests: map[string]int{},
		rejects:  map[string]int{},
		faults:   map[string]int{},
	}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	st, err := openStore(o.DB)
	if err != nil {
		return nil, err
	}
	boot, err := st.boot(context.Background())
	if err != nil {
		st.close()
		return nil, err
	}
	s.st = st
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[0:], o.Seed)
	binary.LittleEndian.PutUint64(seed[8:], uint64(boot))
	s.idRNG = rand.NewChaCha8(seed)
	s.faultRNG = rand.New(rand.NewPCG(o.Seed, 0x64727373696d)) // "drssim"
	s.routes()
	return s, nil
}

// Close closes the database.
func (s *Server) Close() error { return s.st.close() }

// Serve answers on ln until ctx is done, then shuts down gracefully,
// letting requests in flight finish for up to 5 seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("drssim: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("drssim: shutdown: %w", err)
		}
		// A request still running after the grace period is cut: its
		// client retries, and the operator's idempotency on transaction
		// ids makes a cut request harmless. A stop is still a clean stop.
		hs.Close()
	}
	<-done
	return nil
}

// PutProduct adds or replaces a product in the served catalogue, stamped
// as updated now, so that incremental pulls (updatedAfter) see it. The
// catalogue is not persisted: a restart serves the catalogue file again.
func (s *Server) PutProduct(p drsapi.Product) {
	now := s.clk.Now().UTC().Format(time.RFC3339)
	if old, ok := s.cat.get(p.EAN); ok {
		if p.ID == "" {
			p.ID = old.ID
		}
		if p.CreationDate == "" {
			p.CreationDate = old.CreationDate
		}
	}
	if p.ID == "" {
		p.ID = uuid.NewSHA1(productNS, []byte(p.EAN)).String()
	}
	if p.CreationDate == "" {
		p.CreationDate = now
	}
	p.UpdatedDate = now
	s.cat.put(p)
}

// newUUID returns a version 4 uuid from the seeded generator.
func (s *Server) newUUID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	id, err := uuid.NewRandomFromReader(s.idRNG)
	if err != nil {
		panic(err) // ChaCha8.Read never fails
	}
	return id.String()
}

// newVoucherCode returns an EAN-13 in the in-store prefix 29 (GS1
// restricted circulation), so that any POS scanner reads it and no product
// code is ever mistaken for it.
func (s *Server) newVoucherCode() string {
	s.idMu.Lock()
	n := s.idRNG.Uint64() % 1e10
	s.idMu.Unlock()
	body := fmt.Sprintf("29%010d", n)
	return body + strconv.Itoa(checkDigit(body))
}

// checkDigit is the GS1 check digit of the digits in s.
func checkDigit(s string) int {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return (10 - sum%10) % 10
}

// statusWriter remembers the status written, for the stats.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP injects the configured faults, checks the token, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			// Answered before routing (a fault, a 401): name the route it
			// would have taken, so the keys stay few.
			_, route = s.mux.Handler(r)
		}
		s.statsMu.Lock()
		s.requests[fmt.Sprintf("%s %d", route, sw.status)]++
		s.statsMu.Unlock()
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "drssim: request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.status))
	}()
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		// No injected faults here: the simulator's own pages stay up.
		if !s.authorized(r) {
			s.apiError(sw, r, http.StatusUnauthorized, drsapi.ErrorTypeAuth, "", "UNAUTHORIZED", "", nil)
			return
		}
		s.mux.ServeHTTP(sw, r)
		return
	}
	if s.opts.Latency > 0 {
		if err := clock.Sleep(r.Context(), s.clk, s.opts.Latency); err != nil {
			return // the caller is gone
		}
	}
	now := s.clk.Now()
	if s.opts.Outage.Active(now) {
		s.countFault("outage")
		secs := int(math.Ceil(s.opts.Outage.To.Sub(now).Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		s.apiError(sw, r, http.StatusServiceUnavailable, drsapi.ErrorTypeTechnical, "", "SERVICE_UNAVAILABLE", "", nil, "outage")
		return
	}
	if s.opts.ErrorRate > 0 {
		s.faultMu.Lock()
		fail := s.faultRNG.Float64() < s.opts.ErrorRate
		s.faultMu.Unlock()
		if fail {
			s.countFault("error-rate")
			s.apiError(sw, r, http.StatusServiceUnavailable, drsapi.ErrorTypeTechnical, "", "SERVICE_UNAVAILABLE", "", nil, "error-rate")
			return
		}
	}
	if !s.authorized(r) {
		s.apiError(sw, r, http.StatusUnauthorized, drsapi.ErrorTypeAuth, "", "UNAUTHORIZED", "", nil)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// authorized reports whether r carries the configured bearer token (any
// request does when none is configured).
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1
}

func (s *Server) countFault(kind string) {
	s.statsMu.Lock()
	s.faults[kind]++
	s.statsMu.Unlock()
}

func (s *Server) countReject(status int, code string) {
	s.statsMu.Lock()
	s.rejects[fmt.Sprintf("%d %s", status, code)]++
	s.statsMu.Unlock()
}

// Stats is what GET /_sim/stats answers.
type Stats struct {
	Counts
	// Requests counts answers by route and status: "POST /transaction 409".
	Requests map[string]int `json:"requests"`
	// Rejects counts refusals by status and error code: "422 TRS_PRODUCT_BAD_STATUS".
	Rejects map[string]int `json:"rejects"`
	// Faults counts injected faults by kind: "outage", "error-rate".
	Faults map[string]int `json:"faults"`
}

// Stats returns the stored counts and this run's request, refusal and
// fault counters.
func (s *Server) Stats(ctx context.Context) (Stats, error) {
	c, err := s.st.counts(ctx)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Counts: c, Requests: map[string]int{}, Rejects: map[string]int{}, Faults: map[string]int{}}
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	for k, v := range s.requests {
		st.Requests[k] = v
	}
	for k, v := range s.rejects {
		st.Rejects[k] = v
	}
	for k, v := range s.faults {
		st.Faults[k] = v
	}
	return st, nil
}
