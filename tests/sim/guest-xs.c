/*
 * guest-xs: the guest side of a domain's xenstore connection, for the
 * simulated Xen host (see guest-xs.h for the API and fakexen.h for the
 * simulator).
 *
 * A handle talks to the daemon in one of two ways, as a process inside a
 * real guest can:
 *
 *   - over the domain's ring itself (xs-ring.c), as the guest's kernel does
 *     (Linux: drivers/xen/xenbus/xenbus_comms.c); one owner per ring;
 *   - over the unix socket of the domain's simulated kernel
 *     ($XDEV_SIM_DIR/xenbus/<domid>, served by xenbus-mux.c), as userspace
 *     does through /dev/xen/xenbus; the kernel multiplexes any number of
 *     such handles onto the ring.
 *
 * Both carry the same framed messages (struct xsd_sockmsg + payload), so
 * everything above the transport is shared.  Nothing here is global: all
 * the state (the partially received message, the queue of watch events
 * that arrived while waiting for a reply, the watches registered) lives in
 * struct xsg.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fakexen.h"
#include "guest-xs.h"
#include "xs-ring.h"

#define XSG_DEFAULT_TIMEOUT_MS 10000
/* xsg_close() must not hang on a dead daemon: each of its requests gets
 * at most this long. */
#define XSG_CLOSE_TIMEOUT_MS 1000

/* A queued XS_WATCH_EVENT: BODY is "path\0token\0", TOKEN points into it. */
struct xsg_event {
	struct xsg_event *next;
	char *body;
	const char *token;
};

/* A watch registered through this handle, remembered so that xsg_close()
 * can remove it: the daemon's ring connection outlives the process. */
struct xsg_watch {
	struct xsg_watch *next;
	char *token;            /* points into path[] */
	char path[];
};

/* One piece of a request's payload: requests are sent from their parts
 * (path, value) without assembling them first. */
struct xsg_iov {
	const void *base;
	size_t len;
};

/* One connection.  On the ring, RING is mapped and SOCK is -1; through the
 * domain's kernel, SOCK is the connected socket and RING is unused. */
struct xsg {
	struct xs_ring ring;
	int sock;
	uint32_t next_req_id;
	int timeout_ms;
	/* 0, or the -errno that made the byte stream lose its framing (a
	 * half-sent request, corrupt indices, a closed socket): on the ring
	 * only xsg_reconnect() helps. */
	int broken;
	struct xs_rx rx;
	struct xsg_event *ev_head, **ev_tail;
	struct xsg_watch *watches;
};

static int on_socket(const struct xsg *x)
{
	return x->sock >= 0;
}

/* ---- waiting ---- */

/* Nonzero -errno when waiting is pointless: the stream lost its framing,
 * or the daemon reports that it stopped serving the ring. */
static int conn_failed(const struct xsg *x)
{
	if (x->broken)
		return x->broken;
	return on_socket(x) ? 0 : xs_ring_failed(&x->ring);
}

/* Wait until the socket has something to read (or its peer hung up: the
 * read reports that). */
static int wait_socket(struct xsg *x, short events, int64_t deadline)
{
	struct pollfd p = { .fd = x->sock, .events = events };
	int r = poll(&p, 1, xs_poll_ms(deadline));

	if (r < 0)
		return errno == EINTR ? 0 : xs_neg_errno();
	return r == 0 ? -ETIMEDOUT : 0;
}

/* Sleep until there may be something to receive (or room to send) or
 * DEADLINE passes (-ETIMEDOUT).  A return of 0 promises nothing: callers
 * re-check. */
static int wait_event(struct xsg *x, int64_t deadline)
{
	int r = conn_failed(x);

	if (r)
		return r;
	if (on_socket(x))
		return wait_socket(x, POLLIN, deadline);
	return xs_ring_wait(&x->ring, deadline);
}

/* While a reconnection is in progress the guest may look at nothing but
 * the connection field (xenstore-ring.txt). */
static int wait_connected(struct xsg *x, int64_t deadline)
{
	while (!xs_ring_connected(&x->ring)) {
		int r = xs_ring_wait(&x->ring, deadline);

		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- sending ---- */

/* Write all of DATA into the ring, a chunk per round, waiting for room as
 * needed; *SENT counts the bytes that made it. */
static int ring_write(struct xsg *x, const void *data, size_t len,
		      int64_t deadline, size_t *sent)
{
	const char *p = data;
	size_t done = 0;

	while (done < len) {
		int r = xs_ring_put(&x->ring, p + done, len - done);

		if (r < 0)
			return x->broken = r;
		if (r > 0) {
			done += (size_t)r;
			*sent += (size_t)r;
			/* Let the daemon drain while we produce the rest. */
			r = xs_ring_kick(&x->ring);
		} else {
			r = wait_event(x, deadline);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* The same over the socket, which is non-blocking. */
static int sock_write(struct xsg *x, const void *data, size_t len,
		      int64_t deadline, size_t *sent)
{
	const char *p = data;
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(x->sock, p + done, len - done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		int r = 0;

		if (n >= 0) {
			done += (size_t)n;
			*sent += (size_t)n;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			r = wait_socket(x, POLLOUT, deadline);
		} else if (errno != EINTR) {
			return x->broken = xs_neg_errno();
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int conn_write(struct xsg *x, const void *data, size_t len,
		      int64_t deadline, size_t *sent)
{
	if (on_socket(x))
		return sock_write(x, data, len, deadline, sent);
	return ring_write(x, data, len, deadline, sent);
}

static int send_msg(struct xsg *x, const struct xsd_sockmsg *hdr,
		    const struct xsg_iov *iov, int niov, int64_t deadline)
{
	size_t sent = 0;
	int i, r = conn_write(x, hdr, XS_HDR_LEN, deadline, &sent);

	for (i = 0; !r && i < niov; i++)
		r = conn_write(x, iov[i].base, iov[i].len, deadline, &sent);
	/* A half-sent request leaves the daemon parsing garbage. */
	if (r < 0 && sent > 0 && !x->broken)
		x->broken = -EIO;
	return r;
}

/* ---- receiving ---- */

/* Turn a receive error into the connection's state: only running out of
 * memory leaves the stream intact. */
static int rx_failed(struct xsg *x, int r)
{
	if (r == -ENOMEM)
		return r;
	/* An oversized message: the peer broke the protocol. */
	return x->broken = r == -EMSGSIZE ? -EIO : r;
}

/* Without blocking: 1 and a complete message in OUT, or 0. */
static int rx_poll(struct xsg *x, struct xs_msg *out)
{
	uint64_t before = x->ring.taken;
	int r;

	if (on_socket(x))
		r = xs_rx_fill(&x->rx, xs_sock_take, &x->sock, out);
	else
		r = xs_rx_fill(&x->rx, xs_ring_take, &x->ring, out);
	if (r < 0)
		return rx_failed(x, r);
	/* We made room: the daemon may be waiting for it to send more.  A
	 * failed kick loses no message: the next one is tried again. */
	if (x->ring.taken != before) {
		int k = xs_ring_kick(&x->ring);

		if (k < 0 && r == 0)
			return k;
	}
	return r;
}

static int recv_msg(struct xsg *x, int64_t deadline, struct xs_msg *out)
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
static int queue_event(struct xsg *x, struct xs_msg *m)
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
		      struct xs_msg *out)
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

/* Whether a request may be sent now; on the ring, waits out a reconnection
 * that someone else started. */
static int conn_usable(struct xsg *x, int64_t deadline)
{
	int r;

	if (x->broken || on_socket(x))
		return x->broken;
	if (xs_ring_features(&x->ring) & XENSTORE_SERVER_FEATURE_RECONNECTION) {
		r = wait_connected(x, deadline);
		if (r < 0)
			return r;
	}
	return conn_failed(x);
}

/* Turn an XS_ERROR reply into its -errno; frees the body on failure. */
static int check_reply(uint32_t type, struct xs_msg *reply)
{
	int r = 0;

	if (reply->hdr.type == XS_ERROR)
		r = xs_error_errno(reply->body);
	else if (reply->hdr.type != type)
		r = -EIO;
	if (r < 0) {
		free(reply->body);
		reply->body = NULL;
	}
	return r;
}

/* Send one request whose payload is the concatenation of IOV, and wait for
 * its reply until DEADLINE.  On success REPLY's body is the caller's to
 * free. */
static int request_until(struct xsg *x, uint32_t type, uint32_t tx,
			 const struct xsg_iov *iov, int niov, int64_t deadline,
			 struct xs_msg *reply)
{
	struct xsd_sockmsg hdr = { .type = type, .tx_id = tx };
	size_t len = 0;
	int i, r;

	for (i = 0; i < niov; i++)
		len += iov[i].len;
	if (len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	hdr.len = (uint32_t)len;
	hdr.req_id = x->next_req_id++;
	r = conn_usable(x, deadline);
	if (!r)
		r = send_msg(x, &hdr, iov, niov, deadline);
	if (!r)
		r = wait_reply(x, hdr.req_id, deadline, reply);
	return r < 0 ? r : check_reply(type, reply);
}

/* The same, bounded by the handle's timeout. */
static int request(struct xsg *x, uint32_t type, uint32_t tx,
		   const struct xsg_iov *iov, int niov, struct xs_msg *reply)
{
	return request_until(x, type, tx, iov, niov,
			     xs_deadline_in(x->timeout_ms), reply);
}

/* A request whose payload is "A\0" or "A\0B\0". */
static int request_str(struct xsg *x, uint32_t type, uint32_t tx,
		       const char *a, const char *b, struct xs_msg *reply)
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
	struct xs_msg reply;
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

/* ---- opening and closing ---- */

static void xsg_free(struct xsg *x)
{
	xs_rx_reset(&x->rx);
	drop_events(x);
	drop_watches(x);
	xs_ring_close(&x->ring);
	if (x->sock >= 0)
		close(x->sock);
	free(x);
}

static struct xsg *xsg_new(void)
{
	struct xsg *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->sock = -1;
	x->ev_tail = &x->ev_head;
	x->timeout_ms = XSG_DEFAULT_TIMEOUT_MS;
	/* Other processes may have used this ring before: start the ids
	 * somewhere else so that a late reply to one of their requests is
	 * not taken for the reply to ours. */
	x->next_req_id = ((uint32_t)getpid() << 16) ^ (uint32_t)xs_now_ms();
	return x;
}

/* Attach to the host and make a handle; CONNECT fills in its transport. */
static int xsg_open_with(uint32_t domid, struct xsg **ret,
			 int (*connect_fn)(struct xsg *, uint32_t))
{
	struct xsg *x;
	int r;

	*ret = NULL;
	r = fakexen_attach(NULL);
	if (r < 0)
		return r;
	x = xsg_new();
	if (!x)
		return -ENOMEM;
	r = connect_fn(x, domid);
	if (r < 0) {
		xsg_free(x);
		return r;
	}
	*ret = x;
	return 0;
}

static int connect_ring(struct xsg *x, uint32_t domid)
{
	return xs_ring_open(&x->ring, domid);
}

/* Connect to the domain's kernel: 0, or -ENOENT/-ECONNREFUSED when the
 * domain has none (no socket, or a stale one), or another -errno. */
static int connect_kernel(struct xsg *x, uint32_t domid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *dir = fakexen_dir();
	int n;

	if (!dir)
		return -ENXIO;
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/xenbus/%u", dir,
		     domid);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	x->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (x->sock < 0)
		return xs_neg_errno();
	/* Blocking: a full backlog must not make us take the ring from
	 * under the kernel; the kernel accepts promptly.  Then non-blocking,
	 * as every wait is a poll() with a deadline. */
	if (connect(x->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fcntl(x->sock, F_SETFL, O_NONBLOCK) < 0)
		return xs_neg_errno();
	return 0;
}

/* Through the kernel if the domain has one, else on the ring. */
static int connect_any(struct xsg *x, uint32_t domid)
{
	int r = connect_kernel(x, domid);

	if (r != -ENOENT && r != -ECONNREFUSED)
		return r;
	if (x->sock >= 0)
		close(x->sock);
	x->sock = -1;
	return connect_ring(x, domid);
}

int xsg_open(uint32_t domid, struct xsg **ret)
{
	return xsg_open_with(domid, ret, connect_any);
}

int xsg_open_ring(uint32_t domid, struct xsg **ret)
{
	return xsg_open_with(domid, ret, connect_ring);
}

/* Leave the ring on a message boundary for the next user of the domain. */
static void finish_partial_rx(struct xsg *x)
{
	struct xs_msg m;

	if (x->broken || !xs_rx_partial(&x->rx))
		return;
	if (recv_msg(x, xs_deadline_in(x->timeout_ms), &m) == 0)
		free(m.body);
}

void xsg_close(struct xsg *x)
{
	if (!x)
		return;
	/* Through the kernel there is nothing to do: closing the socket
	 * makes it remove our watches and end our transactions, as closing
	 * /dev/xen/xenbus does. */
	if (on_socket(x)) {
		xsg_free(x);
		return;
	}
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

/* ---- public API ---- */

int xsg_set_timeout(struct xsg *x, int ms)
{
	if (!x || ms < -1)
		return -EINVAL;
	x->timeout_ms = ms;
	return 0;
}

int xsg_fd(struct xsg *x)
{
	if (!x)
		return -EINVAL;
	return on_socket(x) ? x->sock : xs_ring_fd(&x->ring);
}

/* XS_CONTROL "sim-...": a request the kernel answers itself. */
static int kernel_control(struct xsg *x, const char *cmd, int64_t deadline,
			  struct xs_msg *reply)
{
	struct xsg_iov iov = { .base = cmd, .len = strlen(cmd) + 1 };

	return request_until(x, XS_CONTROL, 0, &iov, 1, deadline, reply);
}

static int kernel_features(struct xsg *x)
{
	struct xs_msg reply;
	unsigned long f;
	char *end;
	int r = kernel_control(x, "sim-features",
			       xs_deadline_in(x->timeout_ms), &reply);

	if (r < 0)
		return r;
	errno = 0;
	f = strtoul(reply.body, &end, 10);
	r = errno || end == reply.body || *end || f > INT_MAX ? -EIO : (int)f;
	free(reply.body);
	return r;
}

int xsg_server_features(struct xsg *x)
{
	if (!x)
		return -EINVAL;
	if (on_socket(x))
		return kernel_features(x);
	return (int)xs_ring_features(&x->ring);
}

int xsg_read(struct xsg *x, uint32_t tx, const char *path,
	     char **ret_val, unsigned *ret_len)
{
	struct xs_msg reply;
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
	struct xs_msg reply;
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
	struct xs_msg reply;
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
	struct xs_msg reply;
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
	struct xs_msg reply;
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
	int64_t deadline = xs_deadline_in(timeout_ms);
	struct xs_msg m;
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
	struct xs_msg reply;
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
	struct xs_msg reply;
	char id[16];
	int r;

	snprintf(id, sizeof(id), "%u", domid);
	r = request_str(x, XS_GET_DOMAIN_PATH, 0, id, NULL, &reply);
	if (r < 0)
		return r;
	*ret = reply.body;
	return 0;
}

/* Through the kernel: it resets the ring and re-registers every watch,
 * which then fires once more.  So the watches stay ours, and the events
 * queued before are dropped as on the ring (the re-fires replace them). */
static int kernel_reconnect(struct xsg *x, int64_t deadline)
{
	struct xs_msg reply;
	int r;

	drop_events(x);
	r = kernel_control(x, "sim-reconnect", deadline, &reply);
	if (r == -ENOSYS)
		return -EOPNOTSUPP;
	if (r < 0)
		return r;
	free(reply.body);
	return 0;
}

int xsg_reconnect(struct xsg *x, int timeout_ms)
{
	int64_t deadline = xs_deadline_in(timeout_ms);
	int r;

	if (!x)
		return -EINVAL;
	if (on_socket(x))
		return kernel_reconnect(x, deadline);
	if (!(xs_ring_features(&x->ring) & XENSTORE_SERVER_FEATURE_RECONNECTION))
		return -EOPNOTSUPP;
	/* The daemon drops partial packets, in-flight requests, watches and
	 * transactions of the connection: so must we. */
	xs_rx_reset(&x->rx);
	drop_events(x);
	drop_watches(x);
	x->broken = 0;
	r = xs_ring_start_reconnect(&x->ring);
	if (r < 0)
		return r;
	return wait_connected(x, deadline);
}
