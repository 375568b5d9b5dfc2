/*
 * xs-ring: ring primitives, message framing, error names and deadlines
 * shared by the simulated guest's xenstore clients (see xs-ring.h).
 *
 * This is a small re-implementation of what a PV guest's kernel does
 * (Linux: drivers/xen/xenbus/xenbus_comms.c): the guest produces requests
 * into ring->req and consumes replies and watch events from ring->rsp.
 * Every wake-up, and every decision to sleep, re-reads the indices, because
 * notifications coalesce and may be spurious.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakexen.h"
#include "xs-ring.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- time ---- */

int64_t xs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t xs_deadline_in(int ms)
{
	return ms < 0 ? -1 : xs_now_ms() + ms;
}

int xs_poll_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - xs_now_ms();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* ---- errors ---- */

/* Error names the daemons send beyond xs_wire.h's xsd_errors[]. */
static const struct {
	const char *name;
	int err;
} extra_errors[] = {
	{ "EQUOTA", EDQUOT },           /* oxenstored's quota errors */
	{ "ENOTDIR", ENOTDIR },
	{ "ENOTSUP", ENOTSUP },
	{ "EOPNOTSUPP", EOPNOTSUPP },
	{ "ENODEV", ENODEV },
	{ "ENXIO", ENXIO },
	{ "EBADF", EBADF },
	{ "ENOTCONN", ENOTCONN },
	{ "ETIMEDOUT", ETIMEDOUT },
	{ "ERANGE", ERANGE },
	{ "EOVERFLOW", EOVERFLOW },
	{ "EFAULT", EFAULT },
	{ "EDQUOT", EDQUOT },
};

int xs_error_errno(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(xsd_errors); i++)
		if (!strcmp(name, xsd_errors[i].errstring))
			return -xsd_errors[i].errnum;
	for (i = 0; i < ARRAY_SIZE(extra_errors); i++)
		if (!strcmp(name, extra_errors[i].name))
			return -extra_errors[i].err;
	/* What libxenstore and Linux's xenbus do with an unknown name. */
	return -EINVAL;
}

int xs_neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* ---- messages ---- */

void xs_rx_reset(struct xs_rx *rx)
{
	free(rx->body);
	rx->body = NULL;
	rx->hdr_got = 0;
	rx->body_got = 0;
}

int xs_rx_partial(const struct xs_rx *rx)
{
	return rx->hdr_got > 0 || rx->body != NULL;
}

static int rx_start_body(struct xs_rx *rx)
{
	/* Nobody may send more; believing a peer that does would let it
	 * make us allocate at will. */
	if (rx->hdr.len > XENSTORE_PAYLOAD_MAX)
		return -EMSGSIZE;
	rx->body = malloc(rx->hdr.len + 1);
	if (!rx->body)
		return -ENOMEM;
	rx->body[rx->hdr.len] = '\0';
	return 0;
}

/* Hand the complete message over and get ready for the next one. */
static int rx_complete(struct xs_rx *rx, struct xs_msg *out)
{
	out->hdr = rx->hdr;
	out->body = rx->body;
	rx->body = NULL;
	xs_rx_reset(rx);
	return 1;
}

int xs_rx_fill(struct xs_rx *rx, xs_take_fn *take, void *src,
	       struct xs_msg *out)
{
	for (;;) {
		char *dst;
		size_t want;
		int n;

		if (rx->hdr_got < XS_HDR_LEN) {
			dst = (char *)&rx->hdr + rx->hdr_got;
			want = XS_HDR_LEN - rx->hdr_got;
		} else {
			if (!rx->body && (n = rx_start_body(rx)) < 0)
				return n;
			if (rx->body_got == rx->hdr.len)
				return rx_complete(rx, out);
			dst = rx->body + rx->body_got;
			want = rx->hdr.len - rx->body_got;
		}
		n = take(src, dst, want);
		if (n <= 0)
			return n;
		if (rx->hdr_got < XS_HDR_LEN)
			rx->hdr_got += (size_t)n;
		else
			rx->body_got += (size_t)n;
	}
}

int xs_sock_take(void *src, void *buf, size_t len)
{
	ssize_t n = read(*(int *)src, buf, len);

	if (n > 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ?
		0 : xs_neg_errno();
}

/* ---- shared-page access ---- */

/* The page is shared with the daemon's process: read and write each index
 * exactly once per use, ordering being provided by fence(). */
static uint32_t idx_load(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void idx_store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

int xs_ring_open(struct xs_ring *r, uint32_t domid)
{
	memset(r, 0, sizeof(*r));
	errno = 0;
	r->intf = fakexen_ring_map(domid);
	if (!r->intf)
		return xs_neg_errno();
	r->xce = xenevtchn_open(NULL, 0);
	if (!r->xce)
		return xs_neg_errno();
	return fakexen_guest_bind_xs_port(r->xce, domid, &r->port);
}

void xs_ring_close(struct xs_ring *r)
{
	if (r->intf)
		fakexen_ring_unmap(r->intf);
	if (r->xce)
		xenevtchn_close(r->xce);
	r->intf = NULL;
	r->xce = NULL;
}

int xs_ring_fd(const struct xs_ring *r)
{
	return xenevtchn_fd(r->xce);
}

uint32_t xs_ring_features(const struct xs_ring *r)
{
	return idx_load(&r->intf->server_features);
}

int xs_ring_failed(const struct xs_ring *r)
{
	if ((xs_ring_features(r) & XENSTORE_SERVER_FEATURE_ERROR) &&
	    idx_load(&r->intf->error) != XENSTORE_ERROR_NONE)
		return -EIO;
	return 0;
}

int xs_ring_put(struct xs_ring *r, const void *data, size_t len)
{
	struct xenstore_domain_interface *i = r->intf;
	XENSTORE_RING_IDX cons = idx_load(&i->req_cons);
	XENSTORE_RING_IDX prod = idx_load(&i->req_prod);
	size_t n, contig;

	/* Read the indices before touching the slots they guard. */
	fence();
	if (prod - cons > XENSTORE_RING_SIZE)
		return -EIO;
	n = XENSTORE_RING_SIZE - (prod - cons);
	contig = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
	if (n > contig)
		n = contig;     /* the rest goes in the next round, at 0 */
	if (n > len)
		n = len;
	memcpy(i->req + MASK_XENSTORE_IDX(prod), data, n);
	/* The daemon must see the bytes before the index publishing them. */
	fence();
	idx_store(&i->req_prod, prod + (XENSTORE_RING_IDX)n);
	return (int)n;
}

int xs_ring_take(void *src, void *buf, size_t len)
{
	struct xs_ring *r = src;
	struct xenstore_domain_interface *i = r->intf;
	XENSTORE_RING_IDX cons = idx_load(&i->rsp_cons);
	XENSTORE_RING_IDX prod = idx_load(&i->rsp_prod);
	size_t n, contig;

	/* Read the producer index before the bytes it publishes. */
	fence();
	if (prod - cons > XENSTORE_RING_SIZE)
		return -EIO;
	n = prod - cons;
	contig = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons);
	if (n > contig)
		n = contig;
	if (n > len)
		n = len;
	if (n == 0)
		return 0;
	memcpy(buf, i->rsp + MASK_XENSTORE_IDX(cons), n);
	/* Finish reading the bytes before handing the slots back. */
	fence();
	idx_store(&i->rsp_cons, cons + (XENSTORE_RING_IDX)n);
	r->taken += n;
	return (int)n;
}

/* ---- event channel ---- */

int xs_ring_kick(struct xs_ring *r)
{
	return xenevtchn_notify(r->xce, r->port) < 0 ? xs_neg_errno() : 0;
}

int xs_ring_ack(struct xs_ring *r)
{
	xenevtchn_port_or_error_t port = xenevtchn_pending(r->xce);

	if (port < 0)   /* spurious or already taken: not an error */
		return errno == EAGAIN || errno == EINTR ? 0 : xs_neg_errno();
	return xenevtchn_unmask(r->xce, (evtchn_port_t)port) < 0 ?
		xs_neg_errno() : 0;
}

int xs_ring_wait(struct xs_ring *r, int64_t deadline)
{
	struct pollfd p = { .fd = xs_ring_fd(r), .events = POLLIN };
	int n = poll(&p, 1, xs_poll_ms(deadline));

	if (n < 0)
		return errno == EINTR ? 0 : xs_neg_errno();
	if (n == 0)
		return -ETIMEDOUT;
	if (!(p.revents & POLLIN))
		return -EIO;
	return xs_ring_ack(r);
}

int xs_ring_start_reconnect(struct xs_ring *r)
{
	/* The daemon drops partial packets, in-flight requests, watches and
	 * transactions of the connection; from the moment connection is set
	 * the ring is no longer ours to read. */
	fence();
	idx_store(&r->intf->connection, XENSTORE_RECONNECT);
	fence();
	return xs_ring_kick(r);
}

int xs_ring_connected(const struct xs_ring *r)
{
	uint32_t c = idx_load(&r->intf->connection);

	/* Order the indices read afterwards after the reset. */
	fence();
	return c == XENSTORE_CONNECTED;
}
