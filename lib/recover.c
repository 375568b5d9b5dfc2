/*
 * recover: finishing what actors that died left half done (owner.c).
 *
 * A device whose record names an operation and an actor that no longer
 * runs was being added or removed when its actor died.  The rule: an
 * interrupted add is rolled back, an interrupted removal finished - both
 * by a forced removal, which takes the device over from the dead actor
 * (op-remove.c, ownership_claimed) and runs the scripts its record says
 * are owed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int recover_device(struct xdev_ctx *ctx, const xdev_device_id *key,
			  unsigned flags, xdev_recover_fn *cb, void *user)
{
	xdev_recovered found = { .id = *key, .message = "" };
	struct track t = { .id = *key };
	struct owner_info o;
	uint32_t b;
	int r;

	r = record__read(ctx, key, &b, NULL, 0);
	if (r == -ENOENT)
		return 0; /* gone meanwhile, or not xdev's */
	if (r && r != -ENODATA)
		return r;
	found.id.backend_domid = b;
	store__paths(&found.id, &t);
	owner__read(ctx, t.rec, XBT_NULL, &o);
	if (!o.op[0] || o.alive)
		return 0;
	found.op = o.op[0] == 'r' ? XDEV_OP_REMOVE : XDEV_OP_ADD;
	found.owner_pid = o.pid;
	ctx__log(ctx, XDEV_LOG_INFO, "%s: %s interrupted (process %d is "
		 "gone)%s", t.be, found.op == XDEV_OP_ADD ? "add" : "removal",
		 (int)o.pid, flags & XDEV_RECOVER_DRY_RUN ? "" : "; finishing "
		 "it");
	if (!(flags & XDEV_RECOVER_DRY_RUN)) {
		found.result = xdev_device_remove(ctx, &found.id,
						  XDEV_REMOVE_FORCE, NULL,
						  NULL);
		found.message = xdev_ctx_last_message(ctx);
	}
	if (cb)
		cb(user, &found);
	return 1;
}

static int recover_domain(struct xdev_ctx *ctx, uint32_t domid,
			  unsigned flags, xdev_recover_fn *cb, void *user)
{
	static const enum xdev_device_type types[] = { XDEV_VBD, XDEV_VIF };
	int found = 0, r = 0;
	size_t k;

	for (k = 0; !r && k < sizeof(types) / sizeof(*types); k++) {
		char dir[64];
		uint32_t *ids = NULL;
		unsigned n = 0, i;

		snprintf(dir, sizeof(dir), "/xdev/%u/%s", domid,
			 dev__type_name(types[k]));
		r = track__ids_below(ctx, dir, &ids, &n);
		for (i = 0; !r && i < n; i++) {
			xdev_device_id id = { types[k], 0, domid, ids[i] };

			r = recover_device(ctx, &id, flags, cb, user);
			if (r > 0)
				found += r, r = 0;
		}
		free(ids);
	}
	return r ? r : found;
}

XDEV_PUBLIC int xdev_ctx_recover(xdev_ctx *ctx, uint32_t domid,
				 unsigned flags, xdev_recover_fn *cb,
				 void *user)
{
	uint32_t *doms = NULL;
	unsigned n = 0, i;
	int found = 0, r = 0;

	assert_return(ctx && !(flags & ~XDEV_RECOVER_DRY_RUN), -EINVAL);
	assert_return(domid == XDEV_DOMID_ANY || domid < 0x7ff0, -EINVAL);
	if (domid != XDEV_DOMID_ANY)
		return recover_domain(ctx, domid, flags, cb, user);
	r = track__ids_below(ctx, "/xdev", &doms, &n);
	for (i = 0; !r && i < n; i++) {
		if (doms[i] >= 0x7ff0)
			continue;
		r = recover_domain(ctx, doms[i], flags, cb, user);
		if (r > 0)
			found += r, r = 0;
	}
	free(doms);
	return r ? r : found;
}
