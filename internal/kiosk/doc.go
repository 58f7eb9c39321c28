// Package kiosk is the customer's screen: one page served by the machine
// (rvmd run -ui ADDR), its HTML, CSS and JavaScript embedded in the binary,
// updated live by server-sent events.
//
// # Usage
//
// Build a [Server], hand its [Server.Observe] to the controller as
// machine.Options.OnEvent, and serve it:
//
//	k := kiosk.New(kiosk.Options{Actor: daemon, Status: ctrl.Status})
//	opts.OnEvent = k.Observe
//	go k.Serve(ctx, listener)
//
// The server keeps a [Snapshot] of what the customer should see (the
// machine's state, every container of the open session with its deposit or
// refusal, the running total) from the controller's events. A page that
// connects to /events gets the snapshot at once, then each change; a page
// that loses the stream shows "out of order" and reconnects every second.
// The payout buttons POST /api/finish, which ends the session through
// [Actor.Do] and machine.Controller.Finish: the same act as a scenario's
// finish step.
//
// The page's test hooks (data-testid session-total, container with
// data-status and data-reason, machine-state, btn-voucher, btn-donate,
// btn-digital, btn-account, phone-input, lang-en, lang-pl) are an interface outside
// checks rely on; docs/kiosk.md shows each screen.
//
// # Concurrency
//
// Observe may be called from the controller's loop while HTTP handlers run;
// it never blocks (a page too slow to take an event is disconnected and
// reconnects to a fresh snapshot).
package kiosk
