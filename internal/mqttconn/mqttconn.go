package mqttconn

import (
	"bufio"
	"net"
	"net/url"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// readBuffer holds what one read takes off the socket: 64 PUBACKs are 256
// bytes, a burst of 700-byte messages a few kilobytes.
const readBuffer = 16 << 10

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
// read buffer. It is a paho OpenConnectionFunc.
func Open(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	c, err := proxy.FromEnvironmentUsing(d).Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, r: bufio.NewReaderSize(c, readBuffer)}, nil
}

// conn reads through r; everything else (writes, deadlines, Close) goes to
// the connection itself.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func (c *conn) Read(b []byte) (int, error) { return c.r.Read(b) }
