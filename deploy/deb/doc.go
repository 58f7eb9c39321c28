// Package deb holds no code: its test inspects the Debian packages that
// `make deb` builds (dist/rvmd_VERSION_ARCH.deb for arm64 and armhf) with
// dpkg-deb: the binaries and their ELF architecture, the systemd unit
// (Type=notify, WatchdogSec, Restart=on-failure, the rvm user and its gpio,
// dialout and lp groups), the conffile /etc/rvm/rvmd.json, the state
// directory /var/lib/rvm and the maintainer scripts.
//
// The packaging itself is nfpm.yaml beside this file, run by nfpm as a Go
// tool (`go tool nfpm`, pinned in go.mod).
package deb
