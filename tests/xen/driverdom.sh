# shellcheck shell=bash disable=SC2154 # gid, gout ...: checks.sh's
# The real-Xen lane's driver-domain checks, sourced by checks.sh (its
# helpers, its guest $gid): a second PV guest, "driverdom" (created with
# driver_domain=1, /init tests/xen/driverdom-init.sh), hosts blkback,
# netback, the images and a bridge xenbr0 (10.99.1.1/24); xdev in dom0
# attaches to the guest devices whose backends are there (`backend=driverdom`)
# and xdevd does their hotplug there.  For the timings xl does the same
# with `xl devd` in the driver domain instead of xdevd (one of the two at a
# time: both would act on the same backends).  Last, the driver domain is
# destroyed under a pending removal.
#
# The driver domain's own side (its loop devices, its vifs, its daemons) is
# asked of its agent (dcmd), as the guest's is (gcmd).
DD_IMG=/tmp/dd.img DD_IMG2=/tmp/dd2.img # in the driver domain
ddid=

# dcmd COMMAND ARGS: run it in the driver domain; its output in $dout.
dcmd() {
	local rc=0
	agent_cmd "$ddid" 90 "the driver domain" "$@" || rc=$?
	dout=$aout
	return $rc
}

dd_be() { echo "/local/domain/$ddid/backend/$1/$gid/$2"; }
dd_nodes_gone() {
	! xenstore-exists "$(dd_be "$1" "$2")" 2>/dev/null && fe_gone "$1" "$2" &&
		! xenstore-exists "/xdev/$gid/$1/$2" 2>/dev/null
}
# libxl returns from an attach to a driver domain once the nodes are
# written (the hotplug there is xl devd's business); xdev waits for the
# daemon's hotplug-status.  Both are also timed until the frontend is
# Connected, which is comparable.
# connected TOOL OP T0 TYPE DEVID: until the frontend is Connected, and
# that time from T0.
connected() {
	wait_node "/local/domain/$gid/device/$4/$5/state" 4 60 || return 1
	echo "TIME $1 $2 $(since "$3")"
}
dd_label() { [ "$1" = auto ] && echo "(driverdom)" || echo "(driverdom,$1)"; }
dd_vbd_spec="backend=driverdom, format=raw, vdev=xvdb, access=rw, target=$DD_IMG"

make_driverdom() {
	local free
	free=$(xl info | sed -n 's/^free_memory *: //p')
	echo "check: free memory before the driver domain: $free MB (it takes 256)"
	cat >/tmp/driverdom.cfg <<-EOF
		name = "driverdom"
		type = "pv"
		kernel = "/guest/vmlinuz"
		ramdisk = "/driverdom/initrd.gz"
		extra = "console=hvc0 rdinit=/init quiet"
		memory = 256
		vcpus = 1
		driver_domain = 1
	EOF
	if ! timed xl 'create(driverdom)' xl create /tmp/driverdom.cfg; then
		fail dd-create "xl create failed ($free MB free)"
		return 1
	fi
	ddid=$(xl domid driverdom)
	if ! wait_node "/local/domain/$ddid/data/agent" ready 180; then
		fail dd-create "the driver domain's agent did not start"
		return 1
	fi
	if ! dcmd image "$DD_IMG" "$SIG" || ! dcmd image "$DD_IMG2" "$SIG"; then
		fail dd-create "no images in the driver domain: $dout"
		return 1
	fi
	pass dd-create
}

# After a detach: the guest has lost the device, the driver domain has
# released what its hotplug acquired (RELEASED: dcmd released's status and
# output, for both devices of the cycle), the store has no node of it.
dd_detached() {
	local name=$1 type=$2 devid=$3 released=$4 left=$5 mine=/dev/loop
	if [ "$type" = vbd ]; then
		gcmd has xvdb
	else
		gcmd has-if eth0
		mine="vif$gid."
	fi
	if [ "$gout" != no ]; then
		fail "$name" "the guest still has it ($gout)"
	elif [ "$released" != 0 ] && [[ $left == *"$mine"* || $left != *left:* ]]; then
		fail "$name" "in the driver domain after 30 s: $left"
	elif ! dd_nodes_gone "$type" "$devid"; then
		fail "$name" "nodes left in the store: $(xenstore-ls -fp "$(dd_be "$type" "$devid")" 2>&1 | head -5)"
	else
		pass "$name"
	fi
}

dd_vbd_attach() {
	local name="dd-vbd-$1-attach" t0
	t0=$(now)
	if ! timed xdev 'block-attach(driverdom)' xdev block-attach guest "$dd_vbd_spec" ||
		! connected xdev 'block-attach-connected(driverdom)' "$t0" vbd 51728; then
		fail "$name" "xdev block-attach failed"
		return 1
	fi
	if ! gcmd sig xvdb || [ "$gout" != "$SIG" ]; then
		fail "$name" "the guest read '$gout', not the signature"
	elif ! dcmd loops || [[ $dout != *"($DD_IMG)"* ]]; then
		fail "$name" "no loop device of $DD_IMG in the driver domain: $dout"
	elif [ -n "$(losetup -a)" ]; then
		fail "$name" "a loop device in dom0: $(losetup -a)"
	else
		pass "$name"
	fi
}

dd_vif_attach() {
	local name="dd-vif-$1-attach" t0
	t0=$(now)
	if ! timed xdev 'network-attach(driverdom)' xdev network-attach guest backend=driverdom bridge=xenbr0 ||
		! connected xdev 'network-attach-connected(driverdom)' "$t0" vif 0; then
		fail "$name" "xdev network-attach failed"
		return 1
	fi
	if ! gcmd net-up eth0 10.99.1.2/24; then
		fail "$name" "the guest has no eth0: $gout"
	elif ! dcmd ping 10.99.1.2; then
		fail "$name" "the driver domain's ping had no answer: $dout"
	else
		pass "$name"
	fi
}

# One removal mode: a disk and a NIC attached and used, both detached with
# it, then what the driver domain released looked at once for the two.
dd_cycle() {
	local mode=$1 vbd=0 vif=0 released
	dd_vbd_attach "$mode" && vbd=1
	dd_vif_attach "$mode" && vif=1
	if [ $vbd = 1 ] && ! timed xdev "block-detach$(dd_label "$mode")" xdev block-detach "--$mode" guest xvdb; then
		fail "dd-vbd-$mode-detach" "xdev block-detach --$mode failed"
		vbd=0
	fi
	if [ $vif = 1 ] && ! timed xdev "network-detach$(dd_label "$mode")" xdev network-detach "--$mode" guest 0; then
		fail "dd-vif-$mode-detach" "xdev network-detach --$mode failed"
		vif=0
	fi
	[ $vbd = 1 ] || [ $vif = 1 ] || return
	dcmd released "$gid"
	released=$?
	[ $vbd = 0 ] || dd_detached "dd-vbd-$mode-detach" vbd 51728 $released "$dout"
	[ $vif = 0 ] || dd_detached "dd-vif-$mode-detach" vif 0 $released "$dout"
}

# xdevd killed between an attach and a detach (what a crash leaves: its
# state directory, the devices it added), then started again: the detach
# still gets its remove script and deletion from the daemon.
dd_daemon_restart() {
	if ! xdev -q -w block-attach guest "$dd_vbd_spec" ||
		! xdev -q -w network-attach guest backend=driverdom bridge=xenbr0; then
		fail dd-xdevd-restart "setup failed"
		return
	fi
	if ! dcmd xdevd-kill || ! dcmd xdevd-start; then
		fail dd-xdevd-restart "could not kill and restart xdevd: $dout"
		return
	fi
	if ! timed xdev 'block-detach(driverdom,xdevd-restarted)' xdev block-detach guest xvdb ||
		! timed xdev 'network-detach(driverdom,xdevd-restarted)' xdev network-detach guest 0; then
		fail dd-xdevd-restart "a detach failed after the restart"
		return
	fi
	gcmd has xvdb
	if [ "$gout" != no ]; then
		fail dd-xdevd-restart "the guest still has xvdb"
	elif ! dcmd released "$gid"; then
		fail dd-xdevd-restart "in the driver domain after 30 s: $dout"
	elif ! dd_nodes_gone vbd 51728 || ! dd_nodes_gone vif 0; then
		fail dd-xdevd-restart "nodes left in the store"
	else
		pass dd-xdevd-restart
	fi
}

# The same operations with xl, `xl devd` doing the hotplug in the driver
# domain (xdevd stopped meanwhile), for the timings.
dd_xl_cycle() {
	local t0 t1
	if ! dcmd xdevd-stop || ! dcmd devd-start; then
		fail dd-xl-comparison "could not switch to xl devd: $dout"
		return
	fi
	t0=$(now)
	if timed xl 'block-attach(driverdom)' xl block-attach guest \
		"backend=driverdom, format=raw, vdev=xvdc, access=rw, target=$DD_IMG2" &&
		connected xl 'block-attach-connected(driverdom)' "$t0" vbd 51744 &&
		gcmd sig xvdc && [ "$gout" = "$SIG" ] &&
		timed xl 'block-detach(driverdom)' xl block-detach guest xvdc &&
		t1=$(now) &&
		timed xl 'network-attach(driverdom)' xl network-attach guest backend=driverdom bridge=xenbr0 &&
		connected xl 'network-attach-connected(driverdom)' "$t1" vif 0 &&
		gcmd net-up eth0 10.99.1.2/24 && dcmd ping 10.99.1.2 &&
		timed xl 'network-detach(driverdom)' xl network-detach guest 0 &&
		dcmd released "$gid"; then
		pass dd-xl-comparison
	else
		fail dd-xl-comparison "an xl operation failed (see above): $gout / $dout"
	fi
	if ! dcmd devd-stop || ! dcmd xdevd-start; then
		fail dd-xl-comparison "could not switch back to xdevd: $dout"
	fi
}

# A removal waiting (the guest paused) when the driver domain is destroyed
# ends with success, the monitor reports both devices gone, and nothing of
# them is left in the store.
dd_destroy_under_removal() {
	local dpid rc t0 line vbd_gone='' vif_gone='' p left='' gone_after
	if ! xdev -q -w block-attach guest "$dd_vbd_spec" ||
		! xdev -q -w network-attach guest backend=driverdom bridge=xenbr0; then
		fail dd-destroy-during-remove "setup failed"
		return
	fi
	rm -f /tmp/ddmon && mkfifo /tmp/ddmon
	xdev -j monitor guest >/tmp/ddmon 2>&1 &
	local mpid=$!
	exec 7</tmp/ddmon
	while read -r -t 30 line <&7 && [[ $line != *'"monitoring"'* ]]; do :; done
	[[ $line == *'"monitoring"'* ]] || fail dd-monitor-gone "monitor did not start: $line"
	xl pause guest
	xdev block-detach --safe --timeout 120 guest xvdb >/tmp/detach 2>&1 &
	dpid=$!
	wait_node "$(dd_be vbd 51728)/state" 5 30
	t0=$(now)
	xl destroy driverdom
	wait "$dpid"
	rc=$?
	echo "TIME xdev block-detach(driverdom-destroyed) $(since "$t0")"
	if [ $rc = 0 ] && awk -v t="$(since "$t0")" 'BEGIN { exit !(t < 20) }'; then
		pass dd-destroy-during-remove
	else
		fail dd-destroy-during-remove "exit $rc after $(since "$t0") s: $(cat /tmp/detach)"
	fi
	while [ -z "$vbd_gone" ] || [ -z "$vif_gone" ]; do
		read -r -t 20 line <&7 || break
		[[ $line =~ \"event\":\ ?\"(gone|removed)\" ]] || continue
		[[ $line =~ \"type\":\ ?\"vbd\" ]] && vbd_gone=1
		[[ $line =~ \"type\":\ ?\"vif\" ]] && vif_gone=1
	done
	gone_after=$(since "$t0")
	echo "check: the devices' DEVICE_GONE $gone_after s after the destroy"
	kill "$mpid" 2>/dev/null
	wait "$mpid" 2>/dev/null
	exec 7<&-
	xl unpause guest
	if [ -n "$vbd_gone" ] && [ -n "$vif_gone" ] &&
		awk -v t="$gone_after" 'BEGIN { exit !(t < 20) }'; then
		pass dd-monitor-gone
	else
		fail dd-monitor-gone "DEVICE_GONE within 20 s of the destroy: vbd '${vbd_gone:-none}', vif '${vif_gone:-none}' (looked for $gone_after s)"
	fi
	for p in "/local/domain/$ddid" "/local/domain/$gid/device/vbd/51728" \
		"/local/domain/$gid/device/vif/0" "/xdev/$gid"; do
		xenstore-exists "$p" 2>/dev/null && left="$left $p"
	done
	gcmd has xvdb
	if [ -n "$left" ]; then
		fail dd-destroy-cleanup "left in the store:$left"
	elif [ "$gout" != no ]; then
		fail dd-destroy-cleanup "the guest still has xvdb ($gout)"
	else
		pass dd-destroy-cleanup
	fi
}

driverdom_checks() {
	local mode t0 log=/var/log/xen/console/guest-driverdom.log
	t0=$(now)
	if make_driverdom; then
		for mode in safe auto force; do
			dd_cycle "$mode"
		done
		dd_daemon_restart
		dd_xl_cycle
		dd_destroy_under_removal
	fi
	# left alive by a failure: the guest's checks that follow need none of it
	xl domid driverdom >/dev/null 2>&1 && xl destroy driverdom
	echo "check: the driver-domain checks took $(since "$t0") s"
	# xenconsoled keeps it (dom0-init.sh: --log=guest), past the destroy
	echo "check: the driver domain's console ($log):"
	sed 's/^/  driverdom| /' "$log" || echo "  driverdom| (no log)"
}
