#!/bin/bash
# /init of the real-Xen lane's dom0 (a PV dom0 under Xen under qemu): bring
# up what a Xen host needs (xenfs, the backend modules, a xenstore daemon,
# xenconsoled, a bridge), run /xdev/checks.sh, report on the serial console,
# power off (qemu runs with -no-reboot, so that ends it).
#
# Kernel arguments: xdev.xenstored=xenstored|oxenstored, the daemon (C
# xenstored if none); xdev.churn=N, the churn's cycles (checks.sh);
# xdev.shell, a root shell on the console instead of the checks
# (docs/real-xen-lane.md), `poweroff -f` ends it.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/usr/local/lib
export HOME=/root

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# no udev here: Xen's hotplug locking needs these
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

# cmdline_arg NAME: the value of the kernel argument NAME=VALUE
cmdline_arg() {
	local a args
	read -ra args </proc/cmdline
	for a in "${args[@]}"; do
		[ "${a%%=*}" = "$1" ] && echo "${a#*=}"
	done
}
XDEV_XENSTORED=$(cmdline_arg xdev.xenstored)
XDEV_XENSTORED=${XDEV_XENSTORED:-xenstored}
XDEV_CHURN=$(cmdline_arg xdev.churn)
export XDEV_XENSTORED XDEV_CHURN

fatal() {
	echo "RESULT FAIL [$XDEV_XENSTORED] dom0-setup: $*"
	echo "XEN-LANE-DONE rc=1"
	poweroff -f
}

while read -r m; do
	insmod "/lib/modules/$m.ko" || fatal "insmod $m"
done </lib/modules/order
mount -t xenfs xenfs /proc/xen || fatal "mount xenfs"
mkdir -p /run/xen /run/xenstored /var/lib/xenstored /var/log/xen/console /run/xen-hotplug
# Both fork once set up; xen-init-dom0's first request then waits on
# dom0's xenstore ring until the daemon serves it.
case $XDEV_XENSTORED in
xenstored) xenstored --pid-file /run/xenstored.pid || fatal "xenstored" ;;
oxenstored)
	oxenstored --config-file /etc/xen/oxenstored.conf \
		--pid-file /run/xenstored.pid || fatal "oxenstored"
	;;
*) fatal "unknown xenstore daemon $XDEV_XENSTORED" ;;
esac
xen-init-dom0 >/dev/null || fatal "xen-init-dom0"
xenconsoled --pid-file /run/xenconsoled.pid --log=guest || fatal "xenconsoled"
ip link set lo up
ip link add xenbr0 type bridge && ip addr add 10.99.0.1/24 dev xenbr0 &&
	ip link set xenbr0 up || fatal "bridge"
echo "dom0: Xen $(xl info | sed -n 's/^xen_version *: //p'), kernel $(uname -r), $XDEV_XENSTORED, up in $(cut -d' ' -f1 /proc/uptime) s"

if grep -qw xdev.shell /proc/cmdline; then
	echo "dom0: shell (xdev.shell); /xdev/checks.sh runs the checks; poweroff -f ends"
	setsid cttyhack bash -l
	poweroff -f
fi
/xdev/checks.sh
rc=$?
echo "XEN-LANE-DONE rc=$rc"
poweroff -f
