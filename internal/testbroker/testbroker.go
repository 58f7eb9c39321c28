package testbroker

import (
	"errors"
	"fmt"
	"github.com/deposit-rvm/rvm/internal/testlog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long Start and Restart wait for the broker to
// accept connections; the machine is shared, so it is generous.
const startTimeout = 15 * time.Second

// Option configures a Broker.
type Option func(*config)

type config struct {
	passwords   map[string]string
	acl         string
	persistence bool
	stopSignal  syscall.Signal
	tls         bool
	requireCert bool
	extra       []string
}

// WithPasswords turns anonymous access off and lets in only these users.
func WithPasswords(users map[string]string) Option {
	return func(c *config) { c.passwords = users }
}

// WithACL installs a mosquitto acl_file with this content (see
// mosquitto.conf(5)); "%u" and "%c" patterns work as documented there.
func WithACL(acl string) Option {
	return func(c *config) { c.acl = acl }
}

// WithPersistence keeps sessions and queued messages across Restart.
func WithPersistence(on bool) Option {
	return func(c *config) { c.persistence = on }
}

// WithStopSignal sets the signal Stop sends: syscall.SIGKILL (the default,
// a crash) or syscall.SIGTERM (a clean shutdown that saves persistence).
func WithStopSignal(sig syscall.Signal) Option {
	return func(c *config) { c.stopSignal = sig }
}

// WithTLS serves TLS only (URL becomes ssl://...) with a generated CA.
// requireClientCert makes the broker refuse clients without a certificate
// signed by that CA.
func WithTLS(requireClientCert bool) Option {
	return func(c *config) { c.tls, c.requireCert = true, requireClientCert }
}

// WithConfig appends raw lines to mosquitto.conf, for settings the other
// options do not cover (say "max_inflight_messages 1").
func WithConfig(lines ...string) Option {
	return func(c *config) { c.extra = append(c.extra, lines...) }
}

// Broker is a running (or stopped) mosquitto process.
type Broker struct {
	// Immutable.
	t    testing.TB
	bin  string
	dir  string
	port int
	cfg  config
	ca   *certAuthority

	// Mutable, guarded by mu.
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *testlog.Buffer
}

// Start starts mosquitto on a free 127.0.0.1 port and stops it when the
// test ends.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	bin := findMosquitto()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("testbroker: mosquitto is not installed (apt-get install mosquitto); CI must run the broker tests")
		}
		t.Skip("testbroker: mosquitto is not installed (apt-get install mosquitto); skipping a test that needs a real MQTT broker")
	}
	cfg := config{stopSignal: syscall.SIGKILL}
	for _, o := range opts {
		o(&cfg)
	}
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), cfg: cfg, log: &testlog.Buffer{}}
	if cfg.tls {
		ca, err := newCertAuthority(b.dir)
		if err != nil {
			t.Fatalf("testbroker: %v", err)
		}
		b.ca = ca
	}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("testbroker: mosquitto log:\n%s", b.Log())
		}
	})
	// Another process may take the port between our probe and mosquitto's
	// bind; try a few ports before giving up.
	var err error
	for range 5 {
		b.port, err = freePort()
		if err != nil {
			t.Fatalf("testbroker: %v", err)
		}
		if err = b.writeConfig(); err != nil {
			t.Fatalf("testbroker: %v", err)
		}
		if err = b.start(); err == nil {
			return b
		}
	}
	t.Fatalf("testbroker: %v\nlog:\n%s", err, b.Log())
	return nil
}

// URL is tcp://127.0.0.1:PORT, or ssl://127.0.0.1:PORT with WithTLS.
func (b *Broker) URL() string {
	scheme := "tcp"
	if b.cfg.tls {
		scheme = "ssl"
	}
	return fmt.Sprintf("%s://%s", scheme, b.Addr())
}

// Addr is 127.0.0.1:PORT.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Port is the broker's TCP port; it stays the same across Restart.
func (b *Broker) Port() int { return b.port }

// Dir is the directory holding mosquitto.conf, the password file, the ACL,
// the certificates and the persistence file.
func (b *Broker) Dir() string { return b.dir }

// CAFile is the PEM file of the CA that signed the broker's certificate
// (WithTLS only).
func (b *Broker) CAFile() string {
	if b.ca == nil {
		b.t.Fatal("testbroker: CAFile without WithTLS")
	}
	return b.ca.caFile
}

// ClientCert issues a client certificate with common name cn, signed by the
// broker's CA, and returns its PEM files (WithTLS only).
func (b *Broker) ClientCert(cn string) (certFile, keyFile string) {
	b.t.Helper()
	if b.ca == nil {
		b.t.Fatal("testbroker: ClientCert without WithTLS")
	}
	certFile, keyFile, err := b.ca.issue(cn, false)
	if err != nil {
		b.t.Fatalf("testbroker: %v", err)
	}
	return certFile, keyFile
}

// Log returns what mosquitto wrote so far, over all its runs.
func (b *Broker) Log() string { return b.log.String() }

// Stop ends the broker with the stop signal (SIGKILL unless WithStopSignal
// said otherwise) and waits until it is gone. Stopping a stopped broker does
// nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(b.cfg.stopSignal)
	select {
	case <-b.done:
	case <-time.After(startTimeout):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd, b.done = nil, nil
}

// Restart stops the broker if it runs and starts it again on the same port
// with the same configuration. Without WithPersistence it comes back empty:
// no sessions, no retained messages.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	// The old socket may linger for a moment; retry the bind.
	var err error
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("testbroker: restart: %v\nlog:\n%s", err, b.Log())
}

func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return nil
	}
	fmt.Fprintf(b.log, "--- testbroker: starting on %s\n", b.Addr())
	cmd := exec.Command(b.bin, "-c", filepath.Join(b.dir, "mosquitto.conf"))
	cmd.Stdout, cmd.Stderr = b.log, b.log
	// A process group of its own, so a Ctrl-C on `go test` does not race
	// the test's own Stop/Restart.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", b.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if err := waitListening(b.Addr(), done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return err
	}
	b.cmd, b.done = cmd, done
	return nil
}

// errExited says mosquitto died before it listened (port taken, bad config).
var errExited = errors.New("mosquitto exited before accepting connections")

func waitListening(addr string, done <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			return errExited
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mosquitto not listening on %s after %v: %w", addr, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *Broker) writeConfig() error {
	var c strings.Builder
	// As root mosquitto would drop to user "mosquitto", who cannot read the
	// test's private temp directory.
	if os.Geteuid() == 0 {
		c.WriteString("user root\n")
	}
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.port)
	c.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\nlog_timestamp_format %H:%M:%S\n")
	// The default inflight window of 20 per client would throttle the
	// pipelining tests and benchmarks more than any production broker.
	c.WriteString("max_inflight_messages 0\nmax_queued_messages 0\n")
	if b.cfg.passwords != nil {
		pw := filepath.Join(b.dir, "passwd")
		if err := writePasswords(pw, b.cfg.passwords); err != nil {
			return err
		}
		fmt.Fprintf(&c, "allow_anonymous false\npassword_file %s\n", pw)
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if b.cfg.acl != "" {
		acl := filepath.Join(b.dir, "acl")
		if err := os.WriteFile(acl, []byte(b.cfg.acl), 0o600); err != nil {
			return fmt.Errorf("write acl: %w", err)
		}
		fmt.Fprintf(&c, "acl_file %s\n", acl)
	}
	if b.cfg.persistence {
		fmt.Fprintf(&c, "persistence true\npersistence_location %s/\nautosave_interval 1\n", b.dir)
	} else {
		c.WriteString("persistence false\n")
	}
	if b.ca != nil {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", b.ca.caFile, b.ca.serverCert, b.ca.serverKey)
		if b.cfg.requireCert {
			c.WriteString("require_certificate true\n")
		}
	}
	for _, l := range b.cfg.extra {
		c.WriteString(l + "\n")
	}
	if err := os.WriteFile(filepath.Join(b.dir, "mosquitto.conf"), []byte(c.String()), 0o600); err != nil {
		return fmt.Errorf("write mosquitto.conf: %w", err)
	}
	return nil
}

// writePasswords builds the password file with mosquitto_passwd, so the
// hash format is whatever this mosquitto expects.
func writePasswords(file string, users map[string]string) error {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		return fmt.Errorf("mosquitto_passwd not found (it ships with mosquitto): %w", err)
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		return fmt.Errorf("write passwd: %w", err)
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		out, err := exec.Command(bin, "-b", file, u, users[u]).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mosquitto_passwd %s: %w: %s", u, err, out)
		}
	}
	return nil
}

func findMosquitto() string {
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
