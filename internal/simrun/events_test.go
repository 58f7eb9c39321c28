package simrun

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/config"
)

// TestObserverEvents: the controller tells an observer (the kiosk) each
// container's verdict with the reason a customer should hear, the running
// total once the bag weighed a container, the session's end and the
// machine's state, in the order they happen.
func TestObserverEvents(t *testing.T) {
	script := strings.Join([]string{
		coke,
		`{"op":"insert","ean":"5900449000287","weight_g":520}`,
		`{"op":"insert","ean":"5901234123457"}`,
		`{"op":"insert","ean":"5900449000287","pullback":true}`,
		`{"op":"insert","ean":"5901012001120","metal":false}`,
		`{"op":"insert","ean":"5900449000287","weight_g":5}`,
		`{"op":"insert","barcode":"missing"}`,
		`{"op":"finish","payout":"donation"}`,
		`{"op":"fault","kind":"jam"}`,
	}, "\n")
	var got []string
	play(t, script, func(o *Options) {
		o.Machine.OnEvent = func(e machine.Event) {
			var s string
			switch e := e.(type) {
			case machine.ContainerDecided:
				s = fmt.Sprintf("container %d %s cause=%d why=%s deposit=%d ean=%s name=%q", e.ID, e.Status, e.Cause, e.Why, e.Deposit, e.EAN, e.Name)
			case machine.SessionTotal:
				s = fmt.Sprintf("total %d count=%d", e.Total, e.Count)
			case machine.SessionEnded:
				s = fmt.Sprintf("ended %s total=%d voucher=%v blocked=%v", e.Payout, e.Total, e.Voucher != "", e.Blocked)
			case machine.StateChanged:
				s = fmt.Sprintf("state %s %s", e.State, e.Fault)
			}
			// Busy and ready alternate with every container: keep the
			// first of a run of state changes only where it matters.
			if len(got) > 0 && strings.HasPrefix(s, "state busy") && strings.HasPrefix(got[len(got)-1], "state ready") {
				got = got[:len(got)-1]
			}
			got = append(got, strings.TrimSpace(s))
		}
	})
	want := []string{
		"state busy",
		`container 1 accepted cause=0 why= deposit=50 ean=5900449000287 name="Coca-Cola 0,5 L"`,
		"state ready", // the bag weighed it: credited
		"total 50 count=1",
		"state busy",
		`container 2 rejected cause=6 why=not-empty deposit=0 ean=5900449000287 name="Coca-Cola 0,5 L"`,
		"state busy",
		`container 3 rejected cause=6 why=not-in-system deposit=0 ean=5901234123457 name=""`,
		"state busy",
		`container 4 accepted cause=0 why= deposit=50 ean=5900449000287 name="Coca-Cola 0,5 L"`,
		`container 4 rejected cause=1 why=pulled-back deposit=0 ean=5900449000287 name="Coca-Cola 0,5 L"`,
		"state busy",
		`container 5 rejected cause=1 why=wrong-material deposit=0 ean=5901012001120 name="Tyskie Gronie 0,5 L puszka"`,
		"state busy",
		`container 6 rejected cause=1 why=too-light deposit=0 ean=5900449000287 name="Coca-Cola 0,5 L"`,
		"state busy",
		`container 7 rejected cause=4 why= deposit=0 ean= name=""`,
		"state ready",
		"ended donation total=0 voucher=false blocked=true", // 3 frauds: over the default threshold of 2
		"state out of order jam",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTouchDefersIdleTimeout: a customer at the screen (Touch) keeps the
// session open past the idle timeout counted from the last insert; it ends
// one idle timeout after the last touch.
func TestTouchDefersIdleTimeout(t *testing.T) {
	ctx := context.Background()
	r, _ := playOn(t, "", config.Default(), nil)
	steps, _ := scenario.Parse(strings.NewReader(coke))
	if err := r.insert(ctx, steps[0]); err != nil {
		t.Fatal(err)
	}
	if err := r.settle(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := r.Clock().Now()
	for _, tt := range []struct {
		at    time.Duration
		touch bool
		open  bool
	}{
		{20 * time.Second, true, true},  // touched 20 s after the insert
		{45 * time.Second, false, true}, // 25 s after the touch: still open
		{51 * time.Second, false, false},
	} {
		if err := r.advance(ctx, t0.Add(tt.at)); err != nil {
			t.Fatal(err)
		}
		if tt.touch {
			r.Controller().Touch()
		}
		if got := r.Controller().SessionOpen(); got != tt.open {
			t.Errorf("SessionOpen() at +%v = %v; want %v", tt.at, got, tt.open)
		}
	}
}
