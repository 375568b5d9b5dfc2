# shellcheck shell=bash
# until_uevent, shared by dom0's checks (checks.sh) and the driver
# domain's agent (driverdom-init.sh); sourced by both, bash.
# until_uevent SECONDS CMD...: until CMD succeeds, looked at again on
# every kernel uevent, for at most SECONDS.  What happens after a removal
# has ended - blkback letting go of a loop device (autoclear: "change"
# of loopN), netback's interface going ("remove" of vifG.H) - the kernel
# announces to uevent listeners only (udev, which neither domain has), so
# busybox's uevent listens.  It is known to listen once an event has
# come: a synthetic one is sent to lo (again after each second without
# one: the listener may not be bound yet); CMD is looked at only then, so
# no event between the look and the wait is missed.
until_uevent() {
	local t=$1 ok=1 ready=
	shift
	"$@" && return 0 # already so: no event to wait for
	# shellcheck disable=SC2016 # expanded by the listener's sh
	coproc UEV { exec timeout "$t" busybox uevent sh -c 'echo "$ACTION $DEVPATH"'; }
	local fd=${UEV[0]} pid=$UEV_PID
	for _ in $(seq "$t"); do
		echo change >/sys/class/net/lo/uevent
		if read -r -t 1 _ <&"$fd"; then # any event: it listens
			ready=1
			break
		fi
	done
	[ -n "$ready" ] || echo "the uevent listener did not answer within $t s"
	while :; do
		if "$@"; then
			ok=0
			break
		fi
		read -r _ <&"$fd" || break
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return $ok
}
