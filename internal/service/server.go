package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/service/wire"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// DoFunc runs f on the controller's loop and waits for it: the daemon's act
// runner (internal/daemon.Daemon.Do). Every look at or change of the
// machine goes through it, so the console never races the loop.
type DoFunc func(ctx context.Context, f func(ctx context.Context, c *machine.Controller) (any, error)) (any, error)

// Sim is the simulated machine's hooks for a technician's hands: a
// reference mass on the bag scale, the bag swap, a jam taken out. Nil on
// real hardware.
type Sim interface {
	PlaceReference(physic.Mass) error
	ClearReference()
	ExchangeBag() (removed physic.Mass, count int)
	ClearFaults()
}

// Options configure a Server.
type Options struct {
	Path     string                          // the socket; created with mode 0600
	Do       DoFunc                          // required
	Ledger   *ledger.Ledger                  // required: PIN, audit log, calibration history
	Sim      Sim                             // nil on real hardware
	Register func(ctx context.Context) error // asks the operator for an rvmId again; nil: not offered
	Clock    clock.Clock                     // wall clock for the lockout and the waits between readings; default clock.Real
	Logger   *slog.Logger

	MaxTries int           // wrong PINs before the lockout; 5
	Lockout  time.Duration // how long the console stays locked; 5 min

	Samples     int           // readings a tare or span takes; 10
	SampleEvery time.Duration // between them; 50 ms
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxTries <= 0 {
		o.MaxTries = 5
	}
	if o.Lockout <= 0 {
		o.Lockout = 5 * time.Minute
	}
	if o.Samples <= 0 {
		o.Samples = 10
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = 50 * time.Millisecond
	}
}

// Server serves the service socket. See the package documentation.
type Server struct {
	opts Options // Immutable.
	ln   net.Listener

	mu     sync.Mutex // guards the fields below
	tries  int        // consecutive wrong PINs
	locked time.Time  // refused until then
	drafts map[string]*draft
	nextID int
	conns  map[*session]bool
	closed bool
}

// Listen creates the socket (mode 0600; a stale socket left by a dead
// daemon is replaced, a live one is an error) and returns the server.
func Listen(opts Options) (*Server, error) {
	opts.defaults()
	if opts.Do == nil || opts.Ledger == nil {
		return nil, errors.New("service: Do and Ledger are required")
	}
	if opts.Path == "" {
		return nil, errors.New("service: no socket path")
	}
	if fi, err := os.Lstat(opts.Path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("service: %s exists and is not a socket", opts.Path)
		}
		if c, err := net.DialTimeout("unix", opts.Path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("service: another daemon serves %s", opts.Path)
		}
		os.Remove(opts.Path)
	}
	// The socket is born 0600: no moment where another user could connect.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", opts.Path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("service: listen on %s: %w", opts.Path, err)
	}
	if err := os.Chmod(opts.Path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("service: %s: %w", opts.Path, err)
	}
	s := &Server{opts: opts, ln: ln, drafts: map[string]*draft{}, conns: map[*session]bool{}}
	if err := s.loadLockout(context.Background()); err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

// The lockout lives in the ledger, so that restarting rvmd (or cutting its
// power) does not hand a guesser five fresh tries.
const (
	metaTries  = "console_wrong_pins"
	metaLocked = "console_locked_until"
)

func (s *Server) loadLockout(ctx context.Context) error {
	if v, ok, err := s.opts.Ledger.Meta(ctx, metaTries); err != nil {
		return fmt.Errorf("service: lockout: %w", err)
	} else if ok {
		s.tries, _ = strconv.Atoi(v)
	}
	if v, ok, err := s.opts.Ledger.Meta(ctx, metaLocked); err != nil {
		return fmt.Errorf("service: lockout: %w", err)
	} else if ok && v != "" {
		if s.locked, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return fmt.Errorf("service: lockout: %s %q: %w", metaLocked, v, err)
		}
	}
	return nil
}

// saveLockout records the count of wrong PINs and the lockout's end.
func (s *Server) saveLockout(ctx context.Context, tries int, locked time.Time) error {
	until := ""
	if !locked.IsZero() {
		until = locked.UTC().Format(time.RFC3339Nano)
	}
	if err := s.opts.Ledger.SetMeta(ctx, metaTries, strconv.Itoa(tries)); err != nil {
		return fmt.Errorf("service: lockout: %w", err)
	}
	if err := s.opts.Ledger.SetMeta(ctx, metaLocked, until); err != nil {
		return fmt.Errorf("service: lockout: %w", err)
	}
	return nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.opts.Path }

// Serve accepts console sessions until ctx ends or Close is called; it
// closes the listener and every open session on the way out.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("service: accept: %w", err)
		}
		ss := s.newSession(c)
		if ss == nil {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serve(ctx, ss)
		}()
	}
}

// Close stops the server and ends every session; the socket file is
// removed.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ss := range s.conns {
		ss.conn.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	os.Remove(s.opts.Path)
	return err
}

// session is one console connection.
type session struct {
	conn   *wire.Conn
	name   string // "console-3 (uid 1000)": who, in the audit trail
	authed bool
}

func (s *Server) newSession(c net.Conn) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.nextID++
	name := fmt.Sprintf("console-%d", s.nextID)
	if uc, ok := c.(*net.UnixConn); ok {
		if raw, err := uc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) {
				if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
					name = fmt.Sprintf("%s (uid %d, pid %d)", name, cred.Uid, cred.Pid)
				}
			})
		}
	}
	ss := &session{conn: wire.NewConn(c), name: name}
	s.conns[ss] = true
	return ss
}

func (s *Server) serve(ctx context.Context, ss *session) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, ss)
		s.mu.Unlock()
		ss.conn.Close()
		s.dropHeld(ctx, ss)
	}()
	for {
		var req wire.Request
		if err := ss.conn.Receive(&req); err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.opts.Logger.Debug("console session", "session", ss.name, "err", err)
			}
			return
		}
		rep := s.handle(ctx, ss, req)
		if err := ss.conn.Send(rep); err != nil {
			return
		}
	}
}

// audit records an entry (and its fleet event); a failure to record is
// logged, not shown to the technician.
func (s *Server) audit(ctx context.Context, ss *session, action string, ok bool, detail string) {
	rvmID := ""
	if v, err := s.opts.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) { return c.RvmID(), nil }); err == nil {
		rvmID, _ = v.(string)
	}
	e := ledger.AuditEntry{At: s.opts.Clock.Now().UTC(), Session: ss.name, Action: action, OK: ok, Detail: detail}
	if err := s.opts.Ledger.Audit(context.WithoutCancel(ctx), e, rvmID); err != nil {
		s.opts.Logger.Error("audit", "action", action, "err", err)
	}
}

// login checks a PIN under the lockout rule: MaxTries wrong PINs in a row
// lock the console for Lockout, during which even the right PIN is refused.
func (s *Server) login(ctx context.Context, ss *session, pin string) wire.Reply {
	now := s.opts.Clock.Now()
	s.mu.Lock()
	locked := s.locked
	s.mu.Unlock()
	if now.Before(locked) {
		left := locked.Sub(now).Round(time.Second)
		s.audit(ctx, ss, "login", false, "refused: console locked")
		return fail(wire.CodeLocked, "console locked after %d wrong PINs; try again in %s", s.opts.MaxTries, left)
	}
	hash, ok, err := s.opts.Ledger.PIN(ctx)
	if err != nil {
		return fail(wire.CodeFailed, "%v", err)
	}
	if !ok {
		s.audit(ctx, ss, "login", false, "refused: no technician PIN set")
		return fail(wire.CodeNoPIN, "no technician PIN is set on this machine: set one with 'rvmd pin set -db FILE'")
	}
	good, err := CheckPIN(hash, pin)
	if err != nil {
		return fail(wire.CodeFailed, "%v", err)
	}
	if !good {
		s.mu.Lock()
		s.tries++
		tries := s.tries
		lock := tries >= s.opts.MaxTries
		if lock {
			s.tries = 0
			s.locked = now.Add(s.opts.Lockout)
		}
		saved, until := s.tries, s.locked
		s.mu.Unlock()
		if err := s.saveLockout(ctx, saved, until); err != nil {
			return fail(wire.CodeFailed, "%v", err)
		}
		s.audit(ctx, ss, "login", false, fmt.Sprintf("refused: wrong PIN (%d of %d)", tries, s.opts.MaxTries))
		if lock {
			s.audit(ctx, ss, "lockout", true, fmt.Sprintf("console locked for %s after %d wrong PINs", s.opts.Lockout, s.opts.MaxTries))
			return fail(wire.CodeLocked, "wrong PIN; console locked for %s", s.opts.Lockout)
		}
		return fail(wire.CodeBadPIN, "wrong PIN (%d of %d tries before a %s lockout)", tries, s.opts.MaxTries, s.opts.Lockout)
	}
	s.mu.Lock()
	s.tries = 0
	s.mu.Unlock()
	if err := s.saveLockout(ctx, 0, time.Time{}); err != nil {
		return fail(wire.CodeFailed, "%v", err)
	}
	ss.authed = true
	s.audit(ctx, ss, "login", true, "")
	return okText(map[string]string{"session": ss.name}, "logged in as %s", ss.name)
}
