/*
 * xenbus-mux-route: the protocol half of the simulated guest kernel (see
 * xenbus-mux.h), modelled on Linux's xenbus_dev_frontend.c.
 *
 * Every client request that goes to the ring gets a ring id unique to the
 * mux (struct mux_pending); its reply is given the client's req_id back.
 * Watch tokens are made unique per client on the way out ("<id>:<token>")
 * and restored on the way in, which is how events find their client.  The
 * mux remembers each client's watches and transactions: to undo them when
 * the client goes, to refuse one client's requests in another's
 * transaction, and to register the watches again after a ring reset.
 *
 * Requests leave through one queue (mux->to_ring), written into the ring as
 * room appears; replies are answered in order by the daemon, so the pending
 * list is searched from its head.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenbus-mux-internal.h"

/* Client requests are not taken while this much waits for the ring. */
#define RING_QUEUE_HIGH (256 * 1024)
/* Room for a token made unique: "<client id>:" and the client's token. */
#define RING_TOKEN_MAX (XENSTORE_PAYLOAD_MAX + 16)

/* ---- answers made here ---- */

/* One reply to REQ of client C.  A client that cannot be answered (out of
 * memory) is dropped: it would wait forever. */
static void reply(struct mux_client *c, const struct xsd_sockmsg *req,
		  uint32_t type, const char *s)
{
	struct mux_buf *b = mux_buf_new(type, req, s, strlen(s) + 1, NULL, 0);

	if (b)
		mux_client_send(c, b);
	else
		c->gone = 1;
}

static void reply_error(struct mux_client *c, const struct xsd_sockmsg *req,
			const char *name)
{
	reply(c, req, XS_ERROR, name);
}

/* ---- requests in flight ---- */

static struct mux_pending *pending_find(struct mux *m, uint32_t ring_id)
{
	struct mux_pending *p;

	for (p = m->pend_head; p; p = p->next)
		if (p->ring_id == ring_id)
			return p;
	return NULL;
}

static void pending_unlink(struct mux *m, struct mux_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		m->pend_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		m->pend_tail = p->prev;
}

static struct mux_pending *pending_add(struct mux *m, uint32_t client_id,
				       const struct xsd_sockmsg *req,
				       unsigned flags)
{
	struct mux_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	/* Ids wrap after 2^32 requests; by then the old ones are long
	 * answered. */
	p->ring_id = m->next_ring_id++;
	p->client_id = client_id;
	p->req_id = req->req_id;
	p->tx_id = req->tx_id;
	p->type = req->type;
	p->flags = flags;
	p->prev = m->pend_tail;
	if (m->pend_tail)
		m->pend_tail->next = p;
	else
		m->pend_head = p;
	m->pend_tail = p;
	return p;
}

/* Queue request HDR (type, tx_id) with payload A then B for the ring, on
 * behalf of CLIENT_ID.  NULL when out of memory. */
static struct mux_pending *forward(struct mux *m, uint32_t client_id,
				   const struct xsd_sockmsg *hdr,
				   const void *a, size_t alen,
				   const void *b, size_t blen, unsigned flags)
{
	struct mux_pending *p = pending_add(m, client_id, hdr, flags);
	struct xsd_sockmsg h = *hdr;
	struct mux_buf *buf;

	if (!p)
		return NULL;
	h.req_id = p->ring_id;
	buf = mux_buf_new(hdr->type, &h, a, alen, b, blen);
	if (!buf) {
		pending_unlink(m, p);
		free(p);
		return NULL;
	}
	mux_queue_push(&m->to_ring, buf);
	return p;
}

/* XS_WATCH or XS_UNWATCH of PATH with OWNER's TOKEN, as the ring sees it. */
static struct mux_pending *forward_watch(struct mux *m, uint32_t type,
					 uint32_t owner,
					 const struct xsd_sockmsg *req,
					 const char *path, const char *token,
					 unsigned flags)
{
	struct xsd_sockmsg h = { .type = type, .req_id = req ? req->req_id : 0,
				 .tx_id = req ? req->tx_id : 0 };
	char tok[RING_TOKEN_MAX];
	int n = snprintf(tok, sizeof(tok), "%u:%s", owner, token);

	if (n < 0 || (size_t)n >= sizeof(tok))
		return NULL;
	return forward(m, owner, &h, path, strlen(path) + 1, tok,
		       (size_t)n + 1, flags);
}

/* ---- watch bookkeeping ---- */

static struct mux_watch *watch_new(const char *path, const char *token)
{
	size_t plen = strlen(path) + 1, tlen = strlen(token) + 1;
	struct mux_watch *w = malloc(sizeof(*w) + plen + tlen);

	if (!w)
		return NULL;
	memcpy(w->path, path, plen);
	w->token = w->path + plen;
	memcpy(w->token, token, tlen);
	w->next = NULL;
	w->ring_id = 0;
	return w;
}

/* Whether two paths name the same node: the daemon resolves relative ones
 * under the domain's directory. */
static int same_path(const struct mux *m, const char *a, const char *b)
{
	size_t dl = strlen(m->dom_path);

	if ((a[0] == '/') == (b[0] == '/'))
		return !strcmp(a, b);
	if (a[0] != '/') {
		const char *t = a;

		a = b;
		b = t;
	}
	return !strncmp(a, m->dom_path, dl) && !strcmp(a + dl, b);
}

static void watch_unlink(struct mux_watch **pw)
{
	struct mux_watch *w = *pw;

	*pw = w->next;
	free(w);
}

/* Forget C's watch on PATH with TOKEN: the same spelling first, else the
 * same node. */
static void watch_remove(const struct mux *m, struct mux_client *c,
			 const char *path, const char *token)
{
	struct mux_watch **pw;

	for (pw = &c->watches; *pw; pw = &(*pw)->next)
		if (!strcmp((*pw)->token, token) && !strcmp((*pw)->path, path))
			return watch_unlink(pw);
	for (pw = &c->watches; *pw; pw = &(*pw)->next)
		if (!strcmp((*pw)->token, token) &&
		    same_path(m, (*pw)->path, path))
			return watch_unlink(pw);
}

/* The XS_WATCH RING_ID failed: the daemon has no such watch. */
static void watch_failed(struct mux_client *c, uint32_t ring_id)
{
	struct mux_watch **pw;

	for (pw = &c->watches; *pw; pw = &(*pw)->next)
		if ((*pw)->ring_id == ring_id)
			return watch_unlink(pw);
}

static void watches_free(struct mux_client *c)
{
	while (c->watches)
		watch_unlink(&c->watches);
}

/* ---- transaction bookkeeping ---- */

static struct mux_tx **tx_find(struct mux_client *c, uint32_t id)
{
	struct mux_tx **pt;

	for (pt = &c->txs; *pt; pt = &(*pt)->next)
		if ((*pt)->id == id)
			return pt;
	return NULL;
}

static void tx_unlink(struct mux_tx **pt)
{
	struct mux_tx *t = *pt;

	*pt = t->next;
	free(t);
}

static int tx_add(struct mux_client *c, uint32_t id)
{
	struct mux_tx *t = malloc(sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->id = id;
	t->next = c->txs;
	c->txs = t;
	return 0;
}

static void txs_free(struct mux_client *c)
{
	while (c->txs)
		tx_unlink(&c->txs);
}

static void abort_tx(struct mux *m, uint32_t owner, uint32_t id)
{
	struct xsd_sockmsg h = { .type = XS_TRANSACTION_END, .tx_id = id };

	forward(m, owner, &h, "F", 2, NULL, 0, MUX_P_INTERNAL);
}

/* ---- client requests ---- */

/* An ordinary request: to the ring, if its transaction is the client's. */
static void request_plain(struct mux *m, struct mux_client *c,
			  const struct xs_msg *req)
{
	const struct xsd_sockmsg *h = &req->hdr;
	struct mux_tx **pt = h->tx_id ? tx_find(c, h->tx_id) : NULL;

	/* As Linux: another client's transaction, or one the ring reset
	 * ended, is unknown to this client. */
	if (h->tx_id && !pt)
		return reply_error(c, h, "ENOENT");
	/* Whatever the outcome, the daemon ends it. */
	if (h->type == XS_TRANSACTION_END && pt)
		tx_unlink(pt);
	if (!forward(m, c->id, h, req->body, h->len, NULL, 0, 0))
		reply_error(c, h, "ENOMEM");
}

/* XS_WATCH / XS_UNWATCH "path\0token\0": the token made unique. */
static void request_watch(struct mux *m, struct mux_client *c,
			  const struct xs_msg *req)
{
	const struct xsd_sockmsg *h = &req->hdr;
	size_t plen = strnlen(req->body, h->len);
	const char *token = req->body + plen + 1;  /* body[len] is a NUL */
	struct mux_watch *w = NULL;
	struct mux_pending *p;

	if (plen == h->len)
		return reply_error(c, h, "EINVAL");
	/* What the daemon would refuse once the token is made unique. */
	if (plen + 1 + snprintf(NULL, 0, "%u:", c->id) + strlen(token) + 1 >
	    XENSTORE_PAYLOAD_MAX)
		return reply_error(c, h, "E2BIG");
	if (h->type == XS_WATCH && !(w = watch_new(req->body, token)))
		return reply_error(c, h, "ENOMEM");
	if (h->type == XS_UNWATCH)
		watch_remove(m, c, req->body, token);
	p = forward_watch(m, h->type, c->id, h, req->body, token, 0);
	if (!p) {
		free(w);
		return reply_error(c, h, "ENOMEM");
	}
	/* Remembered now, not on success: if the client goes before the
	 * reply, the XS_UNWATCH then sent still follows the XS_WATCH. */
	if (w) {
		w->ring_id = p->ring_id;
		w->next = c->watches;
		c->watches = w;
	}
}

static void reconnect_start(struct mux *m, struct mux_client *c,
			    const struct xsd_sockmsg *req);

/* XS_CONTROL: "sim-features" and "sim-reconnect" are the kernel's own;
 * anything else is the daemon's business. */
static void request_control(struct mux *m, struct mux_client *c,
			    const struct xs_msg *req)
{
	char s[16];

	if (!strcmp(req->body, "sim-features")) {
		snprintf(s, sizeof(s), "%u", xs_ring_features(&m->ring));
		reply(c, &req->hdr, XS_CONTROL, s);
	} else if (!strcmp(req->body, "sim-reconnect")) {
		reconnect_start(m, c, &req->hdr);
	} else {
		request_plain(m, c, req);
	}
}

void mux_route_request(struct mux *m, struct mux_client *c,
		       struct xs_msg *req)
{
	switch (req->hdr.type) {
	case XS_WATCH:
	case XS_UNWATCH:
		request_watch(m, c, req);
		break;
	case XS_CONTROL:
		request_control(m, c, req);
		break;
	case XS_RESET_WATCHES:  /* would remove every client's watches */
	case XS_WATCH_EVENT:    /* not requests */
	case XS_ERROR:
		reply_error(c, &req->hdr, "EINVAL");
		break;
	default:
		if (req->hdr.type >= XS_TYPE_COUNT)
			reply_error(c, &req->hdr, "EINVAL");
		else
			request_plain(m, c, req);
	}
	free(req->body);
	req->body = NULL;
}

void mux_route_client_gone(struct mux *m, struct mux_client *c)
{
	struct mux_watch *w;
	struct mux_tx *t;

	/* During a reset the daemon is forgetting all of them anyway. */
	if (!m->reconnecting) {
		for (w = c->watches; w; w = w->next)
			forward_watch(m, XS_UNWATCH, c->id, NULL, w->path,
				      w->token, MUX_P_INTERNAL);
		for (t = c->txs; t; t = t->next)
			abort_tx(m, c->id, t->id);
	}
	watches_free(c);
	txs_free(c);
}

/* ---- the ring reset ---- */

/* Every request in flight is lost: its client gets EIO. */
static void fail_in_flight(struct mux *m)
{
	while (m->pend_head) {
		struct mux_pending *p = m->pend_head;
		struct mux_client *c = mux_client_find(m, p->client_id);
		struct xsd_sockmsg h = { .req_id = p->req_id,
					 .tx_id = p->tx_id };

		if (c && !(p->flags & MUX_P_INTERNAL))
			reply_error(c, &h, "EIO");
		pending_unlink(m, p);
		free(p);
	}
}

/* "ENOSYS" for a daemon without the feature: xs_wire.h's xsd_errors[] has
 * no ENOTSUP/EOPNOTSUPP, and ENOSYS ("not implemented") is what the daemons
 * answer for a request they do not implement. */
static void reconnect_start(struct mux *m, struct mux_client *c,
			    const struct xsd_sockmsg *req)
{
	struct mux_client *o;

	if (m->reconnecting || m->rewatch_left)
		return reply_error(c, req, "EBUSY");
	if (!(xs_ring_features(&m->ring) & XENSTORE_SERVER_FEATURE_RECONNECTION))
		return reply_error(c, req, "ENOSYS");
	/* The daemon drops partial packets, requests in flight, watches and
	 * transactions of the connection. */
	fail_in_flight(m);
	mux_queue_clear(&m->to_ring);
	xs_rx_reset(&m->ring_rx);
	for (o = m->clients; o; o = o->next)
		txs_free(o);
	m->reconnect_client = c->id;
	m->reconnect_req = *req;
	m->reconnect_deadline = xs_deadline_in(MUX_RECONNECT_TIMEOUT_MS);
	m->reconnecting = 1;
	m->fatal = xs_ring_start_reconnect(&m->ring);
}

static void reconnect_reply(struct mux *m)
{
	struct mux_client *c = mux_client_find(m, m->reconnect_client);

	if (c)
		reply(c, &m->reconnect_req, XS_CONTROL, "OK");
	m->reconnect_client = 0;
}

/* The daemon reset the ring: register every watch again; the requester is
 * answered once they are all in place. */
static void reconnect_done(struct mux *m)
{
	struct mux_client *c;
	struct mux_watch *w;

	m->reconnecting = 0;
	for (c = m->clients; c; c = c->next) {
		for (w = c->watches; w && !c->gone; w = w->next) {
			struct mux_pending *p = forward_watch(
				m, XS_WATCH, c->id, NULL, w->path, w->token,
				MUX_P_INTERNAL | MUX_P_REWATCH);

			if (!p) {
				c->gone = 1;    /* it would miss events */
				break;
			}
			w->ring_id = p->ring_id;
			m->rewatch_left++;
		}
	}
	if (!m->rewatch_left)
		reconnect_reply(m);
}

/* ---- from the ring ---- */

/* A transaction was started for client C (NULL: gone).  Nonzero when it
 * cannot be handed over. */
static int tx_started(struct mux *m, struct mux_client *c,
		      const struct mux_pending *p, const char *body)
{
	unsigned long id = strtoul(body, NULL, 10);

	if (c && !tx_add(c, (uint32_t)id))
		return 0;
	abort_tx(m, p->client_id, (uint32_t)id);
	return -ENOMEM;
}

/* Hand REPLY to the client of P with its own req_id. */
static void deliver(struct mux_client *c, const struct mux_pending *p,
		    const struct xs_msg *reply_msg, int err)
{
	struct xsd_sockmsg h = reply_msg->hdr;
	struct mux_buf *b;

	h.req_id = p->req_id;
	if (err)
		return reply_error(c, &h, "ENOMEM");
	b = mux_buf_new(h.type, &h, reply_msg->body, h.len, NULL, 0);
	if (b)
		mux_client_send(c, b);
	else
		c->gone = 1;
}

static void route_reply(struct mux *m, struct xs_msg *msg)
{
	struct mux_pending *p = pending_find(m, msg->hdr.req_id);
	struct mux_client *c;
	int err = 0;

	if (!p)     /* for the ring's previous owner */
		return;
	pending_unlink(m, p);
	c = mux_client_find(m, p->client_id);
	if (p->type == XS_WATCH && msg->hdr.type == XS_ERROR && c)
		watch_failed(c, p->ring_id);
	if (p->type == XS_TRANSACTION_START &&
	    msg->hdr.type == XS_TRANSACTION_START)
		err = tx_started(m, c, p, msg->body);
	if ((p->flags & MUX_P_REWATCH) && m->rewatch_left &&
	    !--m->rewatch_left)
		reconnect_reply(m);
	if (c && !(p->flags & MUX_P_INTERNAL))
		deliver(c, p, msg, err);
	free(p);
}

/* "path\0<id>:token\0" goes to client <id> as "path\0token\0". */
static void route_event(struct mux *m, const struct xs_msg *ev)
{
	size_t plen = strnlen(ev->body, ev->hdr.len);
	const char *tok = ev->body + plen + 1;
	struct mux_client *c;
	struct mux_buf *b;
	unsigned long id;
	char *end;

	if (plen == ev->hdr.len || !isdigit((unsigned char)*tok))
		return;
	id = strtoul(tok, &end, 10);
	if (*end != ':' || id > UINT32_MAX)
		return;
	c = mux_client_find(m, (uint32_t)id);
	if (!c)     /* gone: its watches are being removed */
		return;
	b = mux_buf_new(XS_WATCH_EVENT, &ev->hdr, ev->body, plen + 1, end + 1,
			strlen(end + 1) + 1);
	if (b)
		mux_client_send(c, b);
	else
		c->gone = 1;
}

/* Write what fits of the queued requests. */
static int ring_flush(struct mux *m)
{
	int wrote = 0;

	while (m->to_ring.head) {
		struct mux_buf *b = m->to_ring.head;
		int n = xs_ring_put(&m->ring, b->data + b->off, b->len - b->off);

		if (n < 0)
			return n;
		if (n == 0)
			break;  /* full: the daemon signals when it made room */
		wrote = 1;
		b->off += (size_t)n;
		if (b->off == b->len)
			mux_queue_pop(&m->to_ring);
	}
	return wrote ? xs_ring_kick(&m->ring) : 0;
}

/* Take every complete message off the ring. */
static int ring_drain(struct mux *m)
{
	uint64_t before = m->ring.taken;
	struct xs_msg msg;
	int r;

	while ((r = xs_rx_fill(&m->ring_rx, xs_ring_take, &m->ring, &msg)) == 1) {
		if (msg.hdr.type == XS_WATCH_EVENT)
			route_event(m, &msg);
		else
			route_reply(m, &msg);
		free(msg.body);
	}
	if (r < 0)
		return r == -EMSGSIZE ? -EIO : r;
	/* We made room: the daemon may be waiting for it. */
	return m->ring.taken != before ? xs_ring_kick(&m->ring) : 0;
}

int mux_route_ring(struct mux *m)
{
	int r = m->fatal ? m->fatal : xs_ring_failed(&m->ring);

	if (r)
		return r;
	if (m->reconnecting) {
		/* Until then the ring is not ours to touch. */
		if (!xs_ring_connected(&m->ring))
			return xs_now_ms() < m->reconnect_deadline ? 0
								    : -ETIMEDOUT;
		reconnect_done(m);
	}
	if ((r = ring_flush(m)) < 0 || (r = ring_drain(m)) < 0)
		return r;
	/* Replies may have queued requests (aborting orphans). */
	r = ring_flush(m);
	return r < 0 ? r : m->fatal;
}

int mux_route_accepting(const struct mux *m)
{
	return !m->reconnecting && m->to_ring.bytes < RING_QUEUE_HIGH;
}

int mux_route_idle(const struct mux *m)
{
	return !m->pend_head && !m->to_ring.head &&
		!xs_rx_partial(&m->ring_rx);
}

void mux_route_free(struct mux *m)
{
	while (m->pend_head) {
		struct mux_pending *p = m->pend_head;

		pending_unlink(m, p);
		free(p);
	}
	mux_queue_clear(&m->to_ring);
	xs_rx_reset(&m->ring_rx);
}
