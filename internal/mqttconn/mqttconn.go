package mqttconn

import (
	"bufio"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

const (
	// readBuffer holds what one read takes off the socket: 64 PUBACKs are
	// 256 bytes, a burst of 700-byte messages a few kilobytes.
	readBuffer = 16 << 10
	// maxPending bounds the bytes paho has written that wait for the
	// socket; a Write beyond it waits for the flusher.
	maxPending = 256 << 10
	// closeFlush bounds how long Close waits for the pending bytes to go
	// (a DISCONNECT paho wrote just before closing).
	closeFlush = time.Second
)

// Use makes o open broker's connection with [Open] when broker is a
// tcp:// or mqtt:// URL, and leaves paho's own dialing otherwise. It
// returns o.
func Use(o *mqtt.ClientOptions, broker string) *mqtt.ClientOptions {
	if u, err := url.Parse(broker); err == nil && (u.Scheme == "tcp" || u.Scheme == "mqtt") {
		o.SetCustomOpenConnectionFn(Open)
	}
	return o
}

// Open dials uri's host as paho does for tcp:// (through the proxy the
// environment names, with o's dialer) and returns the connection with a
// read buffer and a flusher for its writes (see the package
// documentation). o.WriteTimeout bounds each write to the socket. It is a
// paho OpenConnectionFunc.
func Open(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	c, err := proxy.FromEnvironmentUsing(d).Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	return newConn(c, o.WriteTimeout), nil
}

// conn reads through r and hands its writes to a flusher goroutine, which
// writes everything that has gathered since its last write in one call.
// Deadlines for reading and Close go to the connection itself.
type conn struct {
	net.Conn
	r            *bufio.Reader
	writeTimeout time.Duration
	kick         chan struct{} // Write added bytes
	done         chan struct{} // the flusher has returned

	// Mutable, guarded by mu; cond signals a change of any.
	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte // written, not yet handed to the socket
	err     error  // the first write error, or net.ErrClosed; every later Write returns it
}

func newConn(c net.Conn, writeTimeout time.Duration) *conn {
	w := &conn{
		Conn: c, r: bufio.NewReaderSize(c, readBuffer), writeTimeout: writeTimeout,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	w.cond = sync.NewCond(&w.mu)
	go w.flusher()
	return w
}

func (c *conn) Read(b []byte) (int, error) { return c.r.Read(b) }

// Write queues b for the flusher and returns at once, unless maxPending
// bytes wait already. An error of an earlier write to the socket is
// returned here (and the flusher has ended the pending read with an error,
// so paho's reader sees the loss too).
func (c *conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && len(c.pending) >= maxPending {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	c.pending = append(c.pending, b...)
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return len(b), nil
}

// SetWriteDeadline is ignored: paho sets one around each of its writes,
// which now return at once; the flusher bounds each write to the socket
// by the client's WriteTimeout instead.
func (c *conn) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline sets the read deadline (see SetWriteDeadline).
func (c *conn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// flusher writes what Write queued, as much as has gathered in one call,
// until the connection fails or is closed.
func (c *conn) flusher() {
	defer close(c.done)
	var batch []byte
	for {
		c.mu.Lock()
		for c.err == nil && len(c.pending) == 0 {
			c.mu.Unlock()
			<-c.kick
			c.mu.Lock()
		}
		if len(c.pending) == 0 { // closed, nothing left
			c.mu.Unlock()
			return
		}
		batch, c.pending = c.pending, batch[:0]
		c.cond.Broadcast() // room for a Write waiting on maxPending
		c.mu.Unlock()

		if c.writeTimeout > 0 {
			c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
		}
		_, err := c.Conn.Write(batch) // Close ends a write it stopped waiting for

		c.mu.Lock()
		if err != nil && (c.err == nil || c.err == net.ErrClosed) {
			c.err = err
		}
		c.cond.Broadcast()
		c.mu.Unlock()
		if err != nil {
			// Not Close: paho takes "use of closed network connection"
			// from its reader for its own doing and reports no loss (it
			// would notice only at the next keepalive). A read deadline
			// in the past ends the read with an error it reports.
			c.Conn.SetReadDeadline(time.Unix(1, 0))
			return
		}
	}
}

// Close waits up to closeFlush for the bytes already written to reach the
// socket, then closes the connection.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.cond.Broadcast() // a Write waiting on maxPending returns
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}: // a flusher waiting for bytes sees the close
	default:
	}
	t := time.NewTimer(closeFlush)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
	err := c.Conn.Close()
	<-c.done
	return err
}
