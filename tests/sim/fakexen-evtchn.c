/*
 * fakexen event channels: libxenevtchn's API over the shared port table.
 *
 * Each open handle is an "endpoint" with one FIFO (ev/<endpoint>); its read
 * end is the fd xenevtchn_fd() returns, so a process polls one fd for all of
 * its ports, as with /dev/xen/evtchn.  xenevtchn_notify() on a connected
 * port sets the peer's `pending` flag and, only on the 0 -> 1 edge, writes
 * the peer's port number into the peer endpoint's FIFO.  xenevtchn_pending()
 * reads one number and clears the flag, so each port occupies at most one
 * slot of a FIFO at a time (16384 ports fit in a 64 KiB pipe) and no
 * notification is ever dropped.  Readers re-check their rings on every
 * wake-up, as Xen's own daemons and drivers do, so coalescing is safe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakexen-internal.h"

struct xenevtchn_handle {
	int fd;
	uint32_t endpoint;
};

uint32_t fx__self_domid(void)
{
	const char *s = getenv("XDEV_SIM_DOMID");

	return s ? (uint32_t)strtoul(s, NULL, 10) : 0;
}

static struct fx_port *port_rec(uint32_t port)
{
	struct fx_evtchn *ev = fx__evtchn();

	if (!ev || port == 0 || port >= FAKEXEN_NR_PORTS)
		return NULL;
	return &ev->port[port];
}

int fx__port_alloc(enum fx_port_state state, uint32_t dom, uint32_t remote_dom,
		   uint32_t endpoint)
{
	struct fx_evtchn *ev = fx__evtchn();
	uint32_t p;

	if (!ev)
		return -ENXIO;
	for (p = 1; p < FAKEXEN_NR_PORTS; p++) {
		uint32_t expect = FX_PORT_FREE;
		struct fx_port *r = &ev->port[p];

		if (!__atomic_compare_exchange_n(&r->state, &expect,
						 FX_PORT_RESERVED, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		r->dom = dom;
		r->remote_dom = remote_dom;
		r->remote_port = 0;
		r->endpoint = endpoint;
		r->pending = 0;
		r->virq = 0;
		__atomic_store_n(&r->state, state, __ATOMIC_RELEASE);
		return (int)p;
	}
	return -ENOSPC;
}

void fx__port_deliver(uint32_t port)
{
	struct fx_port *r = port_rec(port);
	uint32_t ep;
	int fd;

	if (!r || __atomic_exchange_n(&r->pending, 1, __ATOMIC_ACQ_REL))
		return;
	ep = __atomic_load_n(&r->endpoint, __ATOMIC_ACQUIRE);
	if (!ep)
		return; /* stays pending until someone binds it */
	fd = fx__sender_fd(ep);
	__atomic_fetch_add(&fx__evtchn()->wakeups, 1, __ATOMIC_RELAXED);
	if (fd >= 0 && write(fd, &port, sizeof(port)) != sizeof(port))
		__atomic_store_n(&r->pending, 0, __ATOMIC_RELEASE);
}

static void port_free(struct fx_port *r)
{
	__atomic_store_n(&r->state, FX_PORT_FREE, __ATOMIC_RELEASE);
}

/* Close the connection of port P from its side: the peer goes back to
 * unbound, as when a Xen domain closes its end of an interdomain channel. */
static void port_disconnect(uint32_t p)
{
	struct fx_port *r = port_rec(p), *peer;

	if (!r || r->state != FX_PORT_INTERDOMAIN)
		return;
	peer = port_rec(r->remote_port);
	if (peer && peer->state == FX_PORT_INTERDOMAIN && peer->remote_port == p) {
		peer->remote_port = 0;
		__atomic_store_n(&peer->state, FX_PORT_UNBOUND,
				 __ATOMIC_RELEASE);
	}
}

void fx__ports_release_domain(uint32_t domid)
{
	struct fx_evtchn *ev = fx__evtchn();
	uint32_t p;

	for (p = 1; p < FAKEXEN_NR_PORTS; p++) {
		struct fx_port *r = &ev->port[p];
		uint32_t st = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);

		if (st == FX_PORT_FREE || st == FX_PORT_RESERVED || r->dom != domid)
			continue;
		port_disconnect(p);
		port_free(r);
	}
}

void fakexen_raise_dom_exc(void)
{
	struct fx_evtchn *ev;
	uint32_t p;

	if (fx__ensure_attached())
		return;
	ev = fx__evtchn();
	for (p = 1; p < FAKEXEN_NR_PORTS; p++)
		if (__atomic_load_n(&ev->port[p].state, __ATOMIC_ACQUIRE) ==
			    FX_PORT_VIRQ &&
		    ev->port[p].virq == FX_VIRQ_DOM_EXC)
			fx__port_deliver(p);
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
				 unsigned int flags)
{
	struct xenevtchn_handle *h;
	char path[PATH_MAX];
	int r;

	(void)logger;
	(void)flags;
	if ((r = fx__ensure_attached())) {
		errno = -r;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->endpoint = __atomic_fetch_add(&fx__evtchn()->next_endpoint, 1,
					 __ATOMIC_ACQ_REL);
	if (fx__path(path, sizeof(path), "ev/%u", h->endpoint) ||
	    mkfifo(path, 0600) < 0)
		goto fail;
	/* O_RDWR: the FIFO never reports EOF while we hold it. */
	h->fd = fx__real_open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
	if (h->fd < 0) {
		unlink(path);
		goto fail;
	}
	return h;
fail:
	r = errno;
	free(h);
	errno = r;
	return NULL;
}

xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd,
				   unsigned int flags)
{
	/* Only used by xenstored's live update, which the simulator does not
	 * support. */
	(void)logger;
	(void)fd;
	(void)flags;
	errno = ENOSYS;
	return NULL;
}

int xenevtchn_close(xenevtchn_handle *h)
{
	struct fx_evtchn *ev = fx__evtchn();
	char path[PATH_MAX];
	uint32_t p;

	if (!h)
		return 0;
	for (p = 1; ev && p < FAKEXEN_NR_PORTS; p++) {
		struct fx_port *r = &ev->port[p];

		if (__atomic_load_n(&r->endpoint, __ATOMIC_ACQUIRE) != h->endpoint)
			continue;
		if (r->dom < FAKEXEN_NR_DOMIDS &&
		    fx__domains()->dom[r->dom].xs_port == p) {
			/* a domain's xenstore port: it outlives the guest
			 * process that took delivery of it */
			__atomic_store_n(&r->endpoint, 0, __ATOMIC_RELEASE);
			continue;
		}
		xenevtchn_unbind(h, p);
	}
	close(h->fd);
	fx__sender_forget(h->endpoint);
	if (!fx__path(path, sizeof(path), "ev/%u", h->endpoint))
		unlink(path);
	free(h);
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *h)
{
	return h->fd;
}

int xenevtchn_restrict(xenevtchn_handle *h, domid_t domid)
{
	(void)h;
	(void)domid;
	return 0;
}

int xenevtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
	struct fx_port *r = port_rec(port);

	(void)h;
	if (!r) {
		errno = EINVAL;
		return -1;
	}
	__atomic_fetch_add(&fx__evtchn()->notifies, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&r->state, __ATOMIC_ACQUIRE) == FX_PORT_INTERDOMAIN)
		fx__port_deliver(r->remote_port);
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *h,
						      uint32_t domid)
{
	int p = fx__port_alloc(FX_PORT_UNBOUND, fx__self_domid(), domid,
			       h->endpoint);

	if (p < 0) {
		errno = -p;
		return -1;
	}
	return p;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *h,
						     uint32_t domid,
						     evtchn_port_t remote)
{
	struct fx_port *r = port_rec(remote);
	uint32_t self = fx__self_domid();
	int p;

	if (!r || __atomic_load_n(&r->state, __ATOMIC_ACQUIRE) == FX_PORT_FREE ||
	    r->dom != domid || r->remote_dom != self) {
		errno = EINVAL;
		return -1;
	}
	/* A port still connected to a dead binder (a previous daemon) is
	 * taken over: the simulator cannot close it on the dead side. */
	port_disconnect(remote);
	p = fx__port_alloc(FX_PORT_RESERVED, self, domid, h->endpoint);
	if (p < 0) {
		errno = -p;
		return -1;
	}
	fx__evtchn()->port[p].remote_port = remote;
	r->remote_port = p;
	__atomic_store_n(&r->state, FX_PORT_INTERDOMAIN, __ATOMIC_RELEASE);
	__atomic_store_n(&fx__evtchn()->port[p].state, FX_PORT_INTERDOMAIN,
			 __ATOMIC_RELEASE);
	return p;
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *h,
					      unsigned int virq)
{
	int p = fx__port_alloc(FX_PORT_RESERVED, fx__self_domid(), 0,
			       h->endpoint);

	if (p < 0) {
		errno = -p;
		return -1;
	}
	fx__evtchn()->port[p].virq = virq;
	__atomic_store_n(&fx__evtchn()->port[p].state, FX_PORT_VIRQ,
			 __ATOMIC_RELEASE);
	return p;
}

int xenevtchn_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
	struct fx_port *r = port_rec(port);

	if (!r || r->endpoint != h->endpoint) {
		errno = EINVAL;
		return -1;
	}
	port_disconnect(port);
	port_free(r);
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *h)
{
	uint32_t port;
	ssize_t n = read(h->fd, &port, sizeof(port));
	struct fx_port *r;

	if (n != sizeof(port)) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	/* Clear before the caller looks at its ring: a notify that races with
	 * the look queues a new wake-up instead of being lost. */
	r = port_rec(port);
	if (r)
		__atomic_store_n(&r->pending, 0, __ATOMIC_RELEASE);
	return port;
}

int xenevtchn_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
	(void)h;
	(void)port;
	return 0;
}

int fakexen_guest_bind_xs_port(xenevtchn_handle *h, uint32_t domid,
			       evtchn_port_t *ret_port)
{
	struct fakexen_dominfo info;
	struct fx_port *r;
	int rc;

	if ((rc = fakexen_domain_get(domid, &info)))
		return rc;
	r = port_rec(info.xs_port);
	if (!r)
		return -EINVAL;
	__atomic_store_n(&r->endpoint, h->endpoint, __ATOMIC_RELEASE);
	/* A notify sent before we bound is still pending: deliver it now. */
	if (__atomic_exchange_n(&r->pending, 0, __ATOMIC_ACQ_REL))
		fx__port_deliver(info.xs_port);
	*ret_port = info.xs_port;
	return 0;
}

int fakexen_stats(struct fakexen_stats *ret)
{
	int r = fx__ensure_attached();

	if (r)
		return r;
	ret->notifies = __atomic_load_n(&fx__evtchn()->notifies,
					__ATOMIC_RELAXED);
	ret->wakeups = __atomic_load_n(&fx__evtchn()->wakeups, __ATOMIC_RELAXED);
	return 0;
}
