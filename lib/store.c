/*
 * store: small helpers over libxenstore, and the question every wait asks
 * when @releaseDomain fires: is this domain still alive?
 *
 * Paths (the xenbus protocol, as libxl lays it out):
 *   backend   /local/domain/<be>/backend/<type>/<fe>/<devid>
 *   frontend  /local/domain/<fe>/device/<type>/<devid>
 *   record    /xdev/<fe>/<type>/<devid>   (the toolstack's own, readable
 *             and writable by dom0 only: record.c)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "xenbus-tx.h"

#define RM_TRIES 20
/* Conflicts retried at once, then with 1, 2, 4 ... 32 ms between: at most
 * about 63 ms of the loop, only while a peer keeps writing the nodes. */
#define ONLINE_STATE_FAST_TRIES 6
#define ONLINE_STATE_TRIES (ONLINE_STATE_FAST_TRIES + 6)

char *store__read(struct xdev_ctx *ctx, const char *dir, const char *key)
{
	char path[PATH_LEN + 64];

	if (key)
		snprintf(path, sizeof(path), "%s/%s", dir, key);
	else
		snprintf(path, sizeof(path), "%s", dir);
	return xs_read(ctx->xs, XBT_NULL, path, NULL);
}

int store__read_state(struct xdev_ctx *ctx, const char *dir)
{
	char *v = store__read(ctx, dir, "state");
	int st = untrusted__parse_state(v);

	free(v);
	return st;
}

char *store__read_text(struct xdev_ctx *ctx, const char *dir, const char *key)
{
	char *v = store__read(ctx, dir, key), *text;

	if (!v)
		return NULL;
	text = untrusted__text(v);
	free(v);
	return text;
}

bool store__exists(struct xdev_ctx *ctx, const char *path)
{
	char *v = xs_read(ctx->xs, XBT_NULL, path, NULL);

	free(v);
	return v != NULL;
}

int store__failed(struct xdev_ctx *ctx, int e)
{
	ctx->store_errno = e ? e : EIO;
	return XDEV_E_XENSTORE;
}

int store__rm_each(struct xdev_ctx *ctx, const char *const *paths)
{
	int i, r = 0;

	for (i = 0; paths[i]; i++)
		if (!xs_rm(ctx->xs, XBT_NULL, paths[i]) &&
		    !store__rm_absent(errno))
			r = store__failed(ctx, errno);
	return r;
}

static int rm_all_in(struct xdev_ctx *ctx, xs_transaction_t tx, void *arg)
{
	const char *const *paths = arg;
	int i;

	for (i = 0; paths[i]; i++)
		if (!xs_rm(ctx->xs, tx, paths[i]) && !store__rm_absent(errno))
			return errno == EAGAIN ? -EAGAIN : store__failed(ctx, errno);
	return 0;
}

int store__rm_all(struct xdev_ctx *ctx, const char *const *paths)
{
	int r = store__transact(ctx, rm_all_in, (void *)paths, RM_TRIES,
				RM_TRIES);

	return r == -EAGAIN ? store__failed(ctx, EAGAIN) : r;
}

bool store__domain_alive(struct xdev_ctx *ctx, uint32_t domid)
{
	xc_dominfo_t info;

	if (ctx->xc)
		return xc_domain_getinfo(ctx->xc, domid, 1, &info) == 1 &&
		       info.domid == domid && !info.dying;
	return domid == 0 || xs_is_domain_introduced(ctx->xs, domid);
}

/* A domid, or a name looked up among /local/domain/<id>/name. */
int store__domain_resolve(struct xdev_ctx *ctx, const char *s, uint32_t *ret)
{
	char **ids, *end, dir[64];
	unsigned n, i;
	unsigned long v;
	int r = XDEV_E_DOMAIN_NOT_FOUND;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno && v < 0x7ff0) {
		if (!store__domain_alive(ctx, (uint32_t)v))
			return XDEV_E_DOMAIN_NOT_FOUND;
		*ret = (uint32_t)v;
		return 0;
	}
	ids = xs_directory(ctx->xs, XBT_NULL, "/local/domain", &n);
	for (i = 0; ids && i < n && r; i++) {
		char *name;

		snprintf(dir, sizeof(dir), "/local/domain/%s", ids[i]);
		name = store__read(ctx, dir, "name");
		if (name && !strcmp(name, s)) {
			*ret = (uint32_t)strtoul(ids[i], NULL, 10);
			r = 0;
		}
		free(name);
	}
	free(ids);
	return r;
}

void store__paths(const xdev_device_id *id, struct track *t)
{
	const char *type = dev__type_name(id->type);

	snprintf(t->be, sizeof(t->be), "/local/domain/%u/backend/%s/%u/%u",
		 id->backend_domid, type, id->frontend_domid, id->devid);
	snprintf(t->fe, sizeof(t->fe), "/local/domain/%u/device/%s/%u",
		 id->frontend_domid, type, id->devid);
	snprintf(t->rec, sizeof(t->rec), "/xdev/%u/%s/%u", id->frontend_domid,
		 type, id->devid);
}

/* The library's bodies take the context: carried through xenbus_transact
 * (lib/xenbus-tx.h, the one loop and its rules). */
struct transact_call {
	struct xdev_ctx *ctx;
	int (*body)(struct xdev_ctx *ctx, xs_transaction_t tx, void *arg);
	void *arg;
	int body_r;               /* the body's last answer */
};

static int transact_body(struct xs_handle *xs, xs_transaction_t tx,
			 void *arg)
{
	struct transact_call *c = arg;

	(void)xs;
	return c->body_r = c->body(c->ctx, tx, c->arg);
}

/* Returns 0, BODY's code, XDEV_E_XENSTORE (a transaction that could not
 * start or end: its errno in the op's message), or -EAGAIN when every
 * try conflicted. */
int store__transact(struct xdev_ctx *ctx,
		    int (*body)(struct xdev_ctx *ctx, xs_transaction_t tx,
				void *arg),
		    void *arg, int tries, int fast)
{
	struct transact_call c = { ctx, body, arg, 0 };
	int r = xenbus_transact(ctx->xs, transact_body, &c, tries, fast);

	if (r == 0 || r == -EAGAIN || r == c.body_r)
		return r;
	return store__failed(ctx, -r);
}

struct online_state {
	const char *be, *online;
	int state;
};

int store__online_state_put(struct xdev_ctx *ctx, xs_transaction_t tx,
			    const char *be, const char *online, int state)
{
	char path[PATH_LEN + 16], v[4];

	snprintf(v, sizeof(v), "%d", state);
	snprintf(path, sizeof(path), "%s/state", be);
	if (!xs_write(ctx->xs, tx, path, v, strlen(v)))
		return errno == EAGAIN ? -EAGAIN : store__failed(ctx, errno);
	snprintf(path, sizeof(path), "%s/online", be);
	if (!xs_write(ctx->xs, tx, path, online, strlen(online)))
		return errno == EAGAIN ? -EAGAIN : store__failed(ctx, errno);
	return 0;
}

int store__read_state_in(struct xdev_ctx *ctx, xs_transaction_t tx,
			 const char *be)
{
	char path[PATH_LEN + 16], *cur;
	int st;

	snprintf(path, sizeof(path), "%s/state", be);
	cur = xs_read(ctx->xs, tx, path, NULL);
	if (!cur) /* gone: -ENOENT; EAGAIN: a conflict, seen early */
		return errno == ENOENT ? -ENOENT : errno == EAGAIN
			? -EAGAIN : store__failed(ctx, errno);
	st = untrusted__parse_state(cur);
	free(cur);
	return st;
}

static int online_state_in(struct xdev_ctx *ctx, xs_transaction_t tx,
			   void *arg)
{
	const struct online_state *os = arg;
	int r = store__read_state_in(ctx, tx, os->be);

	return r < 0 ? r : store__online_state_put(ctx, tx, os->be,
						    os->online, os->state);
}

/* ONLINE and STATE of backend BE in one transaction, which reads `state`
 * first and aborts if it is gone: a write must never bring back a
 * directory its owner deleted meanwhile (a driver domain's xdevd, a
 * backend that deletes its own on close, a dying domain's toolstack):
 * nobody would delete it again.  -ENOENT then; -EAGAIN if the transaction
 * kept conflicting (someone keeps writing the backend's nodes). */
int store__write_online_state(struct xdev_ctx *ctx, const char *be,
			      const char *online, int state)
{
	struct online_state os = { be, online, state };

	return store__transact(ctx, online_state_in, &os, ONLINE_STATE_TRIES,
			       ONLINE_STATE_FAST_TRIES);
}
