#!/bin/sh
# The ledger under /var/lib/rvm holds customers' money: it is kept on remove
# and on purge alike; delete it by hand once the cloud has every transaction.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
