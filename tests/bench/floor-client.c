/*
 * floor-client: the protocol floor (floor-client.h): the Xen device
 * protocol for a storm of vbds, and nothing more.
 *
 * One connection to xenstored, one watch for the whole storm, on
 * /local/domain/0/backend/vbd: every wait of the protocol is on a backend
 * node (state, hotplug-status), so no frontend needs watching.  An event
 * on a device's "state" or "hotplug-status" is followed by one read of
 * that node, and only while the device waits for it; every other event
 * (the transaction's own writes, the drivers' other nodes, the script's
 * physical-device) costs nothing but its delivery.
 *
 * The scripts: posix_spawn (no watcher process), stdin /dev/null, stdout
 * to our stderr (stdout is the bench's JSON), Xen's calling convention
 * as lib/hotplug-call.c passes it (argv: script, add|remove; environment:
 * ours, with XENBUS_PATH (relative to dom0), XENBUS_TYPE, XENBUS_BASE_PATH
 * and script).  A pidfd per running script, in the same epoll set as the
 * watch's fd, says when to waitpid() it: never waitpid(-1), which would
 * reap the simulated host's processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xenstore.h>

#include "bench-host.h"
#include "floor-client.h"

extern char **environ;

#define BE_ROOT "/local/domain/0/backend/vbd"
#define SAFETY_S 900.0 /* a bound, not a timeout of the protocol */

enum step {
	IDLE,
	WAIT_INITWAIT,   /* add: transaction written */
	WAIT_CONNECTED,  /* add: script started, hotplug-status awaited */
	WAIT_CLOSED,     /* remove: transaction written */
	SCRIPT_REMOVE,   /* remove: script running */
	DONE,
};

struct fdev {
	uint32_t frontend, devid;
	char vdev[16];
	char fe[96], be[96];
	enum step step;
	bool complete, failed;
	pid_t pid;       /* its script, until reaped */
	int pidfd;
	double t_issue, t_done;
};

struct floor_client {
	int n;
	struct fdev *d;
	int *order;      /* indices sorted by (frontend, devid) */
	char target[256], script_path[512], script_node[64];
	char physdev[32]; /* no script: TARGET's major:minor, in hex */
	char **env;      /* environ without the convention's names */
	int nenv;
	struct xs_handle *xs;
	int ep;
	bool watching;
	int pending;     /* devices not yet complete */
	int running;     /* scripts not yet reaped */
	int retries;
	double last_reap;
};

static bool convention_name(const char *var)
{
	static const char *const names[] = { "XENBUS_PATH=", "XENBUS_TYPE=",
					     "XENBUS_BASE_PATH=", "script=",
					     "vif=", NULL };
	int i;

	for (i = 0; names[i]; i++)
		if (!strncmp(var, names[i], strlen(names[i])))
			return true;
	return false;
}

struct floor_client *floor_new(int n, const char *target,
			       const char *script_path,
			       const char *script_node)
{
	struct floor_client *fc = calloc(1, sizeof(*fc));
	int i, k = 0;

	if (!fc || !(fc->d = calloc(n, sizeof(*fc->d))) ||
	    !(fc->order = calloc(n, sizeof(*fc->order))))
		die("floor: out of memory");
	fc->n = n;
	snprintf(fc->target, sizeof(fc->target), "%s", target);
	snprintf(fc->script_path, sizeof(fc->script_path), "%s",
		 script_path ? script_path : "");
	snprintf(fc->script_node, sizeof(fc->script_node), "%s",
		 script_path ? script_node : "");
	if (!script_path) {
		struct stat st;

		if (stat(target, &st) < 0 || !S_ISBLK(st.st_mode))
			die("floor: %s: not a block device", target);
		snprintf(fc->physdev, sizeof(fc->physdev), "%x:%x",
			 major(st.st_rdev), minor(st.st_rdev));
	}
	for (i = 0; environ[i]; i++)
		;
	fc->env = calloc(i + 5, sizeof(*fc->env));
	if (!fc->env)
		die("floor: out of memory");
	for (i = 0; environ[i]; i++)
		if (!convention_name(environ[i]))
			fc->env[k++] = environ[i];
	fc->nenv = k;
	fc->ep = epoll_create1(EPOLL_CLOEXEC);
	if (fc->ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < n; i++)
		fc->d[i].pidfd = -1;
	return fc;
}

void floor_set(struct floor_client *fc, int i, uint32_t frontend,
	       uint32_t devid, const char *vdev)
{
	struct fdev *d = &fc->d[i];

	d->frontend = frontend;
	d->devid = devid;
	snprintf(d->vdev, sizeof(d->vdev), "%s", vdev);
	snprintf(d->fe, sizeof(d->fe), "/local/domain/%u/device/vbd/%u",
		 frontend, devid);
	snprintf(d->be, sizeof(d->be), BE_ROOT "/%u/%u", frontend, devid);
}

static int cmp_dev(const void *a, const void *b, void *arg)
{
	const struct floor_client *fc = arg;
	const struct fdev *x = &fc->d[*(const int *)a],
			  *y = &fc->d[*(const int *)b];

	if (x->frontend != y->frontend)
		return x->frontend < y->frontend ? -1 : 1;
	return x->devid < y->devid ? -1 : x->devid > y->devid;
}

static struct fdev *lookup(struct floor_client *fc, uint32_t fe, uint32_t id)
{
	int lo = 0, hi = fc->n - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		struct fdev *d = &fc->d[fc->order[mid]];

		if (d->frontend == fe && d->devid == id)
			return d;
		if (d->frontend < fe || (d->frontend == fe && d->devid < id))
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static void connect_store(struct floor_client *fc)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	int i;

	if (fc->xs)
		return;
	for (i = 0; i < fc->n; i++)
		fc->order[i] = i;
	qsort_r(fc->order, fc->n, sizeof(*fc->order), cmp_dev, fc);
	fc->xs = xs_open(0);
	if (!fc->xs)
		die("floor: xs_open: %s", strerror(errno));
	if (epoll_ctl(fc->ep, EPOLL_CTL_ADD, xs_fileno(fc->xs), &ev))
		die("floor: epoll_ctl: %s", strerror(errno));
}

/* ---- one device's steps ------------------------------------------------ */

static void complete(struct floor_client *fc, struct fdev *d, bool ok)
{
	if (d->complete)
		return;
	d->complete = true;
	d->failed = !ok;
	d->t_done = now();
	fc->pending--;
}

static bool put(struct floor_client *fc, xs_transaction_t tx,
		const char *dir, const char *key, const char *value)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	return xs_write(fc->xs, tx, path, value, strlen(value));
}

/* The add's transaction: lib/device.c's vbd_frontend() and vbd_backend()
 * for a disk without format, access or devtype, and op-add.c's
 * permissions (each directory made, its permissions set, its keys
 * inheriting them).  0 or -EAGAIN. */
static int add_tx(struct floor_client *fc, struct fdev *d)
{
	struct xs_permissions fperm[2] = { { d->frontend, XS_PERM_NONE },
					   { 0, XS_PERM_READ } };
	struct xs_permissions bperm[2] = { { 0, XS_PERM_NONE },
					   { d->frontend, XS_PERM_READ } };
	char fe_id[16], devid[16];
	xs_transaction_t tx = xs_transaction_start(fc->xs);
	bool ok;

	if (tx == XBT_NULL)
		die("floor: transaction_start: %s", strerror(errno));
	snprintf(fe_id, sizeof(fe_id), "%u", d->frontend);
	snprintf(devid, sizeof(devid), "%u", d->devid);
	ok = xs_mkdir(fc->xs, tx, d->fe) &&
	     xs_set_permissions(fc->xs, tx, d->fe, fperm, 2) &&
	     put(fc, tx, d->fe, "backend", d->be) &&
	     put(fc, tx, d->fe, "backend-id", "0") &&
	     put(fc, tx, d->fe, "virtual-device", devid) &&
	     put(fc, tx, d->fe, "device-type", "disk") &&
	     put(fc, tx, d->fe, "state", "1") &&
	     xs_mkdir(fc->xs, tx, d->be) &&
	     xs_set_permissions(fc->xs, tx, d->be, bperm, 2) &&
	     put(fc, tx, d->be, "frontend", d->fe) &&
	     put(fc, tx, d->be, "frontend-id", fe_id) &&
	     put(fc, tx, d->be, "params", fc->target) &&
	     (!fc->script_node[0] ||
	      put(fc, tx, d->be, "script", fc->script_node)) &&
	     put(fc, tx, d->be, "mode", "w") &&
	     put(fc, tx, d->be, "type",
		 strncmp(fc->target, "/dev/", 5) ? "file" : "phy") &&
	     put(fc, tx, d->be, "dev", d->vdev) &&
	     put(fc, tx, d->be, "device-type", "disk") &&
	     put(fc, tx, d->be, "removable", "0") &&
	     put(fc, tx, d->be, "bootable", "1") &&
	     put(fc, tx, d->be, "discard-enable", "0") &&
	     put(fc, tx, d->be, "online", "1") &&
	     put(fc, tx, d->be, "state", "1");
	if (!ok)
		die("floor: writing %s: %s", d->be, strerror(errno));
	if (xs_transaction_end(fc->xs, tx, false))
		return 0;
	if (errno != EAGAIN)
		die("floor: transaction_end: %s", strerror(errno));
	return -EAGAIN;
}

/* The removal's transaction: online=0, state=Closing.  0 or -EAGAIN. */
static int remove_tx(struct floor_client *fc, struct fdev *d)
{
	xs_transaction_t tx = xs_transaction_start(fc->xs);

	if (tx == XBT_NULL)
		die("floor: transaction_start: %s", strerror(errno));
	if (!put(fc, tx, d->be, "online", "0") ||
	    !put(fc, tx, d->be, "state", "5"))
		die("floor: writing %s: %s", d->be, strerror(errno));
	if (xs_transaction_end(fc->xs, tx, false))
		return 0;
	if (errno != EAGAIN)
		die("floor: transaction_end: %s", strerror(errno));
	return -EAGAIN;
}

/* No script (SCRIPT_PATH NULL): what native hotplug does for a block
 * device, in this process - physical-device and hotplug-status in one
 * transaction, then complete; a removal deletes the directories at once.
 * The floor of an add or a removal when hotplug itself costs nothing. */
static void hotplug_in_process(struct floor_client *fc, struct fdev *d,
			       bool add)
{
	xs_transaction_t tx;

	if (!add) {
		xs_rm(fc->xs, XBT_NULL, d->fe);
		xs_rm(fc->xs, XBT_NULL, d->be);
		d->step = DONE;
		complete(fc, d, true);
		return;
	}
	do {
		tx = xs_transaction_start(fc->xs);
		if (tx == XBT_NULL)
			die("floor: transaction_start: %s", strerror(errno));
		if (!put(fc, tx, d->be, "physical-device", fc->physdev) ||
		    !put(fc, tx, d->be, "hotplug-status", "connected"))
			die("floor: writing %s: %s", d->be, strerror(errno));
		if (xs_transaction_end(fc->xs, tx, false))
			break;
		if (errno != EAGAIN)
			die("floor: transaction_end: %s", strerror(errno));
		fc->retries++;
	} while (1);
	d->step = WAIT_CONNECTED;
	complete(fc, d, true);
}

static void spawn_script(struct floor_client *fc, struct fdev *d,
			 const char *action)
{
	char xp[96], sp[560];
	char *argv[] = { fc->script_path, (char *)action, NULL };
	struct epoll_event ev = { .events = EPOLLIN };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	int k = fc->nenv, r;

	snprintf(xp, sizeof(xp), "XENBUS_PATH=backend/vbd/%u/%u", d->frontend,
		 d->devid);
	snprintf(sp, sizeof(sp), "script=%s", fc->script_path);
	fc->env[k++] = xp;
	fc->env[k++] = "XENBUS_TYPE=vbd";
	fc->env[k++] = "XENBUS_BASE_PATH=backend";
	fc->env[k++] = sp;
	fc->env[k] = NULL;
	sigemptyset(&none);
	if (posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
					     0) ||
	    posix_spawn_file_actions_adddup2(&fa, 2, 1) ||
	    posix_spawnattr_init(&at) ||
	    posix_spawnattr_setsigmask(&at, &none) ||
	    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK))
		die("floor: posix_spawn attributes");
	r = posix_spawn(&d->pid, fc->script_path, &fa, &at, argv, fc->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	fc->env[fc->nenv] = NULL;
	if (r)
		die("floor: cannot run %s: %s", fc->script_path, strerror(r));
	/* an exited child not yet reaped still has its pidfd */
	d->pidfd = (int)syscall(SYS_pidfd_open, d->pid, 0);
	if (d->pidfd < 0)
		die("floor: pidfd_open: %s", strerror(errno));
	ev.data.u64 = (uint64_t)(d - fc->d);
	if (epoll_ctl(fc->ep, EPOLL_CTL_ADD, d->pidfd, &ev))
		die("floor: epoll_ctl: %s", strerror(errno));
	fc->running++;
}

static int read_int(struct floor_client *fc, const char *dir, const char *key,
		    bool *gone)
{
	char path[160], *v;
	int s;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	v = xs_read(fc->xs, XBT_NULL, path, NULL);
	*gone = !v;
	s = v ? atoi(v) : 0;
	free(v);
	return s;
}

/* An event on NODE of device D's backend. */
static void on_node(struct floor_client *fc, struct fdev *d, const char *node)
{
	char path[160], *v;
	bool gone;
	int st;

	switch (d->step) {
	case WAIT_INITWAIT:
		if (strcmp(node, "state"))
			return;
		st = read_int(fc, d->be, "state", &gone);
		if (gone || st >= 5) {
			msg("floor: %s: state %d before InitWait", d->be, st);
			d->step = DONE;
			complete(fc, d, false);
		} else if (st >= 2 && !fc->script_path[0]) {
			hotplug_in_process(fc, d, true);
		} else if (st >= 2) { /* InitWait, or past it already */
			d->step = WAIT_CONNECTED;
			spawn_script(fc, d, "add");
		}
		return;
	case WAIT_CONNECTED:
		if (strcmp(node, "hotplug-status") || d->complete)
			return;
		snprintf(path, sizeof(path), "%s/hotplug-status", d->be);
		v = xs_read(fc->xs, XBT_NULL, path, NULL);
		if (v && !strcmp(v, "connected"))
			complete(fc, d, true);
		else if (v && !strcmp(v, "error")) {
			msg("floor: %s: hotplug-status=error", d->be);
			complete(fc, d, false);
		}
		free(v);
		return;
	case WAIT_CLOSED:
		if (strcmp(node, "state"))
			return;
		st = read_int(fc, d->be, "state", &gone);
		if (gone) {
			msg("floor: %s vanished", d->be);
			d->step = DONE;
			complete(fc, d, false);
		} else if (st == 6 && !fc->script_path[0]) {
			hotplug_in_process(fc, d, false);
		} else if (st == 6) {
			d->step = SCRIPT_REMOVE;
			spawn_script(fc, d, "remove");
		}
		return;
	default:
		return;
	}
}

/* Device D's script exited: reap it. */
static void on_exit_of(struct floor_client *fc, struct fdev *d)
{
	int status;

	if (d->pid <= 0)
		return; /* reaped already (no stale event since EPOLL_CTL_DEL) */
	if (waitpid(d->pid, &status, WNOHANG) != d->pid)
		return; /* not yet (a pidfd is readable only at the exit) */
	/* Out of the epoll set explicitly: close() alone leaves it there
	 * while another reference to the pidfd lives, and one does: a script
	 * just spawned holds copies of our (close-on-exec) pidfds until its
	 * exec's deferred fput, after posix_spawn has returned.  Such a stale
	 * event, level-triggered, once made waitpid(0) reap nothing and
	 * count a script gone on every loop. */
	epoll_ctl(fc->ep, EPOLL_CTL_DEL, d->pidfd, NULL);
	close(d->pidfd);
	d->pidfd = -1;
	d->pid = 0;
	fc->running--;
	fc->last_reap = now();
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		msg("floor: %s: script %s with %d", d->be,
		    WIFEXITED(status) ? "exited" : "killed by signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (d->step == WAIT_CONNECTED) {
		/* complete at hotplug-status=connected, whose event may come
		 * after the exit */
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			complete(fc, d, false);
	} else if (d->step == SCRIPT_REMOVE) {
		xs_rm(fc->xs, XBT_NULL, d->fe);
		xs_rm(fc->xs, XBT_NULL, d->be);
		d->step = DONE;
		complete(fc, d, !WIFEXITED(status) ? false
			 : WEXITSTATUS(status) == 0);
	}
}

static void on_watch(struct floor_client *fc)
{
	char **w;

	while ((w = xs_check_watch(fc->xs))) {
		const char *p = w[XS_WATCH_PATH];
		const char *rel = p + sizeof(BE_ROOT); /* past BE_ROOT "/" */
		unsigned fe, id;
		int off = 0;

		if (!strncmp(p, BE_ROOT "/", sizeof(BE_ROOT)) &&
		    sscanf(rel, "%u/%u/%n", &fe, &id, &off) == 2 && off > 0) {
			struct fdev *d = lookup(fc, fe, id);

			if (d)
				on_node(fc, d, rel + off);
		}
		free(w);
	}
	if (errno != EAGAIN)
		die("floor: xs_check_watch: %s", strerror(errno));
}

/* Until every device is complete and every script reaped. */
static void run(struct floor_client *fc, double t0)
{
	struct epoll_event ev[64];

	while ((fc->pending > 0 || fc->running > 0) &&
	       now() - t0 < SAFETY_S) {
		int i, k = epoll_wait(fc->ep, ev, 64, 1000);

		if (k < 0 && errno != EINTR)
			die("floor: epoll_wait: %s", strerror(errno));
		for (i = 0; i < k; i++)
			if (ev[i].data.u64 == UINT64_MAX)
				on_watch(fc);
			else
				on_exit_of(fc, &fc->d[ev[i].data.u64]);
	}
	if (fc->pending > 0 || fc->running > 0)
		msg("floor: %d devices not complete, %d scripts running after "
		    "%.0f s", fc->pending, fc->running, SAFETY_S);
}

static void result(struct floor_client *fc, double t0, struct floor_result *r)
{
	double *lat = calloc(fc->n, sizeof(double)), last = t0;
	int i;

	if (!lat)
		die("floor: out of memory");
	memset(r, 0, sizeof(*r));
	for (i = 0; i < fc->n; i++) {
		struct fdev *d = &fc->d[i];

		if (!d->complete || d->failed)
			r->failed++;
		if (d->complete && d->t_done > last)
			last = d->t_done;
		lat[i] = d->complete ? d->t_done - d->t_issue : now() - t0;
	}
	r->wall_s = last - t0;
	r->reaped_s = (fc->last_reap > last ? fc->last_reap : last) - t0;
	r->p50_s = pct(lat, fc->n, 0.5);
	r->max_s = pct(lat, fc->n, 1);
	r->retries = fc->retries;
	fc->retries = 0;
	free(lat);
}

static void start_phase(struct floor_client *fc)
{
	int i;

	for (i = 0; i < fc->n; i++) {
		fc->d[i].complete = fc->d[i].failed = false;
		fc->d[i].step = IDLE;
	}
	fc->pending = fc->n;
	fc->last_reap = 0;
}

void floor_add(struct floor_client *fc, struct floor_result *r)
{
	double t0;
	int i;

	connect_store(fc);
	start_phase(fc);
	t0 = now();
	/* the storm's one watch (its first event, on the path itself, is
	 * ignored) */
	if (!fc->watching && !xs_watch(fc->xs, BE_ROOT, "floor"))
		die("floor: xs_watch: %s", strerror(errno));
	fc->watching = true;
	for (i = 0; i < fc->n; i++) {
		struct fdev *d = &fc->d[i];

		d->t_issue = now();
		while (add_tx(fc, d) == -EAGAIN)
			fc->retries++;
		d->step = WAIT_INITWAIT;
	}
	run(fc, t0);
	result(fc, t0, r);
}

void floor_remove(struct floor_client *fc, struct floor_result *r)
{
	double t0;
	int i;

	connect_store(fc);
	start_phase(fc);
	t0 = now();
	for (i = 0; i < fc->n; i++) {
		struct fdev *d = &fc->d[i];

		d->t_issue = now();
		while (remove_tx(fc, d) == -EAGAIN)
			fc->retries++;
		d->step = WAIT_CLOSED;
	}
	run(fc, t0);
	if (fc->watching && !xs_unwatch(fc->xs, BE_ROOT, "floor"))
		msg("floor: xs_unwatch: %s", strerror(errno));
	fc->watching = false;
	result(fc, t0, r);
}

void floor_free(struct floor_client *fc)
{
	int i;

	if (!fc)
		return;
	for (i = 0; i < fc->n; i++)
		if (fc->d[i].pid > 0) { /* after the safety bound only */
			kill(fc->d[i].pid, SIGKILL);
			waitpid(fc->d[i].pid, NULL, 0);
			close(fc->d[i].pidfd);
		}
	if (fc->xs)
		xs_close(fc->xs);
	close(fc->ep);
	free(fc->env);
	free(fc->order);
	free(fc->d);
	free(fc);
}
