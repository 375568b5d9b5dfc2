#!/bin/bash
# The README demo: start a simulated Xen host (the real xenstored under
# libfakexen.so, with simulated kernel drivers), create two domains, show the
# store, connect a network device by writing its nodes by hand, destroy a
# domain and watch @releaseDomain fire, then stop the host and show that
# nothing is left.  Run as root (the device's interface is a real tap).
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

step "a network device for alice, by hand-written nodes (as a toolstack writes them)"
fe=/local/domain/$alice/device/vif/0
be=/local/domain/0/backend/vif/$alice/0
xenstore-write "$fe" "" "$be" ""
xenstore-chmod "$fe" "n$alice" r0
xenstore-chmod "$be" n0 "r$alice"
xenstore-write "$fe/backend" "$be" "$fe/backend-id" 0 "$fe/handle" 0 \
	"$fe/mac" 00:16:3e:00:00:01 "$fe/state" 1
xenstore-write "$be/frontend" "$fe" "$be/frontend-id" "$alice" \
	"$be/handle" 0 "$be/mac" 00:16:3e:00:00:01 "$be/script" vif-bridge \
	"$be/type" vif "$be/hotplug-status" "" "$be/online" 1 "$be/state" 1
"$sim" wait "$be/state" 2
echo "backend InitWait; the simulated netback made: $("$sim" exec -- ip -o link show "vif$alice.0" | cut -d: -f2)"
"$sim" wait "$fe/state" 4
echo "frontend Connected; backend holds InitWait until hotplug says connected"
xenstore-write "$be/hotplug-status" connected # the stand-in hotplug step
"$sim" wait "$be/state" 4
echo "backend state $(xenstore-read "$be/state"), frontend state $(xenstore-read "$fe/state"): Connected"
xenstore-write "$be/online" 0 "$be/state" 5 # remove: Closing
"$sim" wait "$be/state" 6
echo "after Closing: backend state $(xenstore-read "$be/state"), frontend state $(xenstore-read "$fe/state"): Closed"
xenstore-rm "$be" "$fe"

step "the same with the xdev CLI, as an operator types it"
xdev() { "$sim" exec -- "$build/bin/xdev" "$@"; }
# tests/hotplug/ok stands in for vif-bridge: it writes hotplug-status
export XDEV_HOTPLUG_DIR="$(cd "$(dirname "$0")" && pwd)/hotplug"
xdev network-attach alice mac=00:16:3e:00:00:02 script=ok --wait-connected
xdev network-list alice
xdev -j network-list alice | grep -E '"(mac|backend_state_name)"'
xdev block-attach --dry-run alice phy:/dev/vg/alice,xvdb,w
xdev network-detach alice 00:16:3e:00:00:02
if ! xdev block-attach alice /dev/vg/x,,xvdb,w,extra 2>&1; then
	echo "a bad spec is refused (exit 2) before anything is written"
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
