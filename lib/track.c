/*
 * track: what the context knows of each device, the routing of store
 * events to the operation or monitor that cares, DEVICE_GONE, and listing.
 *
 * Device-gone monitoring is the "real fix" that libxl's commit 9eaaedf
 * names and leaves undone (seed 001): for every device the context added
 * or listed, when its backend directory disappears or its backend domain
 * dies, the frontend and the record are removed and the application is
 * told, so that a manager can bring its own state in line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct track *track__find(struct xdev_ctx *ctx, const xdev_device_id *id)
{
	struct track *t;

	for (t = ctx->tracks; t; t = t->next)
		if (!memcmp(&t->id, id, sizeof(*id)))
			return t;
	return NULL;
}

/* Oldest first: track__flush steps the devices in the order they were
 * issued, so that in a storm the first device's script is not queued
 * behind the last one's. */
struct track *track__get(struct xdev_ctx *ctx, const xdev_device_id *id)
{
	struct track *t = track__find(ctx, id), **tail;

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (watch__backend_ref(ctx, id->backend_domid)) {
		free(t);
		return NULL;
	}
	t->id = *id;
	store__paths(id, t);
	for (tail = &ctx->tracks; *tail; tail = &(*tail)->next)
		;
	*tail = t;
	return t;
}

void track__drop(struct xdev_ctx *ctx, struct track *t)
{
	struct track **p;

	for (p = &ctx->tracks; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	watch__backend_unref(ctx, t->id.backend_domid);
	free(t);
}

void track__state_seen(struct xdev_ctx *ctx, struct track *t, int state)
{
	xdev_event ev = { .type = XDEV_EVENT_DEVICE_STATE };

	if (state == t->be_state)
		return;
	t->be_state = state;
	ev.device = t->id;
	ev.backend_state = state;
	ctx__event(ctx, &ev);
}

void track__gone(struct xdev_ctx *ctx, struct track *t)
{
	xdev_event ev = { .type = XDEV_EVENT_DEVICE_GONE };

	ctx__log(ctx, XDEV_LOG_INFO, "%s: backend gone; removing the frontend",
		 t->be);
	/* The backend directory too: a dying domain's nodes may outlive it
	 * (C xenstored -K keeps them). */
	if (prune__delete_device(ctx, t))
		ctx__log(ctx, XDEV_LOG_WARNING, "%s: cleaning up failed", t->fe);
	ev.device = t->id;
	/* asked after the deletion: a dying domain is marked so before its
	 * nodes go, so a directory vanishing with it reads as its death */
	ev.backend_domain_alive = store__domain_alive(ctx, t->id.backend_domid);
	ctx__event(ctx, &ev);
}

/* A monitored device (no operation on it) after @releaseDomain: true if
 * it went away. */
static bool monitor_domains(struct xdev_ctx *ctx, struct track *t)
{
	if (!store__domain_alive(ctx, t->id.backend_domid)) {
		track__gone(ctx, t);
		track__drop(ctx, t);
		return true;
	}
	if (!store__domain_alive(ctx, t->id.frontend_domid)) {
		track__drop(ctx, t); /* the guest's end: the toolstack's */
		return true;
	}
	return false;
}

/* ... after an event on its backend directory. */
static void monitor_backend(struct xdev_ctx *ctx, struct track *t)
{
	int st = store__read_int(ctx, t->be, "state", 0);

	if (st == 0 && !store__exists(ctx, t->be)) {
		remove__vanished_unattended(ctx, t);
		return;
	}
	track__state_seen(ctx, t, st);
}

/* Does an event at PATH concern T?  Its backend directory or an ancestor
 * (removed), or the nodes waited on. */
static bool concerns(const struct track *t, const char *path)
{
	size_t n = strlen(path), m = strlen(t->be);

	if (n <= m)
		return !strncmp(t->be, path, n) && (t->be[n] == '/' || !t->be[n]);
	if (strncmp(path, t->be, m) || path[m] != '/')
		return false;
	path += m + 1;
	return !strcmp(path, "state") || !strcmp(path, "hotplug-status");
}

void track__changed(struct xdev_ctx *ctx, const char *path)
{
	struct track *t;

	if (!path) {
		ctx->domains_dirty = true;
		return;
	}
	for (t = ctx->tracks; t; t = t->next)
		if (concerns(t, path))
			t->dirty = true;
}

void track__flush(struct xdev_ctx *ctx)
{
	bool domains = ctx->domains_dirty;
	struct track *t, *next;

	ctx->domains_dirty = false;
	for (t = ctx->tracks; t; t = next) {
		next = t->next;
		bool was_dirty = t->dirty;

		if (!was_dirty && !domains)
			continue;
		t->dirty = false;
		if (t->op) {
			/* one not begun is step_expired's, paced: its first
			 * step reads all it needs anyway */
			if (t->op->begun)
				op__step(t->op);
		}
		else if (t->monitored && !(domains && monitor_domains(ctx, t)) &&
			 was_dirty)
			monitor_backend(ctx, t);
	}
}

/* ---- listing ------------------------------------------------------------- */

static int list_type(struct xdev_ctx *ctx, uint32_t domid,
		     enum xdev_device_type type, xdev_device_info **v,
		     unsigned *n)
{
	char dir[96], fe[PATH_LEN];
	char **ids;
	unsigned k, i;

	snprintf(dir, sizeof(dir), "/local/domain/%u/device/%s", domid,
		 dev__type_name(type));
	ids = xs_directory(ctx->xs, XBT_NULL, dir, &k);
	for (i = 0; ids && i < k; i++) {
		xdev_device_info *e, *grown;
		struct track *t;
		int be;

		snprintf(fe, sizeof(fe), "%s/%s", dir, ids[i]);
		be = store__read_int(ctx, fe, "backend-id", -1);
		if (be < 0)
			continue; /* not (yet) a device */
		grown = realloc(*v, (*n + 1) * sizeof(**v));
		if (!grown) {
			free(ids);
			return -ENOMEM;
		}
		*v = grown;
		e = &(*v)[(*n)++];
		memset(e, 0, sizeof(*e));
		e->id = (xdev_device_id){ type, (uint32_t)be, domid,
					  (uint32_t)strtoul(ids[i], NULL, 10) };
		e->frontend_state = store__read_int(ctx, fe, "state", 0);
		t = track__get(ctx, &e->id);
		if (!t)
			continue;
		t->monitored = true;
		e->backend_state = store__read_int(ctx, t->be, "state", 0);
		e->online = store__read_int(ctx, t->be, "online", 0);
		t->be_state = e->backend_state;
	}
	free(ids);
	return 0;
}

XDEV_PUBLIC int xdev_device_list(xdev_ctx *ctx, uint32_t domid,
				 xdev_device_info **ret, unsigned *ret_n)
{
	xdev_device_info *v = NULL;
	unsigned n = 0;
	int r;

	assert_return(ctx && ret && ret_n, -EINVAL);
	if (!store__domain_alive(ctx, domid))
		return XDEV_E_DOMAIN_NOT_FOUND;
	if ((r = list_type(ctx, domid, XDEV_VBD, &v, &n)) ||
	    (r = list_type(ctx, domid, XDEV_VIF, &v, &n))) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
