/*
 * The CLI's own store connection: it names domains and devices the way an
 * operator does (a domain by name, a disk by vdev, a NIC by MAC), and reads
 * the nodes the listings show.  The library has its own connection; the
 * two never share a handle, so neither sees the other's watch events.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xenstore.h>

#include "xdev-cli.h"

struct xs_handle *store_open(const struct cli *cli)
{
	struct xs_handle *xs;
	const char *path = cli->ctx.xenstore_path;

	/* libxenstore reads the socket's path from its environment only;
	 * the library does the same with the same option. */
	if (path && setenv("XENSTORED_PATH", path, 1) < 0) {
		cli_error("cannot use --xenstore %s: %s", path, strerror(errno));
		return NULL;
	}
	xs = xs_open(0);
	if (!xs)
		cli_error("cannot connect to xenstore (%s): %s; is xenstored "
			  "running, and are you root? --xenstore PATH or "
			  "XENSTORED_PATH names another socket",
			  getenv("XENSTORED_PATH") ? getenv("XENSTORED_PATH")
						   : "the default socket",
			  strerror(errno));
	return xs;
}

void store_close(struct xs_handle *xs)
{
	if (xs)
		xs_close(xs);
}

char *store_read(struct xs_handle *xs, const char *dir, const char *key)
{
	char path[512];
	unsigned len;

	if (key)
		snprintf(path, sizeof(path), "%s/%s", dir, key);
	else
		snprintf(path, sizeof(path), "%s", dir);
	return xs_read(xs, XBT_NULL, path, &len);
}

bool store_domain_exists(struct xs_handle *xs, uint32_t domid)
{
	char dir[48];
	char *v;

	snprintf(dir, sizeof(dir), "/local/domain/%u", domid);
	v = store_read(xs, dir, "domid");
	if (!v)
		v = store_read(xs, dir, "name");
	free(v);
	return v != NULL;
}

/* A canonical decimal domid (no sign, no leading zero), else -1. */
static long parse_domid(const char *s)
{
	long v = 0;

	if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v < 0x7ff0 ? v : -1;
}

void store_domain_name(struct xs_handle *xs, struct dom *dom)
{
	char dir[48], *name;

	snprintf(dir, sizeof(dir), "/local/domain/%u", dom->domid);
	name = store_read(xs, dir, "name");
	snprintf(dom->name, sizeof(dom->name), "%s", name ? name : "");
	free(name);
}

/* Look NAME up among /local/domain/<id>/name. */
static int by_name(struct xs_handle *xs, const char *arg, struct dom *ret)
{
	char **ids, dir[48], *name;
	unsigned n, i;
	int r = EXIT_NOT_FOUND;

	ids = xs_directory(xs, XBT_NULL, "/local/domain", &n);
	for (i = 0; ids && i < n && r; i++) {
		snprintf(dir, sizeof(dir), "/local/domain/%s", ids[i]);
		name = store_read(xs, dir, "name");
		if (name && !strcmp(name, arg) && parse_domid(ids[i]) >= 0) {
			ret->domid = (uint32_t)parse_domid(ids[i]);
			r = 0;
		}
		free(name);
	}
	free(ids);
	return r;
}

static int resolve(struct xs_handle *xs, const char *arg, struct dom *ret,
		   bool gone_ok)
{
	long id = parse_domid(arg);
	int r = 0;

	ret->gone = false;
	if (id >= 0) {
		ret->domid = (uint32_t)id;
		if (!store_domain_exists(xs, ret->domid)) {
			if (gone_ok) {
				ret->gone = true;
				ret->name[0] = 0;
				return 0;
			}
			r = EXIT_NOT_FOUND;
		}
	} else {
		r = by_name(xs, arg, ret);
	}
	if (r) {
		cli_error("no domain '%s': give a domain id or name of a running "
			  "domain (xl list shows them)%s", arg, gone_ok
			  ? "; a destroyed domain's devices are detached by "
			    "its domain id" : "");
		return r;
	}
	store_domain_name(xs, ret);
	return 0;
}

int store_domain(struct xs_handle *xs, const char *arg, struct dom *ret)
{
	return resolve(xs, arg, ret, false);
}

int store_domain_or_gone(struct xs_handle *xs, const char *arg,
			 struct dom *ret)
{
	return resolve(xs, arg, ret, true);
}

const char *dom_label(const struct dom *dom, char *buf, size_t len)
{
	if (dom->gone)
		snprintf(buf, len, "domain %u (gone)", dom->domid);
	else
		snprintf(buf, len, "%s (%u)", dom->name, dom->domid);
	return buf;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int store_devids(struct xs_handle *xs, uint32_t domid,
		 enum xdev_device_type type, uint32_t **ret, unsigned *ret_n)
{
	char dir[64], **ids;
	uint32_t *v;
	unsigned n = 0, i, k = 0;
	long id;

	snprintf(dir, sizeof(dir), "/local/domain/%u/device/%s", domid,
		 dev_type_name(type));
	ids = xs_directory(xs, XBT_NULL, dir, &n);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		free(ids);
		return -ENOMEM;
	}
	for (i = 0; ids && i < n; i++) {
		/* devids are decimal; anything else is not a device */
		id = strspn(ids[i], "0123456789") == strlen(ids[i]) &&
			     strlen(ids[i]) <= 9 ? atol(ids[i]) : -1;
		if (id >= 0)
			v[k++] = (uint32_t)id;
	}
	free(ids);
	qsort(v, k, sizeof(*v), cmp_u32);
	*ret = v;
	*ret_n = k;
	return 0;
}

/* Does device DEVID match WHICH by its vdev (the backend's "dev", as
 * libxl and xdev write it) or its MAC (the frontend's "mac")? */
static bool matches(struct xs_handle *xs, const char *fe,
		    enum xdev_device_type type, const char *which)
{
	char *be, *v = NULL;
	bool m;

	if (type == XDEV_VIF) {
		v = store_read(xs, fe, "mac");
		m = v && !strcasecmp(v, which);
	} else {
		be = store_read(xs, fe, "backend");
		v = be ? store_read(xs, be, "dev") : NULL;
		m = v && !strcmp(v, which);
		free(be);
	}
	free(v);
	return m;
}

static int fill_id(struct xs_handle *xs, const char *fe, uint32_t devid,
		   enum xdev_device_type type, uint32_t domid,
		   xdev_device_id *ret)
{
	char *be = store_read(xs, fe, "backend-id");
	long b = be ? parse_domid(be) : -1;

	free(be);
	if (b < 0)
		return -ENOENT;
	*ret = (xdev_device_id){ type, (uint32_t)b, domid, devid };
	return 0;
}

/* A devid: decimal, at most 9 digits (a vbd's may be 268442112). */
static long parse_devid(const char *s)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -1;
	return atol(s);
}

/* The frontend's side: /local/domain/<fe>/device/<type>/<devid>. */
static int by_frontend(struct xs_handle *xs, const struct dom *dom,
		       enum xdev_device_type type, const char *which,
		       long want, xdev_device_id *ret)
{
	char fe[96];
	uint32_t *ids;
	unsigned n, i;
	int r = EXIT_NOT_FOUND;

	if (store_devids(xs, dom->domid, type, &ids, &n) < 0) {
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	for (i = 0; i < n && r; i++) {
		snprintf(fe, sizeof(fe), "/local/domain/%u/device/%s/%u",
			 dom->domid, dev_type_name(type), ids[i]);
		if ((want >= 0 ? ids[i] == (uint32_t)want
			       : matches(xs, fe, type, which)) &&
		    fill_id(xs, fe, ids[i], type, dom->domid, ret) == 0)
			r = 0;
	}
	free(ids);
	return r;
}

/* Does the backend directory BE name WHICH (its "dev" for a vbd, its
 * "mac" for a vif, as xdev and libxl write them)? */
static bool backend_matches(struct xs_handle *xs, const char *be,
			    enum xdev_device_type type, const char *which)
{
	char *v = store_read(xs, be, type == XDEV_VBD ? "dev" : "mac");
	bool m = v && (type == XDEV_VBD ? !strcmp(v, which)
					: !strcasecmp(v, which));

	free(v);
	return m;
}

/* The backend domain of record REC (/xdev/<fe>/<type>/<devid>, whose value
 * is the backend directory), or -1. */
static long record_backend(struct xs_handle *xs, const char *rec,
			   enum xdev_device_type type, uint32_t domid,
			   uint32_t devid)
{
	char *be = store_read(xs, rec, NULL), want[96];
	unsigned b;
	long r = -1;
	int end = 0;

	if (be && sscanf(be, "/local/domain/%u/backend/%n", &b, &end) == 1 &&
	    end > 0) {
		snprintf(want, sizeof(want), "%s/%u/%u", dev_type_name(type),
			 domid, devid);
		if (!strcmp(be + end, want) && b < 0x7ff0)
			r = b;
	}
	free(be);
	return r;
}

/* The backends' side, for a frontend that is gone (its domain destroyed,
 * or its directory deleted): xdev's records /xdev/<fe>/<type>/<devid>
 * first, then every /local/domain/<be>/backend/<type>/<fe>/<devid>.  By
 * name only where the backend directory is left. */
static int by_backend(struct xs_handle *xs, const struct dom *dom,
		      enum xdev_device_type type, const char *which,
		      long want, xdev_device_id *ret)
{
	const char *tn = dev_type_name(type);
	char dir[96], path[128], **doms, **ids;
	unsigned nd = 0, n = 0, i, j;
	long b, devid;
	int r = EXIT_NOT_FOUND;

	snprintf(dir, sizeof(dir), "/xdev/%u/%s", dom->domid, tn);
	ids = xs_directory(xs, XBT_NULL, dir, &n);
	for (i = 0; ids && i < n && r; i++) {
		if ((devid = parse_devid(ids[i])) < 0 ||
		    (want >= 0 && devid != want))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, ids[i]);
		b = record_backend(xs, path, type, dom->domid, (uint32_t)devid);
		if (b < 0)
			continue;
		snprintf(path, sizeof(path), "/local/domain/%ld/backend/%s/%u/%ld",
			 b, tn, dom->domid, devid);
		if (want >= 0 || backend_matches(xs, path, type, which)) {
			*ret = (xdev_device_id){ type, (uint32_t)b, dom->domid,
						 (uint32_t)devid };
			r = 0;
		}
	}
	free(ids);
	doms = r ? xs_directory(xs, XBT_NULL, "/local/domain", &nd) : NULL;
	for (i = 0; doms && i < nd && r; i++) {
		if ((b = parse_domid(doms[i])) < 0)
			continue;
		snprintf(dir, sizeof(dir), "/local/domain/%ld/backend/%s/%u", b,
			 tn, dom->domid);
		ids = xs_directory(xs, XBT_NULL, dir, &n);
		for (j = 0; ids && j < n && r; j++) {
			if ((devid = parse_devid(ids[j])) < 0 ||
			    (want >= 0 && devid != want))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, ids[j]);
			if (want >= 0 || backend_matches(xs, path, type, which)) {
				*ret = (xdev_device_id){ type, (uint32_t)b,
							 dom->domid,
							 (uint32_t)devid };
				r = 0;
			}
		}
		free(ids);
	}
	free(doms);
	return r;
}

int store_find_device(struct xs_handle *xs, const struct dom *dom,
		      enum xdev_device_type type, const char *which,
		      xdev_device_id *ret)
{
	const char *what = type == XDEV_VBD ? "disk" : "network device";
	const char *tn = dev_type_name(type);
	long want = parse_devid(which); /* a number is a devid, else a name */
	int r = EXIT_NOT_FOUND;

	if (!dom->gone)
		r = by_frontend(xs, dom, type, which, want, ret);
	if (r == EXIT_NOT_FOUND)
		r = by_backend(xs, dom, type, which, want, ret);
	if (r != EXIT_NOT_FOUND)
		return r;
	if (dom->gone)
		cli_error("no %s '%s' of domain %u: the domain is gone, and "
			  "neither a backend (/local/domain/*/backend/%s/%u/%s) "
			  "nor an xdev record (/xdev/%u/%s/%s) of it is left",
			  what, which, dom->domid, tn, dom->domid,
			  want >= 0 ? which : "*", dom->domid, tn,
			  want >= 0 ? which : "*");
	else
		cli_error("no %s '%s' on domain %s (%u): `%s %s-list %u` shows "
			  "its devices", what, which, dom->name, dom->domid,
			  cli_prog, type == XDEV_VBD ? "block" : "network",
			  dom->domid);
	return r;
}
