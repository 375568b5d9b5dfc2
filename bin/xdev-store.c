/*
 * The CLI's own store connection: it names domains and devices the way an
 * operator does (a domain by name, a disk by vdev, a NIC by MAC), and reads
 * the nodes the listings show.  The library has its own connection; the
 * two never share a handle, so neither sees the other's watch events.
 *
 * Which devices a domain has, and which one a name means, is taken from
 * what only dom0 writes (xdev's records, dom0's own backend directories):
 * a guest writes its whole frontend directory and a driver domain its
 * backend directories, and either could make a detach remove another
 * device or act on a backend that is not the device's (docs/security.md,
 * docs/cli.md).
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
		cli_error_code(XDEV_E_XENSTORE);
		return NULL;
	}
	xs = xs_open(0);
	if (!xs)
		cli_error_code(XDEV_E_XENSTORE);
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

int parse_uint(const char *s, unsigned long long max,
	       unsigned long long *ret)
{
	unsigned long long v = 0;
	const char *p;

	if (!s || !*s || (s[0] == '0' && s[1]) || strlen(s) > 20)
		return -1;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (~0ULL - (unsigned)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > max)
		return -1;
	*ret = v;
	return 0;
}

long parse_domid(const char *s)
{
	unsigned long long v;

	return parse_uint(s, 0x7fef, &v) ? -1 : (long)v;
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
		cli_error_code(XDEV_E_DOMAIN_NOT_FOUND);
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

/* A devid as a store node names it: a canonical decimal. */
static long store_devid(const char *s)
{
	unsigned long long v;

	return parse_uint(s, 0x7fffffff, &v) ? -1 : (long)v;
}

/* A devid as the user gives it: decimal, at most 9 digits (a vbd's may be
 * 268442112). */
static long parse_devid(const char *s)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -1;
	return atol(s);
}

int store_record(struct xs_handle *xs, uint32_t fe,
		 enum xdev_device_type type, uint32_t devid, bool warn,
		 struct record *rec)
{
	const char *tn = dev_type_name(type), *why = NULL;
	char path[80], want[80], dom[8], *v, *bid, *name;
	unsigned long long id;
	size_t n;
	long b = -1;

	snprintf(path, sizeof(path), "/xdev/%u/%s/%u", fe, tn, devid);
	v = store_read(xs, path, NULL);
	if (!v)
		return -ENOENT;
	memset(rec, 0, sizeof(*rec));
	snprintf(want, sizeof(want), "/backend/%s/%u/%u", tn, fe, devid);
	if (strncmp(v, "/local/domain/", 14) ||
	    (n = strcspn(v + 14, "/")) >= sizeof(dom)) {
		why = "its value is not the device's backend directory";
	} else {
		memcpy(dom, v + 14, n);
		dom[n] = 0;
		b = parse_domid(dom);
		if (b < 0 || strcmp(v + 14 + n, want))
			why = "its value is not the device's backend directory";
	}
	free(v);
	if (!why) {
		bid = store_read(xs, path, "backend-id");
		if (bid && (parse_uint(bid, 0x7fef, &id) ||
			    id != (unsigned long long)b))
			why = "its backend-id is not its backend directory's "
			      "domain";
		free(bid);
	}
	if (why) {
		if (warn)
			cli_warn("ignoring %s: not a record of xdev's (%s)",
				 path, why);
		return -EINVAL;
	}
	rec->backend_domid = (uint32_t)b;
	/* written before the children existed: no name */
	name = store_read(xs, path, type == XDEV_VBD ? "vdev" : "mac");
	if (name && strlen(name) < sizeof(rec->name))
		strcpy(rec->name, name);
	free(name);
	return 0;
}

static int cmp_devid(const void *a, const void *b)
{
	uint32_t x = ((const xdev_device_id *)a)->devid;
	uint32_t y = ((const xdev_device_id *)b)->devid;

	return (x > y) - (x < y);
}

int store_devices(struct xs_handle *xs, uint32_t domid,
		  enum xdev_device_type type, xdev_device_id **ret,
		  unsigned *ret_n)
{
	const char *tn = dev_type_name(type);
	xdev_device_id *v, *nv, key;
	unsigned n = 0, i, k = 0, nrec;
	struct record rec;
	char dir[80], **ids;
	long devid;

	/* xdev's records: dom0's own */
	snprintf(dir, sizeof(dir), "/xdev/%u/%s", domid, tn);
	ids = xs_directory(xs, XBT_NULL, dir, &n);
	v = calloc(ids && n ? n : 1, sizeof(*v));
	if (!v) {
		free(ids);
		return -ENOMEM;
	}
	for (i = 0; ids && i < n; i++)
		if ((devid = store_devid(ids[i])) >= 0 &&
		    !store_record(xs, domid, type, (uint32_t)devid, true, &rec))
			v[k++] = (xdev_device_id){ type, rec.backend_domid,
						   domid, (uint32_t)devid };
	free(ids);
	qsort(v, k, sizeof(*v), cmp_devid);
	nrec = k;
	/* dom0's backends: another toolstack's devices (a record wins) */
	snprintf(dir, sizeof(dir), "/local/domain/0/backend/%s/%u", tn, domid);
	ids = xs_directory(xs, XBT_NULL, dir, &n);
	if (ids && n) {
		nv = realloc(v, (k + n) * sizeof(*v));
		if (!nv) {
			free(ids);
			free(v);
			return -ENOMEM;
		}
		v = nv;
	}
	for (i = 0; ids && i < n; i++) {
		if ((devid = store_devid(ids[i])) < 0)
			continue;
		key = (xdev_device_id){ type, 0, domid, (uint32_t)devid };
		if (!bsearch(&key, v, nrec, sizeof(*v), cmp_devid))
			v[k++] = key;
	}
	free(ids);
	qsort(v, k, sizeof(*v), cmp_devid);
	*ret = v;
	*ret_n = k;
	return 0;
}

static bool same_name(enum xdev_device_type type, const char *a,
		      const char *b)
{
	return type == XDEV_VBD ? !strcmp(a, b) : !strcasecmp(a, b);
}

/* Does device ID (of store_devices) answer to the name WHICH: its record's
 * vdev or MAC, or for a record without them (or no record), dom0's own
 * backend's dev or mac?  -1: it has no name we can trust (a driver
 * domain's backend is that domain's to write). */
static int named(struct xs_handle *xs, const xdev_device_id *id,
		 const char *which)
{
	struct record rec;
	char be[96], *v;
	int m;

	if (!store_record(xs, id->frontend_domid, id->type, id->devid, false,
			  &rec) && rec.name[0])
		return same_name(id->type, rec.name, which);
	if (id->backend_domid != 0)
		return -1;
	snprintf(be, sizeof(be), "/local/domain/0/backend/%s/%u/%u",
		 dev_type_name(id->type), id->frontend_domid, id->devid);
	v = store_read(xs, be, id->type == XDEV_VBD ? "dev" : "mac");
	m = v && same_name(id->type, v, which);
	free(v);
	return m;
}

/* What dom0 knows: xdev's records, and dom0's own backends. */
static int by_dom0(struct xs_handle *xs, const struct dom *dom,
		   enum xdev_device_type type, const char *which, long want,
		   xdev_device_id *ret, unsigned *unnamed)
{
	xdev_device_id *v;
	unsigned n, i;
	int r = EXIT_NOT_FOUND, m;

	if (store_devices(xs, dom->domid, type, &v, &n) < 0) {
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	for (i = 0; i < n && r; i++) {
		if (want >= 0) {
			m = v[i].devid == (uint32_t)want;
		} else if ((m = named(xs, &v[i], which)) < 0) {
			++*unnamed;
			m = 0;
		}
		if (m) {
			*ret = v[i];
			r = 0;
		}
	}
	free(v);
	return r;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* For a domain that is gone: the backend directories other domains hold
 * for DOM, which dom0 has no record of (another toolstack's devices, in
 * driver domains): by devid only (WANT), the lowest backend domid first,
 * never by the dev or mac a driver domain wrote; with WANT -1 they are
 * only counted in *UNNAMED. */
static int by_driver_domain(struct xs_handle *xs, const struct dom *dom,
			    enum xdev_device_type type, long want,
			    xdev_device_id *ret, unsigned *unnamed)
{
	const char *tn = dev_type_name(type);
	char dir[96], **doms, **ids;
	unsigned nd = 0, n, i, j, k = 0;
	struct record rec;
	long *bs, devid;
	int r = EXIT_NOT_FOUND;

	doms = xs_directory(xs, XBT_NULL, "/local/domain", &nd);
	bs = calloc(doms && nd ? nd : 1, sizeof(*bs));
	for (i = 0; bs && doms && i < nd; i++)
		if ((bs[k] = parse_domid(doms[i])) > 0)
			k++;
	free(doms);
	if (!bs) {
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	qsort(bs, k, sizeof(*bs), cmp_long);
	for (i = 0; i < k && r; i++) {
		snprintf(dir, sizeof(dir), "/local/domain/%ld/backend/%s/%u",
			 bs[i], tn, dom->domid);
		ids = xs_directory(xs, XBT_NULL, dir, &n);
		for (j = 0; ids && j < n && r; j++) {
			if ((devid = store_devid(ids[j])) < 0 ||
			    store_record(xs, dom->domid, type, (uint32_t)devid,
					 false, &rec) == 0)
				continue; /* recorded: by_dom0's */
			if (want < 0) {
				++*unnamed;
			} else if (devid == want) {
				*ret = (xdev_device_id){ type, (uint32_t)bs[i],
							 dom->domid,
							 (uint32_t)devid };
				r = 0;
			}
		}
		free(ids);
	}
	free(bs);
	return r;
}

int store_find_device(struct xs_handle *xs, const struct dom *dom,
		      enum xdev_device_type type, const char *which,
		      xdev_device_id *ret)
{
	const char *what = type == XDEV_VBD ? "disk" : "network device";
	const char *tn = dev_type_name(type);
	long want = parse_devid(which); /* a number is a devid, else a name */
	unsigned unnamed = 0;
	char note[200] = "";
	int r;

	r = by_dom0(xs, dom, type, which, want, ret, &unnamed);
	if (r == EXIT_NOT_FOUND && dom->gone)
		r = by_driver_domain(xs, dom, type, want, ret, &unnamed);
	if (r != EXIT_NOT_FOUND)
		return r;
	if (unnamed)
		snprintf(note, sizeof(note), "; %u %s%s of it with a backend "
			 "in a driver domain and no %s in xdev's record can "
			 "be named only by devid", unnamed, what,
			 unnamed > 1 ? "s" : "",
			 type == XDEV_VBD ? "vdev" : "MAC");
	cli_error_code(XDEV_E_NO_DEVICE);
	if (dom->gone)
		cli_error("no %s '%s' of domain %u: the domain is gone, and "
			  "neither a backend (/local/domain/*/backend/%s/%u/%s) "
			  "nor an xdev record (/xdev/%u/%s/%s) of it is left%s",
			  what, which, dom->domid, tn, dom->domid,
			  want >= 0 ? which : "*", dom->domid, tn,
			  want >= 0 ? which : "*", note);
	else
		cli_error("no %s '%s' on domain %s (%u): `%s %s-list %u` shows "
			  "its devices%s", what, which, dom->name, dom->domid,
			  cli_prog, type == XDEV_VBD ? "block" : "network",
			  dom->domid, note);
	return r;
}
