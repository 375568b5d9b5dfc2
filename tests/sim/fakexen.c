/*
 * fakexen: the hypervisor of the simulated host (see fakexen.h for the
 * model and docs/simulated-host.md for how it is used).
 *
 * This file holds the shared state: the domain registry, the event-channel
 * table and the ring pages.  The entry points that stand in for libxenctrl,
 * libxenevtchn and libxengnttab, and the libc calls redirected for the
 * daemons, are in fakexen-calls.c.
 *
 * Everything the daemon calls on a hot path (notify, pending, unmask) works
 * on memory shared between processes plus one write() into the receiver's
 * FIFO; the file system is only touched when a handle is opened or a domain
 * is created.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakexen-internal.h"

#define DOMAINS_MAGIC 0x78646f6du /* "xdom" */
#define EVTCHN_MAGIC 0x78657663u  /* "xevc" */

static struct fx_state {
	pthread_mutex_t lock;
	char dir[PATH_MAX - 64];
	int domains_fd;
	struct fx_domains *domains;
	struct fx_evtchn *evtchn;
	/* endpoint -> write fd of its FIFO, opened on first notify */
	int *sender_fd;
	unsigned sender_n;
} fx = { .lock = PTHREAD_MUTEX_INITIALIZER, .domains_fd = -1 };

struct fx_domains *fx__domains(void) { return fx.domains; }
struct fx_evtchn *fx__evtchn(void) { return fx.evtchn; }

const char *fakexen_dir(void)
{
	return fx.domains ? fx.dir : NULL;
}

int fx__path(char *buf, size_t size, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return -ENAMETOOLONG;
	n = snprintf(buf, size, "%s/%s", fx.dir, rel);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

static void *map_file(const char *path, size_t size, int *ret_fd)
{
	int fd = fx__real_open(path, O_RDWR | O_CLOEXEC, 0);
	void *p;

	if (fd < 0)
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return NULL;
	}
	if (ret_fd)
		*ret_fd = fd;
	else
		close(fd);
	return p;
}

/* A process that drives several hosts (a test) switches between them; the
 * handles it opened on the previous host must be closed by then. */
static void detach_locked(void)
{
	unsigned i;

	for (i = 0; i < fx.sender_n; i++)
		if (fx.sender_fd[i] >= 0)
			close(fx.sender_fd[i]);
	free(fx.sender_fd);
	fx.sender_fd = NULL;
	fx.sender_n = 0;
	munmap(fx.domains, sizeof(struct fx_domains));
	munmap(fx.evtchn, sizeof(struct fx_evtchn));
	close(fx.domains_fd);
	fx.domains = NULL;
	fx.evtchn = NULL;
	fx.domains_fd = -1;
}

static int attach_locked(const char *dir)
{
	char path[PATH_MAX];
	int fd = -1;

	if (fx.domains && !strcmp(dir, fx.dir))
		return 0;
	if (fx.domains)
		detach_locked();
	if (strlen(dir) >= sizeof(fx.dir))
		return -ENAMETOOLONG;
	strcpy(fx.dir, dir);
	snprintf(path, sizeof(path), "%s/domains", dir);
	fx.domains = map_file(path, sizeof(struct fx_domains), &fd);
	if (!fx.domains)
		return -errno;
	snprintf(path, sizeof(path), "%s/evtchn", dir);
	fx.evtchn = map_file(path, sizeof(struct fx_evtchn), NULL);
	if (!fx.evtchn || fx.domains->magic != DOMAINS_MAGIC ||
	    fx.evtchn->magic != EVTCHN_MAGIC) {
		int r = fx.evtchn ? -EPROTO : -errno;

		if (fx.evtchn)
			munmap(fx.evtchn, sizeof(struct fx_evtchn));
		munmap(fx.domains, sizeof(struct fx_domains));
		close(fd);
		fx.domains = NULL;
		fx.evtchn = NULL;
		return r;
	}
	fx.domains_fd = fd;
	return 0;
}

int fakexen_attach(const char *dir)
{
	int r;

	if (!dir)
		dir = getenv(FAKEXEN_ENV_DIR);
	if (!dir || !*dir) {
		if (fx.domains)
			return 0;
		return -ENXIO; /* no simulated hypervisor here */
	}
	pthread_mutex_lock(&fx.lock);
	r = attach_locked(dir);
	pthread_mutex_unlock(&fx.lock);
	return r;
}

int fx__ensure_attached(void)
{
	return fx.domains ? 0 : fakexen_attach(NULL);
}

static int create_sized(const char *dir, const char *name, size_t size)
{
	char path[PATH_MAX];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = fx__real_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd, r = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = fx__real_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n != (ssize_t)strlen(text))
		r = n < 0 ? -errno : -EIO;
	close(fd);
	return r;
}

/* Make a domain's ring page: a zeroed page-sized file. */
static int ring_create(uint32_t domid)
{
	char name[32];

	snprintf(name, sizeof(name), "rings/%u", domid);
	return create_sized(fx.dir, name, FX_PAGE_SIZE);
}

int fakexen_host_init(const char *dir)
{
	char sub[PATH_MAX], port[16];
	struct fx_dom *d0;
	int r;

	if (strlen(dir) >= PATH_MAX - 32)
		return -ENAMETOOLONG;
	snprintf(sub, sizeof(sub), "%s/rings", dir);
	if (mkdir(sub, 0700) < 0)
		return -errno;
	snprintf(sub, sizeof(sub), "%s/ev", dir);
	if (mkdir(sub, 0700) < 0)
		return -errno;
	if ((r = create_sized(dir, "domains", sizeof(struct fx_domains))) ||
	    (r = create_sized(dir, "evtchn", sizeof(struct fx_evtchn))) ||
	    (r = create_sized(dir, "xsd_kva", FX_PAGE_SIZE)))
		return r;
	{
		/* Stamp the magics before anyone attaches. */
		char path[PATH_MAX];
		struct fx_domains *dm;
		struct fx_evtchn *ev;

		snprintf(path, sizeof(path), "%s/domains", dir);
		dm = map_file(path, sizeof(*dm), NULL);
		snprintf(path, sizeof(path), "%s/evtchn", dir);
		ev = map_file(path, sizeof(*ev), NULL);
		if (!dm || !ev)
			return -errno;
		dm->magic = DOMAINS_MAGIC;
		ev->magic = EVTCHN_MAGIC;
		ev->next_endpoint = 1;
		munmap(dm, sizeof(*dm));
		munmap(ev, sizeof(*ev));
	}
	if ((r = fakexen_attach(dir)))
		return r;

	d0 = &fx.domains->dom[0];
	strcpy(d0->name, "Domain-0");
	/* dom0's own xenstore channel: xenstored binds it at start-up and
	 * nothing ever signals it (dom0 clients use the socket). */
	r = fx__port_alloc(FX_PORT_UNBOUND, 0, 0, 0);
	if (r < 0)
		return r;
	d0->xs_port = r;
	__atomic_store_n(&d0->flags, FAKEXEN_DOM_EXISTS, __ATOMIC_RELEASE);
	/* No trailing newline: xenstored parses the file with atoi-like code
	 * and the kernel's file has none. */
	snprintf(port, sizeof(port), "%u", d0->xs_port);
	return write_text(dir, "xsd_port", port);
}

/* Registry writers serialise on an flock of the registry file, so that two
 * xdev-sim processes creating domains at once never pick the same id. */
static void registry_lock(void) { flock(fx.domains_fd, LOCK_EX); }
static void registry_unlock(void) { flock(fx.domains_fd, LOCK_UN); }

static int pick_domid(uint32_t want, uint32_t *ret)
{
	uint32_t id;

	if (want) {
		if (want >= FAKEXEN_NR_DOMIDS)
			return -EINVAL;
		if (fx.domains->dom[want].flags & FAKEXEN_DOM_EXISTS)
			return -EEXIST;
		*ret = want;
		return 0;
	}
	for (id = 1; id < FAKEXEN_NR_DOMIDS; id++)
		if (!(fx.domains->dom[id].flags & FAKEXEN_DOM_EXISTS)) {
			*ret = id;
			return 0;
		}
	return -ENOSPC;
}

int fakexen_domain_create(uint32_t want, const char *name,
			  const uint8_t uuid[16], uint32_t *ret_domid)
{
	struct fx_dom *d;
	uint32_t id = 0;
	int r, port;

	if ((r = fx__ensure_attached()))
		return r;
	if (!name || strlen(name) >= FAKEXEN_NAME_MAX)
		return -EINVAL;
	registry_lock();
	if ((r = pick_domid(want, &id)))
		goto out;
	if ((r = ring_create(id)) && r != -EEXIST)
		goto out;
	port = fx__port_alloc(FX_PORT_UNBOUND, id, 0, 0);
	if (port < 0) {
		r = port;
		goto out;
	}
	d = &fx.domains->dom[id];
	memset(d, 0, sizeof(*d));
	strcpy(d->name, name);
	if (uuid)
		memcpy(d->uuid, uuid, 16);
	d->xs_port = port;
	__atomic_store_n(&d->flags, FAKEXEN_DOM_EXISTS, __ATOMIC_RELEASE);
	if (ret_domid)
		*ret_domid = id;
	r = 0;
out:
	registry_unlock();
	return r;
}

int fakexen_domain_get(uint32_t domid, struct fakexen_dominfo *ret)
{
	struct fx_dom *d;
	int r;

	if ((r = fx__ensure_attached()))
		return r;
	if (domid >= FAKEXEN_NR_DOMIDS)
		return -EINVAL;
	d = &fx.domains->dom[domid];
	ret->flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
	if (!(ret->flags & FAKEXEN_DOM_EXISTS))
		return -ESRCH;
	ret->domid = domid;
	ret->shutdown_reason = d->shutdown_reason;
	ret->xs_port = d->xs_port;
	memcpy(ret->name, d->name, sizeof(ret->name));
	ret->name[sizeof(ret->name) - 1] = 0;
	memcpy(ret->uuid, d->uuid, 16);
	return 0;
}

int fakexen_domain_update(uint32_t domid, uint32_t set, uint32_t clear,
			  uint32_t reason)
{
	struct fx_dom *d;
	int r;

	if ((r = fx__ensure_attached()))
		return r;
	if (domid >= FAKEXEN_NR_DOMIDS || ((set | clear) & FAKEXEN_DOM_EXISTS))
		return -EINVAL;
	registry_lock();
	d = &fx.domains->dom[domid];
	if (!(d->flags & FAKEXEN_DOM_EXISTS)) {
		registry_unlock();
		return -ESRCH;
	}
	if (set & FAKEXEN_DOM_SHUTDOWN)
		d->shutdown_reason = reason;
	__atomic_store_n(&d->flags, (d->flags | set) & ~clear, __ATOMIC_RELEASE);
	registry_unlock();
	fakexen_raise_dom_exc();
	return 0;
}

int fakexen_domain_remove(uint32_t domid)
{
	struct fx_dom *d;
	char path[PATH_MAX];
	int r;

	if ((r = fx__ensure_attached()))
		return r;
	if (domid == 0 || domid >= FAKEXEN_NR_DOMIDS)
		return -EINVAL;
	registry_lock();
	d = &fx.domains->dom[domid];
	if (!(d->flags & FAKEXEN_DOM_EXISTS)) {
		registry_unlock();
		return -ESRCH;
	}
	__atomic_store_n(&d->flags, 0, __ATOMIC_RELEASE);
	fx__ports_release_domain(domid);
	registry_unlock();
	snprintf(path, sizeof(path), "%s/rings/%u", fx.dir, domid);
	unlink(path); /* mappings that remain stay valid, as on Xen */
	fakexen_raise_dom_exc();
	return 0;
}

int fakexen_domain_list(uint32_t *domids, int max)
{
	int n = 0, r;
	uint32_t id;

	if ((r = fx__ensure_attached()))
		return r;
	for (id = 0; id < FAKEXEN_NR_DOMIDS && n < max; id++)
		if (__atomic_load_n(&fx.domains->dom[id].flags,
				    __ATOMIC_ACQUIRE) & FAKEXEN_DOM_EXISTS)
			domids[n++] = id;
	return n;
}

void *fakexen_ring_map(uint32_t domid)
{
	char path[PATH_MAX];

	if (fx__ensure_attached() || domid >= FAKEXEN_NR_DOMIDS) {
		errno = EINVAL;
		return NULL;
	}
	if (!(fx.domains->dom[domid].flags & FAKEXEN_DOM_EXISTS)) {
		errno = ESRCH;
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/rings/%u", fx.dir, domid);
	return map_file(path, FX_PAGE_SIZE, NULL);
}

void fakexen_ring_unmap(void *ring)
{
	if (ring)
		munmap(ring, FX_PAGE_SIZE);
}

/* The write end of ENDPOINT's FIFO.  Opened O_RDWR so that a receiver that
 * died never turns a notify into SIGPIPE: its queue just fills up. */
int fx__sender_fd(uint32_t endpoint)
{
	char path[PATH_MAX];
	int fd;

	pthread_mutex_lock(&fx.lock);
	if (endpoint >= fx.sender_n) {
		unsigned n = endpoint + 64, i;
		int *v = realloc(fx.sender_fd, n * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&fx.lock);
			return -ENOMEM;
		}
		for (i = fx.sender_n; i < n; i++)
			v[i] = -1;
		fx.sender_fd = v;
		fx.sender_n = n;
	}
	fd = fx.sender_fd[endpoint];
	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/ev/%u", fx.dir, endpoint);
		fd = fx__real_open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
		if (fd < 0)
			fd = -errno;
		else
			fx.sender_fd[endpoint] = fd;
	}
	pthread_mutex_unlock(&fx.lock);
	return fd;
}

/* Forget a cached sender fd, e.g. when the endpoint is closed by this
 * process itself. */
void fx__sender_forget(uint32_t endpoint)
{
	pthread_mutex_lock(&fx.lock);
	if (endpoint < fx.sender_n && fx.sender_fd[endpoint] >= 0) {
		close(fx.sender_fd[endpoint]);
		fx.sender_fd[endpoint] = -1;
	}
	pthread_mutex_unlock(&fx.lock);
}
