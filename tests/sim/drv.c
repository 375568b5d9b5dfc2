/*
 * drv: the process that plays a domain's xenbus drivers (drv.h).
 *
 * One poll loop over the xenstore connection, a timerfd for delayed
 * transitions (the "slow" fault and the frontend's kexec timeouts), and
 * two signalfds: one for SIGTERM (ends the drivers) and SIGUSR1 (a guest
 * kexec), one for SIGUSR2 (the fault file changed, drv-fault.c).  Watch events are treated as
 * level-triggered: every event re-reads the device's nodes and computes the
 * next state, as the Linux drivers do ("we may miss the intermediate
 * value").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "drv.h"
#include "fakexen.h"
#include "xenbus-tx.h"

int64_t drv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void drv_log(struct drv *d, const char *fmt, ...)
{
	va_list ap;

	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "%lld.%03ld drv %u %s: ", (long long)ts.tv_sec,
		ts.tv_nsec / 1000000, d->domid,
		d->role == DRV_BACKEND ? "backend" : "frontend");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

char *drv_read(struct drv *d, const char *dir, const char *key)
{
	char path[256];
	unsigned len;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	return xs_read(d->xs, XBT_NULL, path, &len);
}

int drv_read_int(struct drv *d, const char *dir, const char *key, int dflt)
{
	char *v = drv_read(d, dir, key), *end;
	long n;

	if (!v)
		return dflt;
	n = strtol(v, &end, 10);
	if (end == v || *end)
		n = dflt;
	free(v);
	return (int)n;
}

/* An event on PATH, at or below device DEV's directory: true if it is the
 * directory itself or one of LEAVES (NULL-terminated), the nodes the
 * driver's state machine reads.  Linux's drivers watch those few nodes
 * (blkback physical-device, netback hotplug-status, the other end's state);
 * any other node below a known device costs what xenbus_dev_changed()
 * costs for it, one DIRECTORY to see that it exists, and nothing more.
 * Stepping the device on every node the toolstack and the driver itself
 * write re-read half a dozen nodes each time: about 180 requests per vbd
 * from the simulated blkback, most of xenstored's load in a storm. */
bool drv_event_wanted(struct drv *d, const struct drv_dev *dev,
		      const char *path, const char *const leaves[])
{
	size_t n = strlen(dev->path);
	unsigned i, num;
	char **ents;

	if (strncmp(path, dev->path, n) || path[n] != '/')
		return true;
	/* My own switch coming back: the step that wrote it has gone on
	 * from there already (Linux's drivers do not watch their own state
	 * at all; the toolstack's writes to it still count). */
	if (!strcmp(path + n + 1, "state") && dev->state_written)
		return drv_read_int(d, dev->path, "state", XB_UNKNOWN) !=
		       dev->state_written;
	for (i = 0; leaves[i]; i++)
		if (!strcmp(path + n + 1, leaves[i]))
			return true;
	ents = xs_directory(d->xs, XBT_NULL, path, &num);
	free(ents);
	return false;
}

bool drv_write(struct drv *d, const char *dir, const char *key,
	       const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (xs_write(d->xs, XBT_NULL, path, val, strlen(val)))
		return true;
	drv_log(d, "write %s: %s", path, strerror(errno));
	return false;
}

struct drv_tx {
	struct drv *d;
	bool (*body)(struct drv *d, xs_transaction_t t, void *arg);
	void *arg;
};

static int drv_tx_body(struct xs_handle *xs, xs_transaction_t t, void *arg)
{
	struct drv_tx *c = arg;

	(void)xs;
	return c->body(c->d, t, c->arg) ? 0 : -ECANCELED;
}

/* The library's loop (lib/xenbus-tx.h), without pauses: a driver's
 * transactions race only the toolstack's. */
bool drv_in_transaction(struct drv *d,
			bool (*body)(struct drv *d, xs_transaction_t t,
				     void *arg),
			void *arg)
{
	struct drv_tx c = { d, body, arg };

	return xenbus_transact(d->xs, drv_tx_body, &c, 20, 20) == 0;
}

struct state_switch {
	struct drv_dev *dev;
	int state;
};

/* Never onto a state node that has gone: the toolstack is tearing the
 * device down, and writing would resurrect its directory. */
static bool switch_state_in(struct drv *d, xs_transaction_t t, void *arg)
{
	const struct state_switch *sw = arg;
	char path[200], v[4], *cur;

	snprintf(path, sizeof(path), "%s/state", sw->dev->path);
	snprintf(v, sizeof(v), "%d", sw->state);
	cur = xs_read(d->xs, t, path, NULL);
	if (!cur) {
		drv_log(d, "%s: gone, not switching to %s", sw->dev->path,
			xenbus_state_name(sw->state));
		return false;
	}
	free(cur);
	return xs_write(d->xs, t, path, v, strlen(v));
}

/* As Linux's xenbus_switch_state(): in a transaction, and never onto a
 * state node that has gone. */
bool drv_set_state(struct drv *d, struct drv_dev *dev, int state)
{
	struct state_switch sw = { dev, state };

	if (!drv_in_transaction(d, switch_state_in, &sw))
		return false;
	dev->state_written = state;
	drv_log(d, "%s -> %s", dev->path, xenbus_state_name(state));
	return true;
}

/* As xenbus_dev_error(): the message goes to
 * /local/domain/<self>/error/<device path below the domain>/error. */
void drv_report_error(struct drv *d, struct drv_dev *dev, int err,
		      const char *msg)
{
	char dir[256], val[256];
	const char *rel = dev->path + strlen(d->base) + 1;

	snprintf(dir, sizeof(dir), "%s/error/%s", d->base, rel);
	snprintf(val, sizeof(val), "%d %s", err, msg);
	drv_write(d, dir, "error", val);
	drv_log(d, "%s: error %d %s", dev->path, err, msg);
}

struct drv_dev *drv_dev_find(struct drv *d, const char *type,
			     uint32_t other_domid, uint32_t devid)
{
	struct drv_dev *dev;

	for (dev = d->devs; dev; dev = dev->next)
		if (!strcmp(dev->type, type) && dev->devid == devid &&
		    dev->other_domid == other_domid)
			return dev;
	return NULL;
}

struct drv_dev *drv_dev_add(struct drv *d, const char *type,
			    uint32_t other_domid, uint32_t devid,
			    const char *dir, const char *other)
{
	struct drv_dev *dev = calloc(1, sizeof(*dev));
	char wpath[200];

	if (!dev)
		return NULL;
	snprintf(dev->type, sizeof(dev->type), "%s", type);
	dev->other_domid = other_domid;
	dev->devid = devid;
	dev->tap_fd = -1;
	snprintf(dev->path, sizeof(dev->path), "%s", dir);
	snprintf(dev->other, sizeof(dev->other), "%s", other);
	/* Linux's "otherend" watch: the other end's state drives ours. */
	snprintf(dev->watch_token, sizeof(dev->watch_token), "other:%s", dir);
	snprintf(wpath, sizeof(wpath), "%s/state", dev->other);
	if (!xs_watch(d->xs, wpath, dev->watch_token))
		drv_log(d, "watch %s: %s", wpath, strerror(errno));
	dev->next = d->devs;
	d->devs = dev;
	return dev;
}

void drv_dev_remove(struct drv *d, struct drv_dev *dev)
{
	struct drv_dev **p;

	for (p = &d->devs; *p; p = &(*p)->next)
		if (*p == dev) {
			*p = dev->next;
			break;
		}
	if (dev->watch_token[0]) {
		char wpath[200];

		snprintf(wpath, sizeof(wpath), "%s/state", dev->other);
		xs_unwatch(d->xs, wpath, dev->watch_token);
	}
	if (d->role == DRV_BACKEND)
		drv_backend_free(dev);
	free(dev);
}

bool drv_may_transition(struct drv *d, struct drv_dev *dev)
{
	struct drv_faults f;
	int64_t now = drv_now_ms();

	drv_faults_get(d, dev, &f);
	if (f.slow_ms <= 0)
		return true;
	if (dev->due_ms && now >= dev->due_ms) {
		dev->due_ms = 0;
		return true;
	}
	if (!dev->due_ms)
		dev->due_ms = now + f.slow_ms;
	return false;
}

bool drv_destroy_point(struct drv *d, struct drv_dev *dev, int state)
{
	struct drv_faults f;
	int r;

	drv_faults_get(d, dev, &f);
	if (f.destroy_at != state || d->domid == 0)
		return false;
	drv_log(d, "fault: destroying domain %u before %s", d->domid,
		xenbus_state_name(state));
	d->dying = true;
	r = drv_request_destroy(d->domid);
	if (r)
		drv_log(d, "destroy request failed: %s", strerror(-r));
	return true;
}

void drv_step(struct drv *d, struct drv_dev *dev)
{
	if (d->dying)
		return;
	if (d->role == DRV_BACKEND)
		drv_backend_step(d, dev);
	else
		drv_frontend_step(d, dev);
}

/* Arm the timerfd for the earliest pending deadline. */
static void arm_timer(struct drv *d, int tfd)
{
	struct itimerspec its = { 0 };
	int64_t first = 0, now = drv_now_ms();
	struct drv_dev *dev;

	for (dev = d->devs; dev; dev = dev->next) {
		int64_t t = dev->due_ms;

		if (drv_reset_waiting(dev) && (!t || dev->reset_deadline < t))
			t = dev->reset_deadline;
		if (t && (!first || t < first))
			first = t;
	}
	if (first) {
		int64_t ms = first > now ? first - now : 1;

		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000;
	}
	timerfd_settime(tfd, 0, &its, NULL);
}

static void on_timer(struct drv *d)
{
	int64_t now = drv_now_ms();
	struct drv_dev *dev, *next;

	for (dev = d->devs; dev; dev = next) {
		next = dev->next;
		if ((dev->due_ms && dev->due_ms <= now) ||
		    (drv_reset_waiting(dev) && dev->reset_deadline <= now))
			drv_step(d, dev);
	}
}

static void drain_watches(struct drv *d)
{
	char **ev;

	while ((ev = xs_check_watch(d->xs))) {
		drv_faults_check(d);
		if (!d->dying) {
			if (d->role == DRV_BACKEND)
				drv_backend_event(d, ev[XS_WATCH_PATH]);
			else
				drv_frontend_event(d, ev[XS_WATCH_PATH]);
		}
		free(ev);
	}
}

static int connect_store(struct drv *d)
{
	char sock[300];
	const char *dir = fakexen_dir();

	if (d->domid != 0) {
		snprintf(sock, sizeof(sock), "%s/xenbus/%u", dir, d->domid);
		setenv("XENSTORED_PATH", sock, 1);
	}
	d->xs = xs_open(0);
	return d->xs ? 0 : -errno;
}

static int setup(struct drv *d, sigset_t *sigs, int *sfd, int *tfd)
{
	int r;

	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, sigs, NULL);
	*sfd = signalfd(-1, sigs, SFD_CLOEXEC);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (*sfd < 0 || *tfd < 0)
		return -errno;
	if ((r = fakexen_attach(NULL)) || (r = connect_store(d)) ||
	    (r = drv_faults_init(d)))
		return r;
	return d->role == DRV_BACKEND ? drv_backend_watch(d)
				      : drv_frontend_watch(d);
}

static void teardown(struct drv *d)
{
	while (d->devs)
		drv_dev_remove(d, d->devs);
	free(d->fault_text);
	if (d->fault_fd >= 0)
		close(d->fault_fd);
	if (d->xs)
		xs_close(d->xs);
}

int sim_driver_run(uint32_t domid, enum drv_role role, int ready_fd)
{
	struct drv d = { .domid = domid, .role = role, .fault_fd = -1 };
	struct signalfd_siginfo si;
	struct pollfd p[4];
	int sfd = -1, tfd = -1, r;
	sigset_t sigs;

	snprintf(d.base, sizeof(d.base), "/local/domain/%u", domid);
	if ((r = setup(&d, &sigs, &sfd, &tfd))) {
		drv_log(&d, "cannot start: %s", strerror(-r));
		teardown(&d);
		return 1;
	}
	if (write(ready_fd, "R", 1) != 1 || close(ready_fd) < 0)
		drv_log(&d, "ready signal: %s", strerror(errno));
	for (;;) {
		p[0] = (struct pollfd){ .fd = xs_fileno(d.xs), .events = POLLIN };
		p[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[2] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		p[3] = (struct pollfd){ .fd = d.fault_fd, .events = POLLIN };
		arm_timer(&d, tfd);
		if (poll(p, 4, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGUSR1)
				break;
			if (role == DRV_FRONTEND && !d.dying)
				drv_frontend_kexec(&d);
		}
		if (p[3].revents)
			drv_faults_check(&d);
		if (p[2].revents) {
			uint64_t n;

			if (read(tfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
				break;
			on_timer(&d);
		}
		if (p[0].revents & (POLLERR | POLLHUP))
			break;
		drain_watches(&d);
	}
	teardown(&d);
	close(sfd);
	close(tfd);
	return 0;
}
