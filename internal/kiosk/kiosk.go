package kiosk

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/machine"
)

//go:embed assets
var assets embed.FS

// Actor runs a function on the controller's loop and waits for it
// (internal/daemon.Daemon is one).
type Actor interface {
	Do(ctx context.Context, f func(ctx context.Context, c *machine.Controller) (any, error)) (any, error)
}

// Options configure a Server.
type Options struct {
	// Actor drives the machine when the customer presses a payout button.
	Actor Actor
	// Status, when set, gives the technician's service screen its figures
	// (bag fill, catalogue version, ...).
	Status func() machine.Status
	// Sim, when set, is served under /sim/: the simulated machine's
	// controls for tests and demos. Never set on a real machine.
	Sim    http.Handler
	Logger *slog.Logger
	// Ping is how often an idle event stream sends a comment, so a dead
	// connection is noticed; default 10 s.
	Ping time.Duration
}

// Container is one container on the customer's screen.
type Container struct {
	ID      int64  `json:"id"`
	Status  string `json:"status"` // machine.StatusAccepted or StatusRejected
	Cause   int    `json:"cause"`
	Why     string `json:"why,omitempty"`
	Deposit int64  `json:"deposit"` // grosze
	EAN     string `json:"ean"`
	Name    string `json:"name,omitempty"`
}

// Service is what the technician's screen shows.
type Service struct {
	Fault      string   `json:"fault,omitempty"`
	Blocked    []string `json:"blocked"`
	BagID      string   `json:"bagId"`
	BagCount   int      `json:"bagCount"`
	BagFillPct int      `json:"bagFillPct"`
	CatalogVer int64    `json:"catalogVersion"`
	RvmID      string   `json:"rvmId"`
}

// Ended is the session that just ended, for the thank-you screen.
type Ended struct {
	Payout  string `json:"payout"`
	Phone   string `json:"phone,omitempty"` // the digital voucher's
	Total   int64  `json:"total"`           // grosze
	Voucher string `json:"voucher,omitempty"`
	Blocked bool   `json:"blocked,omitempty"` // too many frauds: nothing paid
}

// Snapshot is everything the page shows; a page that connects gets it at
// once, then the changes.
type Snapshot struct {
	State      string      `json:"state"` // machine.State*
	Fault      string      `json:"fault,omitempty"`
	Session    bool        `json:"session"`
	Containers []Container `json:"containers"`
	Total      int64       `json:"total"` // grosze credited
	Count      int         `json:"count"`
	Service    *Service    `json:"service,omitempty"`
}

// Server is the kiosk: it keeps what the customer should see, from the
// controller's events, and serves the page and its event stream.
type Server struct {
	opts Options // Immutable.
	mux  *http.ServeMux

	mu   sync.Mutex // guards snap and subs
	snap Snapshot
	subs map[chan []byte]struct{}
}

// New builds a kiosk server. Feed it the controller's events with
// [Server.Observe].
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Ping == 0 {
		opts.Ping = 10 * time.Second
	}
	s := &Server{opts: opts, snap: Snapshot{State: machine.StateOutOfOrder, Containers: []Container{}}, subs: map[chan []byte]struct{}{}}
	s.mux = http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	s.mux.Handle("GET /", http.FileServerFS(static))
	s.mux.HandleFunc("GET /events", s.events)
	s.mux.HandleFunc("GET /api/snapshot", s.snapshot)
	s.mux.HandleFunc("POST /api/finish", s.finish)
	s.mux.HandleFunc("POST /api/touch", s.touch)
	if opts.Sim != nil {
		s.mux.Handle("POST /sim/", opts.Sim)
	}
	return s
}

// Handler serves the page (/), its event stream (/events), the current
// snapshot (/api/snapshot), the payout buttons (POST /api/finish) and the
// customer's presence (POST /api/touch).
func (s *Server) Handler() http.Handler { return s.mux }

// Observe takes one controller event (machine.Options.OnEvent). It never
// blocks: a page that cannot keep up is disconnected and reconnects.
func (s *Server) Observe(e machine.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var kind string
	var body any
	switch e := e.(type) {
	case machine.ContainerDecided:
		ct := Container{ID: e.ID, Status: e.Status, Cause: e.Cause, Why: e.Why, Deposit: int64(e.Deposit), EAN: e.EAN, Name: e.Name}
		s.snap.Session = true
		replaced := false
		for i := range s.snap.Containers {
			if s.snap.Containers[i].ID == ct.ID {
				s.snap.Containers[i], replaced = ct, true
			}
		}
		if !replaced {
			s.snap.Containers = append(s.snap.Containers, ct)
		}
		kind, body = "container", ct
	case machine.SessionTotal:
		s.snap.Session, s.snap.Total, s.snap.Count = true, int64(e.Total), e.Count
		kind, body = "total", map[string]int64{"total": s.snap.Total, "count": int64(e.Count)}
	case machine.SessionEnded:
		s.snap.Session, s.snap.Containers, s.snap.Total, s.snap.Count = false, []Container{}, 0, 0
		kind, body = "ended", Ended{Payout: e.Payout, Phone: e.Phone, Total: int64(e.Total), Voucher: e.Voucher, Blocked: e.Blocked}
	case machine.StateChanged:
		s.snap.State, s.snap.Fault, s.snap.Service = e.State, e.Fault, nil
		if e.State == machine.StateService && s.opts.Status != nil {
			s.snap.Service = service(s.opts.Status())
		}
		kind, body = "state", map[string]any{"state": e.State, "fault": e.Fault, "service": s.snap.Service}
	default:
		return
	}
	s.broadcast(kind, body)
}

func service(st machine.Status) *Service {
	return &Service{
		Fault: st.Fault, Blocked: append([]string{}, st.Blocked...), BagID: st.BagID, BagCount: st.BagCount,
		BagFillPct: int(st.BagFill*100 + 0.5), CatalogVer: st.CatalogVer, RvmID: st.RvmID,
	}
}

// broadcast sends one event to every page; s.mu is held.
func (s *Server) broadcast(kind string, body any) {
	msg, err := sse(kind, body)
	if err != nil {
		s.opts.Logger.Error("kiosk: event", "kind", kind, "err", err)
		return
	}
	for ch := range s.subs {
		select {
		case ch <- msg:
		default:
			// Too slow: drop it; it reconnects and gets a snapshot.
			delete(s.subs, ch)
			close(ch)
		}
	}
}

func sse(kind string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", kind, b), nil
}

// Snapshot returns what the page shows now.
func (s *Server) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.snap
	sn.Containers = append([]Container{}, s.snap.Containers...)
	return sn
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(s.Snapshot())
}

// events streams server-sent events: first the snapshot, then each change.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "kiosk: streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan []byte, 64)
	s.mu.Lock()
	first, err := sse("snapshot", s.snap)
	if err == nil {
		s.subs[ch] = struct{}{}
	}
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: 1000\n\n%s", first); err != nil {
		return
	}
	fl.Flush()
	ping := time.NewTicker(s.opts.Ping)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			if _, err := w.Write(msg); err != nil {
				return
			}
		case <-ping.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return
			}
		}
		fl.Flush()
	}
}

// Errors of a payout press.
var (
	ErrNoSession = errors.New("kiosk: no session is open")
)

// finish ends the session with the payout the customer pressed, through
// the same controller act as a scenario's finish step.
func (s *Server) finish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Payout string `json:"payout"`
		Phone  string `json:"phone"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("kiosk: finish body: %w", err))
		return
	}
	switch req.Payout {
	case machine.PayoutVoucher, machine.PayoutDonation:
		req.Phone = ""
	case machine.PayoutDigital, machine.PayoutAccount:
		if !machine.ValidPhone(req.Phone) {
			httpError(w, http.StatusBadRequest, fmt.Errorf("kiosk: phone %q is not a 9-digit number", req.Phone))
			return
		}
	default:
		httpError(w, http.StatusBadRequest, fmt.Errorf("kiosk: unknown payout %q", req.Payout))
		return
	}
	err := s.do(r, func(ctx context.Context, c *machine.Controller) (any, error) {
		if !c.SessionOpen() {
			return nil, ErrNoSession
		}
		return nil, c.Finish(ctx, req.Payout, req.Phone)
	})
	switch {
	case errors.Is(err, machine.ErrBusy), errors.Is(err, ErrNoSession):
		httpError(w, http.StatusConflict, err)
	case err != nil:
		httpError(w, http.StatusServiceUnavailable, err)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{\"ok\":true}\n"))
	}
}

// touch: the customer is at the screen; the session's idle timeout counts
// from now (machine.Controller.Touch).
func (s *Server) touch(w http.ResponseWriter, r *http.Request) {
	err := s.do(r, func(ctx context.Context, c *machine.Controller) (any, error) {
		c.Touch()
		return nil, nil
	})
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// do runs f on the machine's loop for a request, waiting at most 10 s.
func (s *Server) do(r *http.Request, f func(ctx context.Context, c *machine.Controller) (any, error)) error {
	if s.opts.Actor == nil {
		return errors.New("kiosk: no machine")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	_, err := s.opts.Actor.Do(ctx, f)
	return err
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Serve serves the kiosk on ln until ctx ends, then closes open streams.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		hs.Shutdown(sctx)
		cancel()
		hs.Close()
	}()
	err := hs.Serve(ln)
	close(done)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("kiosk: %w", err)
}
