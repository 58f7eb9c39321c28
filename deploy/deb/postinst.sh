#!/bin/sh
# Creates the rvm system user with access to the GPIO chip, the serial
# ports and the printer, owns the state directory, and starts the service.
set -e
if [ "$1" = "configure" ]; then
	for g in gpio dialout lp; do
		getent group "$g" >/dev/null || addgroup --system "$g"
	done
	if ! getent passwd rvm >/dev/null; then
		adduser --system --group --home /var/lib/rvm --no-create-home rvm
	fi
	for g in gpio dialout lp; do
		adduser rvm "$g" >/dev/null
	done
	chown rvm:rvm /var/lib/rvm
	chown root:rvm /etc/rvm/rvmd.json
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		systemctl enable rvmd.service >/dev/null
		# An upgrade restarts the daemon: it migrates the ledger at start.
		systemctl restart rvmd.service || true
	fi
fi
