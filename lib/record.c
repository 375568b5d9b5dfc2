/*
 * record: xdev's own record of a device, the one place its identity comes
 * from (docs/security.md).
 *
 *   /xdev/<fe>/<type>/<devid>             the backend directory, which
 *                                         names the backend domain
 *   /xdev/<fe>/<type>/<devid>/vdev        a vbd's vdev as given (xvdb)
 *   /xdev/<fe>/<type>/<devid>/mac         a vif's MAC, lowercase
 *   /xdev/<fe>/<type>/<devid>/script      the hotplug script the add ran
 *                                         (absolute; library mode), or
 *                                         "native" (hotplug-native.c)
 *   /xdev/<fe>/<type>/<devid>/owner, add-script, remove-script
 *                                         who acts on it, and what its
 *                                         scripts did (owner.c)
 *
 * A guest owns its frontend directory, `backend` and `backend-id`
 * included, and a driver domain its backend directory; /xdev is made by
 * dom0 and inherits dom0's permissions (no access for any other domain),
 * so only a toolstack in dom0 can write it.  This is XSA-175's fix for
 * libxl (/libxl/<domid>) and XSA-178's (the vdev from /libxl, not from a
 * driver domain's backend).  Records written before the children existed
 * hold only the backend directory; the library reads nothing else of a
 * record but the script.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool write_child(struct xs_handle *xs, xs_transaction_t tx,
			const char *rec, const char *key, const char *value)
{
	char path[PATH_LEN + 32];

	snprintf(path, sizeof(path), "%s/%s", rec, key);
	return xs_write(xs, tx, path, value, strlen(value));
}

bool record__write(struct xdev_ctx *ctx, xs_transaction_t tx,
		   const struct track *t, const char *name)
{
	char owner[sizeof(ctx->self) + 8];

	/* held by this add from its first write on (owner.c) */
	snprintf(owner, sizeof(owner), "add %s", ctx->self);
	return xs_write(ctx->xs, tx, t->rec, t->be, strlen(t->be)) &&
	       write_child(ctx->xs, tx, t->rec, "owner", owner) &&
	       (!name || write_child(ctx->xs, tx, t->rec,
				     t->id.type == XDEV_VBD ? "vdev" : "mac",
				     name)) &&
	       (!t->script[0] ||
		write_child(ctx->xs, tx, t->rec, "script", t->script));
}

/* The backend domain a record's value names, if it is exactly the backend
 * directory of ID's frontend, type and devid. */
static int parse_backend(const char *v, const xdev_device_id *id,
			 uint32_t *ret)
{
	char want[PATH_LEN];
	unsigned long b;
	const char *rest;
	size_t n;

	if (strncmp(v, "/local/domain/", 14))
		return -EINVAL;
	v += 14;
	n = strcspn(v, "/");
	if (n > 5)
		return -EINVAL;
	memcpy(want, v, n);
	want[n] = 0;
	if (untrusted__parse_uint(want, 0x7fef, &b))
		return -EINVAL;
	rest = v + n;
	snprintf(want, sizeof(want), "/backend/%s/%u/%u",
		 dev__type_name(id->type), id->frontend_domid, id->devid);
	if (strcmp(rest, want))
		return -EINVAL;
	*ret = (uint32_t)b;
	return 0;
}

int record__read(struct xdev_ctx *ctx, const xdev_device_id *key,
		 uint32_t *backend_domid, char *script, size_t script_len)
{
	struct track k = { .id = *key };
	char *v, *s;
	int r;

	store__paths(key, &k);
	v = xs_read(ctx->xs, XBT_NULL, k.rec, NULL);
	if (!v)
		return errno == ENOENT || store__rm_absent(errno)
			       ? -ENOENT : store__failed(ctx, errno);
	r = parse_backend(v, key, backend_domid);
	free(v);
	if (r) {
		ctx__log(ctx, XDEV_LOG_WARNING, "%s: not a record of xdev's; "
			 "ignored", k.rec);
		return -ENOENT;
	}
	if (!script)
		return 0;
	script[0] = 0;
	s = store__read(ctx, k.rec, "script");
	if (s && (s[0] == '/' || !strcmp(s, HOTPLUG_NATIVE)) &&
	    strlen(s) < script_len)
		strcpy(script, s);
	if (!s) {
		/* no script: the add ran none - if the record is of this
		 * format (it has the vdev or MAC), not an older one */
		s = store__read(ctx, k.rec, key->type == XDEV_VBD ? "vdev"
								 : "mac");
		if (!s)
			r = -ENODATA;
	}
	free(s);
	return r;
}
