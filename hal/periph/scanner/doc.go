// Package scanner drives barcode scanners on a serial port (USB CDC such as
// /dev/ttyACM0, or a UART) through go.bug.st/serial: the container scanner
// beside the chute, and the seal reader (a scanner on its own port, or the
// staff hand scanner) whose reads go to the bag exchange and the seal
// replacement.
//
// A scanner sends one code a line: an optional prefix, an optional AIM
// symbology identifier (ISO/IEC 15424, "]E0" for EAN-13 and friends), the
// data, and a suffix (CR, LF or CR LF unless configured). [Decode] maps the
// identifiers to [hal.Symbology]; a line without one is classified by its
// shape and check digit.
//
// # Usage
//
//	events := make(chan hal.Event, 16)
//	sc, err := scanner.New("/dev/ttyACM0", events, &scanner.Opts{Baud: 115200})
//	err = sc.Open()            // opens the port, starts reading (or sc.Start(): a missing port is a fault, waited for)
//	sc.NextContainer()         // at each container: a code read twice is one read
//	seal, err := scanner.New("/dev/ttyUSB1", events, &scanner.Opts{Seal: true})
//
// The container scanner reports [hal.BarcodeRead] events; with Opts.Seal
// the reader reports [hal.SealScanned] with the seal number.
//
// # Faults
//
// A port that fails (the scanner unplugged, the USB device gone) is
// reported once as a [hal.DeviceFault] with [hal.FaultScannerDead], which
// the controller latches. The driver then tries to reopen the same path
// with back-off (internal/backoff) and resumes reading when the device is
// back; a technician clears the latched fault. [Dev.Connected] says
// whether the port is open now (a self-test reports a missing scanner at
// once instead of waiting for a code). A partial line is kept until
// its end arrives (and dropped if the port is lost first); a line with
// bytes outside printable ASCII (line noise) is dropped, except leading NUL
// and 0xFF bytes from an idle UART, which are stripped.
//
// # Concurrency
//
// A Dev is safe for concurrent use. It has one reader goroutine between
// Open and Halt; Halt closes the port, which ends a blocked read, and waits
// for it. Events are sent on the caller's channel; Halt also ends a send
// that blocks because nobody reads the channel.
package scanner
