/*
 * Output: error messages that say what was wrong and what to do, the
 * JSON of a device (the schema of docs/cli.md, read from the store's
 * nodes so that it shows what is there, not what was asked), and xl's
 * tables.  Text may quote what a guest or a driver domain wrote: every
 * message, log line and table cell goes through term_escape().
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "actor.h"
#include "xdev-cli.h"

const char *cli_prog = "xdev";

/* The longest message printed: a guest's error node or a script's output
 * quoted in it is cut, not the line. */
#define MSG_MAX 4096

/* ---- text for a terminal ------------------------------------------------------ */

/* The code point of the valid UTF-8 sequence at P, its length in *LEN;
 * -1 if P does not start one (a stray continuation byte, an overlong
 * form, a surrogate, beyond U+10FFFF, cut short). */
static long utf8_decode(const unsigned char *p, size_t *len)
{
	unsigned long cp;
	size_t n, i;

	if (p[0] < 0x80) {
		*len = 1;
		return p[0];
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return -1;
	}
	/* a NUL is no continuation byte: never reads past the end */
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = n;
	return (long)cp;
}

/* Characters a terminal acts on or that change what a line appears to
 * say: C0 and C1 controls, DEL, and the invisible and bidirectional
 * format characters (U+200B..U+200F, U+2028..U+202E, U+2060..U+206F,
 * U+FEFF). */
static bool term_unsafe(long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
	       (cp >= 0x200b && cp <= 0x200f) ||
	       (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff;
}

/* The escaped form of what starts at P, in OUT (at least 17 bytes):
 * returns its length, and how many bytes of P it stands for in *USED. */
static size_t escape_one(const unsigned char *p, char *out, size_t *used)
{
	size_t n, i, k = 0;
	long cp = utf8_decode(p, &n);

	if (cp == '\\') {
		*used = 1;
		memcpy(out, "\\\\", 2);
		return 2;
	}
	if (cp >= 0 && !term_unsafe(cp)) {
		*used = n;
		memcpy(out, p, n);
		return n;
	}
	/* an unsafe character as the bytes of its UTF-8; a byte that is
	 * no character alone */
	if (cp < 0)
		n = 1;
	for (i = 0; i < n; i++)
		k += (size_t)sprintf(out + k, "\\x%02x", p[i]);
	*used = n;
	return k;
}

const char *term_escape(const char *s, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t total = 0, o = 0, n, used, i;
	char piece[17];

	if (len < 8) {
		if (len)
			buf[0] = 0;
		return buf;
	}
	for (i = 0; p[i]; i += used)
		total += escape_one(p + i, piece, &used);
	for (i = 0; p[i]; i += used) {
		n = escape_one(p + i, piece, &used);
		/* all of it fits, or leave room for "..." */
		if (o + n > (total < len ? len - 1 : len - 4))
			break;
		memcpy(buf + o, piece, n);
		o += n;
	}
	if (total >= len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = 0;
	return buf;
}

json_object *json_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	json_object *o;
	size_t i, k = 0, n;
	char *clean;

	if (!s)
		return NULL;
	for (i = 0; p[i]; i += n)
		if (utf8_decode(p + i, &n) < 0)
			break;
	if (!p[i])
		return json_object_new_string(s);
	/* at most 3 bytes (U+FFFD) for each byte */
	clean = malloc(strlen(s) * 3 + 1);
	if (!clean)
		return NULL;
	for (i = 0; p[i]; i += n) {
		if (utf8_decode(p + i, &n) < 0) {
			n = 1;
			memcpy(clean + k, "\xef\xbf\xbd", 3);
			k += 3;
		} else {
			memcpy(clean + k, p + i, n);
			k += n;
		}
	}
	clean[k] = 0;
	o = json_object_new_string(clean);
	free(clean);
	return o;
}

/* ---- messages ------------------------------------------------------------------ */

bool cli_timestamps;

/* The failure as -j reports it (out_error). */
static struct {
	int code;                  /* 0: not said; then from the exit code */
	char *message;             /* cli_error()'s first */
	json_object *device, *results;
} failure;

/* xl -T: "2026-12-06 14:30:01 [1234] " before a message. */
void cli_stamp(void)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;

	if (!cli_timestamps)
		return;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
		 localtime_r(&t, &tm));
	fprintf(stderr, "%s [%d] ", when, (int)getpid());
}

static void vmsg(const char *kind, const char *fmt, va_list ap, bool error)
{
	char *msg = NULL, safe[MSG_MAX];

	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	cli_stamp();
	fprintf(stderr, "%s: %s%s\n", cli_prog, kind,
		term_escape(msg ? msg : "(out of memory)", safe, sizeof(safe)));
	/* the first error says what went wrong; later ones follow from it */
	if (error && !failure.message && msg) {
		failure.message = msg;
		msg = NULL;
	}
	free(msg);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap, true);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap, false);
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
		return "the guest died or deleted its device directory: "
		       "nothing is left to do";
	case XDEV_E_CLEANUP_FAILED:
		return "the device is gone from the guest, but its backend's "
		       "remove script failed: fix the cause (see the message, "
		       "-v for the script's output) and detach again to "
		       "finish";
	case XDEV_E_FRONTEND_REFUSED:
		return "the guest still uses the device: release it in the "
		       "guest (umount), or detach with --force";
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
	case -EBUSY:
		return "the device is busy: another xdev process is attaching "
		       "or detaching it (the message names it; block-list "
		       "shows it), or its backend's nodes kept changing under "
		       "the removal; the device was left as it was: try again "
		       "once it is done";
	case -ECANCELED:
		return "interrupted: what the operation wrote was undone";
	default:
		return "run again with -v to see the library's log";
	}
}

/* The longest part of an operation's message (a peer's error node, a
 * script's output) quoted in a failure: the hint after it must show. */
#define DETAIL_MAX 400

int cli_fail(const struct cli *cli, int r, const char *what,
	     const char *detail)
{
	char cut[DETAIL_MAX + 4];
	size_t n = detail ? strlen(detail) : 0;

	(void)cli;
	if (n > DETAIL_MAX) {
		memcpy(cut, detail, DETAIL_MAX);
		strcpy(cut + DETAIL_MAX, "...");
		detail = cut;
	}
	cli_error("%s failed: %s%s%s; %s", what, xdev_strerror(r),
		  n ? ": " : "", n ? detail : "", hint(r));
	cli_error_code(r);
	return cli_exit_code(r);
}

int cli_exit_code(int r)
{
	switch (r) {
	case -ETIMEDOUT:
		return EXIT_TIMEOUT;
	case XDEV_E_DOMAIN_NOT_FOUND:
	case XDEV_E_NO_DEVICE:
		return EXIT_NOT_FOUND;
	case XDEV_E_DEVICE_EXISTS:
		return EXIT_EXISTS;
	case XDEV_E_HOTPLUG_FAILED:
		return EXIT_HOTPLUG;
	case XDEV_E_FRONTEND_REFUSED:
		return EXIT_REFUSED;
	case -EBUSY:
		return EXIT_BUSY;
	case -EINVAL:
		return EXIT_USAGE;
	case -ECANCELED:
		return EXIT_INTERRUPTED;
	default:
		return EXIT_FAILED;
	}
}

/* ---- the JSON error ------------------------------------------------------ */

void cli_error_code(int code)
{
	if (!failure.code)
		failure.code = code;
}

json_object *out_device_id(const struct dom *dom, const xdev_device_id *id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "domid", json_object_new_int64(dom->domid));
	json_object_object_add(o, "domain", dom->gone ? NULL
			       : json_text(dom->name));
	json_object_object_add(o, "type", json_object_new_string(
		dev_type_name(id->type)));
	json_object_object_add(o, "devid", json_object_new_int64(id->devid));
	json_object_object_add(o, "backend_domid",
			       json_object_new_int64(id->backend_domid));
	return o;
}

void cli_error_device(const struct dom *dom, const xdev_device_id *id)
{
	if (!failure.device)
		failure.device = out_device_id(dom, id);
}

void cli_error_results(json_object *array)
{
	if (!failure.results)
		failure.results = json_object_get(array);
}

/* The code a failure that named none stands for: its exit code's. */
static int code_of_exit(int rc)
{
	switch (rc) {
	case EXIT_USAGE: return -EINVAL;
	case EXIT_NOT_FOUND: return XDEV_E_NO_DEVICE;
	case EXIT_TIMEOUT: return -ETIMEDOUT;
	case EXIT_EXISTS: return XDEV_E_DEVICE_EXISTS;
	case EXIT_HOTPLUG: return XDEV_E_HOTPLUG_FAILED;
	case EXIT_REFUSED: return XDEV_E_FRONTEND_REFUSED;
	case EXIT_BUSY: return -EBUSY;
	case EXIT_INTERRUPTED: return -ECANCELED;
	default: return -EIO;
	}
}

/* "ETIMEDOUT" for ETIMEDOUT; NULL if unknown. */
static const char *errno_name(int e)
{
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 32)
	return strerrorname_np(e);
#else
	/* those a command can end with */
	switch (e) {
	case EINVAL: return "EINVAL";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECANCELED: return "ECANCELED";
	case EBUSY: return "EBUSY";
	case ENOMEM: return "ENOMEM";
	case ESHUTDOWN: return "ESHUTDOWN";
	default: return NULL;
	}
#endif
}

/* XDEV_E_* by name, else the errno's ("ETIMEDOUT"). */
static const char *code_name(int code)
{
	static const char *const names[] = {
		"XDEV_E_BACKEND_GONE", "XDEV_E_FRONTEND_REFUSED",
		"XDEV_E_HOTPLUG_FAILED", "XDEV_E_DOMAIN_NOT_FOUND",
		"XDEV_E_XENSTORE", "XDEV_E_DEVICE_EXISTS", "XDEV_E_NO_DEVICE",
		"XDEV_E_FRONTEND_GONE", "XDEV_E_CLEANUP_FAILED",
	};
	const char *n;

	/* a code include/xdev.h gained after this table: not a wrong name */
	if (code >= XDEV_E_BASE && code < XDEV_E_LAST)
		return (size_t)(code - XDEV_E_BASE) < sizeof(names) /
			sizeof(names[0]) ? names[code - XDEV_E_BASE]
					 : "XDEV_E_UNKNOWN";
	n = code < 0 ? errno_name(-code) : NULL;
	return n ? n : "UNKNOWN";
}

void out_error(int rc, bool plain)
{
	json_object *o = json_object_new_object();
	json_object *e = json_object_new_object();
	int code = failure.code ? failure.code : code_of_exit(rc);

	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "name", json_object_new_string(
		code_name(code)));
	json_object_object_add(e, "message", json_text(
		failure.message ? failure.message : xdev_strerror(code)));
	json_object_object_add(e, "device", failure.device);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", e);
	if (failure.results)
		json_object_object_add(o, "results", failure.results);
	out_json(o, plain);
	json_object_put(o);
	failure.device = failure.results = NULL;
	free(failure.message);
	failure.message = NULL;
}

json_object *out_ok(json_object *obj)
{
	json_object_object_add(obj, "ok", json_object_new_boolean(1));
	return obj;
}

/* ---- a device as JSON ------------------------------------------------------ */

/* Every value below may come from a node a guest (the frontend
 * directory) or a driver domain (its backend directory) writes: a number
 * is a canonical decimal no larger than what the node can hold, else
 * null; a string is kept as it is (json-c escapes it; bytes that are not
 * UTF-8 become U+FFFD).  Who the device is - its devid, its backend
 * domain and directory, its vdev or MAC when xdev recorded them - comes
 * from the caller's id and from xdev's record, never from those nodes. */

#define U32 0xffffffffULL
#define STATE_MAX 8                /* Reconfigured */

static json_object *num(const char *v, unsigned long long max)
{
	unsigned long long n;

	return parse_uint(v, max, &n) ? NULL : json_object_new_int64((int64_t)n);
}

/* KEY of DIR as JSON (MAX: a number up to MAX; 0: a string); null if the
 * node is missing. */
static void add_node(json_object *o, const char *name, struct xs_handle *xs,
		     const char *dir, const char *key, unsigned long long max)
{
	char *v = store_read(xs, dir, key);

	json_object_object_add(o, name, max ? num(v, max) : json_text(v));
	free(v);
}

/* NAME's string, unless a record already said it. */
static void add_name(json_object *o, const char *name, const char *recorded,
		     struct xs_handle *xs, const char *dir, const char *key)
{
	if (recorded && *recorded)
		json_object_object_add(o, name, json_text(recorded));
	else
		add_node(o, name, xs, dir, key, 0);
}

static void add_state(json_object *o, const char *name, struct xs_handle *xs,
		      const char *dir)
{
	char *v = store_read(xs, dir, "state");
	json_object *n = num(v, STATE_MAX);
	char key[40];

	snprintf(key, sizeof(key), "%s_name", name);
	json_object_object_add(o, name, n);
	json_object_object_add(o, key, n ? json_object_new_string(
		xenbus_state_name(json_object_get_int(n))) : NULL);
	free(v);
}

/* xx:xx:xx:xx:xx:xx in hex digits: a MAC, else not shown. */
static bool is_mac(const char *v)
{
	int i;

	if (!v || strlen(v) != 17)
		return false;
	for (i = 0; i < 17; i++)
		if (i % 3 == 2 ? v[i] != ':' : !isxdigit((unsigned char)v[i]))
			return false;
	return true;
}

/* A vif's MAC: xdev's record, else the backend's (dom0's, or the driver
 * domain's), else the frontend's; only a well-formed one. */
static json_object *vif_mac(struct xs_handle *xs, const char *fe,
			    const char *be, const char *recorded)
{
	json_object *o = NULL;
	char *v;

	if (recorded && is_mac(recorded))
		return json_object_new_string(recorded);
	v = store_read(xs, be, "mac");
	if (is_mac(v))
		o = json_object_new_string(v);
	free(v);
	if (o)
		return o;
	v = store_read(xs, fe, "mac");
	if (is_mac(v))
		o = json_object_new_string(v);
	free(v);
	return o;
}

static void add_vbd(json_object *o, struct xs_handle *xs, const char *fe,
		    const char *be, const char *vdev)
{
	add_name(o, "vdev", vdev, xs, be, "dev");
	add_node(o, "target", xs, be, "params", 0);
	add_node(o, "mode", xs, be, "mode", 0);
	add_node(o, "device_type", xs, be, "device-type", 0);
	add_node(o, "format", xs, be, "format", 0);
	add_node(o, "physical_device", xs, be, "physical-device", 0);
	add_node(o, "ring_ref", xs, fe, "ring-ref", U32);
}

static void add_vif(json_object *o, struct xs_handle *xs, const char *fe,
		    const char *be, const char *mac)
{
	json_object_object_add(o, "mac", vif_mac(xs, fe, be, mac));
	add_node(o, "bridge", xs, be, "bridge", 0);
	add_node(o, "mtu", xs, be, "mtu", 65535);
	add_node(o, "handle", xs, fe, "handle", U32);
	add_node(o, "tx_ring_ref", xs, fe, "tx-ring-ref", U32);
	add_node(o, "rx_ring_ref", xs, fe, "rx-ring-ref", U32);
}

/* The operation holding the device, from xdev's record (lib/owner.c):
 * null, or {"op", "pid", "alive"}; not alive: half done, for `xdev
 * recover`. */
static json_object *operation(struct xs_handle *xs, const xdev_device_id *id)
{
	char path[96], *v, op[8];
	const char *actor;
	json_object *o = NULL;

	snprintf(path, sizeof(path), "/xdev/%u/%s/%u/owner", id->frontend_domid,
		 dev_type_name(id->type), id->devid);
	v = xs_read(xs, XBT_NULL, path, NULL);
	if (v && !actor_owner_parse(v, op, &actor)) {
		o = json_object_new_object();
		json_object_object_add(o, "op", json_object_new_string(op));
		json_object_object_add(o, "pid",
				       json_object_new_int64(actor_pid(actor)));
		json_object_object_add(o, "alive", json_object_new_boolean(
							   actor_alive(actor)));
	}
	free(v);
	return o;
}

/* Who does the device's hotplug, as its record (dom0's) says: "native",
 * "script", "none" (an outside agent, xdevd, or none); null without a
 * record of xdev's. */
static json_object *hotplug_kind(struct xs_handle *xs,
				 const struct record *rec,
				 const xdev_device_id *id)
{
	char path[96], *v;
	const char *kind;

	if (!rec->name[0])
		return NULL;
	snprintf(path, sizeof(path), "/xdev/%u/%s/%u/script",
		 id->frontend_domid, dev_type_name(id->type), id->devid);
	v = xs_read(xs, XBT_NULL, path, NULL);
	kind = !v ? "none" : !strcmp(v, "native") ? "native" : "script";
	free(v);
	return json_object_new_string(kind);
}

json_object *out_device(struct xs_handle *xs, const struct dom *dom,
			const xdev_device_id *id)
{
	json_object *o = json_object_new_object();
	const char *tn = dev_type_name(id->type);
	char fe[96], be[96], *online;
	struct record rec;

	/* both directories from the id: what dom0 knows */
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/%s/%u",
		 id->frontend_domid, tn, id->devid);
	snprintf(be, sizeof(be), "/local/domain/%u/backend/%s/%u/%u",
		 id->backend_domid, tn, id->frontend_domid, id->devid);
	if (store_record(xs, id->frontend_domid, id->type, id->devid, false,
			 &rec) || rec.backend_domid != id->backend_domid)
		rec.name[0] = 0;
	json_object_object_add(o, "domid", json_object_new_int64(dom->domid));
	json_object_object_add(o, "domain", json_text(dom->name));
	json_object_object_add(o, "type", json_object_new_string(tn));
	json_object_object_add(o, "devid", json_object_new_int64(id->devid));
	json_object_object_add(o, "backend_domid",
			       json_object_new_int64(id->backend_domid));
	json_object_object_add(o, "frontend", json_object_new_string(fe));
	json_object_object_add(o, "backend", json_object_new_string(be));
	add_state(o, "frontend_state", xs, fe);
	add_state(o, "backend_state", xs, be);
	online = store_read(xs, be, "online");
	json_object_object_add(o, "online", online ?
		json_object_new_boolean(!strcmp(online, "1")) : NULL);
	free(online);
	add_node(o, "hotplug_status", xs, be, "hotplug-status", 0);
	add_node(o, "script", xs, be, "script", 0);
	json_object_object_add(o, "hotplug", hotplug_kind(xs, &rec, id));
	add_node(o, "event_channel", xs, fe, "event-channel", U32);
	if (id->type == XDEV_VBD)
		add_vbd(o, xs, fe, be, rec.name);
	else
		add_vif(o, xs, fe, be, rec.name);
	json_object_object_add(o, "operation", operation(xs, id));
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

/* A string member, escaped for the terminal into BUF; "-" if null. */
static const char *get_s(json_object *dev, const char *key, char *buf,
			 size_t len)
{
	json_object *v;

	return json_object_object_get_ex(dev, key, &v) && v
		       ? term_escape(json_object_get_string(v), buf, len) : "-";
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

/* After the row, what xl cannot say: an operation holding the device. */
static void table_note(json_object *dev)
{
	json_object *op, *v;

	if (!json_object_object_get_ex(dev, "operation", &op) || !op)
		return;
	json_object_object_get_ex(op, "alive", &v);
	if (json_object_get_boolean(v))
		printf("      (being %s by process %lld)\n",
		       strcmp(json_object_get_string(
			       json_object_object_get(op, "op")), "add")
			       ? "removed" : "added",
		       (long long)json_object_get_int64(
			       json_object_object_get(op, "pid")));
	else
		printf("      (half %s: process %lld died; `%s recover "
		       "--apply` finishes it)\n",
		       strcmp(json_object_get_string(
			       json_object_object_get(op, "op")), "add")
			       ? "removed" : "added",
		       (long long)json_object_get_int64(
			       json_object_object_get(op, "pid")), cli_prog);
}

void out_table_row(enum xdev_device_type type, json_object *dev)
{
	char be[160], mac[80];

	if (type == XDEV_VBD)
		printf("%-5lld %-3lld %-6lld %-5lld %-6lld %-8lld %-30s\n",
		       get_i(dev, "devid"), get_i(dev, "backend_domid"),
		       get_i(dev, "domid"), get_i(dev, "frontend_state"),
		       get_i(dev, "event_channel"), get_i(dev, "ring_ref"),
		       get_s(dev, "backend", be, sizeof(be)));
	else
		printf("%-3lld %-2lld %-17s %6lld %5lld %6lld %5lld/%-11lld "
		       "%-30s\n", get_i(dev, "devid"),
		       get_i(dev, "backend_domid"),
		       get_s(dev, "mac", mac, sizeof(mac)),
		       get_i(dev, "handle"), get_i(dev, "frontend_state"),
		       get_i(dev, "event_channel"), get_i(dev, "tx_ring_ref"),
		       get_i(dev, "rx_ring_ref"),
		       get_s(dev, "backend", be, sizeof(be)));
	table_note(dev);
}
