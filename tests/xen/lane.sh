#!/bin/bash
# The real-Xen lane (`make check-xen`): fetch Debian's hypervisor, kernel
# and Xen tools into a cache, build the dom0 and guest images with xdev's
# build in them, boot Xen under qemu (software emulation), and collect the
# checks' results from the serial console.  An outer watchdog ends qemu if
# the run hangs.  Ends with "N passed, N failed, N skipped"; exit 0 only if
# every check passed.
#
#   tests/xen/lane.sh BUILDDIR SRCDIR [--shell]
# Environment: XDEV_XEN_CACHE (default BUILDDIR/xen-cache),
#              XDEV_XEN_TIMEOUT (seconds, default 1200).
set -uo pipefail
builddir=$(cd "${1:?usage: lane.sh BUILDDIR SRCDIR [--shell]}" && pwd)
srcdir=$(cd "${2:?usage: lane.sh BUILDDIR SRCDIR [--shell]}" && pwd)
shell=${3:-}
cache=${XDEV_XEN_CACHE:-$builddir/xen-cache}
limit=${XDEV_XEN_TIMEOUT:-1200}
daemons=${XDEV_XEN_DAEMONS:-xenstored oxenstored}
churn_on=${XDEV_XEN_CHURN_ON:-xenstored oxenstored}
work=$builddir/xen-lane
log=$work/console.log

summary() {
	echo "$1 passed, $2 failed, $3 skipped"
}

command -v qemu-system-x86_64 >/dev/null ||
	{ echo "check-xen: qemu-system-x86_64 missing: apt-get install --no-install-recommends qemu-system-x86"; summary 0 1 0; exit 1; }
start=$(date +%s)
"$srcdir/tests/xen/fetch.sh" "$cache" || { echo "check-xen: fetching the packages failed"; summary 0 1 0; exit 1; }
"$srcdir/tests/xen/mkimages.sh" "$cache" "$builddir" "$srcdir" "$work" 2>"$work.mkimages.log" ||
	{ cat "$work.mkimages.log"; echo "check-xen: building the images failed"; summary 0 1 0; exit 1; }
echo "check-xen: images built in $(($(date +%s) - start)) s; booting Xen under qemu (TCG)"

# boot DAEMON: one boot of Xen with DAEMON as the xenstore daemon; its
# console in $work/console-DAEMON.log.  qemu's status in $qrc.
boot() {
	local d=$1 args="console=hvc0 rdinit=/init xdev.xenstored=$1"
	if [[ " $churn_on " == *" $d "* ]]; then
		args="$args xdev.churn=${XDEV_XEN_CHURN:-100}"
	else
		args="$args xdev.churn=0"
	fi
	[ "$shell" = --shell ] && args="$args xdev.shell"
	qemu=(qemu-system-x86_64 -machine q35 -accel tcg -cpu qemu64 -m 2048 -smp 2
		-nographic -no-reboot -monitor none -display none -net none
		-kernel "$work/xen.elf"
		-append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2"
		-initrd "$work/vmlinuz $args,$work/dom0.cpio.gz")
	if [ "$shell" = --shell ]; then
		exec "${qemu[@]}" -serial mon:stdio
	fi
	echo "check-xen: boot with $d"
	# the watchdog: qemu gets SIGTERM at the limit, SIGKILL 10 s later
	timeout -k 10 "$limit" "${qemu[@]}" -serial stdio </dev/null 2>&1 |
		sed -u 's/\r*$//' | tee "$work/console-$d.log" |
		grep --line-buffered -E '^(RESULT|TIME|CHURN|dom0:|check:|XEN-LANE-DONE)'
	qrc=${PIPESTATUS[0]}
}

# the table of a boot's TIME lines: xdev next to xl
time_table() {
	grep '^TIME ' "$1" | awk '
		{ sub(/\r+$/, ""); k = $3; t[$2, k] = (t[$2, k] == "" ? "" : t[$2, k] ", ") $4; ops[k] = 1 }
		END {
			printf "  %-32s %-22s %s\n", "operation", "xdev", "xl"
			for (k in ops)
				printf "  %-32s %-22s %s\n", k, t["xdev", k] == "" ? "-" : t["xdev", k],
					t["xl", k] == "" ? "-" : t["xl", k]
		}' | { IFS= read -r h; echo "$h"; sort; }
}

pass=0 fail=0 skip=0
: >"$log"
for d in $daemons; do
	t0=$(date +%s)
	boot "$d"
	c=$work/console-$d.log
	cat "$c" >>"$log"
	pass=$((pass + $(grep -c '^RESULT PASS ' "$c")))
	fail=$((fail + $(grep -c '^RESULT FAIL ' "$c")))
	skip=$((skip + $(grep -c '^RESULT SKIP ' "$c")))
	if ! grep -q '^XEN-LANE-DONE' "$c"; then
		[ "$qrc" = 124 ] && why="timed out after $limit s" || why="qemu exited $qrc"
		echo "check-xen: the boot with $d did not finish ($why); the console is in $c"
		tail -n 30 "$c"
		fail=$((fail + 1))
	fi
	echo
	echo "check-xen: timings with $d (seconds), xdev next to xl in the same boot:"
	time_table "$c"
	echo "check-xen: the boot with $d took $(($(date +%s) - t0)) s"
done
echo "check-xen: total $(($(date +%s) - start)) s (console: $log)"
summary "$pass" "$fail" "$skip"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
