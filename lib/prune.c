/*
 * prune: deleting a device's nodes, and the directories its add created
 * above them once they hold nothing else, as libxl's
 * libxl__xs_path_cleanup does:
 *
 *   /local/domain/<be>/backend/<type>/<fe>   .../backend/<type>   .../backend
 *   /local/domain/<fe>/device/<type>
 *   /xdev/<fe>/<type>   /xdev/<fe>   /xdev
 *
 * Left behind, the backend's and the record's would pile up for every
 * guest ever run.  /local/domain/<id> and /local/domain/<fe>/device are
 * the domain's (the toolstack makes them with it), never ours.
 *
 * Another client may be adding a device under the same directories at the
 * same moment, so the listing and the deletion are one transaction: a
 * concurrent write to a listed directory makes it conflict, and it runs
 * again.  The context's own devices answer most of the question without a
 * request: a directory that holds another device the context knows of is
 * not empty, and neither is any above it, so a removal among others of the
 * same guest costs no more than deleting its three directories.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PRUNE_TRIES 20
#define CHAINS 3

/* Which of a track's paths chain C is. */
static const char *chain_path(const struct track *t, int c)
{
	return c == 0 ? t->be : c == 1 ? t->fe : t->rec;
}

/* Components a chain never deletes: /local/domain/<be> (3); the
 * frontend's /local/domain/<fe>/device (4), which the toolstack makes
 * with the domain, readable by it; none of the record's. */
static int chain_floor(int c)
{
	return c == 0 ? 3 : c == 1 ? 4 : 0;
}

/* The number of components of PATH ("/a/b" has 2). */
static int depth_of(const char *path)
{
	int n = 0;

	for (; *path; path++)
		n += *path == '/';
	return n;
}

/* The number of leading components A and B share. */
static int common_depth(const char *a, const char *b)
{
	int n = 0;

	while (*a == '/' && *b == '/') {
		size_t la = strcspn(a + 1, "/"), lb = strcspn(b + 1, "/");

		if (la != lb || strncmp(a + 1, b + 1, la))
			break;
		n++;
		a += 1 + la;
		b += 1 + lb;
	}
	return n;
}

/* Whether O's nodes are surely in the store: not a device whose operation
 * has yet to begin (queued behind max_ops_per_backend, or not yet stepped)
 * or an add that has not written them yet.  Counting those as siblings
 * left a cancelled add's parent directories behind. */
static bool known_present(const struct track *o)
{
	return !o->op || (o->op->begun &&
			  (o->op->kind != OP_ADD || add__wrote(o->op)));
}

/* The deepest ancestor level of T's path in chain C that holds another
 * device the context knows of and has written (0: none). */
static int known_sibling_depth(struct xdev_ctx *ctx, const struct track *t,
			       int c)
{
	const char *p = chain_path(t, c);
	int best = 0, d, most = depth_of(p) - 1; /* its parent: no deeper */
	struct track *o;

	for (o = ctx->tracks; o && best < most; o = o->next) {
		if (o == t || !known_present(o))
			continue;
		d = common_depth(p, chain_path(o, c));
		if (d > best)
			best = d;
	}
	return best;
}

/* PATH cut to its first LEVEL components, in BUF. */
static const char *ancestor(const char *path, int level, char *buf,
			    size_t n)
{
	const char *s = path;
	int k = 0;

	for (; *s; s++)
		if (*s == '/' && k++ == level)
			break;
	if ((size_t)(s - path) >= n)
		return NULL;
	memcpy(buf, path, (size_t)(s - path));
	buf[s - path] = 0;
	return buf;
}

enum listing { HOLDS_OTHERS, ONLY_CHILD, ABSENT };

/* Does directory DIR (in TX) hold nothing but CHILD?  -1 on error. */
static int only_child(struct xdev_ctx *ctx, xs_transaction_t tx,
		      const char *dir, const char *child)
{
	unsigned n = 0;
	char **list = xs_directory(ctx->xs, tx, dir, &n);
	int r;

	if (!list)
		return errno == ENOENT ? ABSENT : -1; /* errno kept */
	r = n == 0 || (n == 1 && !strcmp(list[0], child)) ? ONLY_CHILD
							   : HOLDS_OTHERS;
	free(list);
	return r;
}

/* In TX: delete chain C of T from the highest directory that holds only
 * it, among levels TOP.. (TOP > the floor); 0 or -1. */
static int prune_chain(struct xdev_ctx *ctx, xs_transaction_t tx,
		       const struct track *t, int c, int top)
{
	const char *p = chain_path(t, c);
	int depth = depth_of(p), level, from = 0, ok;
	char dir[PATH_LEN], next[PATH_LEN];

	for (level = top; level < depth; level++) {
		if (!ancestor(p, level, dir, sizeof(dir)) ||
		    !ancestor(p, level + 1, next, sizeof(next))) {
			errno = ENAMETOOLONG;
			return -1;
		}
		ok = only_child(ctx, tx, dir, next + strlen(dir) + 1);
		if (ok < 0)
			return -1;
		if (ok == ABSENT && !from)
			return 0; /* the chain is gone from here down */
		if (ok == HOLDS_OTHERS)
			from = 0;
		else if (!from)
			from = level;
	}
	if (from && !ancestor(p, from, dir, sizeof(dir))) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* The device's own directory first, then the one above it left
	 * empty: each delete fires the watches above it with its own path,
	 * and Linux's xenbus (xenbus_dev_changed) ignores a frontend path
	 * shorter than device/<type>/<id>: deleting only device/<type> would
	 * leave the guest's device registered, and its next attach unseen.
	 * libxl__xs_path_cleanup deletes leaf first too.  xdev's record
	 * (chain 2) has no such watcher: the directory above it goes at
	 * once, the record with it (one request less). */
	if ((c != 2 || !from) && !xs_rm(ctx->xs, tx, p) &&
	    !store__rm_absent(errno))
		return -1;
	if (from && !xs_rm(ctx->xs, tx, dir) && !store__rm_absent(errno))
		return -1;
	return 0;
}

/* The device's three directories, without the directories above. */
static int delete_only_device(struct xdev_ctx *ctx, const struct track *t)
{
	const char *paths[] = { t->fe, t->be, t->rec, NULL };

	return store__rm_each(ctx, paths);
}

struct prune {
	const struct track *t;
	int top[CHAINS];
};

/* A conflict, which C xenstored may also report at once (or as EIO) when
 * a node the transaction touched changed (a backend deleting its own
 * directory meanwhile): tried again. */
static int prune_in(struct xdev_ctx *ctx, xs_transaction_t tx, void *arg)
{
	struct prune *p = arg;
	int c;

	for (c = 0; c < CHAINS; c++)
		if (prune_chain(ctx, tx, p->t, c, p->top[c]) < 0)
			return errno == EAGAIN || errno == EIO ? -EAGAIN
							       : -errno;
	return 0;
}

int prune__delete_device(struct xdev_ctx *ctx, const struct track *t)
{
	struct prune p = { .t = t };
	int *top = p.top, c, r;
	bool any = false;

	for (c = 0; c < CHAINS; c++) {
		int s = known_sibling_depth(ctx, t, c);

		top[c] = (s > chain_floor(c) ? s : chain_floor(c)) + 1;
		any |= top[c] < depth_of(chain_path(t, c));
	}
	if (!any)
		return delete_only_device(ctx, t);
	r = store__transact(ctx, prune_in, &p, PRUNE_TRIES, PRUNE_TRIES);
	if (r == 0)
		return 0;
	/* the device goes in any case; only the empty directories may stay */
	ctx__log(ctx, XDEV_LOG_WARNING, "%s: deleting the directories above "
		 "it: %s", t->be, strerror(r == XDEV_E_XENSTORE
					   ? ctx->store_errno : -r));
	return delete_only_device(ctx, t);
}
