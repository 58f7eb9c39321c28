package testbroker_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/internal/testbroker"
)

const waitFor = 10 * time.Second

func connect(t *testing.T, url, user, pass string, tlsCfg *tls.Config) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(t.Name() + user).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(waitFor)
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) {
		return nil, os.ErrDeadlineExceeded
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// retained publishes a retained message and reads it back from a new
// subscription, or returns "" when none arrives.
func publishRetained(t *testing.T, c mqtt.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, true, payload)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func readRetained(t *testing.T, c mqtt.Client, topic string) string {
	t.Helper()
	got := make(chan string, 1)
	tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	})
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	// A retained message is delivered right after SUBACK; a short wait
	// for an absent one is the only way to observe absence.
	select {
	case s := <-got:
		return s
	case <-time.After(500 * time.Millisecond):
		return ""
	}
}

func TestStopRestartSamePort(t *testing.T) {
	b := testbroker.Start(t)
	url := b.URL()
	if _, err := connect(t, url, "", "", nil); err != nil {
		t.Fatalf("connect(%q) = %v; want nil", url, err)
	}
	b.Stop()
	if _, err := connect(t, url, "", "", nil); err == nil {
		t.Fatalf("connect(%q) after Stop = nil; want an error", url)
	}
	b.Restart()
	if b.URL() != url {
		t.Fatalf("URL() after Restart = %q; want %q", b.URL(), url)
	}
	if _, err := connect(t, url, "", "", nil); err != nil {
		t.Fatalf("connect(%q) after Restart = %v; want nil", url, err)
	}
}

func TestPersistence(t *testing.T) {
	tests := []struct {
		name string
		opts []testbroker.Option
		want string
	}{
		{"persistent, SIGTERM", []testbroker.Option{testbroker.WithPersistence(true), testbroker.WithStopSignal(syscall.SIGTERM)}, "kept"},
		{"not persistent", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testbroker.Start(t, tt.opts...)
			c, err := connect(t, b.URL(), "", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			publishRetained(t, c, "t/r", "kept")
			c.Disconnect(0)
			b.Restart()
			c, err = connect(t, b.URL(), "", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := readRetained(t, c, "t/r"); got != tt.want {
				t.Fatalf("retained after Restart = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestPasswords(t *testing.T) {
	b := testbroker.Start(t, testbroker.WithPasswords(map[string]string{"alice": "a-secret", "bob": "b-secret"}))
	tests := []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "a-secret", true},
		{"bob", "b-secret", true},
		{"alice", "b-secret", false},
		{"", "", false},
	}
	for _, tt := range tests {
		_, err := connect(t, b.URL(), tt.user, tt.pass, nil)
		if (err == nil) != tt.ok {
			t.Errorf("connect(%q, %q) = %v; want ok %v", tt.user, tt.pass, err, tt.ok)
		}
	}
}

func TestACL(t *testing.T) {
	b := testbroker.Start(t,
		testbroker.WithPasswords(map[string]string{"alice": "a", "admin": "x"}),
		testbroker.WithACL("user admin\ntopic readwrite #\n\nuser alice\ntopic write alice/#\n"))
	admin, err := connect(t, b.URL(), "admin", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := connect(t, b.URL(), "alice", "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Denied publishes are PUBACKed and dropped; the retained copy shows
	// which ones the broker took.
	publishRetained(t, alice, "alice/x", "mine")
	publishRetained(t, alice, "bob/x", "forged")
	if got := readRetained(t, admin, "alice/x"); got != "mine" {
		t.Errorf("alice/x = %q; want %q", got, "mine")
	}
	if got := readRetained(t, admin, "bob/x"); got != "" {
		t.Errorf("bob/x = %q; want nothing", got)
	}
}

func TestTLS(t *testing.T) {
	b := testbroker.Start(t, testbroker.WithTLS(true))
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(b.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	certFile, keyFile := b.ClientCert("rvm-A1")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, b.URL(), "", "", &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}); err != nil {
		t.Errorf("connect with client cert = %v; want nil", err)
	}
	if _, err := connect(t, b.URL(), "", "", &tls.Config{RootCAs: pool}); err == nil {
		t.Errorf("connect without client cert = nil; want an error")
	}
	if _, err := connect(t, b.URL(), "", "", &tls.Config{Certificates: []tls.Certificate{cert}}); err == nil {
		t.Errorf("connect without the CA = nil; want an error")
	}
}
