/*
 * xl's disk spec (xl-disk-configuration(5)), parsed as xl parses it.
 *
 * xl's parser is a flex scanner (libxlu_disk_l.l): at each position the
 * longest match of its rules wins, ties going to the rule listed first,
 * and some rules have trailing context ("raw:" followed by anything counts
 * as matching the whole rest, so a deprecated prefix beats a positional
 * parameter).  The table below lists those rules in xl's order and
 * match() reproduces the choice, so that every spec means here what it
 * means to xl: "cdrom" is always the flag, a value with '=' needs its
 * keyword, target= eats the rest of the spec, "phy:" is stripped.
 *
 * What xl accepts and xdev cannot do (an empty cdrom drive, qdisk and tap
 * backends, COLO, discard advertisement...) is refused with a message,
 * never ignored: an operator must not get a different disk than asked for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xdev-cli.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What the spec says so far; NULL strings are unset, "" is "default". */
struct disk {
	char *target, *vdev, *script, *backend;
	const char *format;        /* NULL: not given */
	const char *backendtype, *specification;
	int cdrom;
	const char *access;        /* "r", "w", or NULL: the default */
	bool access_set;           /* the positional access was given */
	bool had_depr_prefix;
	const char *spec;          /* the component parsed, for messages */
	struct spec *out;
	int err;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct disk *d, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	if (d->err)
		return d->err;
	n = (size_t)snprintf(d->out->err, sizeof(d->out->err),
			     "invalid disk spec '%s': ", d->spec);
	if (n < sizeof(d->out->err)) {
		va_start(ap, fmt);
		vsnprintf(d->out->err + n, sizeof(d->out->err) - n, fmt, ap);
		va_end(ap);
	}
	d->err = -EINVAL;
	return d->err;
}

/* xl's savestring(): a second value is an error, unless the first was
 * empty (an empty value means the default). */
static void save(struct disk *d, const char *what, char **loc,
		 const char *value)
{
	if (*loc && **loc) {
		fail(d, "%s given twice ('%s', then '%s'): give it once", what,
		     *loc, value);
		return;
	}
	free(*loc);
	*loc = strdup(value);
	if (!*loc)
		fail(d, "out of memory");
}

static void set_format(struct disk *d, const char *v)
{
	static const char *const formats[] = { "raw", "qcow", "qcow2", "vhd",
					       "empty", "qed" };
	const char *f = *v ? NULL : "raw";
	size_t i;

	for (i = 0; !f && i < ARRAY_SIZE(formats); i++)
		if (!strcmp(v, formats[i]))
			f = formats[i];
	if (!f) {
		fail(d, "unknown format '%s': use raw, qcow, qcow2, vhd or qed",
		     v);
		return;
	}
	if (d->format && strcmp(d->format, f)) {
		fail(d, "format given twice ('%s', then '%s'): give it once",
		     d->format, f);
		return;
	}
	d->format = f;
}

/* An empty value is the default (xl: read-write, which a cdrom then
 * overrides; here simply "not given"). */
static void set_access(struct disk *d, const char *v)
{
	if (!strcmp(v, "r") || !strcmp(v, "ro"))
		d->access = "r";
	else if (!strcmp(v, "w") || !strcmp(v, "rw"))
		d->access = "w";
	else if (*v)
		fail(d, "unknown access '%s': use r, ro, w or rw", v);
}

/* xl's enum keys: a second, different value is an error. */
static void set_enum(struct disk *d, const char *key, const char **loc,
		     const char *v, const char *const *values, const char *use)
{
	const char *found = NULL;
	size_t i;

	for (i = 0; values[i] && !found; i++)
		if (!strcmp(v, values[i]))
			found = values[i];
	if (!found)
		fail(d, "unknown %s '%s': %s", key, v, use);
	else if (*loc && strcmp(*loc, found))
		fail(d, "%s given twice ('%s', then '%s'): give it once", key,
		     *loc, found);
	else
		*loc = found;
}

/* "hdc:cdrom" as the vdev positional parameter (deprecated): 1 if it
 * was one. */
static int vdev_and_devtype(struct disk *d, char *s)
{
	char *colon = strrchr(s, ':');

	if (!colon)
		return 0;
	*colon++ = '\0';
	save(d, "vdev", &d->vdev, s);
	if (!strcmp(colon, "cdrom"))
		d->cdrom = 1;
	else if (!strcmp(colon, "disk"))
		d->cdrom = 0;
	else
		fail(d, "unknown device type '%s' after the vdev: use "
		     "<vdev>:cdrom, or devtype=cdrom", colon);
	return 1;
}

/* A positional parameter: target, format, vdev, access, in that order,
 * each slot taken once (xl's rule, including its quirks: after a
 * deprecated prefix there is no format slot). */
static void positional(struct disk *d, char *s)
{
	if (!d->target) {
		save(d, "target", &d->target, s);
	} else if (!d->had_depr_prefix && !d->format) {
		if (!*d->target && vdev_and_devtype(d, s))
			d->format = "empty"; /* ",hdc:cdrom,r" */
		else
			set_format(d, s);
	} else if (!d->vdev) {
		if (!vdev_and_devtype(d, s))
			save(d, "vdev", &d->vdev, s);
	} else if (!d->access_set) {
		d->access_set = true;
		set_access(d, s);
	} else {
		fail(d, "too many positional parameters at '%s': the positional "
		     "form is <target>,<format>,<vdev>,<access>; name the "
		     "others (devtype=cdrom, backend=...)", s);
	}
}

/* ---- the rules -------------------------------------------------------------- */

enum action {
	A_FORMAT, A_CDROM, A_DEVTYPE, A_ACCESS, A_BACKEND, A_BACKENDTYPE,
	A_SPECIFICATION, A_VDEV, A_SCRIPT, A_ACCEPTED, A_UNSUPPORTED,
	A_DISCARD, A_DIRECT_IO, A_UNTRUSTED,
	A_TARGET, A_UNKNOWN_PARAM, A_PREFIX_FORMAT, A_PREFIX_SCRIPT,
	A_PREFIX_IGNORED, A_UNKNOWN_PREFIX, A_POSITIONAL, A_BAD,
};

enum kind {
	K_KEYWORD,   /* NAME=[^,]*,? */
	K_FLAG,      /* NAME,? */
	K_REST,      /* NAME eats the rest: target= */
	K_UNKNOWN,   /* [a-z][-a-z0-9]*=[^,],? */
	K_PREFIX,    /* NAME: followed by anything (trailing context) */
	K_ANY_PREFIX, /* [a-z][a-z0-9]*: then the end or [^a-z0-9] */
	K_POSITIONAL, /* [^=,]*,|[^=,]+,? */
	K_ANY,       /* . */
};

struct rule {
	enum kind kind;
	const char *name;
	enum action action;
};

/* libxlu_disk_l.l's rules in its order (the whitespace rule is handled
 * before these: it always wins at a blank). */
static const struct rule rules[] = {
	{ K_KEYWORD, "format", A_FORMAT },
	{ K_FLAG, "cdrom", A_CDROM },
	{ K_KEYWORD, "devtype", A_DEVTYPE },
	{ K_KEYWORD, "access", A_ACCESS },
	{ K_KEYWORD, "backend", A_BACKEND },
	{ K_KEYWORD, "backendtype", A_BACKENDTYPE },
	{ K_KEYWORD, "specification", A_SPECIFICATION },
	{ K_KEYWORD, "vdev", A_VDEV },
	{ K_KEYWORD, "script", A_SCRIPT },
	{ K_FLAG, "direct-io-safe", A_DIRECT_IO },
	{ K_FLAG, "discard", A_DISCARD },
	/* xdev's backends never advertise discard: what was asked */
	{ K_FLAG, "no-discard", A_ACCEPTED },
	{ K_FLAG, "colo", A_UNSUPPORTED },
	{ K_FLAG, "no-colo", A_ACCEPTED },
	{ K_KEYWORD, "colo-host", A_UNSUPPORTED },
	{ K_KEYWORD, "colo-port", A_UNSUPPORTED },
	{ K_KEYWORD, "colo-export", A_UNSUPPORTED },
	{ K_KEYWORD, "active-disk", A_UNSUPPORTED },
	{ K_KEYWORD, "hidden-disk", A_UNSUPPORTED },
	/* an absent frontend 'trusted' reads as 1 (Linux blkfront) */
	{ K_FLAG, "trusted", A_ACCEPTED },
	{ K_FLAG, "untrusted", A_UNTRUSTED },
	{ K_FLAG, "grant_usage=1", A_UNSUPPORTED },
	{ K_FLAG, "grant_usage=0", A_UNSUPPORTED },
	{ K_REST, "target=", A_TARGET },
	{ K_UNKNOWN, NULL, A_UNKNOWN_PARAM },
	{ K_PREFIX, "raw", A_PREFIX_FORMAT },
	{ K_PREFIX, "qcow", A_PREFIX_FORMAT },
	{ K_PREFIX, "qcow2", A_PREFIX_FORMAT },
	{ K_PREFIX, "vhd", A_PREFIX_FORMAT },
	{ K_PREFIX, "iscsi", A_PREFIX_SCRIPT },
	{ K_PREFIX, "nbd", A_PREFIX_SCRIPT },
	{ K_PREFIX, "enbd", A_PREFIX_SCRIPT },
	{ K_PREFIX, "drbd", A_PREFIX_SCRIPT },
	{ K_PREFIX, "tapdisk", A_PREFIX_IGNORED },
	{ K_PREFIX, "tap", A_PREFIX_IGNORED },
	{ K_PREFIX, "tap2", A_PREFIX_IGNORED },
	{ K_PREFIX, "aio", A_PREFIX_IGNORED },
	{ K_PREFIX, "ioemu", A_PREFIX_IGNORED },
	{ K_PREFIX, "file", A_PREFIX_IGNORED },
	{ K_PREFIX, "phy", A_PREFIX_IGNORED },
	{ K_ANY_PREFIX, NULL, A_UNKNOWN_PREFIX },
	{ K_POSITIONAL, NULL, A_POSITIONAL },
	{ K_ANY, NULL, A_BAD },
};

static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_alnum(char c) { return is_lower(c) || (c >= '0' && c <= '9'); }

/* The length a rule's match counts for (trailing context included), and
 * the length it consumes; -1 if it does not match S. */
struct match {
	long cmp, len;
};

static long opt_comma(const char *s, size_t n)
{
	return (long)n + (s[n] == ',');
}

static struct match match_unknown(const char *s)
{
	struct match m = { -1, -1 };
	size_t n = 1;

	if (!is_lower(s[0]))
		return m;
	while (is_alnum(s[n]) || s[n] == '-')
		n++;
	if (s[n] != '=' || s[n + 1] == '\0' || s[n + 1] == ',')
		return m;
	m.cmp = m.len = opt_comma(s, n + 2);
	return m;
}

static struct match match_any_prefix(const char *s)
{
	struct match m = { -1, -1 };
	size_t n = 1;

	if (!is_lower(s[0]))
		return m;
	while (is_alnum(s[n]))
		n++;
	if (s[n] != ':' || is_alnum(s[n + 1]))
		return m;
	m.cmp = (long)strlen(s);
	m.len = (long)n + 1;
	return m;
}

static struct match match_rule(const struct rule *r, const char *s)
{
	struct match m = { -1, -1 };
	size_t n = r->name ? strlen(r->name) : 0;

	switch (r->kind) {
	case K_KEYWORD:
		if (!strncmp(s, r->name, n) && s[n] == '=')
			m.cmp = m.len = opt_comma(s, n + 1 + strcspn(s + n + 1, ","));
		break;
	case K_FLAG:
		if (!strncmp(s, r->name, n))
			m.cmp = m.len = opt_comma(s, n);
		break;
	case K_REST:
		if (!strncmp(s, r->name, n))
			m.cmp = m.len = (long)strlen(s);
		break;
	case K_UNKNOWN:
		return match_unknown(s);
	case K_PREFIX:
		if (!strncmp(s, r->name, n) && s[n] == ':') {
			m.cmp = (long)strlen(s);
			m.len = (long)n + 1;
		}
		break;
	case K_ANY_PREFIX:
		return match_any_prefix(s);
	case K_POSITIONAL:
		n = strcspn(s, "=,");
		if (s[n] == ',' || n > 0)
			m.cmp = m.len = opt_comma(s, n);
		break;
	case K_ANY:
		m.cmp = m.len = 1;
		break;
	}
	return m;
}

/* The rule flex would pick at S: the longest match, the first on a tie. */
static const struct rule *pick(const char *s, long *len)
{
	const struct rule *best = NULL;
	struct match m, bm = { -1, -1 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rules); i++) {
		m = match_rule(&rules[i], s);
		if (m.cmp > bm.cmp) {
			bm = m;
			best = &rules[i];
		}
	}
	*len = bm.len;
	return best;
}

/* ---- actions ---------------------------------------------------------------- */

static void unsupported(struct disk *d, const char *text)
{
	fail(d, "'%s' is not supported by xdev (it attaches blkback disks "
	     "only): remove it", text);
}

/* T is the matched text with xl's STRIP(','): one trailing comma off. */
static void act_keyword(struct disk *d, const struct rule *r, char *t)
{
	static const char *const betypes[] = { "phy", "tap", "qdisk",
					       "standalone", NULL };
	static const char *const specs[] = { "xen", "virtio", NULL };
	char *v = strchr(t, '=') + 1;

	switch (r->action) {
	case A_FORMAT: set_format(d, v); break;
	case A_DEVTYPE:
		/* no "given twice" here: xl lets the last one win */
		if (!strcmp(v, "disk") || !strcmp(v, "cdrom"))
			d->cdrom = !strcmp(v, "cdrom");
		else
			fail(d, "unknown devtype '%s': use disk or cdrom", v);
		break;
	case A_ACCESS: set_access(d, v); break;
	case A_BACKEND: save(d, "backend", &d->backend, v); break;
	case A_BACKENDTYPE:
		set_enum(d, "backendtype", &d->backendtype, v, betypes,
			 "use phy (or leave it out)");
		break;
	case A_SPECIFICATION:
		set_enum(d, "specification", &d->specification, v, specs,
			 "use xen (or leave it out)");
		break;
	case A_VDEV: save(d, "vdev", &d->vdev, v); break;
	case A_SCRIPT: save(d, "script", &d->script, v); break;
	default: break;
	}
}

static void act_prefix(struct disk *d, const struct rule *r)
{
	char script[32];

	d->had_depr_prefix = true;
	if (r->action == A_PREFIX_FORMAT) {
		set_format(d, r->name);
	} else if (r->action == A_PREFIX_SCRIPT) {
		snprintf(script, sizeof(script), "block-%s", r->name);
		save(d, "script", &d->script, script);
	}
}

static void act(struct disk *d, const struct rule *r, char *t, size_t len)
{
	if (r->kind != K_PREFIX && r->kind != K_ANY_PREFIX && len &&
	    t[len - 1] == ',')
		t[--len] = '\0';
	switch (r->action) {
	case A_CDROM: d->cdrom = 1; break;
	case A_ACCEPTED: break;
	case A_UNSUPPORTED: unsupported(d, t); break;
	case A_DISCARD:
		fail(d, "'discard' is not supported by xdev: libxl writes the "
		     "backend's discard-enable=1 for it, and xdev's disk "
		     "description has no such key: it writes "
		     "discard-enable=0, which is 'no-discard'; remove it");
		break;
	case A_DIRECT_IO:
		fail(d, "'direct-io-safe' is not supported by xdev: libxl "
		     "writes the backend's direct-io-safe=1, which only QEMU's "
		     "qdisk backend reads, and xdev attaches blkback disks; "
		     "remove it");
		break;
	case A_UNTRUSTED:
		fail(d, "'untrusted' is not supported by xdev: libxl writes "
		     "the frontend's trusted=0 for it (the frontend then "
		     "bounces its I/O), and xdev's disk description has no "
		     "such key: remove it");
		break;
	case A_TARGET: save(d, "target", &d->target, t + strlen("target=")); break;
	case A_UNKNOWN_PARAM:
		t[strcspn(t, "=")] = '\0';
		fail(d, "unknown key '%s': the keys are target, format, vdev, "
		     "access, devtype, backend, backendtype, script "
		     "(xl-disk-configuration(5))", t);
		break;
	case A_PREFIX_FORMAT: case A_PREFIX_SCRIPT: case A_PREFIX_IGNORED:
		act_prefix(d, r);
		break;
	case A_UNKNOWN_PREFIX:
		fail(d, "unknown prefix '%s': the prefixes are raw:, qcow:, "
		     "qcow2:, vhd:, phy:, file:, aio:, tap:; give a target "
		     "containing ':' as target=... last", t);
		break;
	case A_POSITIONAL: positional(d, t); break;
	case A_BAD:
		fail(d, "'=' in '%s' where a value was expected: a target "
		     "containing '=' or ',' must be given as target=... last",
		     t);
		break;
	default: act_keyword(d, r, t); break;
	}
}

/* Scan one component of the spec, as xl's scanner does. */
static int scan(struct disk *d, const char *s)
{
	const struct rule *r;
	char *text;
	long len;

	d->spec = s;
	while (*s && !d->err) {
		if (strchr(" \t\n", *s)) { /* blanks before a parameter */
			s++;
			continue;
		}
		r = pick(s, &len);
		if (r->action == A_BAD)
			len = (long)strlen(s); /* xl: "bad syntax" on the rest */
		text = strndup(s, (size_t)len);
		if (!text)
			return fail(d, "out of memory");
		act(d, r, text, (size_t)len);
		free(text);
		s += len;
	}
	return d->err;
}

/* ---- after the scan: xl's checks, and what xdev cannot do ------------------- */

/* Why xdev cannot drive the other backends libxl knows
 * (libxl_disk.c, libxl__device_from_disk). */
static const char *backendtype_why(const char *t)
{
	if (!strcmp(t, "qdisk"))
		return "qdisk is QEMU's block backend (backend/qdisk), served "
		       "by a QEMU process for the domain, which xdev neither "
		       "starts nor talks to";
	if (!strcmp(t, "tap"))
		return "tap is tapdisk (backend/vbd3), whose disks tap-ctl "
		       "creates before the backend is written: xdev runs no "
		       "tap-ctl";
	return "standalone leaves the device to a separate virtio-disk "
	       "backend daemon (backend/virtio_disk), which xdev does not "
	       "run";
}

static int check(struct disk *d)
{
	bool empty_target = !d->target || !*d->target;

	if (d->backendtype && strcmp(d->backendtype, "phy"))
		return fail(d, "backendtype=%s is not supported by xdev, which "
			    "attaches blkback (phy) disks only: %s; use "
			    "backendtype=phy or leave it out", d->backendtype,
			    backendtype_why(d->backendtype));
	if (d->specification && strcmp(d->specification, "xen"))
		return fail(d, "specification=%s is not supported by xdev: "
			    "leave it out", d->specification);
	if (!d->vdev || !*d->vdev)
		return fail(d, "no vdev: add vdev=xvdb (or give it as the third "
			    "positional parameter)");
	if (d->cdrom && (empty_target || !strcmp(d->format, "empty")))
		return fail(d, "an empty cdrom drive is not supported by xdev: "
			    "give the image as target=PATH");
	if (!strcmp(d->format, "empty"))
		return fail(d, "format=empty is only for an empty cdrom drive, "
			    "which xdev cannot attach: give the image's format");
	if (empty_target)
		return fail(d, "no target: add target=PATH last (or give the "
			    "path as the first positional parameter)");
	if (d->cdrom && d->access && !strcmp(d->access, "w"))
		return fail(d, "a cdrom is read-only (xl makes it so): remove "
			    "access=%s", "rw");
	return 0;
}

/* The keys of the description, with xl's defaults made explicit. */
static int emit(struct disk *d, struct spec *out)
{
	char *target = d->target;
	int r;

	/* xl: "/dev will be prepended if the path doesn't start with a
	 * '/'", unless a script interprets the target. */
	if (target[0] != '/' && !(d->script && *d->script) &&
	    asprintf(&target, "/dev/%s", d->target) < 0)
		return fail(d, "out of memory");
	r = spec_add(out, "target", target);
	if (target != d->target)
		free(target);
	if (!r)
		r = spec_add(out, "vdev", d->vdev);
	if (!r)
		r = spec_add(out, "format", d->format);
	if (!r)
		r = spec_add(out, "access", d->cdrom ? "r" :
				   d->access ? d->access : "w");
	if (!r)
		r = spec_add(out, "devtype", d->cdrom ? "cdrom" : "disk");
	if (!r && d->backend && *d->backend)
		r = spec_add(out, "backend", d->backend);
	if (!r && d->script && *d->script)
		r = spec_add(out, "script", d->script);
	return r ? fail(d, "out of memory") : 0;
}

/* The components as one string, for the messages of the final checks. */
static char *joined(int argc, char **argv)
{
	size_t n = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	s = calloc(1, n);
	for (i = 0; s && i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

int spec_parse_disk(struct spec *spec, int argc, char **argv)
{
	struct disk d = { .out = spec };
	char *all = NULL;
	int i, r = 0;

	spec->type = XDEV_VBD;
	if (argc < 1) {
		snprintf(spec->err, sizeof(spec->err),
			 "no disk spec: give one, e.g. "
			 "'format=raw, vdev=xvdb, access=rw, target=/dev/vg/lv'");
		return -EINVAL;
	}
	for (i = 0; i < argc && !r; i++)
		r = scan(&d, argv[i]);
	if (!r) {
		if (!d.format)
			d.format = "raw";
		all = joined(argc, argv);
		d.spec = all ? all : argv[0];
		r = check(&d);
	}
	if (!r)
		r = emit(&d, spec);
	free(d.target);
	free(d.vdev);
	free(d.script);
	free(d.backend);
	free(all);
	return r;
}
