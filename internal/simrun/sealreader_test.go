package simrun

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/config"
)

// TestSealReader: staff change the bag with the seal reader, not a
// scenario step. In service with the door open, a new seal starts the
// exchange (the full bag is weighed), closing the door records it with the
// new bag's tare; a used seal followed by a new one is a seal replacement.
// Every scan the machine cannot take is refused with a message and changes
// nothing.
func TestSealReader(t *testing.T) {
	ctx := context.Background()
	text := `{"op":"start","at":"2026-03-02T10:00:00Z","rvmId":"0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6","seed":7}` + "\n" +
		repeat(coke, 3) + `{"op":"finish","payout":"voucher"}` + "\n"
	r, out := playOn(t, text, config.Default(), nil)
	c := r.Controller()
	bag0 := c.Status().BagID
	handle := func(ev hal.Event) {
		t.Helper()
		ev.At = r.Clock().Now()
		if err := c.Handle(ctx, ev); err != nil {
			t.Fatalf("Handle(%v) = %v", ev.Kind, err)
		}
	}
	scan := func(seal, wantMsg string) {
		t.Helper()
		handle(hal.Event{Kind: hal.SealScanned, Seal: seal})
		if got := c.Status().Message; !strings.Contains(got, wantMsg) {
			t.Errorf("after scanning %q the display says %q; want %q", seal, got, wantMsg)
		}
	}

	scan("017824770475060", "refused") // not in service, bag not full
	if err := c.Block(ctx, machine.BlockService); err != nil {
		t.Fatal(err)
	}
	handle(hal.Event{Kind: hal.DoorOpened})
	scan("017", "refused")                        // too short
	scan("0178247704750 60", "refused")           // a space inside
	scan("017824770475060ÿ", "refused")           // not a seal character
	scan(strings.Repeat("7", 41), "refused")      // too long
	scan("017824770475060\r\n", "close the door") // the reader's line end is not part of the number
	scan("017824770475061", "waits for the door")
	if c.Status().BagID != bag0 {
		t.Fatalf("bag changed before the door closed")
	}
	r.Sim().ExchangeBag()
	handle(hal.Event{Kind: hal.DoorClosed})
	if got := c.Status().Message; !strings.Contains(got, "bag exchanged under seal 017824770475060") {
		t.Errorf("after the door closed the display says %q", got)
	}
	bag1 := c.Status().BagID
	if bag1 == bag0 || c.Status().BagCount != 0 {
		t.Errorf("after the exchange: bag %s (was %s), %d containers", bag1, bag0, c.Status().BagCount)
	}
	handle(hal.Event{Kind: hal.DoorClosed}) // nothing pending: nothing happens

	// Replacing the damaged seal: the old one, then the new one.
	scan("017824770475060", "scan the new seal")
	scan("017824770475060", "refused") // the old one again is no replacement
	scan("017824770475077", "replaced by 017824770475077")
	scan("017824770475077", "scan the new seal") // now it is the one on the bag
	if err := c.Unblock(ctx, machine.BlockService); err != nil {
		t.Fatal(err)
	}
	scan("017824770475099", "refused") // service over: the replacement was dropped
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	ls := parseOut(t, out.Bytes())
	if want := "transaction,voucher,bag-replacement,bag-seal"; kinds(ls) != want {
		t.Fatalf("events %s; want %s", kinds(ls), want)
	}
	var rep drsapi.BagReplacement
	var seal drsapi.BagSeal
	json.Unmarshal(ls[2].Body, &rep)
	json.Unmarshal(ls[3].Body, &seal)
	if rep.SealNumber != "017824770475060" || rep.BagID != bag0 || rep.ContainerAmount != 3 || rep.BagWeight <= 0 {
		t.Errorf("bag-replacement %+v; want bag %s, seal 017824770475060, 3 containers, its weight", rep, bag0)
	}
	if seal.SealNumber != "017824770475077" || seal.BagID != bag0 {
		t.Errorf("bag-seal %+v; want seal 017824770475077 on bag %s", seal, bag0)
	}
}

// TestSealReaderBagFull: with the bag full the reader's seal exchanges it
// without a service block, and intake resumes.
func TestSealReaderBagFull(t *testing.T) {
	ctx := context.Background()
	r, out := playOn(t, repeat(coke, 3), config.Default(), func(o *Options) { o.Machine.BagMaxContainers = 3 })
	c := r.Controller()
	if st := c.Status(); len(st.Blocked) != 1 || st.Blocked[0] != machine.BlockBagFull {
		t.Fatalf("blocks %v; want the bag full", st.Blocked)
	}
	for _, ev := range []hal.Event{{Kind: hal.SealScanned, Seal: "77000042"}, {Kind: hal.DoorClosed}} {
		ev.At = r.Clock().Now()
		r.Sim().ExchangeBag()
		if err := c.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Status(); len(st.Blocked) != 0 || !c.IntakeOpen() {
		t.Errorf("after the exchange: blocks %v, intake open %v; want none, open", st.Blocked, c.IntakeOpen())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(parseOut(t, out.Bytes())), "bag-fill-status,transaction,voucher,bag-replacement"; got != want {
		t.Errorf("events %s; want %s", got, want)
	}
}

// playOn plays a scenario text on a fresh ledger with cfg (and tweak's
// changes) and returns the runner, still open for more, and its output.
func playOn(t *testing.T, text string, cfg config.Config, tweak func(*Options)) (*Runner, *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	steps, err := scenario.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	o := Options{Catalog: sampleCatalog(t), DBPath: filepath.Join(t.TempDir(), "ledger.db"), Out: out, Machine: MachineOptions(cfg)}
	if tweak != nil {
		tweak(&o)
	}
	r, err := Start(ctx, steps, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Play(ctx, steps); err != nil {
		t.Fatal(err)
	}
	return r, out
}
