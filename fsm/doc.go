// Package fsm is the intake state machine of the reverse-vending machine:
// where a container is on its way through the machine, and whether the
// machine takes containers at all. It is built on
// [github.com/looplab/fsm] from one transition table, [Table], which is the
// only source of truth: the diagram in docs/intake-fsm.md is generated from
// it ([Mermaid]) and a golden test fails when the two differ.
//
// # States and events
//
//	Idle       no session                      Insert -> Transport, Block -> Blocked
//	Ready      session open, waiting           Insert -> Transport, Finish -> Idle, Block -> Blocked
//	Transport  container entering, belt fwd    Arrive -> Deciding, Reject -> Rejecting
//	Deciding   in the chamber, measuring       Accept -> Accepting, Reject -> Rejecting
//	Accepting  belt forward to the exit        Drop -> Dropping, PullBack -> Ready
//	Dropping   past the exit, bag scale due    Credit -> Ready
//	Rejecting  belt reverse to the chute       Returned -> Ready
//	Blocked    intake blocked                  Unblock -> Idle
//	Fault      latched                         Clear -> Idle
//
// Fail leads from every state but Fault to Fault. Insert from Idle opens a
// session; the machine (package machine) keeps the session itself, this
// package keeps only where the container is.
//
// # Usage
//
//	m := fsm.New(fsm.Idle, func(from, to fsm.State, ev fsm.Event) {
//		log.Info("intake", "from", from, "to", to, "event", ev)
//	})
//	if err := m.Fire(fsm.Insert); errors.Is(err, fsm.ErrInvalid) { ... }
//
// The onChange callback runs inside Fire, after the state changed. It may
// record or forward the change but must not call Fire: looplab/fsm holds its
// event lock during parts of a transition and a nested event can deadlock.
// Feed events one at a time from the controller's loop instead.
//
// # Concurrency
//
// Fire, State and Can are safe to call from several goroutines (looplab/fsm
// locks), but events fired from two goroutines interleave in no useful order:
// the controller fires them from its single loop.
//
// # Cost
//
// Fire is on the hot path (several events per container). It costs what
// looplab/fsm costs per event, measured by BenchmarkFire (one container's
// five events per op): 0.5 to 1 µs, 6 allocations and about 300 bytes per
// event on the shared 2-core build machine. At two containers a second that
// is far below a millisecond of CPU. Invalid events are answered from a
// precomputed table without entering looplab/fsm.
package fsm
