package machine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/fsm"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// Devices are the machine's hardware, as the Pi's board or the simulator
// supplies them. Shape may be nil (no shape sensor); Printer may be nil (no
// printer: vouchers are still issued and reported); Scanner may be nil (its
// reads arrive as events all the same; when set, it is told of each new
// container so a code read twice is one read). Events carries what the
// barriers, the scanner, the door, the seal reader and the conveyor report;
// the [Loop] reads it (nil: a rig that calls [Controller.Handle] itself).
type Devices struct {
	Chamber  hal.LoadCell
	Bag      hal.LoadCell
	Metal    hal.MetalSensor
	Shape    hal.ShapeSensor
	Conveyor hal.Conveyor
	Printer  hal.Printer
	Scanner  hal.Scanner
	// Gate is the sorter flap, driven only by the technician's console
	// (actuate gate); nil where the machine has none.
	Gate   hal.Gate
	Events <-chan hal.Event
}

// Options configure a Controller. Zero values take the defaults of
// docs/interfaces.md, "Rules".
type Options struct {
	Clock   clock.Clock
	Logger  *slog.Logger
	RvmID   string
	Catalog *catalog.Catalog
	Rules   Rules

	IdleTimeout      time.Duration // 30 s
	BagMaxContainers int           // 400
	BagMaxMass       physic.Mass   // 15 kg
	BagWarnPct       int           // 80
	WasteTypes       []int         // reported in bag-fill-status; [7, 3]
	VoucherValidity  time.Duration // 30 days
	VoucherPrintType int
	ConveyorLimit    time.Duration // dead-man limit of one belt run; 5 s
	BagSettle        time.Duration // wait after a drop before weighing the bag; 300 ms
	Samples          int           // raw readings per weighing, median-filtered; 3
	Bin              int           // bin number of the first bag; 1
	// The session's containers go to the fleet in "containers" batches of
	// at most ContainerBatchMax (250), or after ContainerBatchEvery (5 s)
	// from the first, whichever comes first; the transaction sends the rest.
	// The age bound serves live counts, so it waits while the fleet link
	// is down (see [Controller.SetLink]).
	ContainerBatchMax   int
	ContainerBatchEvery time.Duration
	// DriftLimit is the drift watch's bound: after a bag exchange, an
	// empty bag whose tare is off the previous bag's by more raises a
	// service warning (see console.go); 0 turns the watch off.
	DriftLimit physic.Mass

	// OnDecision, when set, is called with the wall time from the last
	// sensor reading to the belt command, for each container (benchmarks).
	OnDecision func(time.Duration)
	// OnEvent, when set, is told what a customer would see: each
	// container's verdict, the running total, the session's end and the
	// machine's state (see [Event]). It runs on the loop.
	OnEvent func(Event)
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rules.ShapeTolerancePct == 0 {
		o.Rules.ShapeTolerancePct = 10
	}
	if o.Rules.WeightTolerancePct == 0 {
		o.Rules.WeightTolerancePct = 20
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.BagMaxContainers == 0 {
		o.BagMaxContainers = 400
	}
	if o.BagMaxMass == 0 {
		o.BagMaxMass = 15 * physic.KiloGram
	}
	if o.BagWarnPct == 0 {
		o.BagWarnPct = 80
	}
	if o.WasteTypes == nil {
		o.WasteTypes = []int{drsapi.WastePET, drsapi.WasteAluminium}
	}
	if o.VoucherValidity == 0 {
		o.VoucherValidity = 30 * 24 * time.Hour
	}
	if o.ConveyorLimit == 0 {
		o.ConveyorLimit = 5 * time.Second
	}
	if o.Samples == 0 {
		o.Samples = 3
	}
	if o.Bin == 0 {
		o.Bin = 1
	}
	if o.ContainerBatchMax == 0 {
		o.ContainerBatchMax = 250
	}
	if o.ContainerBatchEvery == 0 {
		o.ContainerBatchEvery = 5 * time.Second
	}
}

// Calibration names of the two load cells in the ledger.
const (
	CellChamber = "chamber"
	CellBag     = "bag"
)

// Block reasons.
const (
	BlockBagFull  = "bag full"
	BlockService  = "service"
	BlockOutbox   = "outbox full"
	BlockOperator = "operator"
	// BlockUnregistered: the operator has not given the machine its rvmId
	// yet, so its transactions would be refused.
	BlockUnregistered = "unregistered"
	// BlockUncalibrated: the ledger holds no calibration for a load cell
	// (the technician calibrates it from the console), so no weight can be
	// trusted.
	BlockUncalibrated = "scale not calibrated"
)

// blockOrder is the order reasons are listed in the status; the first one
// is the status's block reason.
var blockOrder = []string{BlockBagFull, BlockService, BlockUncalibrated, BlockOutbox, BlockOperator, BlockUnregistered}

// ErrBusy is returned by operator acts that need the machine at rest while a
// container is on its way.
var ErrBusy = errors.New("machine: a container is being processed")

// trip is the container in the machine.
type trip struct {
	shape     hal.Shape // storage for reading.Shape
	reading   Reading
	verdict   Verdict
	rec       ledger.Container
	bagBefore physic.Mass
	tries     int
}

// Controller is the machine's controller. See the package documentation.
type Controller struct {
	dev    Devices          // Immutable.
	led    *ledger.Ledger   // Immutable.
	opts   Options          // Mutable via SetOptions, from the loop only.
	log    *slog.Logger     // Immutable.
	fsm    *fsm.Machine     // Mutable, loop only.
	cat    *catalog.Catalog // Mutable via SetCatalog, loop only.
	calCh  calib.Calibration
	calBag calib.Calibration

	// Session and bag state. Mutable, loop only.
	session    *ledger.Session
	containers []ledger.Container
	confirm    []int64 // credited in memory, persisted when the session finishes
	lastInsert time.Time
	warnCross  bool      // the session crossed the bag warning level
	batchN     int       // the session's containers not yet in a batch
	batchDue   time.Time // when they go as a batch; zero when none wait
	linkDown   bool      // the fleet link is down: batchDue waits
	bag        ledger.Bag
	bagCount   int
	bagMass    physic.Mass
	cur        *trip // nil, or &tripBuf
	tripBuf    trip
	deadline   time.Time // trip watchdog or bag settle
	blocks     map[string]bool
	fault      string
	// pendingFault came while a container fell into the bag; it latches
	// once the bag has weighed it.
	pendingFault string
	seal         sealFlow // what the seal reader started
	// Paper vouchers (printVouchers). Mutable, loop only.
	printDue   bool // the ledger may hold vouchers not yet printed
	printFails int
	printRetry time.Time
	booting    bool // resume runs: printing waits until the state is restored
	// seen is what OnEvent was last told. Mutable, loop only.
	seen struct {
		state, fault string
		total        money.Grosze
		count        int
	}

	statusMu sync.Mutex // guards status
	status   Status
}

// Status is a snapshot of the controller for displays, telemetry and the
// console.
type Status struct {
	State         string
	Fault         string
	Blocked       []string
	SessionOpen   bool
	SessionCredit money.Grosze
	SessionCount  int
	BagID         string
	BagCount      int
	BagMass       physic.Mass
	BagFill       float64
	CatalogVer    int64
	RvmID         string
	Message       string
}

// New builds a controller and resumes from the ledger: it settles
// containers left in transit by a power cut against the bag scale, finishes
// a session left open, and restores latched faults and blocks. The load
// cells' calibrations come from the ledger's calibration history; while
// either has none, intake is blocked with [BlockUncalibrated].
func New(ctx context.Context, dev Devices, led *ledger.Ledger, opts Options) (*Controller, error) {
	opts.defaults()
	c := &Controller{dev: dev, led: led, opts: opts, log: opts.Logger, cat: opts.Catalog, blocks: map[string]bool{}}
	if err := c.loadCals(ctx); err != nil {
		return nil, err
	}
	c.booting = true
	if err := c.resume(ctx); err != nil {
		return nil, err
	}
	c.booting, c.printDue = false, true
	if err := c.printVouchers(ctx); err != nil {
		return nil, err
	}
	c.publishStatus("")
	return c, nil
}

// loadCals reads both cells' calibrations from the ledger and blocks or
// unblocks intake by whether both have one.
func (c *Controller) loadCals(ctx context.Context) error {
	okCh, okBag := false, false
	var err error
	if c.calCh, okCh, err = c.loadCal(ctx, CellChamber); err != nil {
		return err
	}
	if c.calBag, okBag, err = c.loadCal(ctx, CellBag); err != nil {
		return err
	}
	if okCh && okBag {
		delete(c.blocks, BlockUncalibrated)
	} else {
		c.blocks[BlockUncalibrated] = true
		c.log.Warn("scale not calibrated: intake blocked", "chamber", okCh, "bag", okBag)
	}
	return nil
}

func (c *Controller) loadCal(ctx context.Context, cell string) (calib.Calibration, bool, error) {
	cal, ok, err := c.led.Calibration(ctx, cell)
	if err != nil || !ok {
		return calib.Calibration{}, false, err
	}
	return calib.Calibration{Offset: cal.Offset, CountsPerKg: cal.CountsPerKg, Resolution: physic.Mass(cal.ResolutionMg) * physic.MilliGram}, true, nil
}

// Recalibrate reloads the load cells' calibrations from the ledger, after
// the technician's console stored a new one: intake resumes once both cells
// have one. It needs the machine at rest.
func (c *Controller) Recalibrate(ctx context.Context) error {
	if !c.AtRest() {
		return ErrBusy
	}
	if err := c.loadCals(ctx); err != nil {
		return err
	}
	if c.blocks[BlockUncalibrated] {
		c.block(BlockUncalibrated)
	} else {
		c.unblock(BlockUncalibrated)
	}
	c.publishStatus("")
	return nil
}

func (c *Controller) now() time.Time { return c.opts.Clock.Now() }

// State is the intake state.
func (c *Controller) State() fsm.State { return c.fsm.State() }

// Deadline is when Tick must next be called; zero when nothing is pending.
func (c *Controller) Deadline() time.Time {
	d := c.deadline
	if due := c.batchAgeDue(); !due.IsZero() && (d.IsZero() || due.Before(d)) {
		d = due
	}
	if c.session != nil && c.fsm.State() == fsm.Ready {
		idle := c.lastInsert.Add(c.opts.IdleTimeout)
		if d.IsZero() || idle.Before(d) {
			d = idle
		}
	}
	if c.printDue && c.session == nil && !c.printRetry.IsZero() && (d.IsZero() || c.printRetry.Before(d)) {
		d = c.printRetry
	}
	return d
}

// AtRest reports whether no container is on its way, so an operator act
// (finish, bag exchange, service) can run.
func (c *Controller) AtRest() bool {
	switch c.fsm.State() {
	case fsm.Idle, fsm.Ready, fsm.Blocked, fsm.Fault:
		return true
	}
	return false
}

// SessionOpen reports whether a customer session is open.
func (c *Controller) SessionOpen() bool { return c.session != nil }

// IntakeOpen reports whether a container offered at the chute would be taken.
func (c *Controller) IntakeOpen() bool {
	s := c.fsm.State()
	return s == fsm.Idle || s == fsm.Ready
}

// Status returns a snapshot; safe from any goroutine.
func (c *Controller) Status() Status {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	s := c.status
	s.Blocked = append([]string(nil), s.Blocked...)
	return s
}

func (c *Controller) publishStatus(msg string) {
	s := Status{
		State: string(c.fsm.State()), Fault: c.fault, SessionOpen: c.session != nil,
		BagID: c.bag.ID, BagCount: c.bagCount, BagMass: c.bagMass, BagFill: c.fill(),
		RvmID: c.opts.RvmID, Message: msg,
	}
	if msg == "" {
		s.Message = c.seal.notice
	}
	if c.cat != nil {
		s.CatalogVer = c.cat.Version()
	}
	for _, r := range blockOrder {
		if c.blocks[r] {
			s.Blocked = append(s.Blocked, r)
		}
	}
	for _, ct := range c.containers {
		if ct.State == ledger.Credited {
			s.SessionCredit += ct.Deposit
			s.SessionCount++
		}
	}
	c.statusMu.Lock()
	c.status = s
	c.statusMu.Unlock()
	c.observe(s)
}

// fire moves the state machine; a refused event is a bug in the controller,
// reported loudly but not fatal.
func (c *Controller) fire(ev fsm.Event) {
	if err := c.fsm.Fire(ev); err != nil {
		c.log.Error("fsm", "err", err)
	}
}

// Handle processes one hardware event.
func (c *Controller) Handle(ctx context.Context, ev hal.Event) error {
	err := c.handle(ctx, ev)
	c.publishStatus("")
	return err
}

func (c *Controller) handle(ctx context.Context, ev hal.Event) error {
	st := c.fsm.State()
	switch ev.Kind {
	case hal.EntryBlocked:
		switch st {
		case fsm.Idle, fsm.Ready:
			return c.startTrip(ctx, ev.At)
		case fsm.Accepting:
			return c.pulledBack(ctx)
		case fsm.Rejecting:
			c.stopBelt()
			c.cur, c.deadline = nil, time.Time{}
			c.fire(fsm.Returned)
		}
	case hal.BarcodeRead:
		if st == fsm.Transport && c.cur != nil && !c.cur.reading.Seen {
			c.cur.reading.Seen, c.cur.reading.Barcode = true, ev.Barcode
		}
	case hal.ChamberBlocked:
		if st == fsm.Transport {
			return c.decide(ctx)
		}
	case hal.ExitCleared:
		if st == fsm.Accepting {
			c.stopBelt()
			c.fire(fsm.Drop)
			c.deadline = c.now().Add(c.opts.BagSettle)
		}
	case hal.ConveyorHalted:
		if st == fsm.Transport || st == fsm.Accepting || st == fsm.Rejecting {
			return c.Fail(ctx, string(hal.FaultJam))
		}
	case hal.DeviceFault:
		return c.Fail(ctx, string(ev.Fault))
	case hal.DoorOpened:
		if !c.blocks[BlockService] {
			return c.Fail(ctx, string(hal.FaultDoorOpen))
		}
	case hal.DoorClosed:
		return c.doorClosed(ctx)
	case hal.SealScanned:
		return c.sealScanned(ctx, ev.Seal)
	}
	return nil
}

// Tick handles deadlines that have passed: the bag settle time, a belt run
// that never arrived (jam), the session's idle timeout.
func (c *Controller) Tick(ctx context.Context) error {
	err := c.tick(ctx)
	c.publishStatus("")
	return err
}

func (c *Controller) tick(ctx context.Context) error {
	now := c.now()
	if due := c.batchAgeDue(); !due.IsZero() && !now.Before(due) {
		if err := c.flushBatch(ctx); err != nil {
			return err
		}
	}
	st := c.fsm.State()
	if !c.deadline.IsZero() && !now.Before(c.deadline) {
		switch st {
		case fsm.Dropping:
			return c.weighDrop(ctx)
		case fsm.Transport, fsm.Accepting, fsm.Rejecting:
			return c.Fail(ctx, string(hal.FaultJam))
		}
		c.deadline = time.Time{}
	}
	if c.session != nil && st == fsm.Ready && !now.Before(c.lastInsert.Add(c.opts.IdleTimeout)) {
		return c.finish(ctx, c.lastInsert.Add(c.opts.IdleTimeout), "voucher", "")
	}
	if c.printDue && c.session == nil && c.AtRest() && !now.Before(c.printRetry) {
		return c.printVouchers(ctx)
	}
	return nil
}

func (c *Controller) stopBelt() {
	if err := c.dev.Conveyor.Stop(); err != nil {
		c.log.Error("conveyor stop", "err", err)
	}
}

func (c *Controller) startTrip(ctx context.Context, at time.Time) error {
	if c.session == nil {
		c.session = &ledger.Session{RvmID: c.opts.RvmID, BagID: c.bag.ID, StartedAt: at}
		c.containers, c.warnCross = c.containers[:0], false
	}
	c.lastInsert = at
	if c.dev.Scanner != nil {
		c.dev.Scanner.NextContainer()
	}
	c.tripBuf = trip{}
	c.cur = &c.tripBuf
	c.fire(fsm.Insert)
	if err := c.dev.Conveyor.Forward(c.opts.ConveyorLimit); err != nil {
		return c.Fail(ctx, string(hal.FaultJam))
	}
	c.deadline = c.now().Add(c.opts.ConveyorLimit)
	return nil
}

// weigh reads a load cell Samples times and returns the calibrated median.
func (c *Controller) weigh(cell hal.LoadCell, cal calib.Calibration) (physic.Mass, error) {
	var buf [9]int32
	n := min(c.opts.Samples, len(buf))
	for i := 0; i < n; i++ {
		raw, err := cell.ReadRaw()
		if err != nil {
			return 0, err
		}
		buf[i] = raw
	}
	return cal.Mass(calib.Median(buf[:n]))
}

func (c *Controller) decide(ctx context.Context) error {
	c.stopBelt()
	c.fire(fsm.Arrive)
	t := c.cur
	var err error
	if t.reading.Mass, err = c.weigh(c.dev.Chamber, c.calCh); err != nil {
		return c.Fail(ctx, string(hal.FaultSensor))
	}
	if t.bagBefore, err = c.weigh(c.dev.Bag, c.calBag); err != nil {
		return c.Fail(ctx, string(hal.FaultSensor))
	}
	if t.reading.Metal, err = c.dev.Metal.Metal(); err != nil {
		return c.Fail(ctx, string(hal.FaultSensor))
	}
	t.reading.Shape = nil
	if c.dev.Shape != nil {
		if sh, err := c.dev.Shape.Measure(); err == nil {
			t.shape = sh
			t.reading.Shape = &t.shape
		}
	}
	start := time.Now()
	t.verdict = Decide(t.reading, c.cat, c.opts.Rules)
	accept := t.verdict.Cause == drsapi.CauseOK
	if accept {
		err = c.dev.Conveyor.Forward(c.opts.ConveyorLimit)
	} else {
		err = c.dev.Conveyor.Reverse(c.opts.ConveyorLimit)
	}
	if c.opts.OnDecision != nil {
		c.opts.OnDecision(time.Since(start))
	}
	if err != nil {
		return c.Fail(ctx, string(hal.FaultJam))
	}
	now := c.now()
	c.deadline = now.Add(c.opts.ConveyorLimit)
	t.rec = ledger.Container{
		BagID: c.bag.ID, EAN: t.verdict.EAN, Cause: t.verdict.Cause,
		WeightMg: int64(t.reading.Mass / physic.MilliGram), DecidedAt: now, State: ledger.Rejected,
	}
	if accept {
		t.rec.State, t.rec.Deposit = ledger.InTransit, t.verdict.Product.Deposit
		c.fire(fsm.Accept)
	} else {
		c.fire(fsm.Reject)
	}
	if err := c.led.RecordContainer(ctx, c.session, &t.rec); err != nil {
		return c.fatal(ctx, err)
	}
	c.containers = append(c.containers, t.rec)
	if c.opts.OnEvent != nil { // boxing the event allocates
		c.emit(containerEvent(t.rec, t.verdict))
	}
	c.batchN++
	if c.batchN == 1 {
		c.batchDue = now.Add(c.opts.ContainerBatchEvery)
	}
	if c.batchN >= c.opts.ContainerBatchMax {
		return c.flushBatch(ctx)
	}
	return nil
}

// SetLink tells the controller whether its link to the fleet (the
// broker) is up. While it is down, the session's containers wait for a
// full batch or the session's transaction, not for the batch's age: the
// age bound is there for live counts, and an outbox filling offline would
// otherwise hold several small batches where one would do, each a message
// and a stored event when the fleet comes back at once. Once the link is
// up again, a batch past its age goes at the next tick. The link counts as
// up until told otherwise (a machine without telemetry keeps the age bound).
func (c *Controller) SetLink(up bool) { c.linkDown = !up }

// batchAgeDue is when the waiting containers go as a batch for their age;
// zero when none wait or the link is down.
func (c *Controller) batchAgeDue() time.Time {
	if c.linkDown {
		return time.Time{}
	}
	return c.batchDue
}

// flushBatch sends the session's containers not yet in a batch as one.
func (c *Controller) flushBatch(ctx context.Context) error {
	c.batchN, c.batchDue = 0, time.Time{}
	if c.session == nil || c.session.ID == "" {
		return nil
	}
	if _, err := c.led.FlushContainers(ctx, c.session.ID); err != nil {
		return c.fatal(ctx, err)
	}
	return nil
}

// pulledBack: an accepted container came back past the entry barrier (the
// string trick): fraud, no credit.
func (c *Controller) pulledBack(ctx context.Context) error {
	c.stopBelt()
	t := c.cur
	c.cur, c.deadline = nil, time.Time{}
	c.fire(fsm.PullBack)
	if err := c.led.MarkRejected(ctx, t.rec.ID, drsapi.CauseFraud); err != nil {
		return c.fatal(ctx, err)
	}
	c.setContainer(t.rec.ID, ledger.Rejected, drsapi.CauseFraud)
	rec := t.rec
	rec.Cause = drsapi.CauseFraud
	c.emit(containerEvent(rec, Verdict{Cause: drsapi.CauseFraud, Why: WhyPulledBack, Product: t.verdict.Product, Known: t.verdict.Known}))
	c.log.Warn("container pulled back", "ean", t.rec.EAN)
	return nil
}

func (c *Controller) setContainer(id int64, state, cause int) {
	for i := range c.containers {
		if c.containers[i].ID == id {
			c.containers[i].State, c.containers[i].Cause = state, cause
			if state != ledger.Credited {
				c.containers[i].Deposit = 0
			}
		}
	}
}

// weighDrop checks that the bag grew by about the container's weight after
// it passed the exit barrier; only then is it credited.
func (c *Controller) weighDrop(ctx context.Context) error {
	t := c.cur
	m, err := c.weigh(c.dev.Bag, c.calBag)
	if err != nil {
		return c.failNow(ctx, string(hal.FaultSensor))
	}
	if 2*(m-t.bagBefore) < t.reading.Mass {
		t.tries++
		if t.tries < 10 {
			c.deadline = c.now().Add(max(c.opts.BagSettle, 50*time.Millisecond))
			return nil
		}
		// The bag never saw it: settle it against the bag scale and stop
		// the machine.
		return c.failNow(ctx, string(hal.FaultSensor))
	}
	c.cur, c.deadline = nil, time.Time{}
	c.confirm = append(c.confirm, t.rec.ID)
	c.setContainer(t.rec.ID, ledger.Credited, 0)
	c.bagCount++
	c.bagMass += t.reading.Mass
	c.fire(fsm.Credit)
	if k := c.pendingFault; k != "" {
		return c.failNow(ctx, k) // a fault that came while it fell
	}
	return c.checkBag(ctx)
}

// fatal handles a ledger failure: the machine cannot record money, so it
// stops taking containers. The error is returned to the loop.
func (c *Controller) fatal(ctx context.Context, err error) error {
	c.stopBelt()
	if c.fsm.State() != fsm.Fault {
		c.fire(fsm.Fail)
	}
	c.fault = "ledger"
	return fmt.Errorf("machine: %w", err)
}
