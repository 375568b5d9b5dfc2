#!/bin/bash
# /init of the real-Xen lane's dom0 (a PV dom0 under Xen under qemu): bring
# up what a Xen host needs (xenfs, the backend modules, C xenstored,
# xenconsoled, a bridge), run /xdev/checks.sh, report on the serial console,
# power off (qemu runs with -no-reboot, so that ends it).
#
# Kernel argument xdev.shell: a root shell on the console instead of the
# checks (docs/real-xen-lane.md); `poweroff -f` ends it.
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

fatal() {
	echo "RESULT FAIL dom0-setup: $*"
	echo "XEN-LANE-DONE rc=1"
	poweroff -f
}

while read -r m; do
	insmod "/lib/modules/$m.ko" || fatal "insmod $m"
done </lib/modules/order
mount -t xenfs xenfs /proc/xen || fatal "mount xenfs"
mkdir -p /run/xen /run/xenstored /var/lib/xenstored /var/log/xen/console /run/xen-hotplug
xenstored --pid-file /run/xenstored.pid || fatal "xenstored"
xen-init-dom0 >/dev/null || fatal "xen-init-dom0"
xenconsoled --pid-file /run/xenconsoled.pid --log=guest || fatal "xenconsoled"
ip link set lo up
ip link add xenbr0 type bridge && ip addr add 10.99.0.1/24 dev xenbr0 &&
	ip link set xenbr0 up || fatal "bridge"
echo "dom0: Xen $(xl info | sed -n 's/^xen_version *: //p'), kernel $(uname -r), up in $(cut -d' ' -f1 /proc/uptime) s"

if grep -qw xdev.shell /proc/cmdline; then
	echo "dom0: shell (xdev.shell); /xdev/checks.sh runs the checks; poweroff -f ends"
	setsid cttyhack bash -l
	poweroff -f
fi
/xdev/checks.sh
rc=$?
echo "XEN-LANE-DONE rc=$rc"
poweroff -f
