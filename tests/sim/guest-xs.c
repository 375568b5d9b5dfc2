/*
 * guest-xs: the guest side of a domain's xenstore ring, for the simulated
 * Xen host (see guest-xs.h for the API and fakexen.h for the simulator).
 *
 * This is a small re-implementation of a PV guest's xenstore frontend
 * (Linux: drivers/xen/xenbus/xenbus_comms.c): the guest produces requests
 * into ring->req and consumes replies and watch events from ring->rsp, both
 * being 1024-byte circular buffers indexed by free-running 32-bit counters
 * (xenstore-ring.txt).  Every index update is fenced and followed by an event
 * channel notification; every wake-up, and every decision to sleep, re-reads
 * the indices, because notifications coalesce and may be spurious.
 *
 * Nothing here is global: all the state (the partially received message,
 * the queue of watch events that arrived while waiting for a reply, the
 * watches registered) lives in struct xsg.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xen/io/xs_wire.h>

#include "fakexen.h"
#include "guest-xs.h"

#define XSG_DEFAULT_TIMEOUT_MS 10000
/* xsg_close() must not hang on a dead daemon: each of its requests gets
 * at most this long. */
#define XSG_CLOSE_TIMEOUT_MS 1000
#define HDR_LEN sizeof(struct xsd_sockmsg)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One received message; BODY holds hdr.len bytes plus a NUL of ours, so
 * that string payloads can be used in place. */
struct xsg_msg {
	struct xsd_sockmsg hdr;
	char *body;
};

/* A queued XS_WATCH_EVENT: BODY is "path\0token\0", TOKEN points into it. */
struct xsg_event {
	struct xsg_event *next;
	char *body;
	const char *token;
};

/* A watch registered through this handle, remembered so that xsg_close()
 * can remove it: the daemon's connection outlives the process. */
struct xsg_watch {
	struct xsg_watch *next;
	char *token;            /* points into path[] */
	char path[];
};

struct xsg_iov {
	const void *base;
	size_t len;
};

struct xsg {
	struct xenstore_domain_interface *ring;
	xenevtchn_handle *xce;
	evtchn_port_t port;
	uint32_t next_req_id;
	int timeout_ms;
	/* 0, or the -errno that made the byte stream lose its framing (a
	 * half-sent request, corrupt indices): only xsg_reconnect() helps. */
	int broken;
	/* The message being received; it may span several wake-ups and even
	 * several calls, when a request times out in the middle of a reply. */
	struct xsd_sockmsg rx_hdr;
	size_t rx_hdr_got;
	char *rx_body;
	size_t rx_body_got;
	struct xsg_event *ev_head, **ev_tail;
	struct xsg_watch *watches;
};

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

static int xs_errno(const char *name)
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

static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* ---- time ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Absolute deadline for a relative timeout; -1 means none. */
static int64_t deadline_in(int ms)
{
	return ms < 0 ? -1 : now_ms() + ms;
}

static int poll_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
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

static uint32_t features(const struct xsg *x)
{
	return idx_load(&x->ring->server_features);
}

/* Copy up to LEN bytes into the request ring without blocking.  Returns the
 * count (0: ring full) or -EIO when the indices make no sense. */
static int req_put(struct xenstore_domain_interface *r, const char *data,
		   size_t len)
{
	XENSTORE_RING_IDX cons = idx_load(&r->req_cons);
	XENSTORE_RING_IDX prod = idx_load(&r->req_prod);
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
	memcpy(r->req + MASK_XENSTORE_IDX(prod), data, n);
	/* The daemon must see the bytes before the index publishing them. */
	fence();
	idx_store(&r->req_prod, prod + (XENSTORE_RING_IDX)n);
	return (int)n;
}

/* Copy up to LEN bytes out of the response ring without blocking.  Returns
 * the count (0: ring empty) or -EIO when the indices make no sense. */
static int rsp_take(struct xenstore_domain_interface *r, char *data,
		    size_t len)
{
	XENSTORE_RING_IDX cons = idx_load(&r->rsp_cons);
	XENSTORE_RING_IDX prod = idx_load(&r->rsp_prod);
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
	memcpy(data, r->rsp + MASK_XENSTORE_IDX(cons), n);
	/* Finish reading the bytes before handing the slots back. */
	fence();
	idx_store(&r->rsp_cons, cons + (XENSTORE_RING_IDX)n);
	return (int)n;
}

/* ---- event channel ---- */

static int kick(struct xsg *x)
{
	return xenevtchn_notify(x->xce, x->port) < 0 ? neg_errno() : 0;
}

/* Take the pending notification and unmask the port at once: the caller
 * re-checks the ring afterwards, so a signal arriving from now on cannot
 * be lost. */
static int ack_signal(struct xsg *x)
{
	xenevtchn_port_or_error_t port = xenevtchn_pending(x->xce);

	if (port < 0)   /* spurious or already taken: not an error */
		return errno == EAGAIN || errno == EINTR ? 0 : neg_errno();
	return xenevtchn_unmask(x->xce, (evtchn_port_t)port) < 0 ?
		neg_errno() : 0;
}

/* Sleep until the daemon signals or DEADLINE passes (-ETIMEDOUT).  A
 * return of 0 promises nothing about the ring: callers re-check it. */
static int wait_signal(struct xsg *x, int64_t deadline)
{
	struct pollfd p = { .fd = xenevtchn_fd(x->xce), .events = POLLIN };
	int r = poll(&p, 1, poll_ms(deadline));

	if (r < 0)
		return errno == EINTR ? 0 : neg_errno();
	if (r == 0)
		return -ETIMEDOUT;
	if (!(p.revents & POLLIN))
		return -EIO;
	return ack_signal(x);
}

/* Nonzero -errno when waiting on the ring is pointless: the stream lost its
 * framing, or the daemon reports that it stopped serving the ring. */
static int ring_failed(const struct xsg *x)
{
	if (x->broken)
		return x->broken;
	if ((features(x) & XENSTORE_SERVER_FEATURE_ERROR) &&
	    idx_load(&x->ring->error) != XENSTORE_ERROR_NONE)
		return -EIO;
	return 0;
}

static int wait_event(struct xsg *x, int64_t deadline)
{
	int r = ring_failed(x);

	return r ? r : wait_signal(x, deadline);
}

/* While a reconnection is in progress the guest may look at nothing but
 * the connection field (xenstore-ring.txt). */
static int wait_connected(struct xsg *x, int64_t deadline)
{
	for (;;) {
		uint32_t c = idx_load(&x->ring->connection);
		int r;

		/* Order the indices read afterwards after the reset. */
		fence();
		if (c == XENSTORE_CONNECTED)
			return 0;
		r = wait_signal(x, deadline);
		if (r < 0)
			return r;
	}
}

/* ---- sending ---- */

/* Write all of DATA, a chunk per round, waiting for room as needed;
 * *SENT counts the bytes that made it into the ring. */
static int ring_write(struct xsg *x, const void *data, size_t len,
		      int64_t deadline, size_t *sent)
{
	const char *p = data;
	size_t done = 0;

	while (done < len) {
		int r = req_put(x->ring, p + done, len - done);

		if (r < 0)
			return x->broken = r;
		if (r > 0) {
			done += (size_t)r;
			*sent += (size_t)r;
			/* Let the daemon drain while we produce the rest. */
			r = kick(x);
		} else {
			r = wait_event(x, deadline);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int send_msg(struct xsg *x, const struct xsd_sockmsg *hdr,
		    const struct xsg_iov *iov, int niov, int64_t deadline)
{
	size_t sent = 0;
	int i, r = ring_write(x, hdr, HDR_LEN, deadline, &sent);

	for (i = 0; !r && i < niov; i++)
		r = ring_write(x, iov[i].base, iov[i].len, deadline, &sent);
	/* A half-sent request leaves the daemon parsing garbage. */
	if (r < 0 && sent > 0 && !x->broken)
		x->broken = -EIO;
	return r;
}

/* ---- receiving ---- */

static void rx_reset(struct xsg *x)
{
	free(x->rx_body);
	x->rx_body = NULL;
	x->rx_hdr_got = 0;
	x->rx_body_got = 0;
}

static int rx_start_body(struct xsg *x)
{
	/* The daemon never sends more; believing it would overrun us. */
	if (x->rx_hdr.len > XENSTORE_PAYLOAD_MAX)
		return x->broken = -EIO;
	x->rx_body = malloc(x->rx_hdr.len + 1);
	if (!x->rx_body)
		return -ENOMEM;
	x->rx_body[x->rx_hdr.len] = '\0';
	return 0;
}

/* Move the available response bytes into the partial message.  Returns 1
 * once it is complete, 0 when the ring ran dry first. */
static int rx_fill(struct xsg *x)
{
	for (;;) {
		char *dst;
		size_t want;
		int n;

		if (x->rx_hdr_got < HDR_LEN) {
			dst = (char *)&x->rx_hdr + x->rx_hdr_got;
			want = HDR_LEN - x->rx_hdr_got;
		} else {
			if (!x->rx_body && (n = rx_start_body(x)) < 0)
				return n;
			if (x->rx_body_got == x->rx_hdr.len)
				return 1;
			dst = x->rx_body + x->rx_body_got;
			want = x->rx_hdr.len - x->rx_body_got;
		}
		n = rsp_take(x->ring, dst, want);
		if (n <= 0)
			return n < 0 ? (x->broken = n) : 0;
		if (x->rx_hdr_got < HDR_LEN)
			x->rx_hdr_got += (size_t)n;
		else
			x->rx_body_got += (size_t)n;
	}
}

/* Without blocking: 1 and a complete message in OUT, or 0. */
static int rx_poll(struct xsg *x, struct xsg_msg *out)
{
	uint32_t before = idx_load(&x->ring->rsp_cons);
	int r = rx_fill(x);

	/* We made room: the daemon may be waiting for it to send more. */
	if (idx_load(&x->ring->rsp_cons) != before) {
		int k = kick(x);

		if (k < 0 && r >= 0)
			return k;       /* a complete message stays in rx */
	}
	if (r == 1) {
		out->hdr = x->rx_hdr;
		out->body = x->rx_body;
		x->rx_body = NULL;
		rx_reset(x);
	}
	return r;
}

static int recv_msg(struct xsg *x, int64_t deadline, struct xsg_msg *out)
{
	for (;;) {
		int r = rx_poll(x, out);

		if (r != 0)
			return r < 0 ? r : 0;
		r = wait_event(x, deadline);
		if (r < 0)
			return r;
	}
}

/* ---- watch events ---- */

/* Takes ownership of M's body. */
static int queue_event(struct xsg *x, struct xsg_msg *m)
{
	size_t plen = strlen(m->body);
	struct xsg_event *e;

	if (plen >= m->hdr.len) {
		free(m->body);          /* no token: not an event, drop it */
		return 0;
	}
	e = malloc(sizeof(*e));
	if (!e) {
		free(m->body);
		return -ENOMEM;
	}
	e->next = NULL;
	e->body = m->body;
	e->token = m->body + plen + 1;
	*x->ev_tail = e;
	x->ev_tail = &e->next;
	return 0;
}

static int pop_event(struct xsg *x, char **ret_path, char **ret_token)
{
	struct xsg_event *e = x->ev_head;
	char *token = strdup(e->token);

	if (!token)
		return -ENOMEM;
	x->ev_head = e->next;
	if (!x->ev_head)
		x->ev_tail = &x->ev_head;
	*ret_path = e->body;    /* the path is the body's first string */
	*ret_token = token;
	free(e);
	return 0;
}

static void drop_events(struct xsg *x)
{
	while (x->ev_head) {
		struct xsg_event *e = x->ev_head;

		x->ev_head = e->next;
		free(e->body);
		free(e);
	}
	x->ev_tail = &x->ev_head;
}

/* ---- requests ---- */

/* Receive until the reply to REQ_ID, queueing the watch events that come
 * first and discarding late replies to requests that timed out. */
static int wait_reply(struct xsg *x, uint32_t req_id, int64_t deadline,
		      struct xsg_msg *out)
{
	for (;;) {
		int r = recv_msg(x, deadline, out);

		if (r < 0)
			return r;
		if (out->hdr.type == XS_WATCH_EVENT) {
			r = queue_event(x, out);
			if (r < 0)
				return r;
			continue;
		}
		if (out->hdr.req_id == req_id)
			return 0;
		free(out->body);
	}
}

/* Whether a request may be sent now; waits out a reconnection that someone
 * else started. */
static int ring_usable(struct xsg *x, int64_t deadline)
{
	int r;

	if (x->broken)
		return x->broken;
	if (features(x) & XENSTORE_SERVER_FEATURE_RECONNECTION) {
		r = wait_connected(x, deadline);
		if (r < 0)
			return r;
	}
	return ring_failed(x);
}

/* Turn an XS_ERROR reply into its -errno; frees the body on failure. */
static int check_reply(uint32_t type, struct xsg_msg *reply)
{
	int r = 0;

	if (reply->hdr.type == XS_ERROR)
		r = xs_errno(reply->body);
	else if (reply->hdr.type != type)
		r = -EIO;
	if (r < 0) {
		free(reply->body);
		reply->body = NULL;
	}
	return r;
}

/* Send one request whose payload is the concatenation of IOV, and wait for
 * its reply.  On success REPLY's body is the caller's to free. */
static int request(struct xsg *x, uint32_t type, uint32_t tx,
		   const struct xsg_iov *iov, int niov, struct xsg_msg *reply)
{
	struct xsd_sockmsg hdr = { .type = type, .tx_id = tx };
	int64_t deadline = deadline_in(x->timeout_ms);
	size_t len = 0;
	int i, r;

	for (i = 0; i < niov; i++)
		len += iov[i].len;
	if (len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	hdr.len = (uint32_t)len;
	hdr.req_id = x->next_req_id++;
	r = ring_usable(x, deadline);
	if (!r)
		r = send_msg(x, &hdr, iov, niov, deadline);
	if (!r)
		r = wait_reply(x, hdr.req_id, deadline, reply);
	return r < 0 ? r : check_reply(type, reply);
}

/* A request whose payload is "A\0" or "A\0B\0". */
static int request_str(struct xsg *x, uint32_t type, uint32_t tx,
		       const char *a, const char *b, struct xsg_msg *reply)
{
	struct xsg_iov iov[2];

	if (!x || !a)
		return -EINVAL;
	iov[0].base = a;
	iov[0].len = strlen(a) + 1;
	iov[1].base = b;
	iov[1].len = b ? strlen(b) + 1 : 0;
	return request(x, type, tx, iov, b ? 2 : 1, reply);
}

/* Same, for requests whose only answer is "OK". */
static int request_ok(struct xsg *x, uint32_t type, uint32_t tx,
		      const char *a, const char *b)
{
	struct xsg_msg reply;
	int r = request_str(x, type, tx, a, b, &reply);

	if (r < 0)
		return r;
	free(reply.body);
	return 0;
}

/* ---- watch bookkeeping ---- */

static struct xsg_watch *watch_new(const char *path, const char *token)
{
	size_t plen = strlen(path) + 1, tlen = strlen(token) + 1;
	struct xsg_watch *w = malloc(sizeof(*w) + plen + tlen);

	if (!w)
		return NULL;
	memcpy(w->path, path, plen);
	w->token = w->path + plen;
	memcpy(w->token, token, tlen);
	w->next = NULL;
	return w;
}

static void watch_forget(struct xsg *x, const char *path, const char *token)
{
	struct xsg_watch **pw;

	for (pw = &x->watches; *pw; pw = &(*pw)->next) {
		struct xsg_watch *w = *pw;

		if (!strcmp(w->path, path) && !strcmp(w->token, token)) {
			*pw = w->next;
			free(w);
			return;
		}
	}
}

static void drop_watches(struct xsg *x)
{
	while (x->watches) {
		struct xsg_watch *w = x->watches;

		x->watches = w->next;
		free(w);
	}
}

/* ---- public API ---- */

static void xsg_free(struct xsg *x)
{
	rx_reset(x);
	drop_events(x);
	drop_watches(x);
	if (x->ring)
		fakexen_ring_unmap(x->ring);
	if (x->xce)
		xenevtchn_close(x->xce);
	free(x);
}

static int xsg_connect(struct xsg *x, uint32_t domid)
{
	x->ring = fakexen_ring_map(domid);
	if (!x->ring)
		return neg_errno();
	x->xce = xenevtchn_open(NULL, 0);
	if (!x->xce)
		return neg_errno();
	return fakexen_guest_bind_xs_port(x->xce, domid, &x->port);
}

int xsg_open(uint32_t domid, struct xsg **ret)
{
	struct xsg *x;
	int r;

	*ret = NULL;
	r = fakexen_attach(NULL);
	if (r < 0)
		return r;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->ev_tail = &x->ev_head;
	x->timeout_ms = XSG_DEFAULT_TIMEOUT_MS;
	/* Other processes may have used this ring before: start the ids
	 * somewhere else so that a late reply to one of their requests is
	 * not taken for the reply to ours. */
	x->next_req_id = ((uint32_t)getpid() << 16) ^ (uint32_t)now_ms();
	errno = 0;
	r = xsg_connect(x, domid);
	if (r < 0) {
		xsg_free(x);
		return r;
	}
	*ret = x;
	return 0;
}

/* Leave the ring on a message boundary for the next user of the domain. */
static void finish_partial_rx(struct xsg *x)
{
	struct xsg_msg m;

	if (x->broken || (!x->rx_hdr_got && !x->rx_body))
		return;
	if (recv_msg(x, deadline_in(x->timeout_ms), &m) == 0)
		free(m.body);
}

void xsg_close(struct xsg *x)
{
	if (!x)
		return;
	if (x->timeout_ms < 0 || x->timeout_ms > XSG_CLOSE_TIMEOUT_MS)
		x->timeout_ms = XSG_CLOSE_TIMEOUT_MS;
	/* The daemon's connection is the domain's, not ours: watches left
	 * behind would keep firing into the ring for the next process. */
	while (x->watches && !x->broken) {
		/* Success and ENOENT both take it off the list. */
		int r = xsg_unwatch(x, x->watches->path, x->watches->token);

		if (r < 0 && r != -ENOENT)
			break;
	}
	finish_partial_rx(x);
	xsg_free(x);
}

int xsg_set_timeout(struct xsg *x, int ms)
{
	if (!x || ms < -1)
		return -EINVAL;
	x->timeout_ms = ms;
	return 0;
}

int xsg_fd(struct xsg *x)
{
	return x ? xenevtchn_fd(x->xce) : -EINVAL;
}

int xsg_server_features(struct xsg *x)
{
	return x ? (int)features(x) : -EINVAL;
}

int xsg_read(struct xsg *x, uint32_t tx, const char *path,
	     char **ret_val, unsigned *ret_len)
{
	struct xsg_msg reply;
	int r = request_str(x, XS_READ, tx, path, NULL, &reply);

	if (r < 0)
		return r;
	*ret_val = reply.body;
	if (ret_len)
		*ret_len = reply.hdr.len;
	return 0;
}

int xsg_write(struct xsg *x, uint32_t tx, const char *path,
	      const void *val, unsigned len)
{
	struct xsg_iov iov[2];
	struct xsg_msg reply;
	int r;

	if (!x || !path || (!val && len))
		return -EINVAL;
	/* The value is raw bytes: no terminating NUL on the wire. */
	iov[0].base = path;
	iov[0].len = strlen(path) + 1;
	iov[1].base = val;
	iov[1].len = len;
	r = request(x, XS_WRITE, tx, iov, 2, &reply);
	if (r < 0)
		return r;
	free(reply.body);
	return 0;
}

int xsg_mkdir(struct xsg *x, uint32_t tx, const char *path)
{
	return request_ok(x, XS_MKDIR, tx, path, NULL);
}

int xsg_rm(struct xsg *x, uint32_t tx, const char *path)
{
	return request_ok(x, XS_RM, tx, path, NULL);
}

/* Split the NUL-separated BODY into a NULL-terminated array of names that
 * shares one allocation with copies of the strings. */
static int split_names(const char *body, size_t len, char ***ret_names,
		       unsigned *ret_n)
{
	size_t off, n = 0;
	char **names, *copy;

	for (off = 0; off < len; off += strlen(body + off) + 1)
		n += body[off] != '\0';
	names = malloc((n + 1) * sizeof(*names) + len + 1);
	if (!names)
		return -ENOMEM;
	copy = (char *)(names + n + 1);
	memcpy(copy, body, len + 1);
	n = 0;
	for (off = 0; off < len; off += strlen(copy + off) + 1)
		if (copy[off])  /* empty entries are not names */
			names[n++] = copy + off;
	names[n] = NULL;
	*ret_names = names;
	*ret_n = (unsigned)n;
	return 0;
}

int xsg_directory(struct xsg *x, uint32_t tx, const char *path,
		  char ***ret_names, unsigned *ret_n)
{
	struct xsg_msg reply;
	int r = request_str(x, XS_DIRECTORY, tx, path, NULL, &reply);

	if (r < 0)
		return r;
	r = split_names(reply.body, reply.hdr.len, ret_names, ret_n);
	free(reply.body);
	return r < 0 ? r : (int)*ret_n;
}

int xsg_get_perms(struct xsg *x, uint32_t tx, const char *path,
		  char **ret_perms)
{
	struct xsg_msg reply;
	uint32_t i, len;
	int r = request_str(x, XS_GET_PERMS, tx, path, NULL, &reply);

	if (r < 0)
		return r;
	/* "n1\0r0\0" -> "n1,r0": each separator becomes a comma but the
	 * last terminator (ours, if the daemon omitted it) stays. */
	len = reply.hdr.len;
	if (len > 0 && reply.body[len - 1] == '\0')
		len--;
	for (i = 0; i < len; i++)
		if (reply.body[i] == '\0')
			reply.body[i] = ',';
	*ret_perms = reply.body;
	return 0;
}

int xsg_set_perms(struct xsg *x, uint32_t tx, const char *path,
		  const char *perms)
{
	struct xsg_iov iov[2];
	struct xsg_msg reply;
	char *wire, *p;
	int r;

	if (!x || !path || !perms || !*perms)
		return -EINVAL;
	wire = strdup(perms);
	if (!wire)
		return -ENOMEM;
	for (p = wire; *p; p++)
		if (*p == ',')
			*p = '\0';
	iov[0].base = path;
	iov[0].len = strlen(path) + 1;
	iov[1].base = wire;
	iov[1].len = strlen(perms) + 1;
	r = request(x, XS_SET_PERMS, tx, iov, 2, &reply);
	free(wire);
	if (r < 0)
		return r;
	free(reply.body);
	return 0;
}

int xsg_watch(struct xsg *x, const char *path, const char *token)
{
	struct xsg_watch *w;
	int r;

	if (!x || !path || !token)
		return -EINVAL;
	/* Allocate first: a watch the daemon has but we forgot would leak. */
	w = watch_new(path, token);
	if (!w)
		return -ENOMEM;
	r = request_ok(x, XS_WATCH, 0, path, token);
	if (r < 0) {
		free(w);
		return r;
	}
	w->next = x->watches;
	x->watches = w;
	return 0;
}

int xsg_unwatch(struct xsg *x, const char *path, const char *token)
{
	int r;

	if (!x || !path || !token)
		return -EINVAL;
	r = request_ok(x, XS_UNWATCH, 0, path, token);
	/* ENOENT: the daemon has no such watch either. */
	if (r == 0 || r == -ENOENT)
		watch_forget(x, path, token);
	return r;
}

int xsg_read_watch(struct xsg *x, int timeout_ms,
		   char **ret_path, char **ret_token)
{
	int64_t deadline = deadline_in(timeout_ms);
	struct xsg_msg m;
	int r;

	if (!x || !ret_path || !ret_token)
		return -EINVAL;
	while (!x->ev_head) {
		r = recv_msg(x, deadline, &m);
		if (r < 0)
			return r;
		if (m.hdr.type != XS_WATCH_EVENT) {
			free(m.body);   /* a late reply nobody waits for */
			continue;
		}
		r = queue_event(x, &m);
		if (r < 0)
			return r;
	}
	return pop_event(x, ret_path, ret_token);
}

int xsg_transaction_start(struct xsg *x, uint32_t *ret_tx)
{
	struct xsg_msg reply;
	unsigned long id;
	char *end;
	int r = request_str(x, XS_TRANSACTION_START, 0, "", NULL, &reply);

	if (r < 0)
		return r;
	errno = 0;
	id = strtoul(reply.body, &end, 10);
	if (errno || end == reply.body || *end || id == 0 || id > UINT32_MAX)
		r = -EIO;
	else
		*ret_tx = (uint32_t)id;
	free(reply.body);
	return r;
}

int xsg_transaction_end(struct xsg *x, uint32_t tx, int commit)
{
	return request_ok(x, XS_TRANSACTION_END, tx, commit ? "T" : "F",
			  NULL);
}

int xsg_get_domain_path(struct xsg *x, uint32_t domid, char **ret)
{
	struct xsg_msg reply;
	char id[16];
	int r;

	snprintf(id, sizeof(id), "%u", domid);
	r = request_str(x, XS_GET_DOMAIN_PATH, 0, id, NULL, &reply);
	if (r < 0)
		return r;
	*ret = reply.body;
	return 0;
}

int xsg_reconnect(struct xsg *x, int timeout_ms)
{
	int64_t deadline = deadline_in(timeout_ms);
	int r;

	if (!x)
		return -EINVAL;
	if (!(features(x) & XENSTORE_SERVER_FEATURE_RECONNECTION))
		return -EOPNOTSUPP;
	/* The daemon drops partial packets, in-flight requests, watches and
	 * transactions of the connection: so must we, and from the moment
	 * connection is set the ring is no longer ours to read. */
	rx_reset(x);
	drop_events(x);
	drop_watches(x);
	x->broken = 0;
	fence();
	idx_store(&x->ring->connection, XENSTORE_RECONNECT);
	fence();
	r = kick(x);
	if (r < 0)
		return r;
	return wait_connected(x, deadline);
}
