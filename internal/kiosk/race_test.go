//go:build race

package kiosk_test

// raceBuild: the test binary runs with the race detector, so the rvmd it
// builds does too.
const raceBuild = true
