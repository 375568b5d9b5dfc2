/*
 * track: what the context knows of each device, the routing of store
 * events to the operation or monitor that cares, DEVICE_GONE, and listing.
 *
 * Device-gone monitoring is the "real fix" that libxl's commit 9eaaedf
 * names and leaves undone: for every device the context added
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

/* ---- the index: tracks by backend directory --------------------------------
 *
 * A storm's watch events name nodes of every device in it; finding the
 * track an event concerns by a walk over all of them made each event cost
 * O(N) string compares (at N = 2000 a sixth of the library's CPU). */

/* Slashes in a backend directory: /local/domain/<be>/backend/<type>/<fe>/<devid> */
#define BE_DEPTH 7

static unsigned be_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (n--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static struct track **bucket(struct xdev_ctx *ctx, const char *be, size_t n)
{
	return &ctx->index[be_hash(be, n) & (ctx->index_size - 1)];
}

/* Room for one more, the buckets doubled past one track per bucket. */
static int index_reserve(struct xdev_ctx *ctx)
{
	unsigned size = ctx->index_size ? ctx->index_size * 2 : 64;
	struct track **old = ctx->index, *t;
	unsigned old_size = ctx->index_size, i;

	if (ctx->index_n < ctx->index_size)
		return 0;
	ctx->index = calloc(size, sizeof(*ctx->index));
	if (!ctx->index) {
		ctx->index = old;
		return -ENOMEM;
	}
	ctx->index_size = size;
	for (i = 0; i < old_size; i++)
		while ((t = old[i])) {
			struct track **b = bucket(ctx, t->be, strlen(t->be));

			old[i] = t->index_next;
			t->index_next = *b;
			*b = t;
		}
	free(old);
	return 0;
}

static struct track *index_find(struct xdev_ctx *ctx, const char *be,
				size_t n)
{
	struct track *t;

	if (!ctx->index_size)
		return NULL;
	for (t = *bucket(ctx, be, n); t; t = t->index_next)
		if (!strncmp(t->be, be, n) && !t->be[n])
			return t;
	return NULL;
}

static void index_remove(struct xdev_ctx *ctx, struct track *t)
{
	struct track **p = bucket(ctx, t->be, strlen(t->be));

	for (; *p; p = &(*p)->index_next)
		if (*p == t) {
			*p = t->index_next;
			ctx->index_n--;
			return;
		}
}

static void mark_dirty(struct xdev_ctx *ctx, struct track *t)
{
	if (t->dirty)
		return;
	t->dirty = true;
	t->dirty_next = ctx->dirty;
	ctx->dirty = t;
}

/* T leaves the dirty list and the pass stepping it, if in either. */
static void unmark_dirty(struct xdev_ctx *ctx, struct track *t)
{
	struct track **p;
	unsigned i;

	for (p = &ctx->dirty; *p; p = &(*p)->dirty_next)
		if (*p == t) {
			*p = t->dirty_next;
			break;
		}
	for (i = 0; i < ctx->flushing_n; i++)
		if (ctx->flushing[i] == t)
			ctx->flushing[i] = NULL;
}

/* ---- tracks ------------------------------------------------------------------ */

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
	if (index_reserve(ctx) || !(t = calloc(1, sizeof(*t))))
		return NULL;
	if (watch__backend_ref(ctx, id->backend_domid)) {
		free(t);
		return NULL;
	}
	t->id = *id;
	t->seq = ++ctx->track_seq;
	store__paths(id, t);
	for (tail = &ctx->tracks; *tail; tail = &(*tail)->next)
		;
	*tail = t;
	tail = bucket(ctx, t->be, strlen(t->be));
	t->index_next = *tail;
	*tail = t;
	ctx->index_n++;
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
	index_remove(ctx, t);
	unmark_dirty(ctx, t);
	watch__backend_unref(ctx, t->id.backend_domid);
	free(t);
	if (!ctx->tracks) {
		free(ctx->index);
		ctx->index = NULL;
		ctx->index_size = 0;
	}
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
	ctx__log(ctx, XDEV_LOG_INFO, "%s: backend gone; removing the frontend",
		 t->be);
	/* The backend directory too: a dying domain's nodes may outlive it
	 * (C xenstored -K keeps them). */
	if (prune__delete_device(ctx, t))
		ctx__log(ctx, XDEV_LOG_WARNING, "%s: cleaning up failed", t->fe);
	track__gone_event(ctx, t);
}

void track__gone_event(struct xdev_ctx *ctx, struct track *t)
{
	xdev_event ev = { .type = XDEV_EVENT_DEVICE_GONE };

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
	int st = store__read_state(ctx, t->be);

	if (st == 0 && !store__exists(ctx, t->be)) {
		remove__vanished_unattended(ctx, t);
		return;
	}
	track__state_seen(ctx, t, st);
}

/* An event at PATH (an ancestor of T's backend directory) concerns T:
 * the directory went with it. */
static bool below(const struct track *t, const char *path, size_t n)
{
	return !strncmp(t->be, path, n) && (t->be[n] == '/' || !t->be[n]);
}

static size_t slashes(const char *s)
{
	size_t k = 0;

	for (; *s; s++)
		k += *s == '/';
	return k;
}

/* The tracks an event at PATH concerns: its backend directory (made or
 * deleted), an ancestor (deleted: rare, a walk over all), or the nodes
 * waited on (state, hotplug-status). */
void track__changed(struct xdev_ctx *ctx, const char *path)
{
	const char *leaf;
	struct track *t = NULL;
	size_t depth, n;

	if (!path) {
		ctx->domains_dirty = true;
		return;
	}
	n = strlen(path);
	depth = slashes(path);
	if (depth < BE_DEPTH) {
		for (t = ctx->tracks; t; t = t->next)
			if (below(t, path, n))
				mark_dirty(ctx, t);
		return;
	}
	if (depth == BE_DEPTH) {
		t = index_find(ctx, path, n);
	} else if (depth == BE_DEPTH + 1) {
		leaf = strrchr(path, '/');
		if (!strcmp(leaf, "/state") || !strcmp(leaf, "/hotplug-status"))
			t = index_find(ctx, path, (size_t)(leaf - path));
	}
	if (t)
		mark_dirty(ctx, t);
}

static void flush_one(struct xdev_ctx *ctx, struct track *t, bool domains,
		      bool was_dirty)
{
	if (t->op) {
		/* one not begun is step_expired's, paced: its first step
		 * reads all it needs anyway */
		if (t->op->begun)
			op__step(t->op);
	} else if (t->monitored && !(domains && monitor_domains(ctx, t)) &&
		   was_dirty) {
		monitor_backend(ctx, t);
	}
}

/* Every track, oldest first: after @releaseDomain, or when memory for the
 * ordered list of the dirty ones is short. */
static void flush_all(struct xdev_ctx *ctx, bool domains)
{
	struct track *t, *next, **p;

	ctx->dirty = NULL; /* the flags say it: cleared below */
	for (t = ctx->tracks; t; t = next) {
		bool was_dirty = t->dirty;

		next = t->next;
		if (!was_dirty && !domains)
			continue;
		t->dirty = false;
		flush_one(ctx, t, domains, was_dirty);
	}
	/* listed if and only if dirty: one marked again during the walk and
	 * stepped after is listed, no longer dirty */
	for (p = &ctx->dirty; *p;)
		if (!(*p)->dirty)
			*p = (*p)->dirty_next;
		else
			p = &(*p)->dirty_next;
}

static int older_first(const void *a, const void *b)
{
	const struct track *x = *(struct track *const *)a,
			   *y = *(struct track *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The tracks the events concerned, oldest first: in a storm the first
 * device's script is not queued behind the last one's. */
void track__flush(struct xdev_ctx *ctx)
{
	bool domains = ctx->domains_dirty;
	struct track *t, **v;
	unsigned n = 0, i;

	ctx->domains_dirty = false;
	for (t = ctx->dirty; t; t = t->dirty_next)
		n++;
	if (!n && !domains)
		return;
	if (domains || !(v = malloc(n * sizeof(*v)))) {
		flush_all(ctx, domains);
		return;
	}
	for (t = ctx->dirty, i = 0; t; t = t->dirty_next)
		v[i++] = t;
	ctx->dirty = NULL;
	qsort(v, n, sizeof(*v), older_first);
	ctx->flushing = v;
	ctx->flushing_n = n;
	for (i = 0; i < n; i++) {
		t = v[i];
		if (!t || !t->dirty)
			continue; /* dropped meanwhile, or stepped already */
		t->dirty = false;
		flush_one(ctx, t, false, true);
	}
	ctx->flushing = NULL;
	ctx->flushing_n = 0;
	free(v);
}

/* ---- listing ------------------------------------------------------------- */

/* The devids below DIR, strictly parsed (a name that is no devid is no
 * device of ours), appended to *V. */
int track__ids_below(struct xdev_ctx *ctx, const char *dir, uint32_t **v,
		      unsigned *n)
{
	char **ids;
	unsigned k, i;
	unsigned long id;
	uint32_t *grown;

	ids = xs_directory(ctx->xs, XBT_NULL, dir, &k);
	if (!ids)
		return 0;
	grown = realloc(*v, (*n + k + 1) * sizeof(**v));
	if (!grown) {
		free(ids);
		return -ENOMEM;
	}
	*v = grown;
	for (i = 0; i < k; i++)
		if (!untrusted__parse_uint(ids[i], 0xffffffffUL, &id))
			(*v)[(*n)++] = (uint32_t)id;
	free(ids);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The identity of the device DEVID of ID's domain and type: its record's
 * backend domain, or dom0 for a device without one (another toolstack's,
 * found from dom0's own backend directory).  -ENOENT if neither holds it. */
static int listed_id(struct xdev_ctx *ctx, xdev_device_id *id, int *kind)
{
	struct track t = { .id = *id };
	char script[SCRIPT_LEN];
	int r;

	id->backend_domid = 0;
	*kind = XDEV_HOTPLUG_KIND_UNKNOWN;
	r = record__read(ctx, id, &id->backend_domid, script, sizeof(script));
	if (r == 0)
		*kind = !script[0] ? XDEV_HOTPLUG_KIND_NONE
			: !strcmp(script, HOTPLUG_NATIVE)
				? XDEV_HOTPLUG_KIND_NATIVE
				: XDEV_HOTPLUG_KIND_SCRIPT;
	if (r == -ENODATA)
		r = 0; /* an older record: its backend domain holds */
	if (r != -ENOENT)
		return r;
	store__paths(id, &t);
	return store__exists(ctx, t.be) ? 0 : -ENOENT;
}

/* Who holds the device now, if anyone: half done if that actor died. */
static void list_owner(struct xdev_ctx *ctx, const struct track *t,
		       xdev_device_info *e)
{
	struct owner_info o;

	owner__read(ctx, t->rec, XBT_NULL, &o);
	if (!o.op[0])
		return;
	e->op = o.op[0] == 'r' ? XDEV_OP_REMOVE : XDEV_OP_ADD;
	e->op_owner_alive = o.alive;
	e->op_owner_pid = o.pid;
}

static int list_entry(struct xdev_ctx *ctx, const xdev_device_id *id,
		      int kind, xdev_device_info **v, unsigned *n)
{
	xdev_device_info *e, *grown;
	struct track *t;
	char *online;

	grown = realloc(*v, (*n + 1) * sizeof(**v));
	if (!grown)
		return -ENOMEM;
	*v = grown;
	e = &(*v)[(*n)++];
	memset(e, 0, sizeof(*e));
	e->id = *id;
	e->hotplug_kind = kind;
	t = track__get(ctx, id);
	if (!t)
		return -ENOMEM;
	t->monitored = true;
	t->recorded = true;
	e->frontend_state = store__read_state(ctx, t->fe);
	e->backend_state = store__read_state(ctx, t->be);
	online = store__read(ctx, t->be, "online");
	e->online = online && !strcmp(online, "1");
	free(online);
	t->be_state = e->backend_state;
	list_owner(ctx, t, e);
	return 0;
}

/* A domain's devices of TYPE are those of xdev's records and of dom0's
 * own backend directory: never the frontend directory, whose `backend`
 * and `backend-id` say what the guest wants (XSA-175). */
static int list_type(struct xdev_ctx *ctx, uint32_t domid,
		     enum xdev_device_type type, xdev_device_info **v,
		     unsigned *n)
{
	const char *tn = dev__type_name(type);
	char dir[96];
	uint32_t *ids = NULL;
	unsigned k = 0, i;
	int r;

	snprintf(dir, sizeof(dir), "/xdev/%u/%s", domid, tn);
	r = track__ids_below(ctx, dir, &ids, &k);
	snprintf(dir, sizeof(dir), "/local/domain/0/backend/%s/%u", tn, domid);
	if (!r)
		r = track__ids_below(ctx, dir, &ids, &k);
	if (k)
		qsort(ids, k, sizeof(*ids), cmp_u32);
	for (i = 0; !r && i < k; i++) {
		xdev_device_id id = { type, 0, domid, ids[i] };
		int kind;

		if (i && ids[i] == ids[i - 1])
			continue;
		r = listed_id(ctx, &id, &kind);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (!r)
			r = list_entry(ctx, &id, kind, v, n);
	}
	free(ids);
	return r;
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

XDEV_PUBLIC int xdev_device_unmonitor(xdev_ctx *ctx, const xdev_device_id *id)
{
	struct track *t;

	assert_return(ctx && id, -EINVAL);
	t = track__find(ctx, id);
	if (!t || !t->monitored)
		return XDEV_E_NO_DEVICE;
	if (t->op)
		return -EBUSY; /* an add would monitor it again at its end */
	track__drop(ctx, t);
	return 0;
}
