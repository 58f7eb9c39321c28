// Package board is the Raspberry Pi's wiring: which pin or port each device
// of the machine is on, validated, and the hal devices opened on them.
//
// # Usage
//
//	w, err := board.ParseFile("/etc/rvmd/config.json") // its "pins" section
//	b, err := board.Open(w, nil)                        // host.Init, gpioreg.ByName
//	defer b.Halt()
//	// b.Chamber, b.Bag (hal.LoadCell), b.Metal, b.Shape (nil if not fitted),
//	// b.Conveyor, b.Scanner, b.SealReader (hal.Scanner), b.Printer
//	// (hal.Printer); b.Events() reports the barriers, the door, the belt's
//	// dead-man stops, the codes and seals read and the scanners' faults.
//	report := board.SelfTest(ctx, b, nil)
//	report.WriteText(os.Stdout)
//
// An example wiring, every key used: docs/wiring.example.json. Pin numbering
// and header positions: https://pinout.xyz; the Pi's GPIO electrical
// limits: https://datasheets.raspberrypi.com/bcm2835/bcm2835-peripherals.pdf
//
// # The "pins" section
//
// One key a device; each names its pins ("GPIO17" or a header position
// "P1_11", read as the BCM pin it is) and how they are wired:
//
//   - entry, chamber, exit (light barriers), metal (the inductive sensor),
//     door (the service door switch): {"pin", "activeLow", "pull"}; pull is
//     "up", "down" or "none" (default: left as it is). activeLow: the line is
//     low while the beam is broken, metal is seen, the door is open.
//   - conveyor: {"dir", "enable", "enableActiveLow", "reverseHigh",
//     "maxRunMs"} (maxRunMs 100..60000, default 10000, caps every run's
//     dead-man limit).
//   - gate (optional, the sorter flap): {"pin", "activeLow"}; held at rest.
//   - chamberScale, bagScale (HX711): {"data", "clock", "channel", "gain"};
//     channel "A" (default) with gain 128 (default) or 64, "B" with 32.
//   - shape (optional, two measuring light curtains): {"height": [pins,
//     bottom first], "width": [pins], "pitchMm", "baseMm", "activeLow",
//     "pull"}.
//   - scanner, sealReader, printer: {"port", "baud"}: the serial devices'
//     ports (a device path, best a stable udev link such as
//     /dev/serial/by-id/...) and speeds (default 9600). A printer port whose
//     device is named lpN (/dev/usb/lp0, the kernel's USB printer class) is
//     written blind (escpos Opts.Blind: no status, so no paper-out); any
//     other is a serial port (go.bug.st/serial) whose status is read.
//
// Parse refuses, naming the key and the pin or port: a missing key, an
// unknown key (in the section or in a device, case-sensitive), an unknown
// pin name, a pin or port used twice, a missing or malformed port, a bad
// gain, channel, pull, baud rate or bound.
//
// # Open
//
// Open checks the printer's port, then finds every pin (host.Init and
// gpioreg.ByName, or Opts.ByName for tests and the simulator's rig) before
// it drives any, opens the printer's port, then the GPIO drivers, and last
// starts the scanner and the seal reader (hal/periph/scanner, reporting on
// Events). On a machine without the GPIO chip it fails at once naming the
// first pin; a printer port that is missing or does not open fails naming
// it; a failure midway halts what was opened. It is never half open.
//
// A scanner or seal reader whose port is missing at start is not an error:
// Open succeeds and the scanner reports a scanner-dead fault (the first
// event), which the controller latches, and is opened when its port
// appears (scanner.Dev.Start). This is deliberate: a scanner is a USB
// device that is unplugged, swapped and enumerated late, and the state is
// the same as a scanner lost a minute after start, which must be latched
// and reported anyway. Exiting instead would leave rvmd in a restart loop
// that stops everything else the machine must do without a scanner:
// deliver its outbox (the operator's transactions), reprint owed vouchers,
// report the fault to the fleet with its reason and show "out of order".
// The scanner's logger (Opts.Scanner.Logger) names the missing port; the
// self-test fails the scanner with "port ... not there". A missing printer
// stays an error: its driver has no reopen.
//
// # Self-test
//
// [SelfTest] exercises each device in turn with bounded waits and returns a
// [Report] that a technician reads (WriteText) or a tool parses (WriteJSON):
// a code is read with the scanner and a seal with the seal reader, the
// printer's real-time status is asked (no paper is spent).
//
// # Concurrency
//
// A Board's devices are safe for concurrent use; its event channel has
// one reader, the controller loop (or the self-test while it runs). Halt is
// idempotent, waits for the barrier watchers and the scanners' readers to
// end, and closes the printer's port.
package board
