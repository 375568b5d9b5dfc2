# The real-Xen lane's churn (sourced by checks.sh, whose helpers it uses):
# a disk and a NIC attached and detached many times over, with traffic in
# between, looking for what a leak would make grow.  Every CHURN_EVERY
# cycles it samples the guest's free memory, the guest's grant entries
# still mapped by dom0 and its grant-table size, and dom0's loop devices
# and vif interfaces; it then fits a least-squares line through the
# samples and fails a quantity whose growth per cycle passes its
# threshold (docs/real-xen-lane.md, "Churn", says how they were chosen).
# Lines "CHURN [daemon] KIND cycle N ..." are the samples, "CHURN [daemon]
# KIND slope ..." the growth per cycle.
# shellcheck shell=bash disable=SC2154,SC2015
CHURN_CYCLES=${XDEV_CHURN:-100}
CHURN_EVERY=10
CHURN_IMG=/tmp/churn.img
CHURN_READ_KB=128
# Growth per cycle that fails.  The samples start after CHURN_EVERY warm-up
# cycles: the first attaches allocate once (loop0, the guest's slab caches,
# its grant table growing to fit netfront's 512 references).
CHURN_MEM_KB=2       # guest memory lost, kB: a page a cycle is 4
CHURN_GRANTS=0.1     # grant entries left mapped: one every ten cycles
CHURN_FRAMES=0.005   # grant-table frames (512 entries each)
CHURN_DEVS=0.05      # loop devices or vifs left: one every twenty cycles
# xl's NIC cycles, for the guest kernel's own loss: a loss past
# CHURN_KERNEL_KB a cycle there is the kernel's, whoever attaches
CHURN_XL_CYCLES=10
CHURN_KERNEL_KB=100

# grant_sample: the guest's grant entries that another domain maps
# (pinned) and its grant-table frames, from Xen's 'g' debug key (printed
# by the key's handler before `xl debug-keys` returns), as "PINNED FRAMES"
# in $grants.  The ring is emptied first so that it holds this dump whole.
grant_sample() {
	xl dmesg -c >/dev/null && xl debug-keys g && xl dmesg -c >/tmp/gnttab || return 1
	[ -n "${churn_shown:-}" ] || { churn_shown=1 && sed 's/^/check: g| /' /tmp/gnttab; }
	grants=$(awk -v g="$gid" '
		/grant-table for remote/ {
			me = ($0 ~ ("remote d" g " ") || $0 ~ ("remote domain: *" g " "))
			if (me) seen = 1
		}
		me && / frames \(/ { for (i = 1; i < NF; i++) if ($(i + 1) == "frames") { f = $i; break } }
		me && /\[(0x)?[0-9a-f]+\] +[0-9]+ +0x/ { n++ }
		/gnttab_usage_print_all \] done/ { done = 1 }
		END { if (seen && done && f != "") print n + 0, f }' /tmp/gnttab)
	[ -n "$grants" ]
}

# churn_sample KIND CYCLE: one sample line into /tmp/churn-KIND; why not
# in $why.  dom0's devices are counted once blkback and netback have let
# go (until_uevent: they announce it by uevent), or after 10 s.
churn_sample() {
	local kind=$1 cycle=$2 loopn vifn
	why=
	guest_clean "$kind" || return 1
	gcmd mem || { why="guest memory: $gout"; return 1; }
	grant_sample || { why="no grant-table dump for d$gid in xl dmesg"; return 1; }
	until_uevent 10 no_loops
	loopn=$(losetup -a | wc -l)
	until_uevent 10 no_vifs
	vifn=$(wc -w <<<"$vifs")
	echo "$cycle $gout $grants $loopn $vifn" >>"/tmp/churn-$kind"
	echo "CHURN [$daemon] $kind cycle $cycle memfree $(cut -d' ' -f1 <<<"$gout") memavail $(cut -d' ' -f2 <<<"$gout") pinned ${grants% *} frames ${grants#* } loops $loopn vifs $vifn"
}

# slope FILE COLUMN: the least-squares growth per cycle of COLUMN (cycle
# in column 1)
slope() {
	awk -v c="$2" '{ n++; x += $1; y += $c; xx += $1 * $1; xy += $1 * $c }
		END { d = n * xx - x * x; printf "%.4f", d ? (n * xy - x * y) / d : 0 }' "$1"
}

# over VALUE LIMIT: VALUE > LIMIT
over() { awk -v v="$1" -v l="$2" 'BEGIN { exit !(v > l) }'; }
neg() { awk -v v="$1" 'BEGIN { printf "%.4f", -v }'; }

# kernel_loss KIND LOSS: xl's same cycles (/tmp/churn-KIND-xl) lose as
# much memory, in $xl_loss, so much that no noise explains it: what the
# guest's kernel loses by itself.
kernel_loss() {
	xl_loss=
	[ -s "/tmp/churn-$1-xl" ] || return 1
	xl_loss=$(neg "$(slope "/tmp/churn-$1-xl" 3)")
	over "$xl_loss" "$CHURN_KERNEL_KB" &&
		! over "$2" "$(awk -v x="$xl_loss" -v m="$CHURN_MEM_KB" 'BEGIN { print x * 1.1 + m }')"
}

# churn_judge KIND: the slopes of KIND's samples against the thresholds
churn_judge() {
	local kind=$1 f=/tmp/churn-$1 free avail pinned frames loopn vifn loss bad=
	free=$(slope "$f" 2) avail=$(slope "$f" 3) pinned=$(slope "$f" 4)
	frames=$(slope "$f" 5) loopn=$(slope "$f" 6) vifn=$(slope "$f" 7)
	echo "CHURN [$daemon] $kind slope memfree $free memavail $avail kB/cycle, pinned $pinned frames $frames loops $loopn vifs $vifn /cycle"
	# memory is lost when it goes down
	loss=$(neg "$avail")
	if ! over "$loss" "$CHURN_MEM_KB"; then
		pass "churn-$kind-guest-memory"
	elif kernel_loss "$kind" "$loss"; then
		skip "churn-$kind-guest-memory" "the guest loses $loss kB/cycle, and $xl_loss kB/cycle with xl's same cycles: the guest kernel loses it whoever attaches, xdev's own growth cannot be told from it"
	else
		fail "churn-$kind-guest-memory" "the guest's MemAvailable falls by $loss kB/cycle (limit $CHURN_MEM_KB${xl_loss:+, with xl $xl_loss})"
	fi
	over "$pinned" "$CHURN_GRANTS" && bad="pinned grants grow by $pinned/cycle (limit $CHURN_GRANTS)"
	over "$frames" "$CHURN_FRAMES" && bad="${bad:+$bad; }grant frames grow by $frames/cycle (limit $CHURN_FRAMES)"
	if [ -n "$bad" ]; then
		fail "churn-$kind-grants" "$bad"
	else
		pass "churn-$kind-grants"
	fi
	bad=
	over "$loopn" "$CHURN_DEVS" && bad="loop devices grow by $loopn/cycle"
	over "$vifn" "$CHURN_DEVS" && bad="${bad:+$bad; }vifs grow by $vifn/cycle"
	if [ -n "$bad" ]; then
		fail "churn-$kind-dom0-devices" "$bad (limit $CHURN_DEVS)"
	else
		pass "churn-$kind-dom0-devices"
	fi
}

# stamp STEP: the time since the last stamp goes to STEP's total (in
# microseconds, bash's clock: no process), for the time each step takes
declare -A steps
stamp() {
	local t=${EPOCHREALTIME/./}
	steps[$1]=$((${steps[$1]:-0} + t - last_stamp))
	last_stamp=$t
}

# One cycle of each: what the guest reads or pings is checked every time,
# the leftovers (the guest's devices, loop devices, vifs, nodes) at the
# samples and at the end.
vbd_churn_cycle() {
	xdev -q -w block-attach guest "format=raw, vdev=xvdb, access=rw, target=$CHURN_IMG" >/tmp/out 2>&1 ||
		{ why="block-attach: $(cat /tmp/out)"; return 1; }
	stamp attach
	gcmd sum xvdb "$CHURN_READ_KB" && [ "$gout" = "$churn_sum" ] ||
		{ why="the guest read md5 '$gout', not $churn_sum"; return 1; }
	stamp read
	xdev -q block-detach guest xvdb >/tmp/out 2>&1 ||
		{ why="block-detach: $(cat /tmp/out)"; return 1; }
	stamp detach
}

vif_churn_cycle() {
	if [ "$churn_tool" = xl ]; then
		xl network-attach guest bridge=xenbr0 >/tmp/out 2>&1 &&
			wait_node "/local/domain/$gid/device/vif/0/state" 4 60
	else
		xdev -q -w network-attach guest bridge=xenbr0 >/tmp/out 2>&1
	fi || { why="$churn_tool network-attach: $(cat /tmp/out)"; return 1; }
	stamp attach
	gcmd net-up eth0 10.99.0.2/24 || { why="the guest has no eth0: $gout"; return 1; }
	stamp up
	# -A: the next request as soon as the reply is in, 20 full-size frames
	ping -q -A -c 20 -s 1400 -W 5 10.99.0.2 >/tmp/ping 2>&1 ||
		{ why="ping: $(tail -n 2 /tmp/ping)"; return 1; }
	stamp ping
	if [ "$churn_tool" = xl ]; then
		xl network-detach guest 0 >/tmp/out 2>&1
	else
		xdev -q network-detach guest 0 >/tmp/out 2>&1
	fi || { why="$churn_tool network-detach: $(cat /tmp/out)"; return 1; }
	stamp detach
	# netback names the next one vif<g>.0 too: this one must be gone
	vifs_gone || { why="left in dom0 for 30 s: $vifs"; return 1; }
	stamp gone
}

# guest_clean KIND: the guest has no xvdb or eth0 left (a cycle's next
# attach would also fail on one); looked at with the samples only, one
# agent round trip being most of a cycle's time under emulation.
guest_clean() {
	if [ "$1" = vbd ]; then
		gcmd has xvdb && [ "$gout" = no ] || { why="the guest still has xvdb ($gout)"; return 1; }
	else
		gcmd has-if eth0 && [ "$gout" = no ] || { why="the guest still has eth0 ($gout)"; return 1; }
	fi
}

# churn_steps NAME CYCLES: each step's mean time per cycle
churn_steps() {
	local k line=
	for k in "${!steps[@]}"; do
		line="$line $k $(awk -v u="${steps[$k]}" -v n="$2" 'BEGIN { printf "%.2f", u / n / 1e6 }')"
	done
	echo "CHURN [$daemon] $1 seconds per cycle:$line"
}

# churn_run KIND NAME TOOL CYCLES EVERY: the cycles of KIND (vbd or vif)
# done with TOOL (xdev or xl), samples into /tmp/churn-NAME
churn_run() {
	local kind=$1 name=$2 cycles=$4 every=$5 i t0 devid=0
	churn_tool=$3
	[ "$kind" = vbd ] && devid=51728
	rm -f "/tmp/churn-$name"
	t0=$(now)
	steps=()
	for i in $(seq "$cycles"); do
		last_stamp=${EPOCHREALTIME/./}
		if ! "${kind}_churn_cycle"; then
			fail "churn-$name" "cycle $i: $why"
			return 1
		fi
		if [ $((i % every)) = 0 ]; then
			churn_sample "$name" "$i" || { fail "churn-$name" "sample at cycle $i: $why"; return 1; }
			stamp sample
		fi
	done
	echo "TIME $churn_tool churn-$kind($cycles) $(since "$t0")"
	churn_steps "$name" "$cycles"
	if ! be_gone "$kind" "$devid" || ! fe_gone "$kind" "$devid"; then
		fail "churn-$name" "nodes left in the store after $cycles cycles"
		return 1
	fi
	pass "churn-$name"
}

# churn KIND: CHURN_CYCLES cycles of KIND with xdev, judged
churn() {
	churn_run "$1" "$1" xdev "$CHURN_CYCLES" "$CHURN_EVERY" && churn_judge "$1"
}

run_churn() {
	if [ "$CHURN_CYCLES" = 0 ]; then
		skip churn "not on this boot: XDEV_XEN_CHURN_ON names the boots that run the churn (docs/real-xen-lane.md, Churn)"
		return
	fi
	truncate -s 64M "$CHURN_IMG" &&
		dd if=/dev/urandom of="$CHURN_IMG" bs=1k count="$CHURN_READ_KB" conv=notrunc 2>/dev/null ||
		{ fail churn "cannot make $CHURN_IMG"; return; }
	churn_sum=$(head -c $((CHURN_READ_KB * 1024)) "$CHURN_IMG" | md5sum | cut -d' ' -f1)
	churn vbd
	if churn_run vif vif xdev "$CHURN_CYCLES" "$CHURN_EVERY"; then
		churn_run vif vif-xl xl "$CHURN_XL_CYCLES" 2
		churn_judge vif
	fi
}
