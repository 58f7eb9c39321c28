// Package scannertest is a fake scanner's cable: a pseudo-terminal whose
// slave the scanner driver opens through a stable link (as udev gives a
// real scanner), so the test or the simulated rig can type codes into it,
// unplug it and plug it back under the same name.
package scannertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Wire is one scanner's cable.
type Wire struct {
	link string // Immutable.

	mu     sync.Mutex // guards master and slave
	master *os.File
	slave  *os.File
}

// New plugs a fake scanner in as dir/name.
func New(dir, name string) (*Wire, error) {
	w := &Wire{link: filepath.Join(dir, name)}
	if err := w.Plug(); err != nil {
		return nil, err
	}
	return w, nil
}

// Path is the link the driver opens.
func (w *Wire) Path() string { return w.link }

// Plug makes a new pty and points the link at it (a no-op when plugged).
// The slave is kept open in raw mode so that what is sent before the
// driver (re)opens it waits in the line discipline unchanged.
func (w *Wire) Plug() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.master != nil {
		return nil
	}
	m, s, err := pty.Open()
	if err != nil {
		return fmt.Errorf("scannertest: %w", err)
	}
	if err := raw(s); err != nil {
		m.Close()
		s.Close()
		return fmt.Errorf("scannertest: %w", err)
	}
	os.Remove(w.link)
	if err := os.Symlink(s.Name(), w.link); err != nil {
		m.Close()
		s.Close()
		return fmt.Errorf("scannertest: %w", err)
	}
	w.master, w.slave = m, s
	return nil
}

// raw sets the terminal as cfmakeraw does.
func raw(f *os.File) error {
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	return unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, tio)
}

// Unplug removes the device: the link goes and the pty hangs up, so the
// driver's read fails as it does when a USB scanner is pulled.
func (w *Wire) Unplug() {
	w.mu.Lock()
	defer w.mu.Unlock()
	os.Remove(w.link)
	if w.master != nil {
		w.master.Close()
		w.slave.Close()
		w.master, w.slave = nil, nil
	}
}

// ErrUnplugged is returned by Send while the scanner is unplugged.
var ErrUnplugged = errors.New("scannertest: unplugged")

// Send writes s as the scanner would (a code with its suffix, say
// "]E05901234123457\r\n").
func (w *Wire) Send(s string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.master == nil {
		return ErrUnplugged
	}
	_, err := w.master.Write([]byte(s))
	return err
}

// Close unplugs the scanner for good.
func (w *Wire) Close() error {
	w.Unplug()
	return nil
}
