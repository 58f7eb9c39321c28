package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Errors Open returns when the ledger's place on disk is the problem; each
// wrapped error names the path. SQLite itself only says "unable to open
// database file".
var (
	ErrNoDir      = errors.New("ledger: directory does not exist")
	ErrReadOnlyFS = errors.New("ledger: file system is read-only")
	ErrPermission = errors.New("ledger: permission denied")
)

// openProblem explains why the ledger at path cannot be opened for writing:
// its directory is missing, or it or the file is on a read-only file system
// or not writable by this user. SQLite needs to write the directory too (the
// -wal and -shm files sit beside the ledger). It returns nil when it finds
// nothing wrong, and the caller keeps SQLite's own error.
func openProblem(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s (for the ledger %s)", ErrNoDir, dir, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: cannot reach %s (for the ledger %s)", ErrPermission, dir, path)
	case err != nil:
		return nil
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory (for the ledger %s)", ErrNoDir, dir, path)
	}
	targets := []string{dir}
	if _, err := os.Stat(path); err == nil {
		targets = append(targets, path)
	}
	for _, t := range targets {
		if err := accessProblem(t, path, syscall.Access(t, 2 /* W_OK */)); err != nil {
			return err
		}
	}
	return nil
}

// accessProblem turns the result of access(target, W_OK), for the ledger at
// path, into one of the errors above, or nil when it says nothing about why
// a write would fail.
func accessProblem(target, path string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %s (for the ledger %s)", ErrReadOnlyFS, target, path)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: user %d cannot write %s (for the ledger %s)", ErrPermission, os.Geteuid(), target, path)
	}
	return nil
}
