/*
 * guest-xs: a guest-side xenstore client for the simulated Xen host.
 *
 * It plays the part of a process inside an unprivileged domain.  When the
 * domain has a simulated kernel (xenbus-mux.h: a process owning the ring,
 * listening on $XDEV_SIM_DIR/xenbus/<domid>), the handle talks to it over
 * that socket, as userspace does through /dev/xen/xenbus, and any number of
 * handles may use the domain at once.  Otherwise the handle is the kernel:
 * it maps the domain's ring page (struct xenstore_domain_interface of
 * <xen/io/xs_wire.h>) through fakexen, takes delivery of the domain's
 * xenstore event channel, and speaks the wire protocol over the ring (what
 * Linux's xenbus_comms does).  Either way requests go through the daemon's
 * per-domain permission and quota checks exactly as a real guest's would,
 * which is the point: xdev's tests use it to act as a guest.
 *
 * The API is synchronous: every call sends one request and waits for the
 * matching reply, bounded by a per-handle timeout (xsg_set_timeout()).  Watch
 * events that arrive meanwhile are queued and handed out by
 * xsg_read_watch().  All functions return 0 (or a non-negative count) on
 * success and a negative errno on failure; errors reported by the daemon
 * (XS_ERROR "ENOENT", ...) come back as the matching -errno ("EQUOTA",
 * which oxenstored uses, maps to -EDQUOT).  Strings and arrays returned
 * through pointers are malloc'd and owned by the caller.
 *
 * A handle is not thread-safe.  On the ring, only one handle per domain
 * should exist at a time on the whole host, as there is only one ring per
 * domain (and never one beside the domain's kernel).
 */
#ifndef XDEV_GUEST_XS_H
#define XDEV_GUEST_XS_H

#include <stdint.h>

struct xsg;

/* Attach to the simulated host ($XDEV_SIM_DIR) and connect to DOMID: to
 * its kernel's socket when it accepts a connection, else to its ring. */
int xsg_open(uint32_t domid, struct xsg **ret);
/* The same, always on the ring (a domain without a kernel, or the kernel
 * itself). */
int xsg_open_ring(uint32_t domid, struct xsg **ret);
/* On the ring, best-effort removal of the watches registered through X;
 * through the kernel, closing the connection does that (and ends X's
 * transactions).  Then release.  NULL-safe. */
void xsg_close(struct xsg *x);

/* Bound every synchronous request to MS milliseconds (-1: no bound).  The
 * default is 10000; an expired request fails with -ETIMEDOUT. */
int xsg_set_timeout(struct xsg *x, int ms);
/* The fd to poll: the event channel, readable when xenstored has signalled
 * the ring, or the socket to the kernel. */
int xsg_fd(struct xsg *x);
/* The ring's server feature bitmap (XENSTORE_SERVER_FEATURE_*); through
 * the kernel, one request (XS_CONTROL "sim-features"). */
int xsg_server_features(struct xsg *x);

/* TX is a transaction id from xsg_transaction_start() or 0.  Relative paths
 * are resolved by the daemon under /local/domain/<domid>. */
int xsg_read(struct xsg *x, uint32_t tx, const char *path,
	     char **ret_val, unsigned *ret_len);
int xsg_write(struct xsg *x, uint32_t tx, const char *path,
	      const void *val, unsigned len);
int xsg_mkdir(struct xsg *x, uint32_t tx, const char *path);
int xsg_rm(struct xsg *x, uint32_t tx, const char *path);
/* Returns the number of names.  *RET_NAMES is NULL-terminated and a single
 * allocation (pointers and strings): free() it. */
int xsg_directory(struct xsg *x, uint32_t tx, const char *path,
		  char ***ret_names, unsigned *ret_n);
/* Permissions as text, entries joined by commas: "n1,r0". */
int xsg_get_perms(struct xsg *x, uint32_t tx, const char *path,
		  char **ret_perms);
int xsg_set_perms(struct xsg *x, uint32_t tx, const char *path,
		  const char *perms);

int xsg_watch(struct xsg *x, const char *path, const char *token);
int xsg_unwatch(struct xsg *x, const char *path, const char *token);
/* Next watch event, queued ones first.  TIMEOUT_MS -1 waits forever;
 * -ETIMEDOUT when nothing arrived in time. */
int xsg_read_watch(struct xsg *x, int timeout_ms,
		   char **ret_path, char **ret_token);

int xsg_transaction_start(struct xsg *x, uint32_t *ret_tx);
/* COMMIT 0 aborts.  -EAGAIN: the transaction conflicted; retry it. */
int xsg_transaction_end(struct xsg *x, uint32_t tx, int commit);

int xsg_get_domain_path(struct xsg *x, uint32_t domid, char **ret);

/* Guest-initiated ring reset (xenstore-ring.txt, "ring reconnection").
 * -EOPNOTSUPP if the daemon does not advertise the feature.  On the ring,
 * the daemon forgets the connection's watches and transactions; so does X.
 * Through the kernel (XS_CONTROL "sim-reconnect"), the kernel resets the
 * ring for all its clients: transactions are gone, requests in flight fail
 * with -EIO, but it registers every watch again, so X's watches stay and
 * each fires once more; the events X had queued are dropped. */
int xsg_reconnect(struct xsg *x, int timeout_ms);

#endif
