// Package barrier watches a debounced digital input and reports its changes
// as [hal.Event] values: the light barriers at the entry, the chamber and
// the exit, and the service door's switch (a door is a barrier that opens).
//
// A typical through-beam barrier (an emitter and an open-collector NPN
// receiver, e.g. Omron E3F-series or Panasonic EX-10) pulls the input low
// while its beam is intact or broken depending on its light-on/dark-on
// setting: Opts.ActiveLow says which. Datasheets:
// https://www.ia.omron.com/data_pdf/cat/e3f2_ds_e_5_1_csm167.pdf,
// https://www3.panasonic.biz/ac/e_download/fasys/sensor/photoelectric/catalog/ex-10_e_cata.pdf
// A door switch is a reed or micro switch to ground with the Pi's pull-up.
//
// # Usage
//
//	events := make(chan hal.Event, 16)
//	entry, err := barrier.New(gpioreg.ByName("GPIO17"), &barrier.Opts{
//		Active: hal.EntryBlocked, Inactive: hal.EntryCleared, ActiveLow: true}, events)
//	door, err := barrier.New(gpioreg.ByName("GPIO27"), &barrier.Opts{
//		Active: hal.DoorOpened, Inactive: hal.DoorClosed, Pull: gpio.PullUp}, events)
//
// A new level counts once it has held for Opts.Debounce. The watcher waits
// for an edge in slices of Opts.Poll (never -1: on gpioioctl that times out
// at once) and reads the level after each, so a missed edge costs one
// slice; a pin without edge detection is polled.
//
// # Concurrency
//
// Dev is safe for concurrent use. It has one watcher goroutine, which Halt
// ends and waits for, even while the watcher is blocked sending to a channel
// nobody reads. No lock is held while waiting for an edge. The pin stays the
// caller's.
package barrier
