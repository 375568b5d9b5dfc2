/*
 * xenbus-mux: a simulated guest kernel's xenbus, for the simulated Xen host.
 *
 * Only one party can own a domain's xenstore ring.  On a real guest that is
 * the kernel, and userspace reaches xenstore through /dev/xen/xenbus, which
 * the kernel multiplexes (Linux: drivers/xen/xenbus/xenbus_dev_frontend.c).
 * This is the same for a simulated domain: one process owns the ring and
 * serves a unix socket on which any number of the domain's programs speak
 * the xenstore wire protocol (struct xsd_sockmsg + payload, exactly as over
 * xenstored's own socket), so libxenstore (xs_open() with XENSTORED_PATH
 * set to the socket), the xenstore-* tools and guest-xs.h's xsg_open() all
 * work through it, with the domain's (unprivileged) rights.
 *
 * Like Linux it gives every client its own view: replies go back to the
 * requester with its own req_id, watch events only to the client that
 * registered the watch, with its own token; a client's watches and
 * transactions end when it disconnects; XS_RESET_WATCHES, which would
 * remove every client's watches, is refused (EINVAL); so is a request in
 * a transaction the client did not start (ENOENT, as Linux answers).
 * Ring tokens are "<client id>:<token>"; ids are never reused.
 *
 * Two XS_CONTROL commands are the kernel's own:
 *   "sim-features"   answers the ring's server_features, in decimal;
 *   "sim-reconnect"  performs the guest-initiated ring reset of xs_wire.h
 *                    for everybody and answers "OK" once it is done.  The
 *                    daemon forgets the connection's watches and
 *                    transactions, so every request in flight is answered
 *                    EIO, every transaction is gone (later requests in it:
 *                    ENOENT), and every client's watches are registered
 *                    again (each fires once more, as on Linux) before the
 *                    "OK".  Errors: ENOSYS when the daemon does not
 *                    advertise XENSTORE_SERVER_FEATURE_RECONNECTION (the
 *                    closest name in xs_wire.h's xsd_errors[], which has no
 *                    ENOTSUP; guest-xs maps it to -EOPNOTSUPP), EBUSY while
 *                    a reset is in progress.  A daemon that does not finish
 *                    the reset within 5 s ends the kernel (-ETIMEDOUT).
 */
#ifndef XDEV_XENBUS_MUX_H
#define XDEV_XENBUS_MUX_H

#include <stdint.h>

/* Own DOMID's ring (the host of $XDEV_SIM_DIR) and serve SOCK_PATH (a unix
 * stream socket, mode 0600), writing one byte to READY_FD once listening
 * (READY_FD is closed in every case; -1: none).  Runs until SIGTERM or
 * SIGINT (blocked by the function and taken through a signalfd), then
 * removes the clients' watches and transactions (bounded), unlinks
 * SOCK_PATH and returns 0.  Returns a negative errno when it cannot start
 * or the ring fails (-EIO: corrupt indices, an error reported by the
 * daemon; -ETIMEDOUT: a reset the daemon never completed).  Meant to run in
 * a process of its own, which owns the ring. */
int sim_xenbus_run(uint32_t domid, const char *sock_path, int ready_fd);

#endif
