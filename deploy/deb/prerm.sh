#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
	systemctl stop rvmd.service || true
	systemctl disable rvmd.service >/dev/null || true
fi
