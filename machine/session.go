package machine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/fsm"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/backoff"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Payouts a customer can choose.
const (
	PayoutVoucher  = "voucher"
	PayoutDonation = "donation"
	PayoutDigital  = "digital"
	// PayoutAccount credits the customer's deposit account (by phone); it
	// finishes like a digital voucher, and the cloud credits the account.
	PayoutAccount = "account"
)

var phoneRE = regexp.MustCompile(`^[0-9]{9}$`)

// ValidPhone reports whether s is a phone number a digital voucher can go
// to: nine digits.
func ValidPhone(s string) bool { return phoneRE.MatchString(s) }

// Finish ends the customer's session with the chosen payout. It needs the
// machine at rest (ErrBusy otherwise); without an open session it does
// nothing.
func (c *Controller) Finish(ctx context.Context, payout, phone string) error {
	switch payout {
	case PayoutVoucher, PayoutDonation:
	case PayoutDigital, PayoutAccount:
		if !ValidPhone(phone) {
			return fmt.Errorf("machine: phone %q is not a 9-digit number", phone)
		}
	default:
		return fmt.Errorf("machine: unknown payout %q", payout)
	}
	if !c.AtRest() {
		return ErrBusy
	}
	if c.session == nil {
		return nil
	}
	err := c.finish(ctx, c.now(), payout, phone)
	c.publishStatus("")
	return err
}

// Touch tells the controller the customer is at the screen (choosing a
// payout, typing a phone number): the session's idle timeout counts from
// now, so it does not end under their fingers. Without a session it does
// nothing.
func (c *Controller) Touch() {
	if c.session != nil && c.now().After(c.lastInsert) {
		c.lastInsert = c.now()
	}
}

// finish closes the open session: one durable commit with the transaction,
// its voucher and the bag report due.
func (c *Controller) finish(ctx context.Context, at time.Time, payout, phone string) error {
	s := c.session
	if s == nil {
		return nil
	}
	if s.ID == "" || len(c.containers) == 0 {
		// Nothing recorded, or all of it handed back after a power cut:
		// the session never happened and sends no transaction.
		c.endSession()
		c.emit(SessionEnded{Payout: payout, At: at})
		return nil
	}
	var amount money.Grosze
	causes := make([]int, 0, len(c.containers))
	for _, ct := range c.containers {
		if ct.State == ledger.Credited {
			amount += ct.Deposit
		}
		causes = append(causes, ct.Cause)
	}
	blocked := Blocked(causes, c.opts.Rules)
	if blocked {
		// The operator's rule: a transaction blocked for fraud pays no
		// voucher (and prints none); the containers stay in the bag and
		// the transaction still goes out, flagged.
		c.log.Warn("session blocked for fraud", "session", s.ID, "credit withheld", amount)
		amount = 0
	}
	f := ledger.Finish{
		SessionID: s.ID, RvmID: s.RvmID, EndedAt: at, Payout: payout, Phone: phone,
		Confirm: c.confirm, Amount: amount, PrintType: c.opts.VoucherPrintType,
		Validity: c.opts.VoucherValidity,
	}
	full := c.bagFull()
	if full && !c.bag.Full {
		f.Before = []ledger.Event{{Kind: envelope.KindBagFillStatus, Body: c.fillStatus(at, true)}}
		f.BagFull, f.BagWarned = true, true
	} else if c.warnCross && !c.bag.Warned {
		f.After = []ledger.Event{{Kind: envelope.KindBagFillStatus, Body: c.fillStatus(at, false)}}
		f.BagWarned = true
	}
	f.Build = func(v *ledger.Voucher) drsapi.Transaction {
		t := c.transaction(s, at, payout, v)
		t.TransactionBlocked = blocked
		return t
	}
	_, v, err := c.led.FinishSession(ctx, f)
	if err != nil {
		return c.fatal(ctx, err)
	}
	c.confirm = c.confirm[:0]
	c.bag.Full = c.bag.Full || f.BagFull
	c.bag.Warned = c.bag.Warned || f.BagWarned
	if v != nil && payout == PayoutVoucher {
		c.printDue = true
	}
	c.endSession()
	ended := SessionEnded{Payout: payout, Phone: phone, Total: amount, Blocked: blocked, At: at}
	if v != nil {
		ended.Voucher = v.ID
	}
	c.emit(ended)
	if c.bag.Full {
		c.block(BlockBagFull)
	}
	return c.printVouchers(ctx)
}

// printRetry spaces the attempts to print a voucher the printer refused.
var printRetry = backoff.Policy{Min: 5 * time.Second, Max: 5 * time.Minute}

// printVouchers prints the paper vouchers the ledger holds unprinted, oldest
// first, each under the code it was issued with, and marks each printed once
// the printer confirms it. A failed print leaves the voucher due: Tick
// tries again after a back-off while no session is open (so a reprint never
// lands in the next customer's hands mid-session), and ClearFault at once.
// A printer fault (paper out, cover open) is latched. The voucher is never
// issued twice; a power cut between the print and its mark prints the same
// code again, which the operator redeems once.
func (c *Controller) printVouchers(ctx context.Context) error {
	if c.dev.Printer == nil || !c.printDue || c.booting {
		return nil
	}
	vs, err := c.led.UnprintedVouchers(ctx)
	if err != nil {
		return c.fatal(ctx, err)
	}
	for _, v := range vs {
		if perr := c.dev.Printer.Print(ticket(v)); perr != nil {
			c.printFails++
			c.printRetry = c.now().Add(printRetry.Ceiling(c.printFails))
			c.log.Error("print voucher", "voucher", v.ID, "err", perr, "retry", c.printRetry)
			if err := c.led.PrintFailed(ctx, v.ID); err != nil {
				return c.fatal(ctx, err)
			}
			if f := hal.Fault(""); errors.As(perr, &f) {
				return c.Fail(ctx, string(f))
			}
			return nil
		}
		if err := c.led.MarkPrinted(ctx, v.ID, c.now()); err != nil {
			return c.fatal(ctx, err)
		}
	}
	c.printDue, c.printFails, c.printRetry = false, 0, time.Time{}
	return nil
}

func (c *Controller) endSession() {
	c.session, c.containers, c.warnCross = nil, nil, false
	c.batchN, c.batchDue = 0, time.Time{}
	if c.fsm.State() == fsm.Ready {
		c.fire(fsm.Finish)
	}
}

// transaction builds the operator's Transaction: containers grouped by
// (ean, cause) in order of first appearance, weights in whole grams.
func (c *Controller) transaction(s *ledger.Session, end time.Time, payout string, v *ledger.Voucher) drsapi.Transaction {
	t := drsapi.Transaction{
		ID: s.ID, RvmID: s.RvmID, TransactionStartTime: ledger.DRSTime(s.StartedAt),
		TransactionEndTime: ledger.DRSTime(end), Containers: []drsapi.Container{},
	}
	type key struct {
		ean   string
		cause int
	}
	idx := map[key]int{}
	rowMg := []int64{}
	for _, ct := range c.containers {
		if ct.State == ledger.InTransit {
			continue
		}
		k := key{ct.EAN, ct.Cause}
		i, ok := idx[k]
		if !ok {
			i = len(t.Containers)
			idx[k] = i
			t.Containers = append(t.Containers, drsapi.Container{EAN: ct.EAN, RejectionCauseCode: ct.Cause})
			rowMg = append(rowMg, 0)
		}
		t.Containers[i].Count++
		rowMg[i] += ct.WeightMg
		if ct.Cause == drsapi.CauseOK {
			t.TotalAccepted++
		} else {
			t.TotalRejected++
		}
	}
	// totalWeight is the sum of the accepted rows as sent, so the
	// operator's cross-check of rows against totals always holds.
	for i := range t.Containers {
		t.Containers[i].Weight = grams(rowMg[i])
		if t.Containers[i].RejectionCauseCode == drsapi.CauseOK {
			t.TotalWeight += t.Containers[i].Weight
		}
	}
	t.TotalAmount = t.TotalAccepted + t.TotalRejected
	if v != nil {
		t.Voucher = &drsapi.VoucherBase{ID: v.ID, RedeemType: drsapi.RedeemValid}
		if payout == PayoutDonation {
			t.Voucher.Redeemed, t.Voucher.RedeemType = true, drsapi.RedeemCharity
		}
	}
	return t
}

// grams rounds milligrams to whole grams, half away from zero.
func grams(mg int64) int64 { return int64(math.Round(float64(mg) / 1000)) }

func (c *Controller) fill() float64 {
	f1 := float64(c.bagCount) / float64(c.opts.BagMaxContainers)
	f2 := float64(c.bagMass) / float64(c.opts.BagMaxMass)
	return math.Max(f1, f2)
}

func (c *Controller) bagFull() bool {
	return c.bagCount >= c.opts.BagMaxContainers || c.bagMass >= c.opts.BagMaxMass
}

func (c *Controller) fillStatus(at time.Time, full bool) drsapi.BagFillStatus {
	lvl := math.Min(1, math.Round(c.fill()*100)/100)
	if full {
		lvl = 1
	}
	return drsapi.BagFillStatus{
		RvmID: c.opts.RvmID, WasteType: append([]int(nil), c.opts.WasteTypes...), RvmBlocked: full,
		FillLevelPercent: lvl, ReportedAt: ledger.DRSTime(at),
	}
}

// checkBag runs after each credit: at the warning level the session notes
// it (reported when the session ends); at full the session ends at once and
// intake is blocked.
func (c *Controller) checkBag(ctx context.Context) error {
	if c.bagFull() {
		return c.finish(ctx, c.now(), PayoutVoucher, "")
	}
	if !c.bag.Warned && c.bagCount*100 >= c.opts.BagWarnPct*c.opts.BagMaxContainers ||
		!c.bag.Warned && int64(c.bagMass)*100 >= int64(c.opts.BagWarnPct)*int64(c.opts.BagMaxMass) {
		c.warnCross = true
	}
	return nil
}

func (c *Controller) block(reason string) {
	c.blocks[reason] = true
	switch c.fsm.State() {
	case fsm.Idle:
		c.fire(fsm.Block)
	}
}

func (c *Controller) unblock(reason string) {
	delete(c.blocks, reason)
	if len(c.blocks) == 0 && c.fsm.State() == fsm.Blocked {
		c.fire(fsm.Unblock)
	}
}

// Block stops intake for a reason (operator command, outbox over budget,
// service). An open session is finished first.
func (c *Controller) Block(ctx context.Context, reason string) error {
	if !c.AtRest() {
		return ErrBusy
	}
	if c.blocks[reason] {
		return nil
	}
	if err := c.finish(ctx, c.now(), PayoutVoucher, ""); err != nil {
		return err
	}
	c.block(reason)
	if reason == BlockOperator {
		if err := c.led.SetMeta(ctx, "blocked", reason); err != nil {
			return c.fatal(ctx, err)
		}
	}
	c.publishStatus("")
	return nil
}

// Unblock lifts a block; intake resumes when no other block remains.
func (c *Controller) Unblock(ctx context.Context, reason string) error {
	if !c.blocks[reason] {
		return nil
	}
	if reason == BlockOperator {
		if err := c.led.SetMeta(ctx, "blocked", ""); err != nil {
			return c.fatal(ctx, err)
		}
	}
	if reason == BlockService && c.seal.pending != "" {
		// Staff ended the service before closing the door: the bag under
		// the scanned seal was not exchanged.
		c.log.Warn("bag exchange abandoned", "seal", c.seal.pending)
	}
	if reason == BlockService {
		c.seal = sealFlow{}
	}
	c.unblock(reason)
	c.publishStatus("")
	return nil
}

// Fail latches a fault: the belt stops, the customer's session is finished
// safely with what is credited (a container on its way is settled against
// the bag scale), intake stays blocked until a technician clears it.
func (c *Controller) Fail(ctx context.Context, kind string) error {
	if c.fsm.State() == fsm.Dropping && c.cur != nil {
		// The container is past the point of no return, falling into the
		// bag: gravity finishes its trip whatever failed. Weigh it first
		// (weighDrop), then latch, so its credit is not lost.
		if c.pendingFault == "" {
			c.pendingFault = kind
		}
		return nil
	}
	return c.failNow(ctx, kind)
}

func (c *Controller) failNow(ctx context.Context, kind string) error {
	c.stopBelt()
	c.pendingFault = ""
	if c.fault != "" {
		return nil
	}
	c.log.Warn("fault latched", "fault", kind)
	if c.cur != nil && c.cur.rec.ID != 0 && c.cur.rec.State == ledger.InTransit {
		if err := c.settle(ctx, []ledger.Container{c.cur.rec}); err != nil {
			return c.fatal(ctx, err)
		}
	}
	c.cur, c.deadline = nil, time.Time{}
	if err := c.led.RaiseFault(ctx, kind, c.now(), c.opts.RvmID); err != nil {
		return c.fatal(ctx, err)
	}
	c.fault = kind
	c.fire(fsm.Fail)
	if err := c.finish(ctx, c.now(), PayoutVoucher, ""); err != nil {
		return err
	}
	c.publishStatus("out of order")
	return nil
}

// ClearFault is the technician's act that clears a latched fault.
func (c *Controller) ClearFault(ctx context.Context, by string) error {
	if c.fault == "" {
		return nil
	}
	if err := c.led.ClearFault(ctx, by, c.now(), c.opts.RvmID); err != nil {
		return c.fatal(ctx, err)
	}
	c.fault = ""
	c.fire(fsm.Clear)
	if len(c.blocks) > 0 {
		c.fire(fsm.Block)
	}
	// The technician may have fixed the printer: try the due vouchers now.
	c.printRetry = time.Time{}
	err := c.printVouchers(ctx)
	c.publishStatus("")
	return err
}

// settle credits or drops in-transit containers by what the bag scale
// shows: the prefix of them (containers reach the bag in order) whose
// weights best explain the bag's content beyond what is already credited.
func (c *Controller) settle(ctx context.Context, pending []ledger.Container) error {
	if len(pending) == 0 {
		return nil
	}
	m, err := c.weigh(c.dev.Bag, c.calBag)
	if err != nil {
		return err
	}
	content := int64(m/physic.MilliGram) - c.bag.TareMg
	base := int64(c.bagMass / physic.MilliGram)
	best, bestDiff := 0, abs64(content-base)
	sum := base
	for i, p := range pending {
		sum += p.WeightMg
		if d := abs64(content - sum); d < bestDiff {
			best, bestDiff = i+1, d
		}
	}
	var credit, drop []int64
	for i, p := range pending {
		if i < best {
			credit = append(credit, p.ID)
			c.bagCount++
			c.bagMass += physic.Mass(p.WeightMg) * physic.MilliGram
			c.setContainer(p.ID, ledger.Credited, 0)
		} else {
			drop = append(drop, p.ID)
			c.dropContainer(p.ID)
		}
	}
	c.log.Info("settled containers in transit", "credited", len(credit), "handed back", len(drop))
	return c.led.Settle(ctx, credit, drop)
}

func (c *Controller) dropContainer(id int64) {
	out := c.containers[:0]
	for _, ct := range c.containers {
		if ct.ID != id {
			out = append(out, ct)
		}
	}
	c.containers = out
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// resume restores the controller from the ledger (see New).
func (c *Controller) resume(ctx context.Context) error {
	now := c.now()
	var tare physic.Mass
	if !c.blocks[BlockUncalibrated] {
		// An uncalibrated bag cell cannot tare a new bag: it starts at 0
		// and the next bag exchange weighs its successor.
		var err error
		if tare, err = c.weigh(c.dev.Bag, c.calBag); err != nil {
			return fmt.Errorf("machine: bag scale: %w", err)
		}
	}
	if _, err := c.led.EnsureBag(ctx, c.opts.Bin, int64(tare/physic.MilliGram), now); err != nil {
		return err
	}
	st, err := c.led.Load(ctx)
	if err != nil {
		return err
	}
	c.bag, c.bagCount = st.Bag, st.BagCount
	c.bagMass = physic.Mass(st.BagMassMg) * physic.MilliGram
	c.session, c.containers = st.Session, st.Containers
	c.fsm = fsm.New(fsm.Idle, nil)
	if len(st.InTransit) > 0 {
		if err := c.settle(ctx, st.InTransit); err != nil {
			return fmt.Errorf("machine: settle after restart: %w", err)
		}
	}
	if c.session != nil {
		c.fsm = fsm.New(fsm.Ready, nil)
		c.warnCross = !c.bag.Warned && c.fill()*100 >= float64(c.opts.BagWarnPct)
		if err := c.finish(ctx, now, PayoutVoucher, ""); err != nil {
			return err
		}
	}
	if reason, _, err := c.led.Meta(ctx, "blocked"); err != nil {
		return err
	} else if reason != "" {
		c.blocks[BlockOperator] = true
	}
	if c.bag.Full {
		c.blocks[BlockBagFull] = true
	}
	switch {
	case st.Fault != "":
		c.fault = st.Fault
		c.fsm = fsm.New(fsm.Fault, nil)
	case len(c.blocks) > 0:
		c.fsm = fsm.New(fsm.Blocked, nil)
	default:
		c.fsm = fsm.New(fsm.Idle, nil)
	}
	c.publishStatus("")
	return nil
}

// Errors of the bag acts.
var (
	ErrSealFormat = errors.New("machine: seal number must be 4 to 40 digits, letters or hyphens")
	// ErrSealRefused wraps every reason a scanned seal is not taken.
	ErrSealRefused = errors.New("machine: seal refused")
)

// sealRE is the seal number's format. The operator's API (Kaucja.pl RVM
// API 1.0.12, BagReplacement.sealNumber and BagSeal.sealNumber) gives no
// pattern or length, only a 15-digit example, and checks the number's
// checksum on its side without publishing the algorithm; so the machine
// checks the characters and a length that fits every seal printed as a
// barcode, and leaves the checksum to the operator (docs/interfaces.md,
// "Seals").
var sealRE = regexp.MustCompile(`^[0-9A-Za-z-]{4,40}$`)

// ValidSeal checks a seal number's format.
func ValidSeal(seal string) error {
	if !sealRE.MatchString(seal) {
		return fmt.Errorf("%w: %q", ErrSealFormat, seal)
	}
	return nil
}

// BagExchange is staff replacing the bag.
type BagExchange struct {
	Seal  string // the seal put on the full bag
	Staff string // the staff member's id (lockingPersonId)
	Bin   int
	// Swap is the physical act: it returns once the full bag is out and an
	// empty one is in. The controller weighs before and after.
	Swap func() error
}

// ExchangeBag records a bag exchange: an open session is finished first,
// the full bag is weighed and closed under its seal, the new bag's tare is
// taken, and intake resumes. A seal already used by this machine is refused
// before anything happens.
func (c *Controller) ExchangeBag(ctx context.Context, ex BagExchange) (drsapi.BagReplacement, error) {
	full, err := c.beginExchange(ctx, ex.Seal)
	if err != nil {
		return drsapi.BagReplacement{}, err
	}
	c.seal = sealFlow{} // an act from the console or the fleet wins over a half-done scan
	if ex.Swap != nil {
		if err := ex.Swap(); err != nil {
			return drsapi.BagReplacement{}, fmt.Errorf("machine: bag swap: %w", err)
		}
	}
	return c.completeExchange(ctx, ex.Seal, ex.Staff, ex.Bin, full)
}

// beginExchange checks the seal, finishes an open session and weighs the
// full bag.
func (c *Controller) beginExchange(ctx context.Context, seal string) (physic.Mass, error) {
	if err := ValidSeal(seal); err != nil {
		return 0, err
	}
	if !c.AtRest() {
		return 0, ErrBusy
	}
	used, err := c.led.SealUsed(ctx, seal)
	if err != nil {
		return 0, err
	}
	if used {
		return 0, fmt.Errorf("machine: %w: %s", ledger.ErrSealUsed, seal)
	}
	if err := c.finish(ctx, c.now(), PayoutVoucher, ""); err != nil {
		return 0, err
	}
	full, err := c.weigh(c.dev.Bag, c.calBag)
	if err != nil {
		return 0, c.Fail(ctx, string(hal.FaultSensor))
	}
	return full, nil
}

// completeExchange weighs the new bag and records the exchange of the bag
// that weighed full under seal.
func (c *Controller) completeExchange(ctx context.Context, seal, staff string, bin int, full physic.Mass) (drsapi.BagReplacement, error) {
	empty, err := c.weigh(c.dev.Bag, c.calBag)
	if err != nil {
		return drsapi.BagReplacement{}, c.Fail(ctx, string(hal.FaultSensor))
	}
	measured := (int64(full/physic.MilliGram) - c.bag.TareMg) / 1000
	prevTare := c.bag.TareMg
	rep, nb, err := c.led.ExchangeBag(ctx, ledger.Exchange{
		Seal: seal, Staff: staff, Bin: bin, At: c.now(), RvmID: c.opts.RvmID,
		MeasuredG: max(measured, 0), NewTareMg: int64(empty / physic.MilliGram),
	})
	if err != nil {
		return rep, err
	}
	c.bag, c.bagCount, c.bagMass = nb, 0, 0
	c.unblock(BlockBagFull)
	c.watchDrift(ctx, prevTare)
	c.publishStatus("")
	return rep, nil
}

// ReplaceSeal records a damaged seal replaced by a new one.
func (c *Controller) ReplaceSeal(ctx context.Context, old, seal, staff string) (drsapi.BagSeal, error) {
	if err := ValidSeal(seal); err != nil {
		return drsapi.BagSeal{}, err
	}
	return c.led.ReplaceSeal(ctx, old, seal, staff, c.now(), c.opts.RvmID)
}

// sealFlow is what the seal reader started and staff have not finished.
type sealFlow struct {
	old     string      // a used seal scanned first: the next new seal replaces it
	pending string      // a new seal on the full bag: the exchange completes when the door closes
	full    physic.Mass // the full bag, weighed when its seal was scanned
	notice  string      // what the display tells staff about the last scan
}

// sealScanned handles the seal reader. It takes a seal only while staff
// may change the bag (the machine in service with its door open, or the
// bag full) and no container is on its way:
//   - a new seal starts a bag exchange: the full bag, which carries it, is
//     weighed now; the exchange is recorded when the door closes (doorClosed),
//     with the new bag's tare;
//   - a seal this machine already used starts a seal replacement: the next
//     new seal scanned replaces it (bag-seal).
//
// A scan that cannot be taken (a bad number, a used seal, the wrong
// moment) is refused with a message on the display and in the log, and
// changes nothing.
func (c *Controller) sealScanned(ctx context.Context, raw string) error {
	seal := strings.TrimSpace(raw) // readers end a scan with CR or LF
	refuse := func(err error) error {
		c.seal.notice = fmt.Sprintf("seal %q refused: %v", seal, err)
		c.log.Warn("seal refused", "seal", seal, "err", err)
		return nil
	}
	if err := ValidSeal(seal); err != nil {
		return refuse(err)
	}
	if !c.AtRest() {
		return refuse(ErrBusy)
	}
	if !c.blocks[BlockService] && !c.blocks[BlockBagFull] {
		return refuse(fmt.Errorf("%w: the bag is changed with the machine in service or the bag full", ErrSealRefused))
	}
	used, err := c.led.SealUsed(ctx, seal)
	if err != nil {
		return c.fatal(ctx, err)
	}
	switch {
	case c.seal.old != "":
		if _, err := c.ReplaceSeal(ctx, c.seal.old, seal, ""); err != nil {
			return refuse(err) // the old seal stays selected: scan another new one
		}
		c.log.Info("seal replaced", "old", c.seal.old, "new", seal)
		c.seal = sealFlow{notice: fmt.Sprintf("seal %s replaced by %s", c.seal.old, seal)}
	case used && c.seal.pending == "":
		c.seal = sealFlow{old: seal, notice: fmt.Sprintf("seal %s: scan the new seal that replaces it", seal)}
	case used:
		return refuse(fmt.Errorf("machine: %w: %s", ledger.ErrSealUsed, seal))
	case c.seal.pending != "":
		return refuse(fmt.Errorf("%w: the bag exchange under seal %s waits for the door to close", ErrSealRefused, c.seal.pending))
	default:
		full, err := c.beginExchange(ctx, seal)
		if err != nil {
			if c.fault != "" {
				return err
			}
			return refuse(err)
		}
		c.seal = sealFlow{pending: seal, full: full,
			notice: fmt.Sprintf("seal %s: take the bag out, put an empty one in, close the door", seal)}
	}
	return nil
}

// doorClosed completes a bag exchange the seal reader started.
func (c *Controller) doorClosed(ctx context.Context) error {
	if c.seal.pending == "" || !c.AtRest() {
		return nil
	}
	seal, full := c.seal.pending, c.seal.full
	if _, err := c.completeExchange(ctx, seal, "", 0, full); err != nil {
		if errors.Is(err, ledger.ErrSealUsed) {
			c.seal = sealFlow{notice: fmt.Sprintf("seal %q refused: %v", seal, err)}
			return nil
		}
		return c.fatal(ctx, err)
	}
	c.log.Info("bag exchanged", "seal", seal)
	c.seal = sealFlow{notice: fmt.Sprintf("bag exchanged under seal %s", seal)}
	return nil
}

// SetCatalog replaces the product catalogue; the next container is judged
// by it.
func (c *Controller) SetCatalog(cat *catalog.Catalog) {
	c.cat = cat
	c.publishStatus("")
}

// Catalog is the catalogue in use.
func (c *Controller) Catalog() *catalog.Catalog { return c.cat }

// SetRvmID sets the machine's operator id (after registration); sessions
// started from now on carry it.
func (c *Controller) SetRvmID(id string) {
	c.opts.RvmID = id
	c.publishStatus("")
}

// SetOptions changes the configurable thresholds (a config command). The
// clock, logger, catalogue, rvmId and observers stay.
func (c *Controller) SetOptions(o Options) {
	o.Clock, o.Logger, o.Catalog, o.RvmID, o.OnDecision, o.OnEvent = c.opts.Clock, c.opts.Logger, c.cat, c.opts.RvmID, c.opts.OnDecision, c.opts.OnEvent
	o.defaults()
	c.opts = o
	c.publishStatus("")
}
