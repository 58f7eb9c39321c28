#!/usr/bin/env bash
# Runs every golden scenario (internal/simrun/testdata/*.jsonl) through the Raspberry
# Pi builds of rvmd under qemu-user and checks the output is byte-identical to
# the golden file written on amd64 (docs/interfaces.md, "rvmd simulate": the same bytes on
# every architecture). Needs `make cross` first, qemu-user and the cross libcs.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for arch in arm64 armv7; do
	case $arch in
	arm64) run=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
	armv7) run=(qemu-arm -L /usr/arm-linux-gnueabihf) ;;
	esac
	for s in internal/simrun/testdata/*.jsonl; do
		golden="${s%.jsonl}.golden"
		if "${run[@]}" "bin/linux-$arch/rvmd" simulate -scenario "$s" 2>/dev/null | cmp -s - "$golden"; then
			echo "cross-check: $arch $(basename "$s"): identical"
		else
			echo "cross-check: $arch $(basename "$s"): DIFFERS from $golden" >&2
			status=1
		fi
	done
done
exit $status
