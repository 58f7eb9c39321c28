package telemetry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// ErrMalformed is wrapped by the error replies to commands that could not
// be parsed.
var ErrMalformed = errors.New("telemetry: malformed command")

// ErrNoHandler is the error reply when Options.Commands is nil.
var ErrNoHandler = errors.New("telemetry: no command handler")

const cmdLogSchema = `
CREATE TABLE IF NOT EXISTS cmd_log (
	id    TEXT PRIMARY KEY,
	name  TEXT NOT NULL,
	reply BLOB NOT NULL,
	ts    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cmd_log_ts ON cmd_log (ts);
`

const (
	// cmdLogKeep is how long a reply is remembered; the cloud retries a
	// command for far less.
	cmdLogKeep = 30 * 24 * time.Hour
	// maxQueuedCommands bounds memory if the broker floods us; a command
	// dropped here gets no reply, and the cloud retries it.
	maxQueuedCommands = 1024
)

type command struct {
	name    string
	payload []byte
}

// cmdQueue hands commands from paho's handler goroutines to the worker
// without ever blocking the handler.
type cmdQueue struct {
	signal chan struct{}
	mu     sync.Mutex
	q      []command
}

func (q *cmdQueue) push(c command) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.q) >= maxQueuedCommands {
		return false
	}
	q.q = append(q.q, c)
	signal(q.signal)
	return true
}

func (q *cmdQueue) take() []command {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.q
	q.q = nil
	return out
}

// onMessage is paho's handler for everything that arrives.
func (p *Publisher) onMessage(_ mqtt.Client, m mqtt.Message) {
	if m.Topic() == envelope.AckTopic(p.opts.Serial) {
		p.onAck(m.Payload())
		return
	}
	prefix := envelope.CommandTopic(p.opts.Serial, "")
	name, ok := strings.CutPrefix(m.Topic(), prefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		p.log.Warn("telemetry: message on unexpected topic", "topic", m.Topic())
		return
	}
	if !p.cmds.push(command{name: name, payload: m.Payload()}) {
		p.log.Error("telemetry: command queue full, command dropped", "name", name)
	}
}

func (p *Publisher) commandWorker(ctx context.Context) {
	for {
		select {
		case <-p.cmds.signal:
		case <-ctx.Done():
			return
		}
		for _, c := range p.cmds.take() {
			reply := p.handleCommand(ctx, c.name, c.payload)
			if ctx.Err() != nil {
				return
			}
			cl := p.connectedClient(ctx)
			if cl == nil {
				return
			}
			cl.Publish(envelope.ReplyTopic(p.opts.Serial), 1, false, reply)
		}
	}
}

// connectedClient returns the connected client, waiting for a connection
// if there is none; nil when ctx ends first. A command queued in the
// broker's session arrives as soon as the broker accepts the connection,
// before the publisher has taken the connection as made: its reply waits
// for that, where it was dropped (and the fleet waited for it in vain).
func (p *Publisher) connectedClient(ctx context.Context) mqtt.Client {
	for {
		if cl := p.currentClient(); cl != nil {
			return cl
		}
		select {
		case <-p.upSig:
		case <-ctx.Done():
			return nil
		}
	}
}

// handleCommand applies one command at most once and returns its reply.
func (p *Publisher) handleCommand(ctx context.Context, name string, payload []byte) []byte {
	var cmd envelope.Command
	if err := json.Unmarshal(payload, &cmd); err != nil {
		return p.errorReply(name, "", fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	if cmd.ID == "" {
		return p.errorReply(name, "", fmt.Errorf("%w: no id", ErrMalformed))
	}
	if len(cmd.Body) > 0 && cmd.Body[0] != '{' {
		return p.errorReply(name, cmd.ID, fmt.Errorf("%w: body is not an object", ErrMalformed))
	}
	if name == envelope.CmdStatus {
		st, err := p.status(ctx, p.currentClient() != nil)
		if err != nil {
			return p.errorReply(name, cmd.ID, err)
		}
		return p.reply(name, cmd.ID, st, nil)
	}

	var stored []byte
	err := p.db.QueryRowContext(ctx, `SELECT reply FROM cmd_log WHERE id = ?`, cmd.ID).Scan(&stored)
	switch {
	case err == nil:
		p.log.Info("telemetry: repeated command answered again", "name", name, "id", cmd.ID)
		return stored
	case !errors.Is(err, sql.ErrNoRows):
		// Without the log we cannot tell a repeat: refuse rather than
		// risk acting twice. The cloud retries.
		return p.errorReply(name, cmd.ID, fmt.Errorf("telemetry: cmd_log: %w", err))
	}

	var reply []byte
	if p.opts.Commands == nil {
		reply = p.errorReply(name, cmd.ID, ErrNoHandler)
	} else {
		result, herr := p.callHandler(ctx, name, cmd)
		reply = p.reply(name, cmd.ID, result, herr)
	}
	now := p.opts.Clock.Now().UTC()
	if _, err := p.db.ExecContext(ctx,
		`INSERT OR IGNORE INTO cmd_log (id, name, reply, ts) VALUES (?, ?, ?, ?)`,
		cmd.ID, name, reply, now.Format(time.RFC3339Nano)); err != nil {
		p.log.Error("telemetry: cmd_log", "id", cmd.ID, "err", err)
	}
	if _, err := p.db.ExecContext(ctx, `DELETE FROM cmd_log WHERE ts < ?`,
		now.Add(-cmdLogKeep).Format(time.RFC3339Nano)); err != nil {
		p.log.Error("telemetry: cmd_log prune", "err", err)
	}
	return reply
}

// callHandler runs the handler; a panic becomes an error reply instead of
// taking the machine down.
func (p *Publisher) callHandler(ctx context.Context, name string, cmd envelope.Command) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("telemetry: command handler panicked", "name", name, "id", cmd.ID, "panic", r)
			err = fmt.Errorf("telemetry: command %s panicked: %v", name, r)
		}
	}()
	return p.opts.Commands.HandleCommand(ctx, name, cmd)
}

func (p *Publisher) reply(name, id string, result any, err error) []byte {
	r := envelope.Reply{ID: id, Name: name, OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	} else if result != nil {
		b, merr := json.Marshal(result)
		if merr != nil {
			return p.errorReply(name, id, fmt.Errorf("telemetry: reply result: %w", merr))
		}
		r.Result = b
	}
	b, _ := json.Marshal(r) // strings, a bool and valid JSON: cannot fail
	return b
}

func (p *Publisher) errorReply(name, id string, err error) []byte {
	p.log.Warn("telemetry: command refused", "name", name, "id", id, "err", err)
	return p.reply(name, id, nil, err)
}
