/*
 * xenbus-tx: the one bounded transaction loop of the library, xdevd and
 * the simulated drivers.
 *
 * A xenstore transaction that conflicts (EAGAIN at its end: a node it
 * read changed meanwhile) is run again from the start.  Bounded, because
 * a peer that rewrites the same nodes in a loop (a hostile or broken
 * driver domain) can make every try conflict; with a pause of 1, 2, 4 ...
 * ms after the first FAST tries, so that such a peer does not win every
 * race in a row.  C xenstored may report a conflict as EIO when a node
 * the transaction touched was deleted meanwhile: tried again too.
 */
#ifndef XDEV_XENBUS_TX_H
#define XDEV_XENBUS_TX_H

#include <errno.h>
#include <time.h>
#include <xenstore.h>

/* Run BODY(XS, TX, ARG) until its transaction commits, at most TRIES
 * times.  BODY returns 0 to commit, -EAGAIN to try again (a conflict it
 * saw early), anything else to abort with that code.  Returns 0, BODY's
 * code, -errno of a transaction that could not start or end, or -EAGAIN
 * when every try conflicted. */
static inline int xenbus_transact(struct xs_handle *xs,
				  int (*body)(struct xs_handle *xs,
					      xs_transaction_t tx, void *arg),
				  void *arg, int tries, int fast)
{
	struct timespec ts = { 0, 0 };
	int i, r, e;

	for (i = 0; i < tries; i++) {
		xs_transaction_t tx;

		if (i >= fast) {
			ts.tv_nsec = (1L << (i - fast < 8 ? i - fast : 8)) *
				     1000000L;
			nanosleep(&ts, NULL);
		}
		tx = xs_transaction_start(xs);
		if (tx == XBT_NULL)
			return -(errno ? errno : EIO);
		r = body(xs, tx, arg);
		if (r) {
			xs_transaction_end(xs, tx, true);
			if (r == -EAGAIN)
				continue;
			return r;
		}
		if (xs_transaction_end(xs, tx, false))
			return 0;
		e = errno ? errno : EIO;
		if (e != EAGAIN && e != EIO)
			return -e;
	}
	return -EAGAIN;
}

#endif
