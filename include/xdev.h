/*
 * xdev: the lifecycle of Xen paravirtual devices (vbd, vif).
 *
 * Public API.  Every function returns 0 (or a non-negative value) on
 * success and a negative error code on failure: -errno values, plus the
 * xdev-specific codes below.  xdev_strerror() describes any of them.
 *
 * The device API (contexts, add, remove, events) arrives with its own
 * issue; this header holds what the rest builds on.
 */
#ifndef XDEV_H
#define XDEV_H

#ifdef __cplusplus
extern "C" {
#endif

/* xdev-specific error codes, below the errno range. */
enum {
	XDEV_E_BASE = -4096,
	XDEV_E_BACKEND_GONE = XDEV_E_BASE,  /* the backend domain vanished */
	XDEV_E_FRONTEND_REFUSED,            /* the guest refused an unplug */
	XDEV_E_HOTPLUG_FAILED,              /* the hotplug script failed */
	XDEV_E_DOMAIN_NOT_FOUND,            /* no such domain */
	XDEV_E_XENSTORE,                    /* the store failed a request */
	XDEV_E_LAST
};

/*
 * xdev_strerror - describe an error code
 *
 * RETURN VALUE
 *   A constant string for CODE (negative, as returned by xdev calls; a
 *   positive errno is accepted too).  Never NULL; unknown codes give
 *   "Unknown error".  The string is static: no allocation, thread-safe.
 */
const char *xdev_strerror(int code);

/*
 * xdev_version - the library's release, e.g. "0.1.0"
 */
const char *xdev_version(void);

#ifdef __cplusplus
}
#endif

#endif
