/*
 * drv-frontend: blkfront and netfront, inside a guest.
 *
 * One watch on /local/domain/<self>/device finds devices; per device one
 * more on the backend's state.  As in Linux:
 *
 *   backend       frontend
 *   InitWait      vbd: writes ring-ref/event-channel/protocol, Initialised;
 *                 vif: writes its ring refs and features, Connected
 *   Connected     vbd: reads sectors/info, Connected
 *   Closing,      Closing, then Closed; a mounted blkfront refuses instead
 *   Closed        (error node, stays Closing: the frontend-refuse-close
 *                 fault); an unresponsive one does not answer at all
 *
 * A guest kexec (SIGUSR1) steps every device Closing, Closed, then, after
 * the xenstore ring reset where the daemon supports it, Initialising, and
 * waits up to 5 s for the backend at each step, as Linux's
 * xenbus_reset_state() does; the devices then reconnect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drv.h"

#define RESET_WAIT_MS 5000

int drv_frontend_watch(struct drv *d)
{
	char path[80];

	snprintf(path, sizeof(path), "%s/device", d->base);
	return xs_watch(d->xs, path, "device") ? 0 : -errno;
}

static struct drv_dev *frontend_adopt(struct drv *d, const char *type,
				      uint32_t devid)
{
	char dir[160], *be;
	struct drv_dev *dev;
	int be_dom;

	snprintf(dir, sizeof(dir), "%s/device/%s/%u", d->base, type, devid);
	be = drv_read(d, dir, "backend");
	be_dom = drv_read_int(d, dir, "backend-id", -1);
	if (!be || be_dom < 0) {
		free(be);
		return NULL;
	}
	dev = drv_dev_add(d, type, (uint32_t)be_dom, devid, dir, be);
	free(be);
	return dev;
}

static void frontend_scan(struct drv *d)
{
	static const char *const types[] = { "vbd", "vif" };
	char path[96], **ids;
	unsigned n, t, i;

	for (t = 0; t < 2; t++) {
		snprintf(path, sizeof(path), "%s/device/%s", d->base, types[t]);
		ids = xs_directory(d->xs, XBT_NULL, path, &n);
		for (i = 0; ids && i < n; i++) {
			uint32_t id = strtoul(ids[i], NULL, 10);
			struct drv_dev *dev = NULL, *x;

			for (x = d->devs; x; x = x->next)
				if (!strcmp(x->type, types[t]) && x->devid == id)
					dev = x;
			if (!dev)
				dev = frontend_adopt(d, types[t], id);
			if (dev)
				drv_step(d, dev);
		}
		free(ids);
	}
}

/* The only node of its own directory the frontend reacts to: its state,
 * which the toolstack writes when it (re)creates the device. */
static const char *const frontend_leaves[] = { "state", NULL };

void drv_frontend_event(struct drv *d, const char *path)
{
	char prefix[80], type[8];
	struct drv_dev *dev;
	unsigned id;

	snprintf(prefix, sizeof(prefix), "%s/device/", d->base);
	if (!strncmp(path, prefix, strlen(prefix)) &&
	    sscanf(path + strlen(prefix), "%7[a-z]/%u", type, &id) == 2) {
		for (dev = d->devs; dev; dev = dev->next)
			if (!strcmp(dev->type, type) && dev->devid == id)
				break;
		if (!dev)
			dev = frontend_adopt(d, type, id);
		else if (!drv_event_wanted(d, dev, path, frontend_leaves))
			return;
		if (dev)
			drv_step(d, dev);
		return;
	}
	if (!strncmp(path, prefix, strlen(prefix) - 1)) {
		frontend_scan(d);
		return;
	}
	for (dev = d->devs; dev; dev = dev->next)
		if (!strncmp(path, dev->other, strlen(dev->other))) {
			drv_step(d, dev);
			return;
		}
}

/* The ring and event-channel keys the real frontends write, in one
 * transaction as blkfront's talk_to_blkback() and netfront's
 * talk_to_netback() do; the values stand for grant references the
 * simulator does not have.  One transaction is also one write for C
 * xenstored's write rate limit on guests (one debit per commit, one per
 * write outside a transaction), which bounds a storm of 200 guests. */
static bool publish_in(struct drv *d, xs_transaction_t t, void *arg)
{
	static const char *const vbd[] = {
		"ring-ref", "8", "event-channel", "9", "protocol", "x86_64-abi",
		NULL
	};
	static const char *const vif[] = {
		"tx-ring-ref", "8", "rx-ring-ref", "9", "event-channel", "10",
		"request-rx-copy", "1", "feature-rx-notify", "1", NULL
	};
	const struct drv_dev *dev = arg;
	const char *const *kv = strcmp(dev->type, "vbd") ? vif : vbd;
	char path[256];
	int i;

	for (i = 0; kv[i]; i += 2) {
		snprintf(path, sizeof(path), "%s/%s", dev->path, kv[i]);
		if (!xs_write(d->xs, t, path, kv[i + 1], strlen(kv[i + 1]))) {
			drv_log(d, "publishing %s: %s", dev->path,
				strerror(errno));
			return false;
		}
	}
	return true;
}

static bool frontend_publish(struct drv *d, struct drv_dev *dev)
{
	return drv_in_transaction(d, publish_in, dev);
}

static int frontend_target(const struct drv_dev *dev, int st, int be,
			   const struct drv_faults *f)
{
	bool vbd = !strcmp(dev->type, "vbd");

	switch (be) {
	case XB_INITWAIT:
		if (st == XB_INITIALISING)
			return vbd ? XB_INITIALISED : XB_CONNECTED;
		return -1;
	case XB_CONNECTED:
		if (st == XB_INITIALISING)
			return vbd ? XB_INITIALISED : XB_CONNECTED;
		return vbd && st == XB_INITIALISED ? XB_CONNECTED : -1;
	case XB_CLOSING:
	case XB_CLOSED:
		if (f->frontend_unresponsive)
			return -1;
		if (st == XB_CLOSING)
			return f->frontend_refuse_close ? -1 : XB_CLOSED;
		return st != XB_CLOSED ? XB_CLOSING : -1;
	default:
		return -1;
	}
}

static bool frontend_enter(struct drv *d, struct drv_dev *dev, int st,
			   int target, const struct drv_faults *f)
{
	if (st == XB_INITIALISING && target != XB_CLOSING &&
	    !frontend_publish(d, dev))
		return false;
	if (target == XB_CLOSING && f->frontend_refuse_close) {
		/* blkfront while mounted: says why, stays Closing */
		drv_report_error(d, dev, -EBUSY,
				 "Device in use; refusing to close");
	}
	return drv_set_state(d, dev, target);
}

/* ---- kexec ----------------------------------------------------------- */

/* A device's place in a kexec reset (dev->reset_phase).  Each written state
 * waits (bounded) for the backend to follow before the next; writes wait
 * for the slow fault like any transition. */
enum reset_phase {
	R_NONE = 0,
	R_CLOSE,           /* write Closing */
	R_WAIT_CLOSING,    /* until the backend is Closing or Closed */
	R_WAIT_CLOSED,     /* wrote Closed; until the backend is Closed */
	R_PARKED,          /* until every device is parked */
	R_OPEN,            /* write Initialising */
	R_WAIT_INITWAIT,   /* until the backend is back in InitWait */
};

bool drv_reset_waiting(const struct drv_dev *dev)
{
	return dev->reset_phase == R_WAIT_CLOSING ||
	       dev->reset_phase == R_WAIT_CLOSED ||
	       dev->reset_phase == R_WAIT_INITWAIT;
}

static void reset_wait(struct drv_dev *dev, int phase)
{
	dev->reset_phase = phase;
	dev->reset_deadline = drv_now_ms() + RESET_WAIT_MS;
}

/* Every device is Closed: reset the ring (when the daemon can), then start
 * over from Initialising. */
static void kexec_reopen(struct drv *d)
{
	struct drv_dev *dev, *next;
	char *reply = xs_control_command(d->xs, "sim-reconnect", NULL, 0);

	/* The kernel resets its xenstore ring; C xenstored cannot (ENOSYS). */
	if (!reply)
		drv_log(d, "ring reconnect: %s", strerror(errno));
	free(reply);
	for (dev = d->devs; dev; dev = dev->next)
		dev->reset_phase = R_OPEN;
	for (dev = d->devs; dev; dev = next) {
		next = dev->next;
		drv_step(d, dev);
	}
}

static bool all_parked(struct drv *d)
{
	struct drv_dev *dev;

	for (dev = d->devs; dev; dev = dev->next)
		if (dev->reset_phase != R_PARKED)
			return false;
	return true;
}

/* One step of the device's reset; true once it is over (normal life). */
static bool reset_step(struct drv *d, struct drv_dev *dev, int be)
{
	bool late = drv_now_ms() >= dev->reset_deadline;

	switch (dev->reset_phase) {
	case R_CLOSE:
		if (drv_may_transition(d, dev) && drv_set_state(d, dev, XB_CLOSING))
			reset_wait(dev, R_WAIT_CLOSING);
		return false;
	case R_WAIT_CLOSING:
		if ((be == XB_CLOSING || be == XB_CLOSED || late) &&
		    drv_may_transition(d, dev) && drv_set_state(d, dev, XB_CLOSED))
			reset_wait(dev, R_WAIT_CLOSED);
		return false;
	case R_WAIT_CLOSED:
		if (be != XB_CLOSED && !late)
			return false;
		dev->reset_phase = R_PARKED;
		if (all_parked(d))
			kexec_reopen(d);
		return false;
	case R_OPEN:
		if (drv_may_transition(d, dev) &&
		    drv_set_state(d, dev, XB_INITIALISING))
			reset_wait(dev, R_WAIT_INITWAIT);
		return false;
	case R_WAIT_INITWAIT:
		if (be != XB_INITWAIT && be != XB_CONNECTED && !late)
			return false;
		dev->reset_phase = R_NONE;
		return true;
	default:
		return dev->reset_phase == R_NONE;
	}
}

void drv_frontend_kexec(struct drv *d)
{
	struct drv_dev *dev, *next;

	for (dev = d->devs; dev; dev = dev->next)
		if (dev->reset_phase != R_NONE)
			return; /* one reset at a time */
	drv_log(d, "kexec: resetting every device");
	for (dev = d->devs; dev; dev = dev->next)
		dev->reset_phase = R_CLOSE;
	for (dev = d->devs; dev; dev = next) {
		next = dev->next;
		drv_step(d, dev);
	}
	if (!d->devs)
		kexec_reopen(d);
}

void drv_frontend_step(struct drv *d, struct drv_dev *dev)
{
	struct drv_faults f;
	int st, be, target;

	st = drv_read_int(d, dev->path, "state", XB_UNKNOWN);
	if (st == XB_UNKNOWN) {
		char *v = xs_read(d->xs, XBT_NULL, dev->path, NULL);

		free(v);
		if (!v) { /* the toolstack removed the device */
			drv_dev_remove(d, dev);
			return;
		}
	}
	be = drv_read_int(d, dev->other, "state", XB_UNKNOWN);
	if (dev->reset_phase != R_NONE) {
		if (!reset_step(d, dev, be))
			return;
		st = drv_read_int(d, dev->path, "state", XB_UNKNOWN);
	}
	while (!d->dying) {
		drv_faults_get(d, dev, &f); /* after the reads: drv-fault.c */
		target = frontend_target(dev, st, be, &f);
		if (target < 0 || !drv_may_transition(d, dev) ||
		    drv_destroy_point(d, dev, target) ||
		    !frontend_enter(d, dev, st, target, &f))
			return;
		st = target;
	}
}
