// Package metal reads an inductive proximity sensor on a digital input: the
// sensor beside the chamber that tells a can from a bottle.
//
// A typical sensor (e.g. an Omron E2E or a LJ12A3-4-Z/BX, NPN normally
// open) pulls its output low when metal is within its sensing distance; on
// a 12-24 V sensor the output reaches the Pi through an optocoupler or a
// divider. Datasheet: https://www.ia.omron.com/data_pdf/cat/e2e_ds_e_16_1_csm1039.pdf
//
// # Usage
//
//	m, err := metal.New(gpioreg.ByName("GPIO22"), nil) // NPN, pull-up
//	isMetal, err := m.Metal()
//
// # Concurrency
//
// Dev is safe for concurrent use and has no goroutine; the pin stays the
// caller's.
package metal
