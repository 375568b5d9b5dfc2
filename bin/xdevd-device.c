/*
 * xdevd-device: what the daemon does for one backend device.
 *
 * Every decision is taken from the store as it is now (state, online,
 * hotplug-status), never from remembered events, so a burst of events, a
 * missed one or a restart all end the same way:
 *
 *   IDLE ──InitWait, online=1, no hotplug-status──> ADDING (add script)
 *     ^                                               │ exit: if it wrote no
 *     │                                               │ hotplug-status, write
 *     │<──────────────────────────────────────────────┘ error + hotplug-error
 *     │
 *     ├──Closed, online=0──> REMOVING (remove script) ──exit──> rm backend
 *     │                                                         directory
 *     └──directory deleted by someone else, add ran──> REMOVING ──> forget
 *
 * At most one script runs per device; an event that arrives meanwhile is
 * looked at when it ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#define NATIVE_WHY_LEN 600
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "hotplug-call.h"
#include "xdevd.h"
#include "xenbus-tx.h"
#include "xenbus.h"

static const char *const type_names[] = { [XDEVD_VBD] = "vbd",
					  [XDEVD_VIF] = "vif" };

static void device_step(struct xdevd *d, struct device *dev);

/* ---- the store ------------------------------------------------------------ */

static char *node_read(struct xdevd *d, const struct device *dev,
		       const char *node)
{
	char path[XDEVD_PATH_LEN + 32];

	snprintf(path, sizeof(path), "%s/%s", dev->path, node);
	return xs_read(d->xs, XBT_NULL, path, NULL);
}

/* The LEN bytes at V as a canonical decimal (no sign, blank or leading
 * zero) up to UINT32_MAX, else -1. */
static long long canonical(const char *v, size_t len)
{
	long long n = 0;
	size_t i;

	if (!len || len > 10 || (v[0] == '0' && len > 1))
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n <= UINT32_MAX ? n : -1;
}

/* A small number node (state, online); DFLT if missing or not a
 * canonical decimal. */
static int node_int(struct xdevd *d, const struct device *dev,
		    const char *node, int dflt)
{
	char *v = node_read(d, dev, node);
	long long n = v ? canonical(v, strlen(v)) : -1;

	free(v);
	return n < 0 || n > 255 ? dflt : (int)n;
}

static bool node_write(struct xdevd *d, const struct device *dev,
		       const char *node, const char *value)
{
	char path[XDEVD_PATH_LEN + 32];

	snprintf(path, sizeof(path), "%s/%s", dev->path, node);
	return xs_write(d->xs, XBT_NULL, path, value, strlen(value));
}

static bool dir_exists(struct xdevd *d, const struct device *dev)
{
	unsigned n;
	char **e = xs_directory(d->xs, XBT_NULL, dev->path, &n);

	free(e);
	return e != NULL;
}

/* ---- the device table ----------------------------------------------------- */

/* "<backend>/<type>/<fe>/<devid>[/...]" -> the device's key; false for
 * paths above the device level (or not ours). */
static bool parse_path(struct xdevd *d, const char *path,
		       enum xdevd_type *type, uint32_t *fe, uint32_t *devid)
{
	size_t bl = strlen(d->backend), an, bn;
	const char *p = path + bl + 1;
	long long a, b;

	if (strncmp(path, d->backend, bl) || path[bl] != '/')
		return false;
	if (!strncmp(p, "vbd/", 4))
		*type = XDEVD_VBD;
	else if (!strncmp(p, "vif/", 4))
		*type = XDEVD_VIF;
	else
		return false;
	/* canonical numbers only: the directory's name is the device's
	 * path, rebuilt from them */
	p += 4;
	an = strcspn(p, "/");
	if (p[an] != '/')
		return false;
	bn = strcspn(p + an + 1, "/");
	a = canonical(p, an);
	b = canonical(p + an + 1, bn);
	if (a < 0 || a >= 0x7ff0 || b < 0)
		return false;
	*fe = (uint32_t)a;
	*devid = (uint32_t)b;
	return true;
}

static struct device *device_find(struct xdevd *d, enum xdevd_type type,
				  uint32_t fe, uint32_t devid, bool create)
{
	struct device *dev;

	for (dev = d->devices; dev; dev = dev->next)
		if (dev->type == type && dev->frontend == fe &&
		    dev->devid == devid)
			return dev;
	if (!create || !(dev = calloc(1, sizeof(*dev))))
		return NULL;
	dev->type = type;
	dev->frontend = fe;
	dev->devid = devid;
	snprintf(dev->path, sizeof(dev->path), "%s/%s/%" PRIu32 "/%" PRIu32,
		 d->backend, type_names[type], fe, devid);
	dev->script.d = d;
	dev->script.out_fd = -1;
	dev->next = d->devices;
	d->devices = dev;
	return dev;
}

static void device_forget(struct xdevd *d, struct device *dev)
{
	struct device **p;

	for (p = &d->devices; *p; p = &(*p)->next)
		if (*p == dev) {
			*p = dev->next;
			native_drop(dev);
			free(dev);
			return;
		}
}

/* ---- the state directory ----------------------------------------------------
 *
 * One file per backend whose add script this daemon started, named
 * <type>-<frontend>-<devid> and holding that script's path: written
 * before the script starts (it may acquire something, a loop device, at
 * once), deleted once the remove script has run.  A daemon that comes
 * back after a crash or a restart reads it: a backend deleted meanwhile
 * (the toolstack's forced removal, or its timeout while no daemon
 * answered) still gets its remove script, with the script that added it.
 * The directory is the daemon's own (tmpfs: a reboot of the domain
 * releases everything anyway).
 */

static void state_file(const struct xdevd *d, const struct device *dev,
		       char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s-%" PRIu32 "-%" PRIu32, d->state_dir,
		 type_names[dev->type], dev->frontend, dev->devid);
}

static void state_remember(struct xdevd *d, const struct device *dev)
{
	char path[XDEVD_PATH_LEN + 64], tmp[XDEVD_PATH_LEN + 72];
	FILE *f;

	state_file(d, dev, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f || fprintf(f, "%s\n", dev->script_path) < 0 || fflush(f) ||
	    fsync(fileno(f)) || fclose(f) || rename(tmp, path)) {
		xdevd_log(d, LOG_ERR, "%s: cannot record it in %s: %s (a "
			  "restart would not release it)", dev->path, path,
			  strerror(errno));
		if (f)
			fclose(f);
		unlink(tmp);
	}
}

static void state_forget(struct xdevd *d, const struct device *dev)
{
	char path[XDEVD_PATH_LEN + 64];

	state_file(d, dev, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		xdevd_log(d, LOG_WARNING, "%s: cannot delete %s: %s", dev->path,
			  path, strerror(errno));
}

/* "<type>-<fe>-<devid>", canonical numbers only (a file of ours) */
static bool state_name_parse(const char *name, enum xdevd_type *type,
			     uint32_t *fe, uint32_t *devid)
{
	const char *p = name + 4, *dash;
	long long a, b;

	if (!strncmp(name, "vbd-", 4))
		*type = XDEVD_VBD;
	else if (!strncmp(name, "vif-", 4))
		*type = XDEVD_VIF;
	else
		return false;
	dash = strchr(p, '-');
	if (!dash)
		return false;
	a = canonical(p, (size_t)(dash - p));
	b = canonical(dash + 1, strlen(dash + 1));
	if (a < 0 || a >= 0x7ff0 || b < 0)
		return false;
	*fe = (uint32_t)a;
	*devid = (uint32_t)b;
	return true;
}

int device_state_load(struct xdevd *d)
{
	struct dirent *e;
	DIR *dir;

	if (mkdir(d->state_dir, 0700) && errno != EEXIST) {
		xdevd_log(d, LOG_ERR, "cannot make %s: %s", d->state_dir,
			  strerror(errno));
		return -1;
	}
	if (!(dir = opendir(d->state_dir))) {
		xdevd_log(d, LOG_ERR, "cannot read %s: %s", d->state_dir,
			  strerror(errno));
		return -1;
	}
	while ((e = readdir(dir))) {
		char path[XDEVD_PATH_LEN + 300], script[XDEVD_PATH_LEN + 64];
		enum xdevd_type type;
		uint32_t fe, devid;
		struct device *dev;
		FILE *f;

		if (!state_name_parse(e->d_name, &type, &fe, &devid))
			continue; /* ".", "..", a .tmp left half written */
		snprintf(path, sizeof(path), "%s/%s", d->state_dir, e->d_name);
		f = fopen(path, "re");
		if (!f || !fgets(script, sizeof(script), f) ||
		    (script[0] != '/' &&
		     strcmp(script, XDEVD_NATIVE "\n")) ||
		    !strchr(script, '\n')) {
			xdevd_log(d, LOG_WARNING, "%s: not a state file of "
				  "xdevd's; ignored", path);
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		*strchr(script, '\n') = 0;
		if (!(dev = device_find(d, type, fe, devid, true)))
			break;
		dev->remembered = true;
		snprintf(dev->script_path, sizeof(dev->script_path), "%s",
			 script);
		xdevd_log(d, LOG_DEBUG, "%s: its add script started before "
			  "this start (%s)", dev->path, script);
	}
	closedir(dir);
	return 0;
}

/* ---- scripts -------------------------------------------------------------- */

/* The script the toolstack chose (absolute, or a plain name in the hotplug
 * directory), else the type's default.  Anything else is refused. */
static int script_path(struct xdevd *d, struct device *dev, char *buf,
		       size_t n)
{
	char *s = node_read(d, dev, "script");
	const char *name = s ? s : dev->type == XDEVD_VBD ? "block"
							  : "vif-bridge";
	int r = 0;

	if (!s && dev->script_path[0]) {
		/* the backend is gone: the script that added it removes it */
		snprintf(buf, n, "%s", dev->script_path);
		return 0;
	}
	if (native_applies(d, dev, s)) {
		free(s);
		snprintf(buf, n, "%s", XDEVD_NATIVE);
		snprintf(dev->script_path, sizeof(dev->script_path), "%s",
			 XDEVD_NATIVE);
		return 0;
	}
	if (name[0] == '/' && !strstr(name, "/../") && !strstr(name, "/./"))
		snprintf(buf, n, "%s", name);
	else if (name[0] && strspn(name, "abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789_.-") == strlen(name) &&
		 strcmp(name, ".") && strcmp(name, ".."))
		snprintf(buf, n, "%s/%s", d->hotplug_dir, name);
	else
		r = -EINVAL;
	free(s);
	if (!r)
		snprintf(dev->script_path, sizeof(dev->script_path), "%s", buf);
	return r;
}

static void script_done(struct script *s, int status);
static void add_failed(struct xdevd *d, struct device *dev, const char *why);

/* Run the add or remove script with Xen's convention (lib/hotplug-call.h,
 * the library's too), plus XDEV_DOMID for xdev's scripts; false (logged,
 * reported) if it cannot. */
static bool run_script(struct xdevd *d, struct device *dev, bool adding)
{
	char path[XDEVD_PATH_LEN + 64], domid[32];
	struct hotplug_call call = {
		.script = path,
		.vif = dev->type == XDEVD_VIF,
		.adding = adding,
		.xenbus_path = dev->path,
		.base_path = d->backend,
		.frontend = dev->frontend,
		.devid = dev->devid,
		.extra = { domid, NULL },
	};
	int r;

	if (script_path(d, dev, path, sizeof(path))) {
		xdevd_log(d, LOG_ERR, "%s: refusing its script node", dev->path);
		if (adding)
			add_failed(d, dev, "xdevd: the script node is not a "
				   "plain name or an absolute path");
		return false;
	}
	if (!strcmp(path, XDEVD_NATIVE)) {
		if (adding)
			state_remember(d, dev); /* before it acquires */
		dev->phase = adding ? DEV_ADDING : DEV_REMOVING;
		native_run(d, dev, adding); /* may end at once */
		return true;
	}
	snprintf(domid, sizeof(domid), "XDEV_DOMID=%" PRIu32, d->self);
	if (hotplug_call_prepare(&call))
		return false;
	if (adding)
		state_remember(d, dev); /* before it can acquire anything */
	snprintf(dev->script.name, sizeof(dev->script.name), "%s %s %s/%u/%u",
		 strrchr(path, '/') + 1, call.argv[1], type_names[dev->type],
		 dev->frontend, dev->devid);
	dev->script.done = script_done;
	r = script_start(&dev->script, path, call.argv, call.envp);
	hotplug_call_release(&call);
	if (r) {
		xdevd_log(d, LOG_ERR, "%s: cannot run %s: %s", dev->path, path,
			  strerror(-r));
		return false;
	}
	xdevd_log(d, LOG_INFO, "%s: started", dev->script.name);
	dev->phase = adding ? DEV_ADDING : DEV_REMOVING;
	return true;
}

static void describe_failure(const struct script *s, int status, char *buf,
			     size_t n)
{
	if (s->timed_out)
		snprintf(buf, n, "%s timed out after %.0f s", s->name,
			 s->d->timeout_s);
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "%s killed by %s", s->name,
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, n, "%s exited with status %d", s->name,
			 WEXITSTATUS(status));
}

/* An add that failed without saying so still ends the toolstack's wait. */
static void add_failed(struct xdevd *d, struct device *dev, const char *why)
{
	char *st = node_read(d, dev, "hotplug-status");

	if ((!st || !*st) && dir_exists(d, dev)) {
		node_write(d, dev, "hotplug-error", why);
		node_write(d, dev, "hotplug-status", "error");
	}
	free(st);
}

/* backend/<type>/<fe> once its last device has gone, as libxl's path
 * cleanup does; a device added meanwhile makes the transaction fail and
 * the directory stays. */
static int remove_if_empty_in(struct xs_handle *xs, xs_transaction_t t,
			      void *arg)
{
	const char *parent = arg;
	unsigned n = 1;
	char **e = xs_directory(xs, t, parent, &n);

	free(e);
	if (!e || n) /* gone, or holds another device: nothing to do */
		return -ENOTEMPTY;
	return xs_rm(xs, t, parent) ? 0 : -(errno ? errno : EIO);
}

static void remove_empty_parent(struct xdevd *d, const struct device *dev)
{
	char parent[XDEVD_PATH_LEN];

	snprintf(parent, sizeof(parent), "%s", dev->path);
	*strrchr(parent, '/') = 0;
	xenbus_transact(d->xs, remove_if_empty_in, parent, 4, 4);
}

static void remove_backend_dir(struct xdevd *d, struct device *dev)
{
	/* EINVAL: its parent is gone too (C xenstored's answer) */
	if (!xs_rm(d->xs, XBT_NULL, dev->path) && errno != ENOENT &&
	    errno != EINVAL) {
		xdevd_log(d, LOG_ERR, "%s: cannot delete: %s", dev->path,
			  strerror(errno));
		return;
	}
	xdevd_log(d, LOG_INFO, "%s: removed", dev->path);
	remove_empty_parent(d, dev);
}

static void script_done(struct script *s, int status)
{
	struct device *dev = (struct device *)((char *)s -
					       offsetof(struct device, script));
	bool ok = !s->timed_out && WIFEXITED(status) && !WEXITSTATUS(status);
	char why[200];

	if (!ok)
		describe_failure(s, status, why, sizeof(why));
	hotplug_done(s->d, dev, s->name, ok ? NULL : why);
}

void hotplug_done(struct xdevd *d, struct device *dev, const char *name,
		  const char *failed)
{
	enum device_phase was = dev->phase;
	char why[NATIVE_WHY_LEN];

	dev->phase = DEV_IDLE;
	if (d->stopping) {
		/* our own SIGTERM: the next start-up runs it again */
		xdevd_log(d, LOG_INFO, "%s: interrupted by shutdown", name);
		return;
	}
	xdevd_log(d, failed ? LOG_WARNING : LOG_INFO, "%s: %s", name,
		  failed ? failed : "done");
	if (was == DEV_ADDING) {
		dev->added = true;
		snprintf(why, sizeof(why), "%s", failed ? failed : "");
		if (!failed)
			snprintf(why, sizeof(why), "%s wrote no hotplug-status",
				 name);
		add_failed(d, dev, why); /* only if no hotplug-status */
		device_step(d, dev);
		return;
	}
	/* removal: the directory goes only now, after the script */
	dev->added = dev->remembered = false;
	if (dir_exists(d, dev))
		remove_backend_dir(d, dev);
	state_forget(d, dev);
	device_forget(d, dev);
}

/* ---- decisions ------------------------------------------------------------ */

static void device_step(struct xdevd *d, struct device *dev)
{
	char *status;
	int state, online;

	if (dev->phase != DEV_IDLE) {
		dev->recheck = true;
		return;
	}
	dev->recheck = false;
	if (d->stopping)
		return;
	if (!dir_exists(d, dev)) {
		/* deleted under us (a forced removal): release what add
		 * acquired; the scripts find their own records */
		if ((!dev->added && !dev->remembered) ||
		    !run_script(d, dev, false))
			device_forget(d, dev);
		return;
	}
	state = node_int(d, dev, "state", 0);
	online = node_int(d, dev, "online", 0);
	status = node_read(d, dev, "hotplug-status");
	if (status && !*status) {
		/* written empty with the vif (netback holds Connected until
		 * the script fills it): not yet run */
		free(status);
		status = NULL;
	}
	if (status && !dev->added) {
		/* added before this daemon knew it (one without a state
		 * directory, an upgrade): remembered from now on */
		char path[XDEVD_PATH_LEN + 64];

		dev->added = true;
		if (!script_path(d, dev, path, sizeof(path)))
			state_remember(d, dev);
	}
	xdevd_log(d, LOG_DEBUG, "%s: state %d, online %d, hotplug-status %s%s",
		  dev->path, state, online, status ? status : "(none)",
		  dev->added ? ", added" : "");
	if (state == XB_CLOSED && online == 0)
		run_script(d, dev, false);
	else if (state == XB_INITWAIT && online == 1 && !status &&
		 !dev->added) /* a script that wrote nothing runs once */
		run_script(d, dev, true);
	free(status);
}

void device_changed(struct xdevd *d, const char *path)
{
	enum xdevd_type type;
	uint32_t fe, devid;
	struct device *dev;

	if (!parse_path(d, path, &type, &fe, &devid)) {
		/* the backend directory or a type/frontend level: a whole
		 * subtree may have gone */
		device_scan_all(d);
		return;
	}
	if ((dev = device_find(d, type, fe, devid, true)))
		device_step(d, dev);
	else
		xdevd_log(d, LOG_ERR, "out of memory for %s", path);
}

static void scan_frontend(struct xdevd *d, const char *tdir,
			  const char *fe)
{
	char path[XDEVD_PATH_LEN + 64];
	unsigned n, i;
	char **ids;

	snprintf(path, sizeof(path), "%s/%s", tdir, fe);
	if (!(ids = xs_directory(d->xs, XBT_NULL, path, &n)))
		return;
	for (i = 0; i < n; i++) {
		char dpath[XDEVD_PATH_LEN + 128];
		enum xdevd_type type;
		uint32_t fe_id, devid;

		/* not a device's name: not ours (and device_changed would
		 * scan again) */
		snprintf(dpath, sizeof(dpath), "%s/%s", path, ids[i]);
		if (strlen(dpath) < XDEVD_PATH_LEN &&
		    parse_path(d, dpath, &type, &fe_id, &devid))
			device_changed(d, dpath);
	}
	free(ids);
}

/* Look at every device in the store, and at every known one that is gone
 * from it: the start-up replay, and the answer to any event above the
 * device level. */
void device_scan_all(struct xdevd *d)
{
	static const char *const types[] = { "vbd", "vif" };
	struct device *dev, *next;
	char path[XDEVD_PATH_LEN];
	unsigned n, i, t;
	char **fes;

	for (t = 0; t < 2; t++) {
		snprintf(path, sizeof(path), "%s/%s", d->backend, types[t]);
		if (!(fes = xs_directory(d->xs, XBT_NULL, path, &n)))
			continue;
		for (i = 0; i < n; i++)
			scan_frontend(d, path, fes[i]);
		free(fes);
	}
	for (dev = d->devices; dev; dev = next) {
		next = dev->next;
		if (dev->phase == DEV_IDLE && !dir_exists(d, dev))
			device_step(d, dev);
	}
}

/* ---- shutdown ------------------------------------------------------------- */

int device_running_scripts(struct xdevd *d)
{
	struct device *dev;
	int n = 0;

	for (dev = d->devices; dev; dev = dev->next)
		n += dev->script.pid != 0 || dev->job != NULL;
	return n;
}

void device_stop_all(struct xdevd *d)
{
	struct device *dev;

	for (dev = d->devices; dev; dev = dev->next) {
		script_terminate(&dev->script);
		/* a native job waits (the lock, the kernel): the state file
		 * keeps what it owes for the next start */
		if (dev->job) {
			native_drop(dev);
			dev->phase = DEV_IDLE;
		}
	}
}

void device_free_all(struct xdevd *d)
{
	while (d->devices)
		device_forget(d, d->devices);
}
