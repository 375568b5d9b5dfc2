#!/bin/bash
# Fetch what the real-Xen lane boots, from Debian's packages, into CACHE,
# without installing anything on this machine:
#   CACHE/debs/*.deb      the packages (apt-get download)
#   CACHE/root/           all of them unpacked (dpkg-deb -x)
#   CACHE/kernel-version  the dom0/guest kernel's version, looked up from
#                         linux-image-amd64's dependency (never hard-coded)
# Idempotent: a package already downloaded is not fetched again.
#
#   tests/xen/fetch.sh CACHE
set -euo pipefail
cache=${1:?usage: fetch.sh CACHE}
mkdir -p "$cache/debs" "$cache/root"
cache=$(cd "$cache" && pwd)

# The kernel: linux-image-amd64 depends on exactly one versioned image.
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}
kpkg=$(kernel_pkg)
if [ -z "$kpkg" ] && [ "$(id -u)" = 0 ]; then
	# a fresh machine may have no package lists yet
	echo "fetch: no package lists; apt-get update" >&2
	apt-get update -q >&2 || { echo "fetch: apt-get update failed (no network?)" >&2; exit 1; }
	kpkg=$(kernel_pkg)
fi
[ -n "$kpkg" ] || { echo "fetch: cannot find the kernel behind linux-image-amd64 (apt-get update as root?)" >&2; exit 1; }
kver=${kpkg#linux-image-}

# The hypervisor, the kernel, the Xen tools with their libraries, busybox.
pkgs=(xen-hypervisor-4.17-amd64 "$kpkg" busybox-static
	xen-utils-4.17 xen-utils-common xenstore-utils
	libxenmisc4.17 libxenstore4 libxencall1 libxenevtchn1
	libxenforeignmemory1 libxengnttab1 libxentoollog1 libxendevicemodel1
	libxentoolcore1 libxenhypfs1 libyajl2)

cd "$cache/debs"
for p in "${pkgs[@]}"; do
	if ! compgen -G "${p}_*.deb" >/dev/null; then
		echo "fetch: $p"
		# apt's sandbox user cannot write here; that is only a warning
		apt-get download -q "$p" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 ||
			true
		compgen -G "${p}_*.deb" >/dev/null || { echo "fetch: could not download $p" >&2; exit 1; }
	fi
done
for d in *.deb; do
	stamp="$cache/root/.unpacked-$d"
	[ -e "$stamp" ] || { dpkg-deb -x "$d" "$cache/root" && touch "$stamp"; }
done
[ -d "$cache/root/lib/modules/$kver" ] || { echo "fetch: no modules for $kver" >&2; exit 1; }
echo "$kver" >"$cache/kernel-version"
