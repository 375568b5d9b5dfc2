#!/bin/sh
# /init of the real-Xen lane's PV guest: the frontend drivers, and an agent
# that runs the checks' commands.  dom0 writes "SEQ COMMAND ARGS" to the
# guest's data/cmd; the agent (woken by a xenstore watch, no polling) runs it
# and writes "SEQ RC OUTPUT" to data/result.
#   sig DEV            the first 32 bytes of /dev/DEV
#   has DEV            "yes" if /dev/DEV is a block device, else "no"
#   has-if IF          "yes" if interface IF exists
#   net-up IF ADDR     configure and bring up IF
#   sum DEV KB         the md5 sum of DEV's first KB kilobytes
#   mem                MemFree and MemAvailable of /proc/meminfo, in kB
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m.ko"; done
ip link set lo up

run() {
	case $1 in
	sig) head -c 32 "/dev/$2" ;;
	has) if [ -b "/dev/$2" ]; then echo yes; else echo no; fi ;;
	has-if) if [ -e "/sys/class/net/$2" ]; then echo yes; else echo no; fi ;;
	net-up) ip addr add "$3" dev "$2" && ip link set "$2" up ;;
	sum) head -c "$(($3 * 1024))" "/dev/$2" | md5sum | cut -d" " -f1 ;;
	mem) awk '/^MemFree:/ { f = $2 } /^MemAvailable:/ { a = $2 } END { print f, a }' /proc/meminfo ;;
	*) echo "unknown command $1"; return 2 ;;
	esac
}

xenstore-write data/agent ready
last=
xenstore-watch data/cmd | while read -r _; do
	cmd=$(xenstore-read data/cmd 2>/dev/null) || continue
	seq=${cmd%% *}
	[ "$seq" = "$last" ] && continue
	last=$seq
	# shellcheck disable=SC2086
	out=$(run ${cmd#* } 2>&1)
	xenstore-write data/result "$seq $? $out"
done
poweroff -f
