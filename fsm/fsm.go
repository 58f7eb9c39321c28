package fsm

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/looplab/fsm"
)

// State is where the intake is.
type State string

// The states.
const (
	Idle      State = "idle"      // no session
	Ready     State = "ready"     // session open, waiting for a container
	Transport State = "transport" // container entering, belt forward
	Deciding  State = "deciding"  // in the chamber, measuring
	Accepting State = "accepting" // belt forward to the exit
	Dropping  State = "dropping"  // past the exit barrier, waiting for the bag scale
	Rejecting State = "rejecting" // belt reverse to the chute
	Blocked   State = "blocked"   // intake blocked: bag full, operator command, outbox full
	Fault     State = "fault"     // latched until a technician clears it
)

// Event is what happened to the intake.
type Event string

// The events.
const (
	Insert   Event = "insert"   // entry barrier broke: a container comes in
	Arrive   Event = "arrive"   // the container reached the chamber
	Accept   Event = "accept"   // the rules accepted it
	Reject   Event = "reject"   // the rules (or the transport) rejected it
	Drop     Event = "drop"     // it passed the exit barrier, into the bag
	Credit   Event = "credit"   // the bag scale confirmed it
	Returned Event = "returned" // a rejected container is back at the chute
	PullBack Event = "pullback" // an accepted container was pulled back out
	Finish   Event = "finish"   // the session ended
	Block    Event = "block"    // intake blocked
	Unblock  Event = "unblock"  // intake open again
	Fail     Event = "fail"     // a fault latched
	Clear    Event = "clear"    // a technician cleared the fault
)

// Transition is one row of the table: Event leads from each of From to To.
type Transition struct {
	Event Event
	From  []State
	To    State
}

var states = []State{Idle, Ready, Transport, Deciding, Accepting, Dropping, Rejecting, Blocked, Fault}

var table = []Transition{
	{Insert, []State{Idle, Ready}, Transport},
	{Arrive, []State{Transport}, Deciding},
	{Accept, []State{Deciding}, Accepting},
	{Reject, []State{Deciding, Transport}, Rejecting},
	{Drop, []State{Accepting}, Dropping},
	{Credit, []State{Dropping}, Ready},
	{Returned, []State{Rejecting}, Ready},
	{PullBack, []State{Accepting}, Ready},
	{Finish, []State{Ready}, Idle},
	{Block, []State{Idle, Ready}, Blocked},
	{Unblock, []State{Blocked}, Idle},
	{Fail, []State{Idle, Ready, Transport, Deciding, Accepting, Dropping, Rejecting, Blocked}, Fault},
	{Clear, []State{Fault}, Idle},
}

// ErrInvalid is wrapped by Fire for an event the current state does not allow.
var ErrInvalid = errors.New("fsm: invalid event")

// Table returns the transition table, a fresh copy on every call.
func Table() []Transition {
	out := make([]Transition, len(table))
	for i, t := range table {
		out[i] = Transition{Event: t.Event, From: slices.Clone(t.From), To: t.To}
	}
	return out
}

// States returns every state, Idle first.
func States() []State { return slices.Clone(states) }

// Events returns every event, in table order.
func Events() []Event {
	out := make([]Event, len(table))
	for i, t := range table {
		out[i] = t.Event
	}
	return out
}

// ParseState returns the State named s, for states read back from storage.
func ParseState(s string) (State, error) {
	if slices.Contains(states, State(s)) {
		return State(s), nil
	}
	return "", fmt.Errorf("fsm: unknown state %q", s)
}

// Machine is one intake state machine.
type Machine struct {
	// Immutable.
	f       *fsm.FSM
	allowed map[key]bool
}

type key struct {
	from State
	ev   Event
}

// New returns a machine in state initial. onChange, which may be nil, is
// called after every change of state; it must not call Fire. New panics if
// initial is not one of the states: use ParseState on stored values.
func New(initial State, onChange func(from, to State, ev Event)) *Machine {
	if _, err := ParseState(string(initial)); err != nil {
		panic(err)
	}
	return newMachine(table, initial, onChange)
}

// newMachine builds a machine on any table, so that tests can exercise what
// the real table does not contain (a self-transition).
func newMachine(tab []Transition, initial State, onChange func(from, to State, ev Event)) *Machine {
	var events fsm.Events
	allowed := make(map[key]bool)
	for _, t := range tab {
		src := make([]string, len(t.From))
		for i, s := range t.From {
			src[i] = string(s)
			allowed[key{s, t.Event}] = true
		}
		events = append(events, fsm.EventDesc{Name: string(t.Event), Src: src, Dst: string(t.To)})
	}
	callbacks := fsm.Callbacks{}
	if onChange != nil {
		callbacks["enter_state"] = func(_ context.Context, e *fsm.Event) {
			onChange(State(e.Src), State(e.Dst), Event(e.Event))
		}
	}
	return &Machine{f: fsm.NewFSM(string(initial), events, callbacks), allowed: allowed}
}

// Fire applies ev. An event the current state does not allow returns an
// error wrapping ErrInvalid that names the event and the state, and changes
// nothing. A transition to the state the machine is already in is not an
// error (and calls no onChange).
func (m *Machine) Fire(ev Event) error {
	// Answer invalid events here: looplab/fsm would build a context and an
	// event first, and then search its whole table for the event's name.
	cur := State(m.f.Current())
	if !m.allowed[key{cur, ev}] {
		return fmt.Errorf("%w %q in state %q", ErrInvalid, ev, cur)
	}
	err := m.f.Event(context.Background(), string(ev))
	if err == nil {
		return nil
	}
	var noTransition fsm.NoTransitionError
	switch {
	case errors.As(err, &noTransition) && noTransition.Err == nil:
		return nil
	case errors.As(err, new(fsm.InvalidEventError)), errors.As(err, new(fsm.UnknownEventError)):
		// Only if another goroutine changed the state since the check above.
		return fmt.Errorf("%w %q in state %q", ErrInvalid, ev, m.State())
	}
	return fmt.Errorf("fsm: event %q in state %q: %w", ev, cur, err)
}

// State is the current state.
func (m *Machine) State() State { return State(m.f.Current()) }

// Can reports whether ev is allowed in the current state.
func (m *Machine) Can(ev Event) bool { return m.f.Can(string(ev)) }

// Mermaid is the state diagram of the table (a Mermaid stateDiagram-v2,
// starting in Idle), as looplab/fsm draws it: sorted, hence deterministic.
func Mermaid() string {
	m := newMachine(table, Idle, nil)
	s, err := fsm.VisualizeWithType(m.f, fsm.MERMAID)
	if err != nil {
		panic("fsm: " + err.Error()) // only for an unknown diagram type
	}
	return s
}
