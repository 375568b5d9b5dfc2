/*
 * xenbus-mux: the process half of the simulated guest kernel (see
 * xenbus-mux.h; the protocol half is xenbus-mux-route.c).
 *
 * One poll loop over the signalfd (SIGTERM/SIGINT), the ring's event
 * channel, the listening socket and every client socket.  Nothing blocks:
 * clients' bytes are read as they come (a message is acted upon once
 * complete), replies wait in per-client queues until the socket takes
 * them, and requests wait in one queue until the ring has room.  Flow
 * control instead of unbounded memory: a client's requests are not read
 * while its replies pile up or while the ring's queue is long, and a client
 * that lets far too much pile up is disconnected, as is one that breaks the
 * framing (a payload over XENSTORE_PAYLOAD_MAX).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fakexen.h"
#include "xenbus-mux.h"
#include "xenbus-mux-internal.h"

#define ACCEPT_BATCH 16
/* Requests taken from one client per round, so that none starves others. */
#define READ_BATCH 64
/* A client's requests are not read while this much of its replies waits. */
#define OUT_HIGH (1024 * 1024)
/* A client that does not read what it gets is dropped beyond this. */
#define OUT_MAX (16 * 1024 * 1024)
/* After SIGTERM, the clean-up requests get this long. */
#define STOP_TIMEOUT_MS 1000
/* The signalfd, the event channel, the listening socket. */
#define FIXED_FDS 3

/* ---- messages and queues ---- */

struct mux_buf *mux_buf_new(uint32_t type, const struct xsd_sockmsg *hdr,
			    const void *a, size_t alen, const void *b,
			    size_t blen)
{
	struct xsd_sockmsg h = { .type = type, .req_id = hdr->req_id,
				 .tx_id = hdr->tx_id,
				 .len = (uint32_t)(alen + blen) };
	struct mux_buf *m = malloc(sizeof(*m) + XS_HDR_LEN + alen + blen);

	if (!m)
		return NULL;
	m->next = NULL;
	m->len = XS_HDR_LEN + alen + blen;
	m->off = 0;
	memcpy(m->data, &h, XS_HDR_LEN);
	if (alen)
		memcpy(m->data + XS_HDR_LEN, a, alen);
	if (blen)
		memcpy(m->data + XS_HDR_LEN + alen, b, blen);
	return m;
}

void mux_queue_init(struct mux_queue *q)
{
	q->head = NULL;
	q->tail = &q->head;
	q->bytes = 0;
}

void mux_queue_push(struct mux_queue *q, struct mux_buf *b)
{
	b->next = NULL;
	*q->tail = b;
	q->tail = &b->next;
	q->bytes += b->len;
}

void mux_queue_pop(struct mux_queue *q)
{
	struct mux_buf *b = q->head;

	q->head = b->next;
	if (!q->head)
		q->tail = &q->head;
	q->bytes -= b->len;
	free(b);
}

void mux_queue_clear(struct mux_queue *q)
{
	while (q->head)
		mux_queue_pop(q);
}

/* ---- clients ---- */

void mux_client_send(struct mux_client *c, struct mux_buf *b)
{
	mux_queue_push(&c->out, b);
	if (c->out.bytes > OUT_MAX)
		c->gone = 1;
}

struct mux_client *mux_client_find(struct mux *m, uint32_t id)
{
	struct mux_client *c;

	for (c = m->clients; c; c = c->next)
		if (c->id == id)
			return c->gone ? NULL : c;
	return NULL;
}

static void accept_clients(struct mux *m)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(m->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct mux_client *c;

		if (fd < 0) {
			/* The connection stays queued: no spinning on it. */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				m->accept_paused = 1;
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		/* 0 stands for "nobody" in the pending records. */
		if (!m->next_client_id)
			m->next_client_id++;
		c->id = m->next_client_id++;
		mux_queue_init(&c->out);
		c->next = m->clients;
		m->clients = c;
	}
}

static int client_readable(const struct mux *m, const struct mux_client *c)
{
	return !m->stopping && c->out.bytes < OUT_HIGH &&
		mux_route_accepting(m);
}

/* Act on the complete requests that arrived, a batch at most. */
static void client_read(struct mux *m, struct mux_client *c)
{
	int i;

	for (i = 0; i < READ_BATCH && !c->gone && client_readable(m, c); i++) {
		struct xs_msg msg;
		int r = xs_rx_fill(&c->rx, xs_sock_take, &c->fd, &msg);

		if (r == 0)
			return;
		if (r < 0) {    /* closed, failed, or a broken frame */
			c->gone = 1;
			return;
		}
		mux_route_request(m, c, &msg);
	}
}

static void client_write(struct mux_client *c)
{
	while (c->out.head && !c->gone) {
		struct mux_buf *b = c->out.head;
		ssize_t n = send(c->fd, b->data + b->off, b->len - b->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno != EINTR)
				c->gone = 1;
			continue;
		}
		b->off += (size_t)n;
		if (b->off == b->len)
			mux_queue_pop(&c->out);
	}
}

static void client_free(struct mux_client *c)
{
	close(c->fd);
	xs_rx_reset(&c->rx);
	mux_queue_clear(&c->out);
	free(c);
}

/* Undo what the clients that went had set up, and forget them. */
static void reap_clients(struct mux *m)
{
	struct mux_client **pc = &m->clients;

	while (*pc) {
		struct mux_client *c = *pc;

		if (!c->gone) {
			pc = &c->next;
			continue;
		}
		mux_route_client_gone(m, c);
		*pc = c->next;
		client_free(c);
		m->accept_paused = 0;
	}
}

/* ---- the loop ---- */

/* The poll set: FIXED_FDS, then one entry per client in list order (a
 * client that went is skipped with fd -1). */
static int build_pollset(struct mux *m, struct pollfd **pfd, size_t *cap)
{
	struct mux_client *c;
	size_t n = FIXED_FDS;

	for (c = m->clients; c; c = c->next)
		n++;
	if (n > *cap) {
		struct pollfd *p = realloc(*pfd, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*pfd = p;
		*cap = n;
	}
	(*pfd)[0] = (struct pollfd){ .fd = m->sig_fd, .events = POLLIN };
	(*pfd)[1] = (struct pollfd){ .fd = xs_ring_fd(&m->ring),
				     .events = POLLIN };
	(*pfd)[2] = (struct pollfd){ .fd = m->listen_fd,
				     .events = m->accept_paused ? 0 : POLLIN };
	for (n = FIXED_FDS, c = m->clients; c; c = c->next, n++) {
		struct pollfd *p = &(*pfd)[n];

		p->fd = c->gone ? -1 : c->fd;
		p->events = (client_readable(m, c) ? POLLIN : 0) |
			(c->out.head ? POLLOUT : 0);
		p->revents = 0;
	}
	return (int)n;
}

static int any_gone(const struct mux *m)
{
	const struct mux_client *c;

	for (c = m->clients; c; c = c->next)
		if (c->gone)
			return 1;
	return 0;
}

/* Wake up for the ring reset's and the stop's deadlines, and at once when
 * a client that went must be cleaned up. */
static int poll_timeout(const struct mux *m)
{
	int64_t d = -1;

	if (any_gone(m))
		return 0;
	if (m->reconnecting)
		d = m->reconnect_deadline;
	if (m->stopping && (d < 0 || m->stop_deadline < d))
		d = m->stop_deadline;
	return xs_poll_ms(d);
}

static void clients_io(struct mux *m, const struct pollfd *pfd)
{
	struct mux_client *c;

	for (c = m->clients; c; c = c->next, pfd++) {
		if (pfd->revents & POLLIN)
			client_read(m, c);
		else if (pfd->revents & (POLLHUP | POLLERR | POLLNVAL))
			c->gone = 1;
		if (pfd->revents & POLLOUT)
			client_write(c);
	}
}

static void flush_clients(struct mux *m)
{
	struct mux_client *c;

	for (c = m->clients; c; c = c->next)
		if (c->out.head)
			client_write(c);
}

/* SIGTERM/SIGINT: take no more clients, drop the present ones (which
 * queues the removal of their watches and transactions). */
static void stop(struct mux *m)
{
	struct signalfd_siginfo si;
	struct mux_client *c;

	if (read(m->sig_fd, &si, sizeof(si)) != sizeof(si) || m->stopping)
		return;
	m->stopping = 1;
	m->stop_deadline = xs_deadline_in(STOP_TIMEOUT_MS);
	unlink(m->sock_path);
	m->sock_path = NULL;
	close(m->listen_fd);
	m->listen_fd = -1;
	for (c = m->clients; c; c = c->next)
		c->gone = 1;
}

static int loop_round(struct mux *m, const struct pollfd *pfd)
{
	int r;

	if (pfd[0].revents & POLLIN)
		stop(m);
	clients_io(m, pfd + FIXED_FDS);
	if (m->listen_fd >= 0 && (pfd[2].revents & POLLIN))
		accept_clients(m);
	if ((pfd[1].revents & POLLIN) && (r = xs_ring_ack(&m->ring)) < 0)
		return r;
	reap_clients(m);
	/* Re-checked on every round: notifications coalesce. */
	r = mux_route_ring(m);
	if (r < 0)
		return r;
	flush_clients(m);
	return 0;
}

static int finished(const struct mux *m)
{
	return m->stopping && !m->clients &&
		(mux_route_idle(m) || xs_now_ms() >= m->stop_deadline);
}

static int loop(struct mux *m)
{
	struct pollfd *pfd = NULL;
	size_t cap = 0;
	int r = 0;

	while (!r && !finished(m)) {
		int n = build_pollset(m, &pfd, &cap);

		if (n < 0) {
			r = n;
			break;
		}
		if (poll(pfd, (nfds_t)n, poll_timeout(m)) < 0) {
			if (errno != EINTR)
				r = -errno;
			continue;
		}
		r = loop_round(m, pfd);
	}
	free(pfd);
	return r;
}

/* ---- setting up and tearing down ---- */

static int signals_open(struct mux *m, sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	if (sigprocmask(SIG_BLOCK, &s, old) < 0)
		return -errno;
	m->sig_fd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
	return m->sig_fd < 0 ? -errno : 0;
}

/* A socket file left by a kernel that died is in the way of bind(); a live
 * kernel's is not to be taken over. */
static void remove_stale(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 &&
	    errno == ECONNREFUSED)
		unlink(sa->sun_path);
	close(fd);
}

static int listen_open(struct mux *m, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
			      SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0)
		return -errno;
	remove_stale(&sa);
	/* Mode 0600 from the start: the domain's programs only. */
	old = umask(0177);
	r = bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return -errno;
	m->sock_path = path;
	return listen(m->listen_fd, 128) < 0 ? -errno : 0;
}

static void mux_init(struct mux *m, uint32_t domid)
{
	memset(m, 0, sizeof(*m));
	m->domid = domid;
	snprintf(m->dom_path, sizeof(m->dom_path), "/local/domain/%u/", domid);
	m->listen_fd = -1;
	m->sig_fd = -1;
	mux_queue_init(&m->to_ring);
	/* The ring may carry late replies for its previous owner's
	 * requests: start the ids somewhere else. */
	m->next_ring_id = ((uint32_t)getpid() << 16) ^ (uint32_t)xs_now_ms();
	m->next_client_id = 1;
}

static void mux_free(struct mux *m)
{
	while (m->clients) {
		struct mux_client *c = m->clients;

		m->clients = c->next;
		mux_route_client_gone(m, c);
		client_free(c);
	}
	mux_route_free(m);
	if (m->sock_path)
		unlink(m->sock_path);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->sig_fd >= 0)
		close(m->sig_fd);
	xs_ring_close(&m->ring);
}

static void signal_ready(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		return;     /* nobody waits: nothing to tell */
}

static int start(struct mux *m, uint32_t domid, const char *sock_path,
		 sigset_t *old, int *blocked)
{
	int r = fakexen_attach(NULL);

	if (!r)
		r = xs_ring_open(&m->ring, domid);
	if (!r && !(r = signals_open(m, old)))
		*blocked = 1;
	if (!r)
		r = listen_open(m, sock_path);
	/* A reset someone left unfinished: wait for it as for ours. */
	if (!r && !xs_ring_connected(&m->ring)) {
		m->reconnecting = 1;
		m->reconnect_deadline = xs_deadline_in(MUX_RECONNECT_TIMEOUT_MS);
	}
	return r;
}

int sim_xenbus_run(uint32_t domid, const char *sock_path, int ready_fd)
{
	struct mux m;
	sigset_t old;
	int blocked = 0, r;

	mux_init(&m, domid);
	r = start(&m, domid, sock_path, &old, &blocked);
	if (ready_fd >= 0) {
		if (!r)
			signal_ready(ready_fd);
		close(ready_fd);
	}
	if (!r)
		r = loop(&m);
	if (r < 0)
		fprintf(stderr, "xenbus-mux %u: %s\n", domid, strerror(-r));
	mux_free(&m);
	if (blocked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}
