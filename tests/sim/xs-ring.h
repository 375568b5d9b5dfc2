/*
 * xs-ring: the pieces of the xenstore wire protocol that the simulated
 * guest's two xenstore clients share (internal to the simulator):
 *
 *   - guest-xs.c (xsg_*), a synchronous client of one domain's ring, or of
 *     the domain's kernel socket;
 *   - xenbus-mux.c, the simulated guest kernel that owns the ring and
 *     multiplexes many socket clients onto it.
 *
 * It holds the non-blocking ring primitives (struct xenstore_domain_interface
 * of <xen/io/xs_wire.h>: two 1024-byte circular buffers indexed by
 * free-running counters, every index update fenced and followed by an event
 * channel notification), an incremental receiver of framed messages
 * (struct xsd_sockmsg header + payload) that works on the ring and on a
 * socket alike, the mapping of the daemons' error names to errno values,
 * and monotonic deadlines.  Everything returns 0 (or a count) or a negative
 * errno; nothing here blocks except xs_ring_wait(), up to its deadline.
 */
#ifndef XDEV_XS_RING_H
#define XDEV_XS_RING_H

#include <stddef.h>
#include <stdint.h>
#include <xenevtchn.h>
#include <xen/io/xs_wire.h>

#define XS_HDR_LEN sizeof(struct xsd_sockmsg)

/* ---- time ---- */

int64_t xs_now_ms(void);
/* Absolute deadline MS milliseconds from now; -1 (none) for MS < 0. */
int64_t xs_deadline_in(int ms);
/* The poll() timeout left until DEADLINE: -1 for none, 0 once passed. */
int xs_poll_ms(int64_t deadline);

/* ---- errors ---- */

/* -errno for an error name a daemon sends ("ENOENT", oxenstored's
 * "EQUOTA" -> -EDQUOT); -EINVAL for unknown names, as libxenstore does. */
int xs_error_errno(const char *name);
/* -errno, or -EIO when errno is not set. */
int xs_neg_errno(void);

/* ---- messages ---- */

/* One received message; BODY holds hdr.len bytes plus a NUL of ours, so
 * that string payloads can be used in place. */
struct xs_msg {
	struct xsd_sockmsg hdr;
	char *body;
};

/* A message being received: it may arrive over many reads, wake-ups and
 * even calls (a request that timed out in the middle of its reply). */
struct xs_rx {
	struct xsd_sockmsg hdr;
	size_t hdr_got;
	char *body;
	size_t body_got;
};

/* Where xs_rx_fill() gets bytes from: returns a count > 0, 0 when nothing
 * is available now, or a negative errno. */
typedef int xs_take_fn(void *src, void *buf, size_t len);

/* Move available bytes from SRC into RX.  Returns 1 with a complete message
 * in OUT (its body now the caller's), 0 when SRC ran dry first, -EMSGSIZE
 * for a payload longer than XENSTORE_PAYLOAD_MAX, or TAKE's error. */
int xs_rx_fill(struct xs_rx *rx, xs_take_fn *take, void *src,
	       struct xs_msg *out);
void xs_rx_reset(struct xs_rx *rx);
/* Whether part of a message has been received. */
int xs_rx_partial(const struct xs_rx *rx);

/* xs_take_fn for a non-blocking stream socket; SRC points to the int fd.
 * End of file is -ECONNRESET. */
int xs_sock_take(void *src, void *buf, size_t len);

/* ---- the ring ---- */

/* The guest side of one domain's ring: the mapped page and the event
 * channel delivered to us.  TAKEN counts the response bytes consumed, so
 * that callers can tell whether to notify the daemon of the room made. */
struct xs_ring {
	struct xenstore_domain_interface *intf;
	xenevtchn_handle *xce;
	evtchn_port_t port;
	uint64_t taken;
};

/* Map DOMID's ring (fakexen must be attached) and take delivery of its
 * event channel.  R is cleared first; xs_ring_close() is safe after
 * failure. */
int xs_ring_open(struct xs_ring *r, uint32_t domid);
void xs_ring_close(struct xs_ring *r);
int xs_ring_fd(const struct xs_ring *r);
uint32_t xs_ring_features(const struct xs_ring *r);
/* -EIO when the daemon reports that it stopped serving the ring. */
int xs_ring_failed(const struct xs_ring *r);

/* Copy up to LEN bytes into the request ring: returns the count (0: full)
 * or -EIO when the indices make no sense. */
int xs_ring_put(struct xs_ring *r, const void *data, size_t len);
/* xs_take_fn over the response ring; SRC is the struct xs_ring.  -EIO
 * when the indices make no sense. */
int xs_ring_take(void *src, void *buf, size_t len);

/* Signal the daemon. */
int xs_ring_kick(struct xs_ring *r);
/* Take a pending notification (if any) and unmask: the caller re-checks
 * the ring afterwards, so no signal is lost. */
int xs_ring_ack(struct xs_ring *r);
/* Sleep until the daemon signals (0; the ring must be re-checked) or
 * DEADLINE passes (-ETIMEDOUT). */
int xs_ring_wait(struct xs_ring *r, int64_t deadline);

/* Guest-initiated reset (xenstore-ring.txt): the caller checked
 * XENSTORE_SERVER_FEATURE_RECONNECTION.  Sets connection to
 * XENSTORE_RECONNECT and notifies; until xs_ring_connected() the ring is
 * not the guest's to touch. */
int xs_ring_start_reconnect(struct xs_ring *r);
/* Whether connection is XENSTORE_CONNECTED (fenced: indices read later are
 * the reset ones). */
int xs_ring_connected(const struct xs_ring *r);

#endif
