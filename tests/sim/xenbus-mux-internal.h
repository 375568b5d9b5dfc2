/*
 * xenbus-mux internals, shared by its two halves:
 *
 *   xenbus-mux.c        the process: listening socket, signals, the poll
 *                       loop, client connections and their byte queues;
 *   xenbus-mux-route.c  the protocol: what goes to the ring and how replies
 *                       and watch events find their way back, watch and
 *                       transaction bookkeeping, the ring reset.
 */
#ifndef XDEV_XENBUS_MUX_INTERNAL_H
#define XDEV_XENBUS_MUX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "xs-ring.h"

/* Bound on waiting for the daemon to complete a ring reset. */
#define MUX_RECONNECT_TIMEOUT_MS 5000

/* A message on its way to a peer (a client's socket or the ring): header
 * and payload in one allocation, OFF bytes of it sent already.  Whole
 * messages are queued so that a peer never sees two of them interleaved. */
struct mux_buf {
	struct mux_buf *next;
	size_t len, off;
	char data[];
};

/* A FIFO of messages and the bytes it holds (for flow control). */
struct mux_queue {
	struct mux_buf *head, **tail;
	size_t bytes;
};

/* A watch a client asked for, kept to remove it when the client goes and
 * to register it again after a ring reset.  TOKEN is the client's own (the
 * ring sees "<client id>:<token>"); RING_ID is the XS_WATCH that registered
 * it last, so that its failure removes this record. */
struct mux_watch {
	struct mux_watch *next;
	uint32_t ring_id;
	char *token;            /* points into path[] */
	char path[];
};

/* A transaction a client started and has not ended: only its owner may use
 * it, and it is aborted when the client goes. */
struct mux_tx {
	struct mux_tx *next;
	uint32_t id;
};

/* One connection from a program of the domain.  ID is never reused, so a
 * late reply or event for a client that left cannot reach a newcomer. */
struct mux_client {
	struct mux_client *next;
	uint32_t id;
	int fd;
	int gone;               /* disconnected: freed after this round */
	struct xs_rx rx;
	struct mux_queue out;
	struct mux_watch *watches;
	struct mux_tx *txs;
};

/* Flags of a pending request. */
#define MUX_P_INTERNAL 1u       /* the mux's own: the reply is dropped */
#define MUX_P_REWATCH  2u       /* a re-registration after a ring reset */

/* A request sent (or queued) to the ring and waiting for its reply: the
 * ring knows it as RING_ID, client CLIENT_ID (for whom it was made) as
 * REQ_ID.  Kept in a FIFO: the daemon answers in order, so the reply
 * searched for is nearly always the first. */
struct mux_pending {
	struct mux_pending *next, *prev;
	uint32_t ring_id;
	uint32_t client_id;
	uint32_t req_id;
	uint32_t tx_id;
	uint32_t type;
	unsigned flags;
};

/* The whole state of one kernel. */
struct mux {
	uint32_t domid;
	char dom_path[40];      /* "/local/domain/<domid>/": relative paths */
	struct xs_ring ring;
	int fatal;              /* the ring is unusable: -errno */
	int listen_fd, sig_fd;
	const char *sock_path;  /* set once bound: ours to unlink */
	int accept_paused;      /* out of fds: until a client goes */
	int stopping;           /* SIGTERM: finishing the clean-up requests */
	int64_t stop_deadline;
	struct mux_client *clients;
	uint32_t next_client_id;
	struct mux_queue to_ring;
	struct xs_rx ring_rx;
	struct mux_pending *pend_head, *pend_tail;
	uint32_t next_ring_id;
	/* The ring reset: RECONNECTING until the daemon answers, then
	 * REWATCH_LEFT re-registrations before the requester's reply. */
	int reconnecting;
	int64_t reconnect_deadline;
	uint32_t reconnect_client;
	struct xsd_sockmsg reconnect_req;
	unsigned rewatch_left;
};

/* ---- xenbus-mux.c ---- */

/* A message of TYPE with HDR's req_id and tx_id, payload A then B (either
 * may be empty); NULL when out of memory. */
struct mux_buf *mux_buf_new(uint32_t type, const struct xsd_sockmsg *hdr,
			    const void *a, size_t alen, const void *b,
			    size_t blen);
void mux_queue_init(struct mux_queue *q);
void mux_queue_push(struct mux_queue *q, struct mux_buf *b);
/* Free the first message (sent, or no longer wanted). */
void mux_queue_pop(struct mux_queue *q);
void mux_queue_clear(struct mux_queue *q);
/* Queue a message for client C; a client that lets too much pile up is
 * disconnected. */
void mux_client_send(struct mux_client *c, struct mux_buf *b);
struct mux_client *mux_client_find(struct mux *m, uint32_t id);

/* ---- xenbus-mux-route.c ---- */

/* Handle one complete request of client C (takes REQ's body). */
void mux_route_request(struct mux *m, struct mux_client *c,
		       struct xs_msg *req);
/* Client C is going: remove its watches and end its transactions. */
void mux_route_client_gone(struct mux *m, struct mux_client *c);
/* Move what can be moved between the ring and the queues.  0, or a
 * negative errno when the ring is unusable. */
int mux_route_ring(struct mux *m);
/* Whether requests of clients may be taken now. */
int mux_route_accepting(const struct mux *m);
/* Nothing on its way to or from the ring. */
int mux_route_idle(const struct mux *m);
void mux_route_free(struct mux *m);

#endif
