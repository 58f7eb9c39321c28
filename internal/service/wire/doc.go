// Package wire is the technician console's protocol on the service socket:
// one JSON [Request] a line from the console, one JSON [Reply] a line back.
// It is apart from package service so that cmd/rvmctl links nothing of the
// controller.
//
// # Usage
//
//	c, err := wire.Dial("/var/lib/rvmd/rvmd.sock", 5*time.Second)
//	r, err := c.Do(wire.Request{Cmd: "login", PIN: pin})
//	r, err = c.Do(wire.Request{Cmd: "scale read", Args: map[string]string{"scale": "bag"}})
//	fmt.Println(r.Text) // or r.Data with -json
//
// A session is one connection: it logs in once and may then send any number
// of commands (the guided calibration does); a one-shot rvmctl command is a
// session of one command.
//
// # Concurrency
//
// A Conn is used by one goroutine at a time.
package wire
