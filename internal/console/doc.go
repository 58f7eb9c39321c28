// Package console is rvmctl, the technician console's client: it turns a
// command line into requests on the service socket (package wire), asks for
// the PIN without echo, prints the daemon's answer for a person or, with
// -json, for a script, and runs the guided calibration.
//
// # Usage
//
//	err := console.Run(ctx, []string{"scale", "read", "-scale", "bag"}, console.Options{
//		Socket: "/var/lib/rvmd/rvmd.sock", Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
//		PIN: console.TerminalPIN(os.Stdin, os.Stderr),
//	})
//	os.Exit(console.ExitCode(err))
//
// Every command is one session: log in, one request, one reply; exit 0
// only when the daemon said ok. "sensors -watch" repeats its request on
// the one session; "calibrate" holds the calibration in its session from
// the tare to accept or abort.
//
// It is line-oriented (no cursor control), so it works the same over SSH
// and on a serial console.
package console
