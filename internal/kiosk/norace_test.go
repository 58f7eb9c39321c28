//go:build !race

package kiosk_test

const raceBuild = false
