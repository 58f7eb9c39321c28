// Package escpostest is a fake ESC/POS voucher printer on a pseudo-terminal,
// for tests and for the simulated rig: the driver opens Path() as it would
// open a real printer's serial port, and the fake records every byte it
// receives and answers the status queries the driver sends.
//
// The fake answers DLE EOT 1, 2 and 4 at once (real-time status) and GS r 1
// once everything before it is processed. Paper is counted in line feeds:
// with SetPaper(n) the roll ends at the n+1st line, the printer stops, drops
// the rest of the ticket (and the GS r 1 after it), and reports paper end
// until SetPaper gives it paper again.
package escpostest

import (
	"errors"
	"io"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Printer is a fake printer on the master side of a pty.
type Printer struct {
	master *os.File // Immutable.
	slave  *os.File // Immutable.
	tee    io.Writer
	done   chan struct{}

	mu       sync.Mutex // guards the fields below
	received []byte
	lines    int // paper left in lines; -1 endless
	out      bool
	cover    bool
	state    int // parser: 0 data, 1 after DLE, 2 after DLE EOT, 3 after GS, 4 after GS r
}

// New starts a fake printer with endless paper. Every byte received is also
// written to tee when it is not nil (the rig's -printer-out file).
func New(tee io.Writer) (*Printer, error) {
	ptm, s, err := pty.Open()
	if err != nil {
		return nil, err
	}
	// A pollable copy of the master, so that Close ends a blocked Read.
	fd, err := unix.Dup(int(ptm.Fd()))
	ptm.Close()
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	m := os.NewFile(uintptr(fd), "ptmx")
	p := &Printer{master: m, slave: s, tee: tee, lines: -1, done: make(chan struct{})}
	go p.run()
	return p, nil
}

// Path is the device the driver opens.
func (p *Printer) Path() string { return p.slave.Name() }

// Bytes returns a copy of everything received so far.
func (p *Printer) Bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.received...)
}

// SetPaper loads a roll of n lines (-1: endless); 0 is an empty roll.
func (p *Printer) SetPaper(n int) {
	p.mu.Lock()
	p.lines, p.out = n, n == 0
	p.mu.Unlock()
}

// SetCover opens or closes the cover.
func (p *Printer) SetCover(open bool) {
	p.mu.Lock()
	p.cover = open
	p.mu.Unlock()
}

// Close stops the fake and closes the pty.
func (p *Printer) Close() error {
	err := p.master.Close()
	<-p.done
	return errors.Join(err, p.slave.Close())
}

func (p *Printer) run() {
	defer close(p.done)
	buf := make([]byte, 4096)
	for {
		n, err := p.master.Read(buf)
		if n > 0 {
			if reply := p.feed(buf[:n]); len(reply) > 0 {
				p.master.Write(reply)
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Printer) feed(b []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.received = append(p.received, b...)
	if p.tee != nil {
		p.tee.Write(b)
	}
	var reply []byte
	for _, c := range b {
		switch p.state {
		case 1:
			p.state = 0
			if c == 0x04 {
				p.state = 2
				continue
			}
		case 2:
			p.state = 0
			reply = append(reply, p.realtime(c))
			continue
		case 3:
			p.state = 0
			if c == 'r' {
				p.state = 4
				continue
			}
		case 4:
			p.state = 0
			if !p.offline() {
				reply = append(reply, 0x00) // GS r 1: paper present
			}
			continue
		}
		switch c {
		case 0x10:
			p.state = 1
		case 0x1d:
			p.state = 3
		case '\n':
			if p.offline() {
				continue
			}
			if p.lines == 0 {
				p.out = true
				continue
			}
			if p.lines > 0 {
				p.lines--
			}
		}
	}
	return reply
}

func (p *Printer) offline() bool { return p.out || p.cover }

// realtime answers DLE EOT n: fixed bits 1 and 4, and the flags of n.
func (p *Printer) realtime(n byte) byte {
	b := byte(0x12)
	switch n {
	case 1:
		if p.offline() {
			b |= 0x08
		}
	case 2:
		if p.cover {
			b |= 0x04
		}
		if p.out {
			b |= 0x20
		}
	case 4:
		if p.out {
			b |= 0x6c
		}
	}
	return b
}
