package fsm

import (
	"errors"
	"flag"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/intake-fsm.md")

// want is the transition table written out state by state, independently
// of Table, so that a change to either shows up here.
var want = map[State]map[Event]State{
	Idle:      {Insert: Transport, Block: Blocked, Fail: Fault},
	Ready:     {Insert: Transport, Finish: Idle, Block: Blocked, Fail: Fault},
	Transport: {Arrive: Deciding, Reject: Rejecting, Fail: Fault},
	Deciding:  {Accept: Accepting, Reject: Rejecting, Fail: Fault},
	Accepting: {Drop: Dropping, PullBack: Ready, Fail: Fault},
	Dropping:  {Credit: Ready, Fail: Fault},
	Rejecting: {Returned: Ready, Fail: Fault},
	Blocked:   {Unblock: Idle, Fail: Fault},
	Fault:     {Clear: Idle},
}

type change struct {
	from, to State
	ev       Event
}

func TestEveryStateAndEvent(t *testing.T) {
	if len(want) != len(States()) {
		t.Fatalf("test covers %d states; States() has %d", len(want), len(States()))
	}
	for _, from := range States() {
		for _, ev := range Events() {
			var got []change
			m := New(from, func(f, to State, e Event) { got = append(got, change{f, to, e}) })
			can := m.Can(ev)
			err := m.Fire(ev)
			to, ok := want[from][ev]
			if !ok {
				if !errors.Is(err, ErrInvalid) || can || m.State() != from || got != nil {
					t.Errorf("%s: Fire(%s) = %v (Can %v), now %s, changes %v; want ErrInvalid, Can false, still %s, no change",
						from, ev, err, can, m.State(), got, from)
				}
				continue
			}
			wantChange := []change{{from, to, ev}}
			if err != nil || !can || m.State() != to || len(got) != 1 || got[0] != wantChange[0] {
				t.Errorf("%s: Fire(%s) = %v (Can %v), now %s, changes %v; want nil, Can true, %s, %v",
					from, ev, err, can, m.State(), got, to, wantChange)
			}
		}
	}
}

func TestTableMatchesWant(t *testing.T) {
	n := 0
	for _, tr := range Table() {
		for _, from := range tr.From {
			n++
			if got := want[from][tr.Event]; got != tr.To {
				t.Errorf("Table(): %s --%s--> %s; want %q", from, tr.Event, tr.To, got)
			}
		}
	}
	m := 0
	for _, evs := range want {
		m += len(evs)
	}
	if n != m {
		t.Errorf("Table() has %d transitions; want %d", n, m)
	}
}

func TestContainerLifecycles(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   State
	}{
		{"accepted and credited", []Event{Insert, Arrive, Accept, Drop, Credit, Finish}, Idle},
		{"rejected in chamber", []Event{Insert, Arrive, Reject, Returned}, Ready},
		{"rejected in transport", []Event{Insert, Reject, Returned, Insert}, Transport},
		{"pulled back", []Event{Insert, Arrive, Accept, PullBack, Finish}, Idle},
		{"bag full", []Event{Insert, Arrive, Accept, Drop, Credit, Block, Unblock}, Idle},
		{"fault mid-trip", []Event{Insert, Arrive, Fail, Clear}, Idle},
	}
	for _, tt := range tests {
		m := New(Idle, nil)
		for _, ev := range tt.events {
			if err := m.Fire(ev); err != nil {
				t.Errorf("%s: Fire(%s) = %v; want nil", tt.name, ev, err)
			}
		}
		if m.State() != tt.want {
			t.Errorf("%s: State() = %s; want %s", tt.name, m.State(), tt.want)
		}
	}
}

func TestInvalidMessage(t *testing.T) {
	m := New(Idle, nil)
	err := m.Fire(Arrive)
	if want := `fsm: invalid event "arrive" in state "idle"`; err == nil || err.Error() != want {
		t.Errorf("Fire(arrive) in idle = %v; want %s", err, want)
	}
	err = m.Fire("bogus")
	if want := `fsm: invalid event "bogus" in state "idle"`; !errors.Is(err, ErrInvalid) || err.Error() != want {
		t.Errorf("Fire(bogus) = %v; want %s", err, want)
	}
}

func TestSelfTransitionIsNotAnError(t *testing.T) {
	calls := 0
	m := newMachine([]Transition{{Event: "stay", From: []State{Idle}, To: Idle}}, Idle, func(State, State, Event) { calls++ })
	if err := m.Fire("stay"); err != nil || m.State() != Idle || calls != 0 {
		t.Errorf("Fire(stay) = %v, state %s, %d calls; want nil, idle, 0 calls", err, m.State(), calls)
	}
}

func TestTableIsACopy(t *testing.T) {
	tab := Table()
	tab[0].From[0] = Fault
	tab[0].To = Fault
	if got := Table()[0]; got.From[0] != Idle || got.To != Transport {
		t.Errorf("Table()[0] = %v after changing a copy; want from idle to transport", got)
	}
}

func TestParseState(t *testing.T) {
	for _, s := range States() {
		if got, err := ParseState(string(s)); got != s || err != nil {
			t.Errorf("ParseState(%q) = %q, %v; want %q, nil", s, got, err, s)
		}
	}
	for _, s := range []string{"", "Idle", "open"} {
		if _, err := ParseState(s); err == nil {
			t.Errorf("ParseState(%q) = nil error; want an error", s)
		}
	}
}

func TestNewPanicsOnUnknownState(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("New(%q) did not panic", "nowhere")
		}
	}()
	New("nowhere", nil)
}

const docPath = "../docs/intake-fsm.md"

func document() string {
	return "# Intake state machine\n\n" +
		"Generated from `fsm.Table()` by `go test ./fsm -update`; do not edit by hand.\n" +
		"States and events are described in the package documentation of `fsm`.\n\n" +
		"```mermaid\n" + Mermaid() + "```\n"
}

func TestMermaidGolden(t *testing.T) {
	got := document()
	if *update {
		if err := os.WriteFile(docPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (go test ./fsm -update writes it)", err)
	}
	if got != string(b) {
		t.Errorf("%s is out of date with fsm.Table() (go test ./fsm -update rewrites it):\ngot:\n%s\nwant:\n%s", docPath, got, b)
	}
	if Mermaid() != Mermaid() {
		t.Errorf("Mermaid() differs between calls")
	}
	for _, tr := range Table() {
		for _, from := range tr.From {
			if line := "    " + string(from) + " --> " + string(tr.To) + ": " + string(tr.Event) + "\n"; !strings.Contains(got, line) {
				t.Errorf("Mermaid() lacks %q", line)
			}
		}
	}
}

// TestImports keeps fsm a leaf: looplab/fsm and the standard library only.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if path != "github.com/looplab/fsm" && strings.Contains(first, ".") {
				t.Errorf("%s imports %q; want only github.com/looplab/fsm and the standard library", name, path)
			}
		}
	}
}

// BenchmarkFire measures one event on the hot path: a container's five
// events per iteration, so ns/op and allocs/op divide by five.
func BenchmarkFire(b *testing.B) {
	n := 0
	m := New(Ready, func(State, State, Event) { n++ })
	trip := []Event{Insert, Arrive, Accept, Drop, Credit}
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range trip {
			if err := m.Fire(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkFireInvalid(b *testing.B) {
	m := New(Idle, nil)
	b.ReportAllocs()
	for b.Loop() {
		if m.Fire(Credit) == nil {
			b.Fatal("credit allowed in idle")
		}
	}
}
