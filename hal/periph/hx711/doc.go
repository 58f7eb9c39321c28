// Package hx711 drives the HX711, the 24-bit ADC behind each load cell (the
// chamber scale and the bag scale), on two GPIO pins.
//
// The datasheet: https://cdn.sparkfun.com/datasheets/Sensors/ForceFlex/hx711_english.pdf
//
// # Usage
//
//	cell, err := hx711.New(gpioreg.ByName("GPIO5"), gpioreg.ByName("GPIO6"), nil) // clock, data; gain 128
//	raw, err := cell.ReadRaw() // then calib.Median over a few, then calib
//
// # Protocol
//
// DOUT goes low when a conversion is ready; 24 clock pulses shift it out MSB
// first, and 1, 2 or 3 more select the gain of the next conversion (128 and
// 64 on channel A, 32 on channel B); after the last pulse the chip pulls
// DOUT high until the next conversion. Holding PD_SCK high for over 60 us
// powers the chip down, so [Dev.ReadRaw] locks its goroutine to the OS
// thread while shifting, times every pulse, and throws away a conversion
// whose clock ran long (and the one after, which may use the power-on
// gain). It waits for DOUT with WaitForEdge in bounded slices (never -1:
// on gpioioctl that times out at once) and reads the level between them, so
// a missed edge or a spurious one costs one slice, and gives up with
// [ErrTimeout] (no chip on a pulled-up line, or a line stuck high). A data
// line still low after the last pulse is [ErrStuck]. Readings at the rails
// are returned as they are (calib.Saturated tells them); package calib
// refuses them.
//
// # Concurrency
//
// Dev is safe for concurrent use and has no goroutine: Halt powers the chip
// down and makes a waiting ReadRaw return within Opts.Poll. The pins stay
// the caller's.
package hx711
