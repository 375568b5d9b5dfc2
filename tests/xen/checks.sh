#!/bin/bash
# The real-Xen lane's checks, run by dom0's /init on a real Xen 4.17 with
# the real blkback/netback in dom0 and blkfront/netfront in one PV guest
# (created once with xl, reused).  xdev does every device operation; xl
# does the same operations once for the timing comparison.  Each check
# prints "RESULT PASS|FAIL|SKIP name[: why]"; timings "TIME tool op seconds".
#
# Every wait is a xenstore watch (wait_node) or the end of a command; the
# guest answers through its agent (guest-init.sh).  RESULT lines name the
# xenstore daemon of the boot ($XDEV_XENSTORED, from dom0-init.sh).
set -u
export XDEV_HOTPLUG_DIR=/usr/local/libexec/xdev
IMG=/tmp/disk.img IMG2=/tmp/disk2.img
SIG="XDEV-REAL-XEN-SIGNATURE-0123456"
failed=0
gid=
seq=0

daemon=${XDEV_XENSTORED:-xenstored}
pass() { echo "RESULT PASS [$daemon] $1"; }
fail() {
	echo "RESULT FAIL [$daemon] $1: $2"
	failed=1
}
skip() { echo "RESULT SKIP [$daemon] $1: $2"; }
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# timed TOOL OP CMD...: run CMD, print its time; CMD's status.
timed() {
	local tool=$1 op=$2 t0 rc
	shift 2
	t0=$(now)
	"$@" >/tmp/out 2>&1
	rc=$?
	echo "TIME $tool $op $(since "$t0")"
	[ $rc = 0 ] || sed 's/^/  | /' /tmp/out
	return $rc
}

# wait_node PATH PATTERN [SECONDS]: until PATH's value matches the glob
# PATTERN ("<gone>" matches a missing node), through a watch.
wait_node() {
	local path=$1 want=$2 t=${3:-60} v line
	coproc WATCH { exec timeout "$t" xenstore-watch "$path" 2>/dev/null; }
	local fd=${WATCH[0]} pid=$WATCH_PID
	while read -r line <&"$fd"; do
		v=$(xenstore-read "$path" 2>/dev/null) || v="<gone>"
		# shellcheck disable=SC2053
		if [[ $v == $want ]]; then
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 0
		fi
	done
	wait "$pid" 2>/dev/null
	return 1
}

# agent_cmd DOMID SECONDS WHO COMMAND ARGS: run it through the agent of
# domain DOMID (guest-init.sh, driverdom-init.sh: "SEQ COMMAND ARGS" in its
# data/cmd, "SEQ RC OUTPUT" back in data/result); its output in $aout,
# true if RC is 0.  One sequence for every agent: each only needs a SEQ
# unlike its last.
agent_cmd() {
	local dom=$1 t=$2 who=$3 r
	shift 3
	seq=$((seq + 1))
	aout=
	xenstore-write "/local/domain/$dom/data/cmd" "$seq $*" || return 1
	wait_node "/local/domain/$dom/data/result" "$seq *" "$t" ||
		{ aout="no answer from $who"; return 1; }
	r=$(xenstore-read "/local/domain/$dom/data/result")
	r=${r#"$seq "}
	aout=${r#* }
	[ "${r%% *}" = 0 ]
}

# gcmd COMMAND ARGS: run it in the guest; output in $gout.
gcmd() {
	local rc=0
	agent_cmd "$gid" 60 "the guest" "$@" || rc=$?
	gout=$aout
	return $rc
}

# shellcheck source=tests/xen/uevent.sh
. "${BASH_SOURCE%/*}/uevent.sh"
# No loop device is in use; `losetup -a` is kept in $loops.
no_loops() {
	loops=$(losetup -a)
	[ -z "$loops" ]
}
# A loop device goes when blkback lets go of it, after the removal.
loops_free() { until_uevent 30 no_loops; }
# dom0 has no interface vif<gid>.*; the names are kept in $vifs.
no_vifs() {
	vifs=$(ip -o link show | sed -n "s/^[0-9]*: \(vif$gid\.[^:@]*\).*/\1/p" | tr '\n' ' ')
	[ -z "$vifs" ]
}
vifs_gone() { until_uevent 30 no_vifs; }
be_gone() { ! xenstore-exists "/local/domain/0/backend/$1/$gid/$2" 2>/dev/null; }
fe_gone() { ! xenstore-exists "/local/domain/$gid/device/$1/$2" 2>/dev/null; }

# ---- the guest --------------------------------------------------------------

make_guest() {
	# 320 MB: room for the churn, where the guest loses about 1.1 MB
	# a NIC cycle (docs/real-xen-lane.md, Churn)
	cat >/tmp/guest.cfg <<-EOF
		name = "guest"
		type = "pv"
		kernel = "/guest/vmlinuz"
		ramdisk = "/guest/initrd.gz"
		extra = "console=hvc0 rdinit=/init quiet"
		memory = 320
		vcpus = 1
	EOF
	if ! timed xl create xl create /tmp/guest.cfg; then
		fail guest-create "xl create failed"
		return 1
	fi
	gid=$(xl domid guest)
	if ! wait_node "/local/domain/$gid/data/agent" ready 180; then
		fail guest-create "the guest's agent did not start"
		return 1
	fi
	pass guest-create
}

# ---- vbd and vif with each removal mode ----------------------------------------

# The default mode's times line up with xl's in the table; the others are
# marked.  Attach is timed as xl's is (until hotplug is done), then the
# frontend's Connected is waited for.
mode_label() { [ "$1" = auto ] || echo "($1)"; }

vbd_cycle() {
	local mode=$1 name="vbd-$1" opt=
	opt=--$mode # block-detach's default is safe, network-detach's auto
	if ! timed xdev block-attach xdev block-attach guest \
		"format=raw, vdev=xvdb, access=rw, target=$IMG" ||
		! wait_node "/local/domain/$gid/device/vbd/51728/state" 4 60; then
		fail "$name-attach" "xdev block-attach failed"
		return
	fi
	if gcmd sig xvdb && [ "$gout" = "$SIG" ]; then
		pass "$name-attach"
	else
		fail "$name-attach" "the guest read '$gout', not the signature"
	fi
	if ! timed xdev "block-detach$(mode_label "$mode")" xdev block-detach $opt guest xvdb; then
		fail "$name-detach" "xdev block-detach $opt failed"
		return
	fi
	gcmd has xvdb
	if [ "$gout" != no ]; then
		fail "$name-detach" "the guest still has xvdb ($gout)"
	elif ! loops_free; then
		fail "$name-detach" "loop device left: $loops"
	elif ! be_gone vbd 51728 || ! fe_gone vbd 51728; then
		fail "$name-detach" "nodes left in the store"
	else
		pass "$name-detach"
	fi
}

vif_cycle() {
	local mode=$1 name="vif-$1" opt=
	opt=--$mode # block-detach's default is safe, network-detach's auto
	if ! timed xdev network-attach xdev network-attach guest bridge=xenbr0 ||
		! wait_node "/local/domain/$gid/device/vif/0/state" 4 60; then
		fail "$name-attach" "xdev network-attach failed"
		return
	fi
	if ! gcmd net-up eth0 10.99.0.2/24; then
		fail "$name-attach" "the guest has no eth0: $gout"
	elif ! ping -c 2 -W 5 10.99.0.2 >/tmp/ping 2>&1; then
		fail "$name-attach" "no answer to ping: $(tail -n 2 /tmp/ping)"
	else
		pass "$name-attach"
	fi
	if ! timed xdev "network-detach$(mode_label "$mode")" xdev network-detach $opt guest 0; then
		fail "$name-detach" "xdev network-detach $opt failed"
		return
	fi
	gcmd has-if eth0
	if [ "$gout" != no ]; then
		fail "$name-detach" "the guest still has eth0"
	elif ! vifs_gone; then
		fail "$name-detach" "left in dom0 for 30 s: $vifs"
	elif ! be_gone vif 0 || ! fe_gone vif 0; then
		fail "$name-detach" "nodes left in the store"
	else
		pass "$name-detach"
	fi
}

# ---- xl, for the timings ------------------------------------------------------

xl_cycle() {
	if timed xl block-attach xl block-attach guest \
		"format=raw, vdev=xvdc, access=rw, target=$IMG2" &&
		wait_node "/local/domain/$gid/device/vbd/51744/state" 4 60 &&
		gcmd sig xvdc && [ "$gout" = "$SIG" ] &&
		timed xl block-detach xl block-detach guest xvdc &&
		timed xl network-attach xl network-attach guest bridge=xenbr0 &&
		wait_node "/local/domain/$gid/device/vif/0/state" 4 60 &&
		timed xl network-detach xl network-detach guest 0; then
		pass xl-comparison
	else
		fail xl-comparison "an xl operation failed (see above)"
	fi
}

# ---- a frontend that will not answer ------------------------------------------
# Linux 6.1's blkfront no longer refuses to close a disk that is open (it
# marks it dead instead), so the stuck frontend is a paused guest: its
# vCPUs do not run, its frontends answer nothing, as a hung guest's.

stuck_frontend() {
	local rc
	xdev -q -w block-attach guest "format=raw, vdev=xvdb, access=rw, target=$IMG" &&
		xl pause guest || { fail stuck-safe "setup failed"; return; }
	timed xdev 'block-detach(stuck,safe)' xdev block-detach --safe --timeout 5 guest xvdb
	rc=$?
	if [ $rc != 4 ]; then
		fail stuck-safe "safe detach of a paused guest's disk: exit $rc, not 4 (timed out)"
	elif [ "$(xenstore-read "/local/domain/0/backend/vbd/$gid/51728/online")" != 1 ] ||
		[ "$(losetup -a | wc -l)" != 1 ]; then
		fail stuck-safe "the device was not restored (online, loop device)"
	else
		pass stuck-safe
	fi
	if timed xdev 'block-detach(stuck,force)' xdev block-detach --force guest xvdb &&
		loops_free && be_gone vbd 51728 && fe_gone vbd 51728; then
		pass stuck-force
	else
		fail stuck-force "forced detach: loop '$(losetup -a)', or nodes left"
	fi
	xl unpause guest
	if gcmd has xvdb && [ "$gout" = no ]; then
		pass stuck-guest-recovers
	else
		fail stuck-guest-recovers "after unpause the guest has xvdb: $gout"
	fi
}

# ---- the guest destroyed under a removal, and DEVICE_GONE ------------------------

destroy_under_removal() {
	local dpid rc t0 line got=
	xdev -q -w block-attach guest "format=raw, vdev=xvdb, access=rw, target=$IMG" &&
		xdev -q -w network-attach guest bridge=xenbr0 ||
		{ fail destroy-during-remove "setup failed"; return; }
	# through a FIFO, not a coproc: wait_node's coproc must stay free
	rm -f /tmp/mon && mkfifo /tmp/mon
	xdev -j monitor guest >/tmp/mon 2>&1 &
	local mfd=7 mpid=$!
	exec 7</tmp/mon
	# the devices present come first, then "monitoring": it is watching
	while read -r -t 30 line <&"$mfd" && [[ $line != *'"monitoring"'* ]]; do :; done
	[[ $line == *'"monitoring"'* ]] || fail monitor-gone "monitor did not start: $line"
	xl pause guest # the removal now waits for a frontend that cannot answer
	xdev block-detach --safe --timeout 120 guest xvdb >/tmp/detach 2>&1 &
	dpid=$!
	wait_node "/local/domain/0/backend/vbd/$gid/51728/state" 5 30
	t0=$(now)
	xl destroy guest
	wait "$dpid"
	rc=$?
	echo "TIME xdev block-detach(guest-destroyed) $(since "$t0")"
	# ended by the destroy (seconds), not by its own 120 s timeout
	if [ $rc = 0 ] && awk -v t="$(since "$t0")" 'BEGIN { exit !(t < 60) }'; then
		pass destroy-during-remove
	else
		fail destroy-during-remove "exit $rc after $(since "$t0") s: $(cat /tmp/detach)"
	fi
	while read -r -t 30 line <&"$mfd"; do
		if [[ $line =~ \"event\":\ ?\"(gone|removed)\" ]]; then
			got=$line
			break
		fi
	done
	kill "$mpid" 2>/dev/null
	wait "$mpid" 2>/dev/null
	exec 7<&-
	if [ -n "$got" ]; then
		pass monitor-gone
	else
		fail monitor-gone "no DEVICE_GONE event for the destroyed guest's devices"
	fi
	destroy_cleanup
}

# What a destroyed guest leaves: xl destroy removes the devices libxl
# recorded, not xdev's; the disk's removal ended with the destroy and
# deleted it, the NIC's backend stays (Closed, online 1) with xdev's
# record.  xdev detaches what is left by the guest's domain id (the
# frontend directories went with the domain), then nothing may remain:
# no backend or record, no loop device, no vif.
leftovers() {
	local t d
	for t in vbd vif; do
		for d in $(xenstore-list "/local/domain/0/backend/$t/$gid" 2>/dev/null) \
			$(xenstore-list "/xdev/$gid/$t" 2>/dev/null); do
			echo "$t $d"
		done
	done | sort -u
}

store_clean() {
	local p
	for p in "/local/domain/$gid" "/local/domain/0/backend/vbd/$gid" \
		"/local/domain/0/backend/vif/$gid" "/xdev/$gid"; do
		if xenstore-exists "$p" 2>/dev/null; then
			left=$(xenstore-ls -fp "$p" 2>&1 | head -20)
			return 1
		fi
	done
}

destroy_cleanup() {
	local t d cmd ok=1 left= item items
	mapfile -t items < <(leftovers)
	echo "check: left after xl destroy: ${items[*]:-nothing}"
	for item in "${items[@]}"; do
		read -r t d <<<"$item"
		[ "$t" = vbd ] && cmd=block-detach || cmd=network-detach
		if ! timed xdev "$cmd(destroyed-guest)" xdev "$cmd" "$gid" "$d"; then
			fail destroy-cleanup "xdev $cmd $gid $d failed"
			ok=0
		fi
	done
	[ $ok = 1 ] || return
	if ! loops_free; then
		fail destroy-cleanup "loop device left for 30 s: $loops"
	elif ! vifs_gone; then
		fail destroy-cleanup "left in dom0 for 30 s: $vifs"
	elif ! store_clean; then
		fail destroy-cleanup "left in the store: $left"
	else
		pass destroy-cleanup
	fi
}

# the driver-domain checks: driverdom_checks
# shellcheck source=tests/xen/driverdom.sh
. "${BASH_SOURCE%/*}/driverdom.sh"

# ---- run ----------------------------------------------------------------------

# shellcheck source=tests/xen/churn.sh
. "$(dirname "$0")/churn.sh"

truncate -s 64M "$IMG" && printf '%s' "$SIG" | dd of="$IMG" conv=notrunc 2>/dev/null
cp "$IMG" "$IMG2"
if make_guest; then
	for mode in safe auto force; do
		vbd_cycle "$mode"
		vif_cycle "$mode"
	done
	xl_cycle
	run_churn
	stuck_frontend
	driverdom_checks
	destroy_under_removal
	# kexec-tools could be in the guest image, but in a PV guest `kexec
	# -e` only powers the domain off: Linux's machine_shutdown() is
	# xen_machine_halt there (arch/x86/xen/enlighten_pv.c, SHUTDOWN_poweroff)
	# and runs before machine_kexec(); Xen's docs/misc/kexec_and_kdump.txt:
	# kexec "does not work in conjunction with domU kernels".
	skip kexec-reconnect "kexec cannot run in a PV guest (Linux's PV machine_shutdown powers the domain off before the new kernel starts); the frontend's Closing -> Initialising reconnect is covered on the simulated host (xdev-sim kexec)"
fi
exit $failed
