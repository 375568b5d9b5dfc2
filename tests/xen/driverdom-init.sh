#!/bin/bash
# /init of the real-Xen lane's driver domain: a PV guest that hosts the
# backends (blkback, netback, loop devices, a bridge xenbr0 10.99.1.1/24)
# of devices dom0 attaches to the other guest, with xdevd (or, for the
# timings, xl devd) doing their hotplug, and an agent for driverdom.sh
# with the guest's protocol (guest-init.sh): dom0 writes "SEQ COMMAND
# ARGS" to data/cmd, the agent writes "SEQ RC OUTPUT" to data/result.
#   image PATH SIG     a 64 MB image at PATH starting with SIG
#   loops              `losetup -a`
#   ping ADDR          a ping to ADDR answered (a second try if not)
#   released G         until no loop device and no vif<G>.* is left (30 s
#                      at most, looked at again on each uevent); what is left
#   xdevd-start        start xdevd
#   xdevd-kill         SIGKILL xdevd (what a crash leaves)
#   xdevd-stop         SIGTERM xdevd, until it has ended
#   devd-start         start `xl devd` (in the foreground of its own process)
#   devd-stop          SIGTERM xl devd, until it has ended
# Everything is logged to the console, which dom0's xenconsoled keeps.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/usr/local/lib
export HOME=/root

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# no udev here: Xen's hotplug locking needs these
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
exec >/dev/console 2>&1
log() { echo "driverdom: $*"; }

while read -r m; do
	insmod "/lib/modules/$m.ko" || log "insmod $m failed"
done </lib/modules/order
mount -t xenfs xenfs /proc/xen || log "mount xenfs failed"
mkdir -p /run/xen /run/xen-hotplug /var/lib/xen /var/log/xen
ip link set lo up
ip link add xenbr0 type bridge && ip addr add 10.99.1.1/24 dev xenbr0 &&
	ip link set xenbr0 up || log "bridge failed"

xdevd_pid=
devd_pid=

# Started from the agent's own shell (not a subshell), so it can wait for
# them; their output goes to the console, not to the command's.
xdevd_start() {
	xdevd </dev/null >/dev/console 2>&1 &
	xdevd_pid=$!
}

# stop PID SIGNAL: send it, until the process has ended.
stop() {
	[ -n "$1" ] || { echo "not running"; return 1; }
	kill "-$2" "$1" && wait "$1"
	echo "ended: $?"
}

# What is left of guest $1's devices here: loop devices, its vifs.
left=
released_now() {
	left="$(losetup -a) $(ip -o link show | sed -n "s/^[0-9]*: \(vif$1\.[^:@]*\).*/\1/p" | tr '\n' ' ')"
	[ -z "${left// /}" ]
}
# shellcheck source=tests/xen/uevent.sh
. /xdev/uevent.sh
released() {
	until_uevent 30 released_now "$1" && return 0
	echo "left: $left"
	return 1
}

run() {
	case $1 in
	image) truncate -s 64M "$2" && printf '%s' "$3" | dd of="$2" conv=notrunc 2>/dev/null ;;
	loops) losetup -a ;;
	ping) ping -c 1 -W 5 "$2" >/dev/null || ping -c 1 -W 5 "$2" | tail -n 2 ;;
	released) released "$2" ;;
	xdevd-start) xdevd_start ;;
	xdevd-kill) stop "$xdevd_pid" KILL && xdevd_pid= ;;
	xdevd-stop) stop "$xdevd_pid" TERM && xdevd_pid= ;;
	devd-start)
		xl devd -F </dev/null >/dev/console 2>&1 &
		devd_pid=$!
		;;
	devd-stop) stop "$devd_pid" TERM && devd_pid= ;;
	*) echo "unknown command $1"; return 2 ;;
	esac
}

xdevd_start
log "up in $(cut -d' ' -f1 /proc/uptime) s, domid $(xenstore-read domid)"
xenstore-write data/agent ready
last=
while read -r _; do
	cmd=$(xenstore-read data/cmd 2>/dev/null) || continue
	seq=${cmd%% *}
	[ "$seq" = "$last" ] && continue
	last=$seq
	log "$cmd"
	# shellcheck disable=SC2086
	run ${cmd#* } >/tmp/agent.out 2>&1
	rc=$?
	out=$(cat /tmp/agent.out)
	xenstore-write data/result "$seq $rc ${out:0:1000}"
done < <(xenstore-watch data/cmd)
log "the command watch ended"
