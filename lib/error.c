/*
 * Error codes: xdev returns negative errno values and its own codes below
 * XDEV_E_BASE (include/xdev.h); this file names them.
 */
#define _GNU_SOURCE
#include <string.h>

#include "internal.h"

static const char *const xdev_error_table[] = {
	[XDEV_E_BACKEND_GONE - XDEV_E_BASE] = "Backend domain is gone",
	[XDEV_E_FRONTEND_REFUSED - XDEV_E_BASE] = "Frontend refused the request",
	[XDEV_E_HOTPLUG_FAILED - XDEV_E_BASE] = "Hotplug script failed",
	[XDEV_E_DOMAIN_NOT_FOUND - XDEV_E_BASE] = "Domain not found",
	[XDEV_E_XENSTORE - XDEV_E_BASE] = "Xenstore request failed",
	[XDEV_E_DEVICE_EXISTS - XDEV_E_BASE] = "Device already exists",
	[XDEV_E_NO_DEVICE - XDEV_E_BASE] = "No such device",
	[XDEV_E_FRONTEND_GONE - XDEV_E_BASE] = "Frontend domain is gone",
	[XDEV_E_CLEANUP_FAILED - XDEV_E_BASE] =
		"Device removed, but its backend cleanup failed",
};

XDEV_PUBLIC const char *xdev_strerror(int code)
{
	const char *s;

	if (code >= XDEV_E_BASE && code < XDEV_E_LAST)
		return xdev_error_table[code - XDEV_E_BASE];
	if (code < 0)
		code = -code;
	if (code == 0)
		return "Success";
	/* strerrordesc_np returns static strings: no buffer, no locale state. */
	s = strerrordesc_np(code);
	return s ? s : "Unknown error";
}

XDEV_PUBLIC const char *xdev_version(void)
{
	return PACKAGE_VERSION;
}
