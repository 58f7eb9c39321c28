package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The journal's operations.
const (
	opDrop     = "drop"     // Container landed in the bag
	opExchange = "exchange" // the bag was taken out and replaced by an empty one
)

// journalRecord is one line of the journal.
type journalRecord struct {
	Op        string     `json:"op"`
	Container *Container `json:"container,omitempty"`
}

// appendJournal appends r as one line and fsyncs it before returning, so a
// fact is durable before anything can observe it. A new file's directory is
// fsynced too, or the file itself could vanish in a crash.
func appendJournal(path string, r journalRecord) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sim: journal: %w", err)
	}
	line = append(line, '\n')
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("sim: journal: %w", err)
	}
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sim: journal: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fmt.Errorf("sim: journal: %w", err)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadJournal replays the journal at path: what is in the current bag and
// everything ever dropped, both in drop order. A last line without its
// newline is a write the crash interrupted; its fact never became
// observable, so it is ignored. Any other malformed line is an error naming
// it. A missing file is an error satisfying errors.Is(err, fs.ErrNotExist).
func ReadJournal(path string) (inBag, dropped []Container, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: journal: %w", err)
	}
	r := bufio.NewReader(bytes.NewReader(data))
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // a torn tail (or nothing) is left
		}
		var rec journalRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, nil, fmt.Errorf("sim: journal %s line %d: %w", path, n, err)
		}
		switch {
		case rec.Op == opDrop && rec.Container != nil:
			inBag = append(inBag, *rec.Container)
			dropped = append(dropped, *rec.Container)
		case rec.Op == opExchange:
			inBag = nil
		default:
			return nil, nil, fmt.Errorf("sim: journal %s line %d: bad record %q", path, n, bytes.TrimSpace(line))
		}
	}
	return inBag, dropped, nil
}
