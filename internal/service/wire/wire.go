package wire

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// Request is one line a console sends. The first request of a session is
// "login" with the PIN; every other command is refused before it.
type Request struct {
	Cmd  string            `json:"cmd"`            // "login", "status", "calib span", ...
	PIN  string            `json:"pin,omitempty"`  // for "login"
	Args map[string]string `json:"args,omitempty"` // the command's flags, by name without the dash
}

// Reply is the daemon's answer: Text for a person, Data for a script.
type Reply struct {
	OK    bool            `json:"ok"`
	Code  string          `json:"code,omitempty"` // on failure: one of the Code constants
	Error string          `json:"error,omitempty"`
	Text  string          `json:"text,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Failure codes.
const (
	CodeNoPIN   = "no-pin"  // no technician PIN is set on the machine
	CodeBadPIN  = "bad-pin" // wrong PIN
	CodeLocked  = "locked"  // too many wrong PINs: locked for a while
	CodeLogin   = "login"   // a command before a successful login
	CodeBusy    = "busy"    // another session is calibrating this scale, or the machine is busy
	CodeUsage   = "usage"   // unknown command or bad argument
	CodeRefused = "refused" // the act was refused (unstable, near the tare, ...)
	CodeFailed  = "failed"  // the act failed
)

// MaxLine bounds one request or reply line.
const MaxLine = 1 << 20

// Conn is one console session over the service socket.
type Conn struct {
	c   net.Conn
	r   *bufio.Reader
	enc *json.Encoder
}

// Dial connects to the service socket at path.
func Dial(path string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("wire: connect to the service socket %s: %w", path, err)
	}
	return NewConn(c), nil
}

// NewConn wraps an established connection (either end).
func NewConn(c net.Conn) *Conn {
	return &Conn{c: c, r: bufio.NewReaderSize(c, 4096), enc: json.NewEncoder(c)}
}

// Close closes the session.
func (c *Conn) Close() error { return c.c.Close() }

// Raw is the underlying connection.
func (c *Conn) Raw() net.Conn { return c.c }

// Send writes one value as a line.
func (c *Conn) Send(v any) error {
	if err := c.enc.Encode(v); err != nil {
		return fmt.Errorf("wire: send: %w", err)
	}
	return nil
}

// ErrLine is returned for a line longer than MaxLine.
var ErrLine = errors.New("wire: line too long")

// Receive reads one line into v.
func (c *Conn) Receive(v any) error {
	var line []byte
	for {
		chunk, more, err := c.r.ReadLine()
		if err != nil {
			return err
		}
		line = append(line, chunk...)
		if len(line) > MaxLine {
			return ErrLine
		}
		if !more {
			break
		}
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("wire: bad line: %w", err)
	}
	return nil
}

// Do sends a request and reads its reply.
func (c *Conn) Do(req Request) (Reply, error) {
	if err := c.Send(req); err != nil {
		return Reply{}, err
	}
	var r Reply
	if err := c.Receive(&r); err != nil {
		return Reply{}, fmt.Errorf("wire: reply to %q: %w", req.Cmd, err)
	}
	return r, nil
}
