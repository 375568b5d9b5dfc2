#!/bin/bash
# The README demo: start a simulated Xen host (the real xenstored under
# libfakexen.so), create two domains, show the store, destroy one and watch
# @releaseDomain fire, then stop the host and show that nothing is left.
#
# usage: tests/demo.sh BUILDDIR   (run by `make demo`, tested by test_demo.py)
set -euo pipefail
build=${1:-.}
sim="$build/tests/sim/xdev-sim"
tmp=$(mktemp -d)
cleanup() {
	[ -n "${XDEV_SIM_DIR:-}" ] && [ -d "$XDEV_SIM_DIR" ] && "$sim" stop
	[ -n "${watcher:-}" ] && wait "$watcher" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "start a simulated host"
eval "$("$sim" start)"
echo "host directory: $XDEV_SIM_DIR"
echo "xenstored socket: $XENSTORED_PATH"

step "create two domains"
alice=$("$sim" domain-create alice)
bob=$("$sim" domain-create bob)
"$sim" domain-list

step "the store (xenstore-ls, the real client)"
xenstore-ls -p /local/domain

step "alice writes to her own data directory over her ring"
"$sim" guest alice write data/greeting hello
echo "dom0 reads: $(xenstore-read "/local/domain/$alice/data/greeting")"
if ! "$sim" guest alice write "/local/domain/$bob/data/x" boo 2>"$tmp/err"; then
	echo "alice may not write bob's nodes: $(cat "$tmp/err")"
fi

step "destroy bob while watching @releaseDomain"
mkfifo "$tmp/events"
xenstore-watch -n 2 @releaseDomain >"$tmp/events" &
watcher=$!
exec 3<"$tmp/events"
read -r first <&3 # a watch fires once when it is registered
echo "watch registered (initial event: $first)"
"$sim" domain-destroy bob
read -r fired <&3
echo "watch fired: $fired"
exec 3<&-
wait "$watcher"
watcher=
"$sim" domain-list

step "stop the host"
dir=$XDEV_SIM_DIR
"$sim" stop
if [ -e "$dir" ]; then echo "left behind: $dir"; exit 1; fi
echo "host stopped; $dir is gone"
