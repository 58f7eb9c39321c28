package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenSaysWhatIsWrong: a ledger that cannot be opened for writing
// names the cause and the path, not SQLite's "unable to open database
// file".
func TestOpenSaysWhatIsWrong(t *testing.T) {
	tmp := t.TempDir()
	notDir := filepath.Join(tmp, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing directory", filepath.Join(tmp, "nope", "ledger.db"), ErrNoDir},
		{"missing directories", filepath.Join(tmp, "a", "b", "ledger.db"), ErrNoDir},
		{"parent is a file", filepath.Join(notDir, "ledger.db"), ErrNoDir},
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(tmp, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name string
			path string
			want error
		}{"directory not writable", filepath.Join(ro, "ledger.db"), ErrPermission})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(tt.path)
			if err == nil {
				l.Close()
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("Open(%q) = %v; want %v naming the path", tt.path, err, tt.want)
			}
		})
	}
}

// TestOpenReadOnlyFS mounts a read-only file system (root only: the tests
// run as root here) and opens a new and an existing ledger on it.
func TestOpenReadOnlyFS(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): TestAccessProblem covers the classification", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	existing := filepath.Join(dir, "ledger.db")
	l, err := Open(existing)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{existing, filepath.Join(dir, "new.db")} {
		l, err := Open(path)
		if err == nil {
			l.Close()
		}
		if !errors.Is(err, ErrReadOnlyFS) || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%q on a read-only file system) = %v; want %v naming the path", path, err, ErrReadOnlyFS)
		}
	}
}

// TestAccessProblem classifies what access(2) says, for the causes root
// cannot produce with chmod.
func TestAccessProblem(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{nil, nil},
		{syscall.EROFS, ErrReadOnlyFS},
		{syscall.EACCES, ErrPermission},
		{syscall.EPERM, ErrPermission},
		{syscall.ENOENT, nil},
		{syscall.EIO, nil},
	}
	for _, tt := range tests {
		got := accessProblem("/data", "/data/ledger.db", tt.err)
		if tt.want == nil && got != nil || tt.want != nil && (!errors.Is(got, tt.want) || !strings.Contains(got.Error(), "/data/ledger.db")) {
			t.Errorf("accessProblem(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}
