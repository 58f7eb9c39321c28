// Package curtain measures a container's height and diameter with two
// measuring light curtains across the chamber: the shape sensor
// (hal.ShapeSensor) on plain digital inputs, one per beam.
//
// A measuring curtain with one switching output per beam (or a row of
// single through-beam sensors, e.g. Omron E3Z-T) reports each beam broken
// or not; the resolution is its pitch. Datasheet:
// https://www.ia.omron.com/data_pdf/cat/e3z_ds_e_15_4_csm2010.pdf
//
// # Usage
//
//	shape, err := curtain.New(heightPins, widthPins, &curtain.Opts{Pitch: 5 * physic.MilliMetre, ActiveLow: true})
//	s, err := shape.Measure() // s.Height, s.Diameter
//
// # Concurrency
//
// Dev is safe for concurrent use and has no goroutine; the pins stay the
// caller's.
package curtain
