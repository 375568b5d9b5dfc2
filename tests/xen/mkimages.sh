#!/bin/bash
# Build the real-Xen lane's initramfs images from the fetched packages
# (fetch.sh), this machine's userland tools, and xdev's build:
#
#   OUT/xen.elf        the hypervisor, gunzipped (qemu loads ELF multiboot)
#   OUT/vmlinuz        the kernel (dom0 and the guest)
#   OUT/dom0.cpio.gz   dom0: busybox, bash and friends, the Xen tools,
#                      xenstored and oxenstored, the backend modules, xdev
#                      installed under /usr/local, the checks, and the
#                      guest's kernel and initramfs under /guest (the
#                      driver domain's initramfs under /driverdom)
#   OUT/guest.cpio.gz  the guest: busybox, the frontend modules, the
#                      xenstore tools, and an agent that runs the checks'
#                      commands (guest-init.sh)
#   OUT/driverdom.cpio.gz  the driver domain: busybox, bash and friends, the
#                      backend modules, xl and the xenstore tools, Xen's
#                      scripts, xdev (xdevd) as in dom0, and an agent
#                      (driverdom-init.sh); dom0 holds it under /driverdom
#
#   tests/xen/mkimages.sh CACHE BUILDDIR SRCDIR OUT
set -euo pipefail
cache=$(cd "${1:?usage: mkimages.sh CACHE BUILDDIR SRCDIR OUT}" && pwd)
builddir=$(cd "$2" && pwd)
srcdir=$(cd "$3" && pwd)
out=$4
mkdir -p "$out"
out=$(cd "$out" && pwd)
kver=$(cat "$cache/kernel-version")
croot=$cache/root
libpath=$croot/usr/lib/x86_64-linux-gnu:$croot/lib/x86_64-linux-gnu:$croot/usr/lib/xen-4.17/lib

# copy_bin ROOT FILE [DEST]: FILE and every library it needs (the fetched
# packages' first, then this machine's: both are Debian 12).
copy_bin() {
	local root=$1 f=$2 dest=${3:-$2} lib
	mkdir -p "$root$(dirname "$dest")"
	if ! [ "$f" -ef "$root$dest" ]; then
		rm -f "$root$dest" # a busybox applet link: the real tool wins
		cp -L "$f" "$root$dest"
	fi
	LD_LIBRARY_PATH=$libpath ldd "$f" 2>/dev/null |
		sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' |
		while read -r lib; do
			local to=${lib#"$croot"} # a fetched library: its own path
			[ -e "$root$to" ] && continue
			mkdir -p "$root$(dirname "$to")"
			cp -L "$lib" "$root$to"
		done
}

base_root() {
	local root=$1 a
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,proc,sys,dev,run,tmp,mnt,root,var/log,var/lib}
	ln -s ../run "$root/var/run"
	cp "$croot/bin/busybox" "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list-full); do
		[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
	done
	# glibc loads libgcc_s at run time (pthread_cancel); ldd does not show it
	copy_bin "$root" /lib/x86_64-linux-gnu/libgcc_s.so.1
	echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
}

add_modules() {
	local root=$1 m f
	shift
	mkdir -p "$root/lib/modules"
	for m in "$@"; do
		f=$(find "$croot/lib/modules/$kver" -name "$m.ko" | head -n 1)
		[ -n "$f" ] || { echo "mkimages: no module $m" >&2; exit 1; }
		cp "$f" "$root/lib/modules/"
	done
	printf '%s\n' "$@" >"$root/lib/modules/order"
}

pack() {
	(cd "$1" && find . | cpio -o -H newc --quiet) | gzip -1 >"$2"
}

# the real tools where busybox's lack options the scripts use (readlink -e)
add_tools() {
	local root=$1 t f
	for t in bash ip losetup flock stat timeout truncate dd readlink find mv rm mkdir; do
		f=$(command -v "$t" || true)
		[ -n "$f" ] && copy_bin "$root" "$f" "/usr/bin/$t"
	done
	ln -sf /usr/bin/bash "$root/bin/bash"
}

# xdev, installed as `make install` would, then its libraries
add_xdev() {
	local root=$1 f
	make -s -C "$builddir" install DESTDIR="$root" >/dev/null
	for f in "$root"/usr/local/bin/* "$root"/usr/local/sbin/* "$root"/usr/local/lib/libxdev.so; do
		[ -f "$f" ] || continue
		LD_LIBRARY_PATH=$root/usr/local/lib copy_bin "$root" "$f" "${f#"$root"}"
	done
}

# ---- the guest ------------------------------------------------------------
groot=$out/guest-root
base_root "$groot"
add_modules "$groot" xen-blkfront xen-netfront
for t in xenstore-read xenstore-write xenstore-watch xenstore-rm xenstore-exists; do
	copy_bin "$groot" "$croot/usr/bin/$t" "/usr/bin/$t"
done
cp "$srcdir/tests/xen/guest-init.sh" "$groot/init"
chmod +x "$groot/init"
pack "$groot" "$out/guest.cpio.gz"

# ---- the driver domain ---------------------------------------------------------
# the backends, xdevd with xdev's scripts, and for the timings xl devd
# with Xen's scripts
ddroot=$out/driverdom-root
base_root "$ddroot"
add_modules "$ddroot" xen-privcmd xen-evtchn xen-gntdev xenfs \
	xen-blkback xen-netback llc stp bridge loop
add_tools "$ddroot"
copy_bin "$ddroot" "$croot/usr/lib/xen-4.17/bin/xl" /usr/sbin/xl
for t in xenstore-read xenstore-write xenstore-watch xenstore-rm xenstore-exists xenstore-list; do
	copy_bin "$ddroot" "$croot/usr/bin/$t" "/usr/bin/$t"
done
mkdir -p "$ddroot/etc/xen" "$ddroot/var/lib/xen" "$ddroot/var/log/xen"
cp -a "$croot/etc/xen/scripts" "$ddroot/etc/xen/"
add_xdev "$ddroot"
cp "$srcdir/tests/xen/driverdom-init.sh" "$ddroot/init"
mkdir -p "$ddroot/xdev"
cp "$srcdir/tests/xen/uevent.sh" "$ddroot/xdev/"
chmod +x "$ddroot/init"
pack "$ddroot" "$out/driverdom.cpio.gz"

# ---- dom0 -------------------------------------------------------------------
droot=$out/dom0-root
base_root "$droot"
add_modules "$droot" xen-privcmd xen-evtchn xen-gntdev xen-gntalloc xenfs \
	xen-blkback xen-netback llc stp bridge loop
add_tools "$droot"
for t in xenstored oxenstored xl xenconsoled xen-init-dom0; do
	copy_bin "$droot" "$croot/usr/lib/xen-4.17/bin/$t" "/usr/sbin/$t"
done
for t in xenstore-read xenstore-write xenstore-watch xenstore-rm xenstore-exists xenstore-ls xenstore-list xenstore-chmod; do
	copy_bin "$droot" "$croot/usr/bin/$t" "/usr/bin/$t"
done
mkdir -p "$droot/etc/xen" "$droot/var/lib/xen" "$droot/var/log/xen" "$droot/var/lib/xenstored"
cp -a "$croot/etc/xen/scripts" "$croot/etc/xen/oxenstored.conf" "$droot/etc/xen/"
add_xdev "$droot"
mkdir -p "$droot/xdev"
cp "$srcdir/tests/xen/dom0-init.sh" "$droot/init"
cp "$srcdir/tests/xen/checks.sh" "$srcdir/tests/xen/driverdom.sh" \
	"$srcdir/tests/xen/churn.sh" "$srcdir/tests/xen/uevent.sh" "$droot/xdev/"
[ -d "$srcdir/python" ] && cp -a "$srcdir/python" "$droot/xdev/python"
chmod +x "$droot/init" "$droot/xdev/checks.sh"
mkdir -p "$droot/guest"
cp "$croot/boot/vmlinuz-$kver" "$droot/guest/vmlinuz"
cp "$out/guest.cpio.gz" "$droot/guest/initrd.gz"
mkdir -p "$droot/driverdom"
cp "$out/driverdom.cpio.gz" "$droot/driverdom/initrd.gz"
pack "$droot" "$out/dom0.cpio.gz"

gunzip -c "$croot/boot/xen-4.17-amd64.gz" >"$out/xen.elf"
cp "$croot/boot/vmlinuz-$kver" "$out/vmlinuz"
rm -rf "$groot" "$ddroot" "$droot"
ls -la "$out" >&2
