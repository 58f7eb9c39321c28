package machine

import (
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// An Event is what the controller tells an observer (Options.OnEvent) about
// the customer's session and the machine: a [ContainerDecided], a
// [SessionTotal], a [SessionEnded] or a [StateChanged]. Events are plain
// values, delivered on the loop's goroutine in the order things happen; an
// observer must not block and must not call the controller.
type Event interface{ event() }

// Container statuses in a [ContainerDecided].
const (
	StatusAccepted = "accepted"
	StatusRejected = "rejected"
)

// Why a container was refused, finer than the operator's cause code (cause
// 1 and 6 each have two reasons a customer should hear apart).
const (
	WhyNotInSystem   = "not-in-system"  // cause 6: unknown EAN or not collected
	WhyNotEmpty      = "not-empty"      // cause 6: heavier than the product's max
	WhyWrongMaterial = "wrong-material" // cause 1: metal sensor disagrees
	WhyTooLight      = "too-light"      // cause 1: lighter than the product's min
	WhyPulledBack    = "pulled-back"    // cause 1: accepted, then pulled back out
)

// ContainerDecided: the rules decided a container. An accepted container
// is credited once the bag has weighed it (see [SessionTotal]); a later
// event with the same ID replaces this one (an accepted container pulled
// back out).
type ContainerDecided struct {
	ID      int64  // the ledger's container id
	Status  string // StatusAccepted or StatusRejected
	Cause   int    // drsapi.Cause*; 0 when accepted
	Why     string // Why*, "" where the cause says it all
	Deposit money.Grosze
	EAN     string
	Name    string // the catalogue's product name, when known
	At      time.Time
}

// SessionTotal: what the open session has credited so far.
type SessionTotal struct {
	Total money.Grosze
	Count int // containers credited
}

// SessionEnded: the session became a transaction (or, with nothing
// recorded, simply ended). Voucher is the voucher's code, "" without one.
// Blocked: too many fraud rejections, the session pays nothing (Total 0).
type SessionEnded struct {
	Payout  string
	Phone   string
	Total   money.Grosze
	Voucher string
	Blocked bool
	At      time.Time
}

// What a customer sees of the machine, in a [StateChanged].
const (
	StateReady      = "ready"        // intake open, at rest
	StateBusy       = "busy"         // a container is on its way
	StateBagFull    = "bag full"     // intake blocked until staff change the bag
	StateOutOfOrder = "out of order" // latched fault or another block
	StateService    = "service"      // a technician is at the machine
)

// StateChanged: the machine's state as a customer sees it changed.
type StateChanged struct {
	State string // State*
	Fault string // the latched fault, if any
}

func (ContainerDecided) event() {}
func (SessionTotal) event()     {}
func (SessionEnded) event()     {}
func (StateChanged) event()     {}

func (c *Controller) emit(e Event) {
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(e)
	}
}

// customerState maps the controller onto the state a customer sees.
func (c *Controller) customerState() string {
	switch {
	case c.blocks[BlockService]:
		return StateService
	case c.fault != "":
		return StateOutOfOrder
	case c.blocks[BlockBagFull]:
		return StateBagFull
	case len(c.blocks) > 0:
		return StateOutOfOrder
	case c.AtRest():
		return StateReady
	}
	return StateBusy
}

// observe reports what changed since the last status: the customer's state
// and the open session's total.
func (c *Controller) observe(s Status) {
	if c.opts.OnEvent == nil {
		return
	}
	if st := c.customerState(); st != c.seen.state || s.Fault != c.seen.fault {
		c.seen.state, c.seen.fault = st, s.Fault
		c.emit(StateChanged{State: st, Fault: s.Fault})
	}
	if !s.SessionOpen {
		c.seen.total, c.seen.count = 0, 0
		return
	}
	if s.SessionCredit != c.seen.total || s.SessionCount != c.seen.count {
		c.seen.total, c.seen.count = s.SessionCredit, s.SessionCount
		c.emit(SessionTotal{Total: s.SessionCredit, Count: s.SessionCount})
	}
}

func containerEvent(rec ledger.Container, v Verdict) ContainerDecided {
	e := ContainerDecided{ID: rec.ID, Status: StatusRejected, Cause: rec.Cause, Why: v.Why, EAN: rec.EAN, At: rec.DecidedAt}
	if v.Known {
		e.Name = v.Product.Name
	}
	if rec.Cause == drsapi.CauseOK {
		e.Status, e.Deposit = StatusAccepted, v.Product.Deposit
	}
	return e
}
