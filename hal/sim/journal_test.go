package sim

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"periph.io/x/conn/v3/physic"
)

func ids(cs []Container) []int64 {
	out := []int64{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "truth.jsonl")
	cfg := DefaultConfig(5)
	cfg.StatePath = path
	c := newCtl(t, cfg, nil)
	c.insert(bottle())
	c.run()
	c.insert(with(bottle(), func(x *Container) { x.Code = "40000000"; x.Metal = true; x.Barcode = BarcodeDamaged }))
	c.run()
	c.m.ExchangeBag()
	c.insert(with(bottle(), func(x *Container) { x.Mass = 400 * physic.Gram; x.CutAt = CutBag; x.Shape = nil }))
	c.run()
	if !reflect.DeepEqual(c.cuts, []Cut{CutBag}) {
		t.Fatalf("cuts = %v; want [bag]", c.cuts)
	}
	if err := c.m.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}

	// Another process (or a restarted one) finds the same physical truth.
	inBag, dropped, err := ReadJournal(path)
	if err != nil {
		t.Fatalf("ReadJournal: %v", err)
	}
	if !reflect.DeepEqual(inBag, c.m.InBag()) || !reflect.DeepEqual(dropped, c.m.Dropped()) {
		t.Errorf("ReadJournal = %+v, %+v; want %+v, %+v", inBag, dropped, c.m.InBag(), c.m.Dropped())
	}
	m2, _ := newMachine(t, cfg)
	if got := ids(m2.InBag()); !reflect.DeepEqual(got, []int64{3}) {
		t.Errorf("re-New: InBag IDs = %v; want [3]", got)
	}
	if got := ids(m2.Dropped()); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Errorf("re-New: Dropped IDs = %v; want [1 2 3]", got)
	}
	if got := bagMass(t, m2); got != 400*physic.Gram {
		t.Errorf("re-New: bag scale = %v; want 400g", got)
	}
	if got := m2.Dropped()[1]; got.Barcode != BarcodeDamaged || !got.Metal || got.Shape == nil || got.Shape.Height != 230*physic.MilliMetre {
		t.Errorf("re-New: second container = %+v; want it as inserted", got)
	}
	// Container IDs go on from the journal, so they stay unique.
	m2.Insert(bottle())
	m2.Conveyor().Forward(limit)
	for range 4 {
		m2.Pop()
	}
	m2.Conveyor().Forward(limit)
	for {
		if _, _, ok := m2.Pop(); !ok {
			break
		}
	}
	if got := ids(m2.Dropped()); !reflect.DeepEqual(got, []int64{1, 2, 3, 4}) {
		t.Errorf("after another trip: Dropped IDs = %v; want [1 2 3 4]", got)
	}
}

func TestReadJournal(t *testing.T) {
	drop := func(id string) string {
		return `{"op":"drop","container":{"id":` + id + `,"code":"x","barcode":"ok","mass_ng":1000,"metal":false}}` + "\n"
	}
	tests := []struct {
		name         string
		text         string
		inBag, dropd []int64
		err          string
	}{
		{"empty", "", []int64{}, []int64{}, ""},
		{"drops and exchange", drop("1") + drop("2") + `{"op":"exchange"}` + "\n" + drop("3"), []int64{3}, []int64{1, 2, 3}, ""},
		{"torn tail ignored", drop("1") + `{"op":"drop","contai`, []int64{1}, []int64{1}, ""},
		{"torn tail that parses is still ignored", drop("1") + `{"op":"exchange"}`, []int64{1}, []int64{1}, ""},
		{"malformed line", drop("1") + "garbage\n" + drop("2"), nil, nil, "line 2"},
		{"unknown op", `{"op":"teleport"}` + "\n", nil, nil, "line 1"},
		{"unknown barcode", strings.Replace(drop("1"), `"ok"`, `"smudged"`, 1), nil, nil, "line 1"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
			t.Fatal(err)
		}
		inBag, dropped, err := ReadJournal(path)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: ReadJournal(%q) error = %v; want one naming %q", tt.name, tt.text, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(ids(inBag), tt.inBag) || !reflect.DeepEqual(ids(dropped), tt.dropd) {
			t.Errorf("%s: ReadJournal(%q) = %v, %v, %v; want %v, %v, nil", tt.name, tt.text, ids(inBag), ids(dropped), err, tt.inBag, tt.dropd)
		}
	}
	if _, _, err := ReadJournal(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadJournal(missing) error = %v; want fs.ErrNotExist", err)
	}
}

func TestJournalWriteFailure(t *testing.T) {
	cfg := DefaultConfig(1)
	cfg.StatePath = filepath.Join(t.TempDir(), "no-such-dir", "j")
	c := newCtl(t, cfg, nil)
	c.insert(bottle())
	c.run()
	if err := c.m.Err(); err == nil {
		t.Errorf("Err() after a failed journal write = nil; want an error")
	}
	if got := len(c.m.InBag()); got != 1 {
		t.Errorf("len(InBag()) = %d; want 1: physics goes on", got)
	}
}
