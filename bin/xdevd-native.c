/*
 * xdevd-native: native hotplug in the backend's domain - the job the
 * library runs in dom0 (lib/native.h), run by the daemon for its own
 * backends where the toolstack asked for a default script (`block`,
 * `vif-bridge`, or none named): the same nodes, messages, lock and loop
 * records as the scripts, without a process.  `--native never` runs the
 * scripts instead; any other script node always runs that script.
 *
 * The job's inputs are read from the backend directory, as the scripts
 * read them, and parsed as strictly (params: an absolute path or a name
 * under /dev, printable, no `..`; mode r/ro/w/rw; the bridge a Linux
 * interface name; the MTU a number).  Its waits are an ev_timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "native.h"
#include "xdevd.h"

#define IFNAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
		     "0123456789_.-"

bool native_applies(struct xdevd *d, const struct device *dev,
		    const char *script_node)
{
	const char *dflt = dev->type == XDEVD_VBD ? "block" : "vif-bridge";

	return d->native && (!script_node || !strcmp(script_node, dflt));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *node(struct xdevd *d, const struct device *dev, const char *key)
{
	char path[XDEVD_PATH_LEN + 32];

	snprintf(path, sizeof(path), "%s/%s", dev->path, key);
	return xs_read(d->xs, XBT_NULL, path, NULL);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '\\')
			return false;
	return true;
}

/* params as the block script reads it: an absolute path, or a name under
 * /dev; false (the job failed, its message says why) otherwise. */
static bool vbd_inputs(struct xdevd *d, const struct device *dev,
		       struct native_job *job)
{
	char *params = node(d, dev, "params"), *mode = node(d, dev, "mode");
	bool ok = false;

	if (!params || !*params)
		native__fail(job, "cannot read %s/params: the backend names no "
			     "target", dev->path);
	else if (!printable(params) || strlen(params) > 1000)
		native__fail(job, "params contains control characters, "
			     "backslashes or non-ASCII bytes; refusing it");
	else if (strstr(params, "/../") || !strncmp(params, "../", 3) ||
		 (strlen(params) >= 3 &&
		  !strcmp(params + strlen(params) - 3, "/..")) ||
		 !strcmp(params, ".."))
		native__fail(job, "params '%s' contains a '..' component; "
			     "refusing it", params);
	else if (!mode || (strcmp(mode, "r") && strcmp(mode, "ro") &&
			   strcmp(mode, "w") && strcmp(mode, "rw")))
		native__fail(job, "mode '%s' of target '%s' is not r, ro, w or "
			     "rw", mode && printable(mode) ? mode : "?", params);
	else {
		snprintf(job->target, sizeof(job->target), "%s%s",
			 params[0] == '/' ? "" : "/dev/", params);
		job->writable = strchr(mode, 'w') != NULL;
		ok = true;
	}
	free(params);
	free(mode);
	return ok;
}

static bool vif_inputs(struct xdevd *d, const struct device *dev,
		       struct native_job *job)
{
	char *bridge = job->adding ? node(d, dev, "bridge") : NULL;
	char *mtu = job->adding ? node(d, dev, "mtu") : NULL;
	bool ok = false;
	size_t n;

	if (!job->adding)
		return true; /* offline needs the vif's name only */
	n = bridge ? strlen(bridge) : 0;
	if (!bridge)
		native__fail(job, "backend of interface %s names no bridge (no "
			     "bridge node)", job->ifname);
	else if (!n || n > 15 || strspn(bridge, IFNAME_CHARS) != n ||
		 !strcmp(bridge, ".") || !strcmp(bridge, ".."))
		native__fail(job, "bridge name '%s' for interface %s is not 1 "
			     "to 15 characters of A-Z a-z 0-9 _ . -",
			     printable(bridge) ? bridge : "?", job->ifname);
	else if (mtu && *mtu && (strspn(mtu, "0123456789") != strlen(mtu) ||
				 strlen(mtu) > 6))
		native__fail(job, "mtu '%s' for interface %s is not a number",
			     printable(mtu) ? mtu : "?", job->ifname);
	else {
		snprintf(job->bridge, sizeof(job->bridge), "%s", bridge);
		job->mtu = mtu && *mtu ? (unsigned)strtoul(mtu, NULL, 10) : 0;
		ok = true;
	}
	free(bridge);
	free(mtu);
	return ok;
}

static void job_name(const struct device *dev, char *buf, size_t n)
{
	snprintf(buf, n, "native %s %s/%" PRIu32 "/%" PRIu32,
		 dev->job->adding ? "add" : "remove",
		 dev->type == XDEVD_VBD ? "vbd" : "vif", dev->frontend,
		 dev->devid);
}

static void job_end(struct xdevd *d, struct device *dev, bool ok)
{
	char name[96], why[NATIVE_MSG_LEN];

	job_name(dev, name, sizeof(name));
	snprintf(why, sizeof(why), "%s", dev->job->message);
	native_drop(dev);
	hotplug_done(d, dev, name, ok ? NULL : why);
}

static void job_step(struct xdevd *d, struct device *dev)
{
	enum native_status s;
	int retry_ms;

	s = native_job_step(dev->job, now_ms(), &retry_ms);
	if (s != NATIVE_RETRY) {
		job_end(d, dev, s == NATIVE_DONE);
		return;
	}
	ev_timer_set(&dev->job_timer, retry_ms / 1000.0, 0);
	ev_timer_start(d->loop, &dev->job_timer);
}

static void job_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct device *dev = w->data;

	(void)loop;
	(void)revents;
	job_step(dev->script.d, dev);
}

static int env_ms(const char *name, int dflt)
{
	const char *v = getenv(name);
	size_t n = v ? strspn(v, "0123456789") : 0;

	return n && n <= 7 && !v[n] ? atoi(v) : dflt;
}

void native_run(struct xdevd *d, struct device *dev, bool adding)
{
	struct native_job *job = calloc(1, sizeof(*job));
	const char *lock = getenv("XDEV_HOTPLUG_LOCK_DIR");
	int timeout_ms = (int)(d->timeout_s * 1000);
	bool ok;

	if (!job) {
		hotplug_done(d, dev, "native", "out of memory");
		return;
	}
	dev->job = job;
	job->kind = dev->type == XDEVD_VBD ? NATIVE_VBD : NATIVE_VIF;
	job->adding = adding;
	job->xs = d->xs;
	snprintf(job->be, sizeof(job->be), "%s", dev->path);
	if (lock && lock[0] == '/' && strlen(lock) < sizeof(job->lock_dir))
		snprintf(job->lock_dir, sizeof(job->lock_dir), "%s", lock);
	job->release_wait_ms = env_ms("XDEV_BLOCK_RELEASE_WAIT_MS",
				      NATIVE_RELEASE_WAIT_MS);
	if (job->release_wait_ms > timeout_ms)
		job->release_wait_ms = timeout_ms;
	job->lock_wait_ms = timeout_ms < NATIVE_LOCK_WAIT_MS
				    ? timeout_ms : NATIVE_LOCK_WAIT_MS;
	snprintf(job->ifname, sizeof(job->ifname), "vif%" PRIu32 ".%" PRIu32,
		 dev->frontend, dev->devid);
	native_job_init(job);
	ev_timer_init(&dev->job_timer, job_timer_cb, 0, 0);
	dev->job_timer.data = dev;
	dev->script.d = d;
	/* a removal needs no node: the record file names its loop device */
	ok = !adding || (dev->type == XDEVD_VBD ? vbd_inputs(d, dev, job)
						: vif_inputs(d, dev, job));
	if (!ok) {
		job_end(d, dev, false);
		return;
	}
	xdevd_log(d, LOG_INFO, "%s: native %s (no script)", dev->path,
		  adding ? "add" : "remove");
	job_step(d, dev);
}

void native_drop(struct device *dev)
{
	if (!dev->job)
		return;
	if (dev->script.d)
		ev_timer_stop(dev->script.d->loop, &dev->job_timer);
	native_job_release(dev->job);
	free(dev->job);
	dev->job = NULL;
}
