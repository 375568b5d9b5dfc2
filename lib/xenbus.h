/*
 * xenbus: the device states of the xenbus protocol (Xen's
 * xen/include/public/io/xenbus.h), with the names every log uses.  One
 * definition for the library, xdevd and the simulated drivers.
 *
 * A state node is written by the peer that owns it (a guest its
 * frontend's, a driver domain its backend's): read it with a strict parse
 * (untrusted__parse_state in the library), never with atoi.
 */
#ifndef XDEV_XENBUS_H
#define XDEV_XENBUS_H

#include <string.h>

enum xenbus_state {
	XB_UNKNOWN = 0,           /* also: no state node */
	XB_INITIALISING = 1,
	XB_INITWAIT = 2,
	XB_INITIALISED = 3,
	XB_CONNECTED = 4,
	XB_CLOSING = 5,
	XB_CLOSED = 6,
	XB_RECONFIGURING = 7,
	XB_RECONFIGURED = 8,
};

static inline const char *xenbus_state_name(int s)
{
	static const char *const names[] = {
		"unknown", "initialising", "initwait", "initialised",
		"connected", "closing", "closed", "reconfiguring",
		"reconfigured",
	};

	return s >= XB_UNKNOWN && s <= XB_RECONFIGURED ? names[s] : "invalid";
}

/* "initwait" -> XB_INITWAIT ...; -1 for anything else. */
static inline int xenbus_state_parse(const char *s)
{
	int i;

	for (i = XB_UNKNOWN; i <= XB_RECONFIGURED; i++)
		if (!strcmp(s, xenbus_state_name(i)))
			return i;
	return -1;
}

#endif
