// Package board is the Raspberry Pi's wiring: which pin or port each device
// of the machine is on, validated, and the hal devices opened on them.
//
// # Usage
//
//	w, err := board.ParseFile("/etc/rvmd/config.json") // its "pins" section
//	b, err := board.Open(w, nil)                        // host.Init, gpioreg.ByName
//	defer b.Halt()
//	// b.Chamber, b.Bag (hal.LoadCell), b.Metal, b.Shape (nil if not fitted),
//	// b.Conveyor; b.Events() reports the barriers, the door and the belt's
//	// dead-man stops.
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
//     ports (a device path) and speeds (default 9600). Their drivers live
//     elsewhere; the board checks the ports exist.
//
// Parse refuses, naming the key and the pin or port: a missing key, an
// unknown key (in the section or in a device, case-sensitive), an unknown
// pin name, a pin or port used twice, a missing or malformed port, a bad
// gain, channel, pull, baud rate or bound.
//
// # Open
//
// Open checks the ports, then finds every pin (host.Init and
// gpioreg.ByName, or Opts.ByName for tests and the simulator's rig) before
// it drives any, then opens the drivers. On a machine without the GPIO chip
// it fails at once naming the first pin; a failure midway halts what was
// opened. It is never half open.
//
// # Self-test
//
// [SelfTest] exercises each device in turn with bounded waits and returns a
// [Report] that a technician reads (WriteText) or a tool parses (WriteJSON).
//
// # Concurrency
//
// A Board's devices are safe for concurrent use; its event channel has
// one reader, the controller loop (or the self-test while it runs). Halt is
// idempotent and waits for the barrier watchers to end.
package board
