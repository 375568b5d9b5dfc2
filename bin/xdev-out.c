/*
 * Output: error messages that say what was wrong and what to do, the
 * JSON of a device (the schema of docs/cli.md, read from the store's
 * nodes so that it shows what is there, not what was asked), and xl's
 * tables.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "xdev-cli.h"

const char *cli_prog = "xdev";

static void vmsg(const char *kind, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", cli_prog, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

const char *dev_type_name(enum xdev_device_type type)
{
	return type == XDEV_VBD ? "vbd" : "vif";
}

const char *xenbus_state_name(int state)
{
	static const char *const names[] = {
		"Unknown", "Initialising", "InitWait", "Initialised",
		"Connected", "Closing", "Closed", "Reconfiguring",
		"Reconfigured",
	};

	return state >= 0 && state < 9 ? names[state] : "Invalid";
}

/* What to do about a failure: one hint per error code. */
static const char *hint(int r)
{
	switch (r) {
	case XDEV_E_DEVICE_EXISTS:
		return "detach it first, or choose another vdev or devid";
	case XDEV_E_HOTPLUG_FAILED:
		return "the backend's hotplug script failed: check its target "
		       "and its log (-v shows the script's output)";
	case XDEV_E_BACKEND_GONE:
		return "the backend domain or its device directory vanished: "
		       "check that the backend domain is running";
	case XDEV_E_FRONTEND_GONE:
		return "the guest died meanwhile: nothing is left to do";
	case XDEV_E_FRONTEND_REFUSED:
		return "the guest still uses the device: release it in the "
		       "guest (umount), or detach without --safe";
	case XDEV_E_XENSTORE:
		return "the store failed a request: check xenstored (-vv shows "
		       "the library's requests)";
	case XDEV_E_DOMAIN_NOT_FOUND:
		return "check the domain id or name, and backend= (xl list "
		       "shows the domains)";
	case XDEV_E_NO_DEVICE:
		return "the device is gone already, or the list shows "
		       "another one";
	case -ETIMEDOUT:
		return "is the backend driver running in the backend domain, "
		       "and the guest's frontend? raise --timeout, or use -v "
		       "to see the wait";
	case -ECANCELED:
		return "interrupted: what the operation wrote was undone";
	default:
		return "run again with -v to see the library's log";
	}
}

int cli_fail(const struct cli *cli, int r, const char *what,
	     const char *detail)
{
	(void)cli;
	cli_error("%s failed: %s%s%s; %s", what, xdev_strerror(r),
		  detail && *detail ? ": " : "", detail ? detail : "",
		  hint(r));
	switch (r) {
	case -ETIMEDOUT:
		return EXIT_TIMEOUT;
	case XDEV_E_DOMAIN_NOT_FOUND:
	case XDEV_E_NO_DEVICE:
		return EXIT_NOT_FOUND;
	case -EINVAL:
		return EXIT_USAGE;
	case -ECANCELED:
		return EXIT_INTERRUPTED;
	default:
		return EXIT_FAILED;
	}
}

/* ---- a device as JSON ------------------------------------------------------ */

/* A decimal node as a number, anything else (or nothing) as null. */
static json_object *num(const char *v)
{
	char *end;
	long long n;

	if (!v || !*v)
		return NULL;
	errno = 0;
	n = strtoll(v, &end, 10);
	return *end || errno ? NULL : json_object_new_int64(n);
}

static json_object *str(const char *v)
{
	return v ? json_object_new_string(v) : NULL;
}

/* KEY of DIR as JSON (AS_NUM: a number); null if DIR or the node is
 * missing. */
static void add_node(json_object *o, const char *name, struct xs_handle *xs,
		     const char *dir, const char *key, bool as_num)
{
	char *v = dir ? store_read(xs, dir, key) : NULL;

	json_object_object_add(o, name, as_num ? num(v) : str(v));
	free(v);
}

static void add_state(json_object *o, const char *name, struct xs_handle *xs,
		      const char *dir)
{
	char *v = dir ? store_read(xs, dir, "state") : NULL;
	json_object *n = num(v);
	char key[40];

	snprintf(key, sizeof(key), "%s_name", name);
	json_object_object_add(o, name, n);
	json_object_object_add(o, key, n ? json_object_new_string(
		xenbus_state_name(json_object_get_int(n))) : NULL);
	free(v);
}

static void add_vbd(json_object *o, struct xs_handle *xs, const char *fe,
		    const char *be)
{
	add_node(o, "vdev", xs, be, "dev", false);
	add_node(o, "target", xs, be, "params", false);
	add_node(o, "mode", xs, be, "mode", false);
	add_node(o, "device_type", xs, be, "device-type", false);
	add_node(o, "format", xs, be, "format", false);
	add_node(o, "physical_device", xs, be, "physical-device", false);
	add_node(o, "ring_ref", xs, fe, "ring-ref", true);
}

static void add_vif(json_object *o, struct xs_handle *xs, const char *fe,
		    const char *be)
{
	add_node(o, "mac", xs, fe, "mac", false);
	add_node(o, "bridge", xs, be, "bridge", false);
	add_node(o, "mtu", xs, be, "mtu", true);
	add_node(o, "handle", xs, fe, "handle", true);
	add_node(o, "tx_ring_ref", xs, fe, "tx-ring-ref", true);
	add_node(o, "rx_ring_ref", xs, fe, "rx-ring-ref", true);
}

json_object *out_device(struct xs_handle *xs, const struct dom *dom,
			const xdev_device_id *id)
{
	json_object *o = json_object_new_object();
	char fe[96], *be, *online;

	snprintf(fe, sizeof(fe), "/local/domain/%u/device/%s/%u", dom->domid,
		 dev_type_name(id->type), id->devid);
	be = store_read(xs, fe, "backend");
	json_object_object_add(o, "domid", json_object_new_int64(dom->domid));
	json_object_object_add(o, "domain", json_object_new_string(dom->name));
	json_object_object_add(o, "type", json_object_new_string(
		dev_type_name(id->type)));
	json_object_object_add(o, "devid", json_object_new_int64(id->devid));
	json_object_object_add(o, "backend_domid",
			       json_object_new_int64(id->backend_domid));
	json_object_object_add(o, "frontend", json_object_new_string(fe));
	json_object_object_add(o, "backend", str(be));
	add_state(o, "frontend_state", xs, fe);
	add_state(o, "backend_state", xs, be);
	online = be ? store_read(xs, be, "online") : NULL;
	json_object_object_add(o, "online", online ?
		json_object_new_boolean(!strcmp(online, "1")) : NULL);
	free(online);
	add_node(o, "hotplug_status", xs, be, "hotplug-status", false);
	add_node(o, "script", xs, be, "script", false);
	add_node(o, "event_channel", xs, fe, "event-channel", true);
	if (id->type == XDEV_VBD)
		add_vbd(o, xs, fe, be);
	else
		add_vif(o, xs, fe, be);
	free(be);
	return o;
}

void out_json(json_object *obj, bool plain)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (plain ? JSON_C_TO_STRING_PLAIN
			   : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);

	puts(json_object_to_json_string_ext(obj, flags));
	fflush(stdout);
}

/* ---- xl's tables ------------------------------------------------------------ */

/* An integer member, -1 if null (as xl prints what it cannot read). */
static long long get_i(json_object *dev, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(dev, key, &v) && v
		       ? json_object_get_int64(v) : -1;
}

static const char *get_s(json_object *dev, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(dev, key, &v) && v
		       ? json_object_get_string(v) : "-";
}

void out_table_header(enum xdev_device_type type)
{
	if (type == XDEV_VBD)
		printf("%-5s %-3s %-6s %-5s %-6s %-8s %-30s\n", "Vdev", "BE",
		       "handle", "state", "evt-ch", "ring-ref", "BE-path");
	else
		printf("%-3s %-2s %-17s %-6s %-5s %-6s %5s/%-5s %-30s\n", "Idx",
		       "BE", "Mac Addr.", "handle", "state", "evt-ch", "tx-",
		       "rx-ring-ref", "BE-path");
}

void out_table_row(enum xdev_device_type type, json_object *dev)
{
	if (type == XDEV_VBD)
		printf("%-5lld %-3lld %-6lld %-5lld %-6lld %-8lld %-30s\n",
		       get_i(dev, "devid"), get_i(dev, "backend_domid"),
		       get_i(dev, "domid"), get_i(dev, "frontend_state"),
		       get_i(dev, "event_channel"), get_i(dev, "ring_ref"),
		       get_s(dev, "backend"));
	else
		printf("%-3lld %-2lld %-17s %6lld %5lld %6lld %5lld/%-11lld "
		       "%-30s\n", get_i(dev, "devid"),
		       get_i(dev, "backend_domid"), get_s(dev, "mac"),
		       get_i(dev, "handle"), get_i(dev, "frontend_state"),
		       get_i(dev, "event_channel"), get_i(dev, "tx_ring_ref"),
		       get_i(dev, "rx_ring_ref"), get_s(dev, "backend"));
}
