// Package e2e holds no code: its tests run the real binaries (rvmd,
// rvm-gateway, drs-sim) against a real mosquitto, as a store would, and
// check that every transaction reaches the operator exactly once in effect,
// through a gateway killed mid-stream.
package e2e
