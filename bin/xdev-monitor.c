/*
 * monitor: device events as they happen, until interrupted.
 *
 * Two sources.  The library reports what it sees of the devices it lists
 * (xdev_device_list marks them monitored): backend state changes and
 * DEVICE_GONE.  Our own watch on each domain's /local/domain/<id>/device
 * reports what the library cannot know: devices added later (we list the
 * domain again), frontend state changes, devices removed.  With no domain
 * named, @introduceDomain brings new domains in.  @releaseDomain ends a
 * domain's monitoring.
 *
 * Each change is printed once: we keep the last states printed per
 * device, and a listing that finds a state the events have not shown
 * yet prints it as a state event (a listing updates the library's view
 * silently).  A device whose backend vanishes while the backend domain
 * lives, or after it was asked to close, is reported "removed" (a
 * toolstack's detach); one whose backend domain died, "gone".  Not the
 * last states printed alone: a monitor that falls behind may not have
 * printed the Closing that preceded a detach.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <xenstore.h>

#include "xdev-cli.h"

struct mdev {
	struct mdev *next;
	xdev_device_id id;
	int fe_state, be_state;    /* as last printed */
};

struct mdom {
	struct mdom *next;
	struct dom dom;
	struct mdev *devs;
};

struct monitor {
	struct run run;
	const struct cli *cli;
	struct xs_handle *xs;
	ev_io io;
	bool all;                  /* no domain named: every domain */
	struct mdom *doms;
};

/* ---- printing ---------------------------------------------------------------- */

static double now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static void add_state(json_object *o, const char *key, int state)
{
	char name[40];

	snprintf(name, sizeof(name), "%s_name", key);
	json_object_object_add(o, key, json_object_new_int(state));
	json_object_object_add(o, name, json_object_new_string(
		xenbus_state_name(state)));
}

/* One event: a JSON object per line with -j, else a line of text. */
static void emit(struct monitor *m, const char *event, const struct mdom *md,
		 const struct mdev *d, const char *end)
{
	json_object *o;

	if (!m->cli->json) {
		char name[sizeof(md->dom.name) * 4];

		printf("%-7s %s (%u)", event,
		       term_escape(md->dom.name, name, sizeof(name)),
		       md->dom.domid);
		if (d)
			printf(" %s %u backend %u%s%s: frontend %s, backend %s",
			       dev_type_name(d->id.type), d->id.devid,
			       d->id.backend_domid, end ? ", changed: " : "",
			       end ? end : "", xenbus_state_name(d->fe_state),
			       xenbus_state_name(d->be_state));
		putchar('\n');
		fflush(stdout);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "time", json_object_new_double(now()));
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "domid", json_object_new_int64(md->dom.domid));
	json_object_object_add(o, "domain", json_text(md->dom.name));
	if (d) {
		json_object_object_add(o, "type", json_object_new_string(
			dev_type_name(d->id.type)));
		json_object_object_add(o, "devid", json_object_new_int64(d->id.devid));
		json_object_object_add(o, "backend_domid",
				       json_object_new_int64(d->id.backend_domid));
		add_state(o, "frontend_state", d->fe_state);
		add_state(o, "backend_state", d->be_state);
		if (end)
			json_object_object_add(o, "end", json_object_new_string(end));
	}
	out_json(out_ok(o), true);
	json_object_put(o);
}

/* ---- what we know ------------------------------------------------------------ */

static struct mdom *find_dom(struct monitor *m, uint32_t domid)
{
	struct mdom *md;

	for (md = m->doms; md; md = md->next)
		if (md->dom.domid == domid)
			return md;
	return NULL;
}

static struct mdev *find_dev(struct mdom *md, const xdev_device_id *id)
{
	struct mdev *d;

	for (d = md ? md->devs : NULL; d; d = d->next)
		if (!memcmp(&d->id, id, sizeof(*id)))
			return d;
	return NULL;
}

static void drop_dev(struct mdom *md, struct mdev *d)
{
	struct mdev **p;

	for (p = &md->devs; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			break;
		}
	free(d);
}

/* The guest writes it: a canonical xenbus state (0 .. 8), else 0
 * (Unknown), as the library reads it. */
static int frontend_state(struct monitor *m, const struct mdev *d)
{
	char fe[96], *v;
	unsigned long long st;

	snprintf(fe, sizeof(fe), "/local/domain/%u/device/%s/%u",
		 d->id.frontend_domid, dev_type_name(d->id.type), d->id.devid);
	v = store_read(m->xs, fe, "state");
	if (parse_uint(v, 8, &st))
		st = 0;
	free(v);
	return (int)st;
}

/* ---- listing a domain ---------------------------------------------------------- */

static void domain_gone(struct monitor *m, struct mdom *md);

static void update(struct monitor *m, struct mdom *md,
		   const xdev_device_info *info, const char *first)
{
	struct mdev *d = find_dev(md, &info->id);

	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d)
			return;
		d->id = info->id;
		d->fe_state = info->frontend_state;
		d->be_state = info->backend_state;
		d->next = md->devs;
		md->devs = d;
		emit(m, first, md, d, NULL);
		return;
	}
	if (d->fe_state != info->frontend_state) {
		d->fe_state = info->frontend_state;
		emit(m, "state", md, d, "frontend");
	}
	if (d->be_state != info->backend_state) {
		d->be_state = info->backend_state;
		emit(m, "state", md, d, "backend");
	}
}

static bool listed(const xdev_device_info *v, unsigned n, const struct mdev *d)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (!memcmp(&v[i].id, &d->id, sizeof(d->id)))
			return true;
	return false;
}

/* List MD's devices again: new ones are printed as FIRST ("present" at
 * start, "added" later), vanished ones as removed. */
static void rescan(struct monitor *m, struct mdom *md, const char *first)
{
	xdev_device_info *v = NULL;
	struct mdev *d, *next;
	unsigned n = 0, i;
	int r = xdev_device_list(m->run.ctx, md->dom.domid, &v, &n);

	if (r == XDEV_E_DOMAIN_NOT_FOUND) {
		domain_gone(m, md);
		return;
	}
	if (r < 0) {
		cli_warn("listing %s (%u): %s", md->dom.name, md->dom.domid,
			 xdev_strerror(r));
		return;
	}
	for (i = 0; i < n; i++)
		update(m, md, &v[i], first);
	for (d = md->devs; d; d = next) {
		next = d->next;
		if (!listed(v, n, d)) {
			emit(m, "removed", md, d, NULL);
			drop_dev(md, d);
		}
	}
	free(v);
}

/* ---- domains --------------------------------------------------------------- */

static void watch_path(const struct mdom *md, char *buf, size_t n)
{
	snprintf(buf, n, "/local/domain/%u/device", md->dom.domid);
}

static struct mdom *add_dom(struct monitor *m, const struct dom *dom)
{
	struct mdom *md = calloc(1, sizeof(*md));
	char path[64];

	if (!md)
		return NULL;
	md->dom = *dom;
	watch_path(md, path, sizeof(path));
	/* the token is the path: events name the domain by it */
	if (!xs_watch(m->xs, path, path)) {
		cli_warn("cannot watch %s: %s", path, strerror(errno));
		free(md);
		return NULL;
	}
	md->next = m->doms;
	m->doms = md;
	return md;
}

static void free_dom(struct monitor *m, struct mdom *md, bool unwatch)
{
	struct mdom **p;
	char path[64];

	if (unwatch) {
		watch_path(md, path, sizeof(path));
		xs_unwatch(m->xs, path, path);
	}
	for (p = &m->doms; *p; p = &(*p)->next)
		if (*p == md) {
			*p = md->next;
			break;
		}
	while (md->devs)
		drop_dev(md, md->devs);
	free(md);
}

static void domain_gone(struct monitor *m, struct mdom *md)
{
	struct mdev *d;

	for (d = md->devs; d; d = d->next)
		emit(m, "removed", md, d, NULL);
	emit(m, "domain-gone", md, NULL, NULL);
	free_dom(m, md, true);
}

/* Every domain in the store not yet monitored (no domain named). */
static void adopt_domains(struct monitor *m, const char *first)
{
	char **ids;
	unsigned n, i;
	struct dom dom;
	struct mdom *md;

	ids = xs_directory(m->xs, XBT_NULL, "/local/domain", &n);
	for (i = 0; ids && i < n; i++) {
		if (parse_domid(ids[i]) < 0)
			continue;
		dom.domid = (uint32_t)parse_domid(ids[i]);
		dom.gone = false;
		if (find_dom(m, dom.domid) ||
		    !store_domain_exists(m->xs, dom.domid))
			continue;
		store_domain_name(m->xs, &dom);
		md = add_dom(m, &dom);
		if (md)
			rescan(m, md, first);
	}
	free(ids);
}

static void released(struct monitor *m)
{
	struct mdom *md, *next;

	for (md = m->doms; md; md = next) {
		next = md->next;
		if (!store_domain_exists(m->xs, md->dom.domid))
			domain_gone(m, md);
	}
}

/* ---- events ------------------------------------------------------------------- */

static struct mdev *find_devid(struct mdom *md, const char *type,
			       unsigned devid)
{
	struct mdev *d;

	for (d = md->devs; d; d = d->next)
		if (!strcmp(dev_type_name(d->id.type), type) &&
		    d->id.devid == devid)
			return d;
	return NULL;
}

/* "/<type>/<devid>" at the start of P, canonical (the guest names the
 * nodes under its device directory): its length, else 0. */
static size_t device_part(const char *p, char *type, size_t tlen,
			  unsigned *devid)
{
	char num[16];
	size_t t, n;
	unsigned long long v;

	if (*p++ != '/' || (t = strcspn(p, "/")) == 0 || t >= tlen ||
	    p[t] != '/')
		return 0;
	memcpy(type, p, t);
	type[t] = 0;
	n = strcspn(p + t + 1, "/");
	if (n == 0 || n >= sizeof(num))
		return 0;
	memcpy(num, p + t + 1, n);
	num[n] = 0;
	if (parse_uint(num, 0x7fffffff, &v))
		return 0;
	*devid = (unsigned)v;
	return 1 + t + 1 + n;
}

/* An event under /local/domain/<id>/device (TOK is that path).  The
 * guest writes there: an event only says "look again"; who the device is
 * comes from the library's list. */
static void device_event(struct monitor *m, const char *path, const char *tok)
{
	struct mdom *md = find_dom(m, (uint32_t)strtoul(tok + 14, NULL, 10));
	size_t len = strlen(tok), n;
	const char *rest = path + len;
	struct mdev *d;
	unsigned devid;
	char type[8];
	int st;

	if (!md || strncmp(path, tok, len))
		return;
	/* The directory or a type's: something came or went. */
	if (!(n = device_part(rest, type, sizeof(type), &devid))) {
		rescan(m, md, "added");
		return;
	}
	/* A device we do not know yet, or a device's own directory (made
	 * or deleted): list again.  Its other keys are its own business,
	 * but for the frontend's state. */
	d = find_devid(md, type, devid);
	if (!d || !rest[n]) {
		rescan(m, md, "added");
	} else if (!strcmp(rest + n, "/state") &&
		   (st = frontend_state(m, d)) != d->fe_state) {
		d->fe_state = st;
		emit(m, "state", md, d, "frontend");
	}
}

static void on_watch(struct monitor *m, const char *path, const char *tok)
{
	if (!strcmp(tok, "release")) {
		released(m);
		if (m->all)
			adopt_domains(m, "added");
	} else if (!strcmp(tok, "introduce")) {
		adopt_domains(m, "added");
	} else if (!strncmp(tok, "/local/domain/", 14)) {
		device_event(m, path, tok);
	}
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct monitor *m = w->data;
	char **v;

	(void)loop;
	(void)revents;
	/* xenstore.h: drain until NULL */
	while ((v = xs_check_watch(m->xs))) {
		on_watch(m, v[XS_WATCH_PATH], v[XS_WATCH_TOKEN]);
		free(v);
	}
}

/* The library's events for the devices it lists. */
static void on_event(struct run *run, const xdev_event *ev)
{
	struct monitor *m = run->user;
	struct mdom *md = find_dom(m, ev->device.frontend_domid);
	struct mdev *d = find_dev(md, &ev->device);

	if (!d)
		return;
	if (ev->type == XDEV_EVENT_DEVICE_STATE &&
	    ev->backend_state != d->be_state) {
		d->be_state = ev->backend_state;
		emit(m, "state", md, d, "backend");
	} else if (ev->type == XDEV_EVENT_DEVICE_GONE) {
		emit(m, ev->backend_domain_alive || d->be_state >= 5 ?
		     "removed" : "gone", md, d, NULL);
		drop_dev(md, d);
	}
}

static void on_signal(struct run *run)
{
	run_stop(run); /* Ctrl-C is how a monitor ends: success */
}

/* ---- the command ------------------------------------------------------------- */

static int start(struct monitor *m, int argc, char **argv)
{
	struct dom dom;
	struct mdom *md;
	int i, r;

	for (i = 0; i < argc; i++) {
		if ((r = store_domain(m->xs, argv[i], &dom)))
			return r;
		if (find_dom(m, dom.domid))
			continue;
		if (!(md = add_dom(m, &dom))) {
			cli_error_code(XDEV_E_XENSTORE);
			cli_error("cannot monitor %s (%u): its device "
				  "directory cannot be watched", dom.name,
				  dom.domid);
			return EXIT_FAILED;
		}
		rescan(m, md, "present");
	}
	if (!xs_watch(m->xs, "@releaseDomain", "release") ||
	    (m->all && !xs_watch(m->xs, "@introduceDomain", "introduce"))) {
		cli_error("cannot watch the domains: %s", strerror(errno));
		cli_error_code(XDEV_E_XENSTORE);
		return EXIT_FAILED;
	}
	if (m->all)
		adopt_domains(m, "present");
	return 0;
}

static void monitoring(struct monitor *m)
{
	json_object *o, *a;
	struct mdom *md;

	if (!m->cli->json) {
		if (!m->cli->quiet)
			fprintf(stderr, "%s: monitoring %s; Ctrl-C ends\n",
				cli_prog, m->all ? "every domain"
						 : "the domains named");
		return;
	}
	o = json_object_new_object();
	a = json_object_new_array();
	for (md = m->doms; md; md = md->next)
		json_object_array_add(a, json_object_new_int64(md->dom.domid));
	json_object_object_add(o, "time", json_object_new_double(now()));
	json_object_object_add(o, "event", json_object_new_string("monitoring"));
	json_object_object_add(o, "domids", a);
	out_json(out_ok(o), true);
	json_object_put(o);
}

int cmd_monitor(struct cli *cli, int argc, char **argv)
{
	struct monitor m = { .cli = cli, .all = argc == 0 };
	int r;

	m.xs = store_open(cli);
	if (!m.xs)
		return EXIT_FAILED;
	m.run.user = &m;
	m.run.on_signal = on_signal;
	m.run.on_event = on_event;
	r = run_open(&m.run, cli);
	if (!r)
		r = start(&m, argc, argv);
	if (!r) {
		monitoring(&m);
		ev_io_init(&m.io, on_io, xs_fileno(m.xs), EV_READ);
		m.io.data = &m;
		ev_io_start(m.run.loop, &m.io);
		run_loop(&m.run);
		ev_io_stop(m.run.loop, &m.io);
	}
	while (m.doms)
		free_dom(&m, m.doms, false);
	if (m.run.loop)
		run_close(&m.run);
	store_close(m.xs);
	return r;
}
