/*
 * simhost-domain: the domain operations of the simulated host, split as on
 * a real host between the hypervisor (fakexen's registry: create, mark
 * dying, shut down, remove) and the toolstack (the store nodes a domain
 * gets from libxl, and XS_INTRODUCE so that xenstored serves its ring).
 *
 * Waits are on xenstore watches (@releaseDomain), never on sleeps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include <xen/sched.h>

#include "fakexen.h"
#include "simhost-internal.h"
#include "xenbus-tx.h"

#define RELEASE_TIMEOUT_MS 10000

struct xs_handle *sim__xs_open(struct simhost *h)
{
	struct xs_handle *xs;

	if (setenv("XENSTORED_PATH", h->socket, 1))
		return NULL;
	xs = xs_open(0);
	if (!xs)
		snprintf(h->err, sizeof(h->err), "cannot connect to %s: %s",
			 h->socket, strerror(errno));
	return xs;
}

int sim__dom0_nodes(struct simhost *h)
{
	struct xs_handle *xs = sim__xs_open(h);
	bool ok;

	if (!xs)
		return -errno;
	ok = xs_write(xs, XBT_NULL, "/local/domain/0/name", "Domain-0", 8) &&
	     xs_write(xs, XBT_NULL, "/local/domain/0/domid", "0", 1);
	if (!ok)
		snprintf(h->err, sizeof(h->err), "writing dom0's nodes: %s",
			 strerror(errno));
	xs_close(xs);
	return ok ? 0 : -EIO;
}

static int attach(struct simhost *h)
{
	int r = fakexen_attach(h->dir);

	if (r)
		snprintf(h->err, sizeof(h->err), "%s: %s", h->dir, strerror(-r));
	return r;
}

static void uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* The nodes libxl gives a new domain.  The domain reads its directory and
 * owns the subdirectories it writes to; dom0 owns the rest. */
static bool write_domain_nodes(struct xs_handle *xs, xs_transaction_t t,
			       uint32_t id, const char *name, const char *uuid)
{
	static const char *const ro_dirs[] = { "device", "control" };
	static const char *const rw_dirs[] = { "data", "drivers", "feature",
					       "attr", "error",
					       "control/shutdown" };
	struct xs_permissions ro[2] = { { .id = 0, .perms = XS_PERM_NONE },
					{ .id = id, .perms = XS_PERM_READ } };
	struct xs_permissions rw[1] = { { .id = id, .perms = XS_PERM_NONE } };
	char dom[64], path[160], vm[80], num[16];
	size_t i;
	bool ok;

	snprintf(dom, sizeof(dom), "/local/domain/%u", id);
	snprintf(vm, sizeof(vm), "/vm/%s", uuid);
	snprintf(num, sizeof(num), "%u", id);
	ok = xs_mkdir(xs, t, dom) && xs_set_permissions(xs, t, dom, ro, 2) &&
	     xs_mkdir(xs, t, vm) && xs_set_permissions(xs, t, vm, ro, 2);
	snprintf(path, sizeof(path), "%s/name", dom);
	ok = ok && xs_write(xs, t, path, name, strlen(name));
	snprintf(path, sizeof(path), "%s/domid", dom);
	ok = ok && xs_write(xs, t, path, num, strlen(num));
	snprintf(path, sizeof(path), "%s/vm", dom);
	ok = ok && xs_write(xs, t, path, vm, strlen(vm));
	snprintf(path, sizeof(path), "%s/name", vm);
	ok = ok && xs_write(xs, t, path, name, strlen(name));
	snprintf(path, sizeof(path), "%s/uuid", vm);
	ok = ok && xs_write(xs, t, path, uuid, strlen(uuid));
	for (i = 0; ok && i < sizeof(ro_dirs) / sizeof(ro_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dom, ro_dirs[i]);
		ok = xs_mkdir(xs, t, path) &&
		     xs_set_permissions(xs, t, path, ro, 2);
	}
	for (i = 0; ok && i < sizeof(rw_dirs) / sizeof(rw_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dom, rw_dirs[i]);
		ok = xs_mkdir(xs, t, path) &&
		     xs_set_permissions(xs, t, path, rw, 1);
	}
	return ok;
}

struct domain_nodes {
	uint32_t id;
	const char *name, *uuid;
};

static int domain_nodes_in(struct xs_handle *xs, xs_transaction_t t,
			   void *arg)
{
	struct domain_nodes *n = arg;

	return write_domain_nodes(xs, t, n->id, n->name, n->uuid) ? 0
		       : -(errno ? errno : EIO);
}

/* One transaction, retried on conflict (bounded: lib/xenbus-tx.h). */
static int store_domain(struct simhost *h, struct xs_handle *xs, uint32_t id,
			const char *name, const char *uuid)
{
	struct domain_nodes n = { id, name, uuid };
	int r = xenbus_transact(xs, domain_nodes_in, &n, 100, 100);

	if (r)
		snprintf(h->err, sizeof(h->err), "writing /local/domain/%u: "
			 "%s", id, strerror(-r));
	return r;
}

/* Scans the whole registry: 32k atomic loads, cheaper than a list. */
static int domid_by_name(const char *name, uint32_t *ret)
{
	struct fakexen_dominfo d;
	uint32_t id;

	for (id = 0; id < FAKEXEN_NR_DOMIDS; id++)
		if (!fakexen_domain_get(id, &d) && !strcmp(d.name, name)) {
			*ret = id;
			return 0;
		}
	return -ESRCH;
}

static int valid_name(const char *name)
{
	const char *p;

	if (!*name || strlen(name) >= FAKEXEN_NAME_MAX)
		return 0;
	if (!((name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_'))
		return 0; /* a digit would read as a domid, '-' as an option */
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("-_.", *p)))
			return 0;
	return 1;
}

int simhost_domain_create(struct simhost *h, const char *name, uint32_t want,
			  uint32_t *ret_domid)
{
	return simhost_domain_create_kind(h, name, want, SIMHOST_DOM_BARE,
					  ret_domid);
}

/* Ask the supervisor to start (or kill) the kernel of domain ID. */
static int kernel_request(struct simhost *h, const char *what, uint32_t id,
			  const char *role)
{
	char req[64];
	int r;

	snprintf(req, sizeof(req), "%s %u %s\n", what, id, role);
	r = sim__control(h->dir, req);
	if (r)
		snprintf(h->err, sizeof(h->err), "%s %u: the host refused (%s);"
			 " see %s/drivers.log", what, id, strerror(-r), h->dir);
	return r;
}

int simhost_domain_create_kind(struct simhost *h, const char *name,
			       uint32_t want, enum simhost_dom_kind kind,
			       uint32_t *ret_domid)
{
	struct fakexen_dominfo d;
	struct xs_handle *xs;
	uint8_t uuid[16];
	char uuid_s[37];
	uint32_t id;
	int r;

	if (!valid_name(name)) {
		snprintf(h->err, sizeof(h->err),
			 "invalid domain name '%s' (letters, digits, '-', '_', "
			 "'.'; starting with a letter or '_'; at most %d "
			 "characters)",
			 name, FAKEXEN_NAME_MAX - 1);
		return -EINVAL;
	}
	if ((r = attach(h)))
		return r;
	if (domid_by_name(name, &id) == 0) {
		snprintf(h->err, sizeof(h->err), "a domain named '%s' exists",
			 name);
		return -EEXIST;
	}
	if (getrandom(uuid, sizeof(uuid), 0) != sizeof(uuid))
		return -errno;
	uuid[6] = (uuid[6] & 0x0f) | 0x40;
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	uuid_format(uuid, uuid_s);
	if ((r = fakexen_domain_create(want, name, uuid, &id))) {
		snprintf(h->err, sizeof(h->err), "domain %u: %s", want,
			 r == -EEXIST ? "exists" : strerror(-r));
		return r;
	}
	fakexen_domain_get(id, &d);
	xs = sim__xs_open(h);
	if (!xs) {
		r = -errno;
		goto fail;
	}
	if ((r = store_domain(h, xs, id, name, uuid_s)))
		goto fail;
	/* The frame number is unused: the shim maps the ring by domid. */
	if (!xs_introduce_domain(xs, id, 1, d.xs_port)) {
		r = -errno;
		snprintf(h->err, sizeof(h->err), "introducing domain %u: %s",
			 id, strerror(errno));
		goto fail;
	}
	xs_close(xs);
	xs = NULL;
	if (kind != SIMHOST_DOM_BARE &&
	    (r = kernel_request(h, "kernel", id, kind == SIMHOST_DOM_DRIVER
				? "backend" : "frontend")))
		goto fail_introduced;
	if (ret_domid)
		*ret_domid = id;
	return 0;
fail_introduced:
	simhost_domain_destroy(h, id, 0);
	return r;
fail:
	if (xs) {
		char path[64];

		snprintf(path, sizeof(path), "/local/domain/%u", id);
		xs_rm(xs, XBT_NULL, path);
		snprintf(path, sizeof(path), "/vm/%s", uuid_s);
		xs_rm(xs, XBT_NULL, path);
		xs_close(xs);
	}
	fakexen_domain_remove(id);
	return r;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Read the next watch event, waiting at most until DEADLINE. */
static int next_event(struct xs_handle *xs, long long deadline)
{
	struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };
	long long left;
	char **ev;

	for (;;) {
		ev = xs_check_watch(xs);
		if (ev) {
			free(ev);
			return 0;
		}
		if (errno != EAGAIN)
			return -errno;
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
	}
}

/* Apply CHANGE to the domain and wait for the @releaseDomain that follows
 * (and, with GONE, for xenstored to have forgotten the domain). */
static int change_and_wait_release(struct simhost *h, uint32_t id,
				   uint32_t set, unsigned reason, int gone)
{
	long long deadline = now_ms() + RELEASE_TIMEOUT_MS;
	struct xs_handle *xs = sim__xs_open(h);
	int r;

	if (!xs)
		return -errno;
	if (!xs_watch(xs, "@releaseDomain", "sim-release")) {
		r = -errno;
		goto out;
	}
	/* The registration fires once at once: consume it first, so that the
	 * event we wait for below is the one our change causes. */
	if ((r = next_event(xs, deadline)))
		goto out;
	if ((r = fakexen_domain_update(id, set, 0, reason)))
		goto out;
	do {
		if ((r = next_event(xs, deadline)))
			break;
	} while (gone && xs_is_domain_introduced(xs, id));
out:
	if (r == -ETIMEDOUT)
		snprintf(h->err, sizeof(h->err),
			 "xenstored did not release domain %u within %d ms", id,
			 RELEASE_TIMEOUT_MS);
	else if (r)
		snprintf(h->err, sizeof(h->err), "domain %u: %s", id,
			 strerror(-r));
	xs_close(xs);
	return r;
}

int simhost_domain_destroy(struct simhost *h, uint32_t id, int keep_store)
{
	struct fakexen_dominfo d;
	char path[64], uuid_s[37], *fault_path;
	struct xs_handle *xs;
	int r;

	if ((r = attach(h)))
		return r;
	if (id == 0) {
		snprintf(h->err, sizeof(h->err), "domain 0 cannot be destroyed");
		return -EINVAL;
	}
	if ((r = fakexen_domain_get(id, &d))) {
		snprintf(h->err, sizeof(h->err), "domain %u does not exist", id);
		return r;
	}
	uuid_format(d.uuid, uuid_s);
	/* The domain stops running first: its kernel cannot clean up. */
	if ((r = kernel_request(h, "gone", id, "")))
		return r;
	if (!(d.flags & FAKEXEN_DOM_DYING) &&
	    (r = change_and_wait_release(h, id, FAKEXEN_DOM_DYING, 0, 1)))
		return r;
	if ((r = fakexen_domain_remove(id)))
		return r;
	/* its fault rules die with it: a domain reusing the id starts clean */
	fault_path = NULL;
	if (asprintf(&fault_path, "%s/faults/%u", h->dir, id) >= 0)
		unlink(fault_path);
	free(fault_path);
	if (keep_store)
		return 0;
	xs = sim__xs_open(h);
	if (!xs)
		return -errno;
	snprintf(path, sizeof(path), "/local/domain/%u", id);
	xs_rm(xs, XBT_NULL, path);
	snprintf(path, sizeof(path), "/vm/%s", uuid_s);
	xs_rm(xs, XBT_NULL, path);
	xs_close(xs);
	return 0;
}

int simhost_domain_shutdown(struct simhost *h, uint32_t id, int crash,
			    unsigned reason)
{
	struct fakexen_dominfo d;
	int r;

	if ((r = attach(h)))
		return r;
	if ((r = fakexen_domain_get(id, &d)) || id == 0) {
		snprintf(h->err, sizeof(h->err), "domain %u does not exist%s",
			 id, id == 0 ? " as a guest" : "");
		return r ? r : -EINVAL;
	}
	if ((r = kernel_request(h, "gone", id, "")))
		return r;
	return change_and_wait_release(h, id, crash ? FAKEXEN_DOM_CRASHED
					   : FAKEXEN_DOM_SHUTDOWN,
				       crash ? SHUTDOWN_crash : reason, 0);
}

int simhost_domain_find(struct simhost *h, const char *s, uint32_t *ret)
{
	struct fakexen_dominfo d;
	char *end;
	unsigned long v;
	int r;

	if ((r = attach(h)))
		return r;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno) {
		if (v < FAKEXEN_NR_DOMIDS && !fakexen_domain_get(v, &d)) {
			*ret = v;
			return 0;
		}
	} else if (domid_by_name(s, ret) == 0) {
		return 0;
	}
	snprintf(h->err, sizeof(h->err), "no domain '%s'", s);
	return -ESRCH;
}

int simhost_domain_kexec(struct simhost *h, uint32_t domid)
{
	return kernel_request(h, "kexec", domid, "");
}
