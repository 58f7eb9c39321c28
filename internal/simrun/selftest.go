package simrun

import (
	"context"
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/barrier"
	"github.com/deposit-rvm/rvm/hal/periph/board"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// What the simulated technician scans.
const (
	selfTestCode = "]E05901234123457\r\n"
	selfTestSeal = "]C0017824770475060\r\n"
)

// SelfTestRig runs board.SelfTest on the simulated machine's pins, the rig's
// wiring opened by package board as on a Pi, with a simulated technician who
// does what each prompt asks: breaks and clears each barrier, opens and
// closes the door, holds a can to the metal sensor, scans a code with the
// scanner and a seal with the seal reader (typed into their
// pseudo-terminals, which the real scanner driver reads). The conveyor's
// dead-man timer runs in real time here (nothing else moves the simulated
// clock); the scales convert the empty cells' load with their noise; the
// fake printer answers the status query. opts.Prompt, if set, is told each
// prompt too.
func SelfTestRig(ctx context.Context, seed uint64, opts *board.CheckOpts) (board.Report, error) {
	m, err := sim.New(clock.NewFake(DefaultStart), sim.DefaultConfig(seed))
	if err != nil {
		return board.Report{}, fmt.Errorf("simrun: %w", err)
	}
	p := m.Pins()
	p.LiveCells()
	s, err := newRigSerial(nil)
	if err != nil {
		return board.Report{}, err
	}
	defer s.Close()
	b, err := openRig(p, s, board.Opts{Barrier: &barrier.Opts{Debounce: time.Millisecond, Poll: 20 * time.Millisecond}})
	if err != nil {
		return board.Report{}, err
	}
	defer b.Halt()
	var o board.CheckOpts
	if opts != nil {
		o = *opts
	}
	if o.Wait <= 0 {
		o.Wait = 30 * time.Second
	}
	told := o.Prompt
	o.Prompt = func(key, text string) {
		if told != nil {
			told(key, text)
		}
		switch key {
		case "entry":
			go p.Toggle(hal.EntryBlocked, hal.EntryCleared, o.Wait)
		case "chamber":
			go p.Toggle(hal.ChamberBlocked, hal.ChamberCleared, o.Wait)
		case "exit":
			go p.Toggle(hal.ExitBlocked, hal.ExitCleared, o.Wait)
		case "door":
			go p.Toggle(hal.DoorOpened, hal.DoorClosed, o.Wait)
		case "metal":
			go p.HoldMetal(o.Wait)
		case "scanner":
			s.scanner.Send(selfTestCode)
		case "sealReader":
			s.seal.Send(selfTestSeal)
		}
	}
	return board.SelfTest(ctx, b, &o), nil
}
