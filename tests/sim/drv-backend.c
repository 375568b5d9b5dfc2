/*
 * drv-backend: blkback and netback as the toolstack sees them.
 *
 * One watch on /local/domain/<self>/backend finds devices; per device one
 * more on the frontend's state node (Linux's "otherend" watch).  The next
 * state is a function of my state, the frontend's, `online` and readiness,
 * as in blkback's frontend_changed():
 *
 *   frontend      backend goes to
 *   Initialising  InitWait (from Initialising, or from Closing/Closed with
 *                 online=1: a frontend's reconnect after kexec)
 *   Initialised,  InitWait from Initialising; Connected from InitWait once
 *   Connected     ready (vbd: physical-device checked; vif: hotplug-status
 *                 is "connected")
 *   Closing       Closing
 *   Closed,       Closed; with online=0 the device is torn down (its vif
 *   Unknown       interface removed); the loop device is the hotplug
 *                 script's to release
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drv.h"

#define VDISK_CDROM 1
#define VDISK_READONLY 4

int drv_backend_watch(struct drv *d)
{
	char path[80];

	snprintf(path, sizeof(path), "%s/backend", d->base);
	return xs_watch(d->xs, path, "backend") ? 0 : -errno;
}

void drv_backend_free(struct drv_dev *dev)
{
	if (dev->tap_fd >= 0)
		close(dev->tap_fd);
	dev->tap_fd = -1;
}

/* A device directory appeared: learn its frontend and watch its state. */
static struct drv_dev *backend_adopt(struct drv *d, const char *type,
				     uint32_t fe_dom, uint32_t devid)
{
	struct drv_dev *dev;
	char dir[160], *fe;

	snprintf(dir, sizeof(dir), "%s/backend/%s/%u/%u", d->base, type,
		 fe_dom, devid);
	fe = drv_read(d, dir, "frontend");
	if (!fe)
		return NULL; /* not written yet, or not a device */
	dev = drv_dev_add(d, type, fe_dom, devid, dir, fe);
	free(fe);
	return dev;
}

/* Every device of frontend domain FE under backend/<type>/<fe> (SUB). */
static void scan_frontend(struct drv *d, const char *type, const char *sub,
			  uint32_t fe)
{
	char **ids;
	unsigned n, j;

	ids = xs_directory(d->xs, XBT_NULL, sub, &n);
	for (j = 0; ids && j < n; j++) {
		uint32_t id = strtoul(ids[j], NULL, 10);
		struct drv_dev *dev = drv_dev_find(d, type, fe, id);

		if (!dev)
			dev = backend_adopt(d, type, fe, id);
		if (dev)
			drv_step(d, dev);
	}
	free(ids);
}

/* Every device under backend/, e.g. after the initial watch fire. */
static void backend_scan(struct drv *d)
{
	static const char *const types[] = { "vbd", "vif" };
	char path[96], sub[160], **doms;
	unsigned nd, t, i;

	for (t = 0; t < 2; t++) {
		snprintf(path, sizeof(path), "%s/backend/%s", d->base, types[t]);
		doms = xs_directory(d->xs, XBT_NULL, path, &nd);
		for (i = 0; doms && i < nd; i++) {
			snprintf(sub, sizeof(sub), "%s/%s", path, doms[i]);
			scan_frontend(d, types[t], sub,
				      strtoul(doms[i], NULL, 10));
		}
		free(doms);
	}
}

/* The nodes of its own directory the backend reacts to: its state and
 * online (the toolstack's Closing, a reconnect), physical-device (blkback's
 * watch) and hotplug-status (netback's). */
static const char *const backend_leaves[] = {
	"state", "online", "physical-device", "hotplug-status", NULL
};

void drv_backend_event(struct drv *d, const char *path)
{
	char type[8], prefix[80];
	unsigned fe, id;
	struct drv_dev *dev;
	int n = 0;

	snprintf(prefix, sizeof(prefix), "%s/backend/", d->base);
	if (!strncmp(path, prefix, strlen(prefix))) {
		const char *rel = path + strlen(prefix);

		if (sscanf(rel, "%7[a-z]/%u/%u", type, &fe, &id) != 3) {
			/* backend/<type>/<fe> created or pruned: only its own
			 * devices, as Linux's xenbus_dev_changed() looks only
			 * below the event's path.  A scan of every device
			 * made each guest's last removal cost a read of every
			 * other device: 200 scans of up to 2000 at N = 2000. */
			if (sscanf(rel, "%7[a-z]/%u%n", type, &fe, &n) == 2 &&
			    !rel[n])
				scan_frontend(d, type, path, fe);
			else
				backend_scan(d);
			return;
		}
		dev = drv_dev_find(d, type, fe, id);
		if (!dev)
			dev = backend_adopt(d, type, fe, id);
		else if (!drv_event_wanted(d, dev, path, backend_leaves))
			return;
		if (dev)
			drv_step(d, dev);
		return;
	}
	if (!strcmp(path, prefix) || !strncmp(path, prefix, strlen(prefix) - 1)) {
		backend_scan(d);
		return;
	}
	for (dev = d->devs; dev; dev = dev->next)
		if (!strncmp(path, dev->other, strlen(dev->other))) {
			drv_step(d, dev);
			return;
		}
}

/* physical-device ("major:minor" in hex, as Xen's block script writes it)
 * names an existing block device.  -errno for a bad one, 0 if absent. */
static int check_physdev(struct drv *d, struct drv_dev *dev)
{
	char *v = drv_read(d, dev->path, "physical-device"), sys[64];
	unsigned maj, min;
	int n = 0;

	if (!v)
		return 0;
	if (sscanf(v, "%x:%x%n", &maj, &min, &n) != 2 || v[n]) {
		free(v);
		return -EINVAL;
	}
	free(v);
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", maj, min);
	if (access(sys, F_OK) < 0)
		return -ENODEV;
	dev->phys_major = maj;
	dev->phys_minor = min;
	dev->physdev_ok = true;
	return 1;
}

static bool backend_ready(struct drv *d, struct drv_dev *dev)
{
	char *hs;
	bool ok;

	if (!strcmp(dev->type, "vbd"))
		return dev->physdev_ok;
	hs = drv_read(d, dev->path, "hotplug-status");
	ok = hs && !strcmp(hs, "connected");
	free(hs);
	return ok;
}

static int backend_target(int st, int fe, int online, bool ready)
{
	switch (fe) {
	case XB_UNKNOWN:
	case XB_CLOSED:
		return st != XB_CLOSED ? XB_CLOSED : -1;
	case XB_CLOSING:
		return st == XB_INITIALISING || st == XB_INITWAIT ||
		       st == XB_CONNECTED ? XB_CLOSING : -1;
	case XB_INITIALISING:
		if (online && (st == XB_INITIALISING || st == XB_CLOSING ||
			       st == XB_CLOSED))
			return XB_INITWAIT;
		return -1;
	case XB_INITIALISED:
	case XB_CONNECTED:
		if (online && st == XB_INITIALISING)
			return XB_INITWAIT;
		return st == XB_INITWAIT && ready ? XB_CONNECTED : -1;
	default:
		return -1;
	}
}

static uint64_t sysfs_u64(unsigned maj, unsigned min, const char *file,
			  uint64_t dflt)
{
	char path[96];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", maj, min, file);
	f = fopen(path, "re");
	if (!f)
		return dflt;
	if (fscanf(f, "%llu", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

/* What blkback's connect() writes before it switches to Connected. */
static bool vbd_publish(struct drv *d, struct drv_dev *dev)
{
	uint64_t sectors = sysfs_u64(dev->phys_major, dev->phys_minor, "size", 0);
	uint64_t ssize = sysfs_u64(dev->phys_major, dev->phys_minor,
				   "queue/logical_block_size", 512);
	char *mode = drv_read(d, dev->path, "mode");
	char *dtype = drv_read(d, dev->path, "device-type");
	unsigned info = (mode && strchr(mode, 'w') ? 0 : VDISK_READONLY) |
			(dtype && !strcmp(dtype, "cdrom") ? VDISK_CDROM : 0);
	char v[32];
	bool ok;

	free(mode);
	free(dtype);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(sectors * 512 / ssize));
	ok = drv_write(d, dev->path, "sectors", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)ssize);
	ok = ok && drv_write(d, dev->path, "sector-size", v) &&
	     drv_write(d, dev->path, "physical-sector-size", v);
	snprintf(v, sizeof(v), "%u", info);
	return ok && drv_write(d, dev->path, "info", v) &&
	       drv_write(d, dev->path, "feature-flush-cache", "1") &&
	       drv_write(d, dev->path, "feature-persistent", "1");
}

/* netback's vif<dom>.<handle>, a tap held open by the driver: it vanishes
 * with the device, or with the driver if the driver dies. */
static int vif_create(struct drv_dev *dev)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int n, fd;

	n = snprintf(ifr.ifr_name, IFNAMSIZ, "vif%u.%u", dev->other_domid,
		     dev->devid);
	if (n >= IFNAMSIZ)
		return -ENAMETOOLONG;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	dev->tap_fd = fd;
	return 0;
}

/* The connect-delay fault: blkback's connect() decides on Connected, works
 * (maps the ring, publishes the disk), then switches without looking at
 * the state again, so a toolstack's Closing written meanwhile is
 * overwritten - as xenbus_switch_state() does.  The delay widens that
 * window to something a test can hit; the whole driver waits, as a
 * kernel thread busy in connect() would keep that device's watch. */
static void connect_delay(struct drv *d, struct drv_dev *dev)
{
	struct drv_faults f;

	drv_faults_get(d, dev, &f);
	if (f.connect_delay_ms > 0) {
		drv_log(d, "fault: %s: %d ms before Connected", dev->path,
			f.connect_delay_ms);
		usleep((useconds_t)f.connect_delay_ms * 1000);
	}
}

/* Entry action of TARGET; false when it failed and the device was sent
 * to Closing instead, as xenbus_dev_fatal() does. */
/* The vif-late fault: Linux's netback_probe() switches to InitWait, then
 * registers the vif (backend_create_xenvif()); a toolstack acting on
 * InitWait may look for the vif before it exists. */
static bool vif_late(struct drv *d, struct drv_dev *dev)
{
	struct drv_faults f;
	int r;

	drv_faults_get(d, dev, &f);
	if (f.vif_late_ms <= 0 || strcmp(dev->type, "vif") || dev->tap_fd >= 0)
		return false;
	if (drv_set_state(d, dev, XB_INITWAIT)) {
		drv_log(d, "fault: %s: the vif %d ms after InitWait", dev->path,
			f.vif_late_ms);
		usleep((useconds_t)f.vif_late_ms * 1000);
		if ((r = vif_create(dev)) < 0)
			drv_report_error(d, dev, r, "creating the vif interface");
	}
	return true;
}

static bool backend_enter(struct drv *d, struct drv_dev *dev, int target)
{
	int r = 0;

	if (target == XB_INITWAIT && vif_late(d, dev))
		return dev->tap_fd >= 0;
	if (target == XB_INITWAIT && !strcmp(dev->type, "vif") &&
	    dev->tap_fd < 0 && (r = vif_create(dev)) < 0) {
		drv_report_error(d, dev, r, "creating the vif interface");
		drv_set_state(d, dev, XB_CLOSING);
		return false;
	}
	if (target == XB_CONNECTED && !strcmp(dev->type, "vbd") &&
	    !vbd_publish(d, dev))
		return false;
	if (target == XB_CONNECTED)
		connect_delay(d, dev);
	return drv_set_state(d, dev, target);
}

static bool backend_dir_exists(struct drv *d, struct drv_dev *dev)
{
	char *v = xs_read(d->xs, XBT_NULL, dev->path, NULL);

	free(v);
	return v != NULL;
}

/* One transition at most; true if another may follow at once.  A device
 * whose directory is gone is forgotten (DEV is freed): the directory is
 * looked at only when its state cannot be read. */
static bool backend_advance(struct drv *d, struct drv_dev *dev)
{
	int st = drv_read_int(d, dev->path, "state", -1);
	int online = drv_read_int(d, dev->path, "online", 0);
	int fe = drv_read_int(d, dev->other, "state", XB_UNKNOWN), target, r;
	struct drv_faults f;

	if (st < 0) {
		if (!backend_dir_exists(d, dev)) {
			drv_log(d, "%s removed", dev->path);
			drv_dev_remove(d, dev);
			return false;
		}
		st = XB_UNKNOWN;
	}
	drv_faults_get(d, dev, &f); /* after the reads: see drv-fault.c */
	if (f.backend_unresponsive)
		return false;
	if (st == XB_CLOSING && f.backend_delete_on_close) {
		drv_log(d, "fault: deleting %s instead of closing", dev->path);
		xs_rm(d->xs, XBT_NULL, dev->path);
		drv_dev_remove(d, dev);
		return false;
	}
	if (st == XB_INITIALISING && online && dev->tap_fd < 0)
		dev->physdev_ok = false; /* a new incarnation of the device */
	if (!strcmp(dev->type, "vbd") && !dev->physdev_ok &&
	    (r = check_physdev(d, dev)) < 0) {
		drv_report_error(d, dev, r, "checking physical-device");
		if (st != XB_CLOSING && st != XB_CLOSED)
			drv_set_state(d, dev, XB_CLOSING);
		return false;
	}
	target = backend_target(st, fe, online, backend_ready(d, dev));
	if (target < 0) {
		if (st == XB_CLOSED && !online)
			drv_backend_free(dev); /* torn down: interface gone */
		return false;
	}
	if (!drv_may_transition(d, dev) || drv_destroy_point(d, dev, target))
		return false;
	/* Torn down before Closed is written: whoever sees Closed (the
	 * toolstack, its hotplug script) finds the interface gone. */
	if (target == XB_CLOSED && !online)
		drv_backend_free(dev);
	return backend_enter(d, dev, target);
}

void drv_backend_step(struct drv *d, struct drv_dev *dev)
{
	while (!d->dying && backend_advance(d, dev))
		;
}
