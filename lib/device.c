/*
 * Device descriptions (xdev_desc) and the nodes a device gets.
 *
 * A description holds the keys of xl's disk and network specs.  Each value
 * is checked when it is set, one key at a time, so that nothing xenstore,
 * a backend driver or a hotplug script could misread ever reaches the
 * store: a description is data from an application that may pass on what
 * its own users typed.  What needs several keys (a vbd needs a vdev and a
 * target) is checked by dev__desc_complete() just before an add.
 *
 * The node lists follow libxl (libxl_device.c, libxl_disk.c, libxl_nic.c),
 * with "online" and "state" last: a driver that watches the directory
 * without a transaction then finds every other key already there.
 *
 * No store access here, and no global state: the tables are constant.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "device.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small lexical helpers ------------------------------------------------ */

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGIT "0123456789"
/* A domain name's first character, and the others. */
#define NAME_FIRST UPPER LOWER "_"
#define NAME_CHARS UPPER LOWER DIGIT "_.-"
/* Linux interface names (dev_valid_name, minus what we need not allow). */
#define IFNAME_CHARS UPPER LOWER DIGIT "_.-"
/* One component of a hotplug script path: nothing a shell reads. */
#define SCRIPT_CHARS UPPER LOWER DIGIT "_.+-"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool all_of(const char *s, const char *set)
{
	return s[strspn(s, set)] == '\0';
}

/*
 * Scan a canonical decimal number at *SP (digits only: no sign, no space,
 * no leading zero) and advance *SP past it.  0, -EINVAL if there is none,
 * -ERANGE if it is above MAX.  strtoul() accepts too much for values that
 * are written to xenstore as given.
 */
static int scan_dec(const char **sp, uint64_t max, uint64_t *ret)
{
	const char *s = *sp;
	uint64_t n = 0;

	if (!is_digit(*s) || (s[0] == '0' && is_digit(s[1])))
		return -EINVAL;
	for (; is_digit(*s); s++)
		if (n <= max)
			n = n * 10 + (uint64_t)(*s - '0');
	if (n > max)
		return -ERANGE;
	*ret = n;
	*sp = s;
	return 0;
}

/* The whole of S as a canonical decimal number (scan_dec). */
static int parse_dec(const char *s, uint64_t max, uint64_t *ret)
{
	int r = scan_dec(&s, max, ret);

	return r == 0 && *s != '\0' ? -EINVAL : r;
}

/* ---- device types --------------------------------------------------------- */

static const char *const type_names[] = {
	[XDEV_VBD] = "vbd",
	[XDEV_VIF] = "vif",
};

static bool type_valid(enum xdev_device_type type)
{
	return type == XDEV_VBD || type == XDEV_VIF;
}

/* "unknown" rather than NULL for a bad type: callers print it. */
const char *dev__type_name(enum xdev_device_type type)
{
	return type_valid(type) ? type_names[type] : "unknown";
}

int dev__type_parse(const char *s, enum xdev_device_type *ret)
{
	if (s && !strcmp(s, "vbd"))
		*ret = XDEV_VBD;
	else if (s && !strcmp(s, "vif"))
		*ret = XDEV_VIF;
	else
		return -EINVAL;
	return 0;
}

/* ---- virtual-device numbers (docs/misc/vbd-interface.txt) ----------------- */

#define XVD_MAX_DISK ((1u << 20) - 1)
#define XVD_MAX_PART 255u
/* 1<<28 | disk<<8 | part at its largest; 2<<28 onwards is reserved. */
#define VDEV_MAX_NUMBER ((2u << 28) - 1)

static uint32_t encode_xvd(uint32_t disk, uint32_t part)
{
	if (disk < 16 && part < 16)
		return (202u << 8) | (disk << 4) | part;
	return (1u << 28) | (disk << 8) | part;
}

/* Linux's IDE majors, two disks (master, slave) each: hda..hdt. */
static uint32_t encode_hd(uint32_t disk, uint32_t part)
{
	static const uint32_t major[] = { 3, 22, 33, 34, 56, 57, 88, 89, 90, 91 };

	return (major[disk / 2] << 8) | ((disk % 2) << 6) | part;
}

/* Linux's SCSI disk majors, sixteen disks each: sda..sddx. */
static uint32_t encode_sd(uint32_t disk, uint32_t part)
{
	static const uint32_t major[] = { 8, 65, 66, 67, 68, 69, 70, 71 };

	return (major[disk / 16] << 8) | ((disk % 16) << 4) | part;
}

/*
 * A naming scheme "<prefix><letters>[<partition>]": the letters count
 * disks as a=0 ... z=25, aa=26 ... (bijective base 26, as Linux names
 * them), the partition is a decimal number from 1 (none: the whole disk).
 * hd and sd follow Linux's majors beyond the disks vbd-interface.txt
 * lists (hda..hdd, sda..sdp), which it calls deprecated but which old
 * guests still use.
 */
struct vdev_scheme {
	const char *prefix;
	uint32_t max_disk, max_part;
	uint32_t (*encode)(uint32_t disk, uint32_t part);
	const char *disk_range, *part_range; /* the messages */
};

static const struct vdev_scheme vdev_schemes[] = {
	{ .prefix = "xvd", .max_disk = XVD_MAX_DISK, .max_part = XVD_MAX_PART,
	  .encode = encode_xvd, .disk_range = "disk index above 1048575",
	  .part_range = "partition above 255" },
	{ .prefix = "hd", .max_disk = 19, .max_part = 63, .encode = encode_hd,
	  .disk_range = "IDE disks are hda..hdt",
	  .part_range = "IDE partitions are 1..63" },
	{ .prefix = "sd", .max_disk = 127, .max_part = 15, .encode = encode_sd,
	  .disk_range = "SCSI disks are sda..sddx",
	  .part_range = "SCSI partitions are 1..15" },
};

static const char *vdev_by_scheme(const struct vdev_scheme *sc, const char *s,
				  uint32_t *ret)
{
	uint64_t disk = 0, part = 0;
	int r;

	if (!is_lower(*s))
		return "no disk letters after the prefix";
	for (; is_lower(*s); s++) {
		disk = disk * 26 + (uint64_t)(*s - 'a' + 1);
		if (disk - 1 > sc->max_disk)
			return sc->disk_range;
	}
	if (*s != '\0') {
		r = parse_dec(s, sc->max_part, &part);
		if (r == -ERANGE)
			return sc->part_range;
		if (r < 0)
			return "the partition is not a decimal number";
		if (part == 0)
			return "partition 0 is the whole disk: leave it out";
	}
	*ret = sc->encode((uint32_t)disk - 1, (uint32_t)part);
	return NULL;
}

/* "d<disk>" or "d<disk>p<partition>", S after the "d": Xen disks. */
static const char *vdev_by_dp(const char *s, uint32_t *ret)
{
	uint64_t disk, part = 0;
	int r;

	r = scan_dec(&s, XVD_MAX_DISK, &disk);
	if (r == -ERANGE)
		return "disk index above 1048575";
	if (r < 0)
		return "the disk is not a decimal number";
	if (*s == 'p') {
		r = parse_dec(s + 1, XVD_MAX_PART, &part);
		if (r == -ERANGE)
			return "partition above 255";
		if (r < 0)
			return "the partition is not a decimal number";
	} else if (*s != '\0') {
		return "not of the form d<disk>p<partition>";
	}
	*ret = encode_xvd((uint32_t)disk, (uint32_t)part);
	return NULL;
}

/* A number, written to the store as it is (for guests that predate the
 * naming schemes).  Decimal only: octal or hex could be misread. */
static const char *vdev_by_number(const char *s, uint32_t *ret)
{
	uint64_t n;
	int r = parse_dec(s, VDEV_MAX_NUMBER, &n);

	if (r == -ERANGE)
		return "numbers above 536870911 are reserved";
	if (r < 0)
		return "not a decimal number";
	if (n == 0)
		return "0 is not a device number";
	*ret = (uint32_t)n;
	return NULL;
}

/* NULL and *RET the virtual-device number of S, or why S is not one. */
static const char *vdev_parse(const char *s, uint32_t *ret)
{
	size_t i, n;

	if (is_digit(s[0]))
		return vdev_by_number(s, ret);
	if (s[0] == 'd' && is_digit(s[1]))
		return vdev_by_dp(s + 1, ret);
	for (i = 0; i < ARRAY_SIZE(vdev_schemes); i++) {
		n = strlen(vdev_schemes[i].prefix);
		if (!strncmp(s, vdev_schemes[i].prefix, n))
			return vdev_by_scheme(&vdev_schemes[i], s + n, ret);
	}
	return "not xvd*, hd*, sd*, d<disk>p<partition> or a number";
}

int dev__vdev_to_devid(const char *vdev, uint32_t *ret)
{
	uint32_t id;

	if (!vdev || vdev_parse(vdev, &id))
		return -EINVAL;
	*ret = id;
	return 0;
}

/* ---- the keys and their checks -------------------------------------------- */

/*
 * A check: NULL if VALUE is acceptable, else why not (a constant string).
 * It may write a normalised form of VALUE to NORM (NORM_LEN bytes; left
 * empty, VALUE is stored as it is).  VALUE is not empty and not longer
 * than its key's maximum.
 */
#define NORM_LEN 32
typedef const char *check_fn(const char *value, char *norm);

static const char *check_backend(const char *v, char *norm)
{
	uint64_t id;
	int r;

	(void)norm;
	if (all_of(v, DIGIT)) {
		/* DOMID_FIRST_RESERVED is 0x7ff0 */
		r = parse_dec(v, 32751, &id);
		if (r == -ERANGE)
			return "domids are 0..32751";
		return r < 0 ? "a domid has no leading zeros" : NULL;
	}
	if (strchr(NAME_FIRST, v[0]) && all_of(v + 1, NAME_CHARS))
		return NULL;
	return "not a domid (0..32751) or a domain name "
	       "([A-Za-z_][A-Za-z0-9_.-]{0,63})";
}

static const char *check_vdev(const char *v, char *norm)
{
	uint32_t id;

	(void)norm;
	return vdev_parse(v, &id);
}

/* Permissive, as xl is ("phy:/dev/vg/lv", files with spaces ...): only
 * what would corrupt the node or a log line is refused, and a '..'
 * component: the block script refuses it too, but only after the nodes
 * are written, and a target is named where it is, not reached by
 * climbing out of a directory. */
static const char *check_target(const char *v, char *norm)
{
	const unsigned char *p;
	const char *c;
	size_t n;

	(void)norm;
	for (p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "contains a control character";
	for (c = v;; c += n + 1) {
		n = strcspn(c, "/");
		if (n == 2 && !strncmp(c, "..", 2))
			return "has a '..' path component";
		if (!c[n])
			return NULL;
	}
}

static const char *check_format(const char *v, char *norm)
{
	static const char *const formats[] = { "raw", "qcow", "qcow2", "vhd",
					       "qed" };
	size_t i;

	(void)norm;
	for (i = 0; i < ARRAY_SIZE(formats); i++)
		if (!strcmp(v, formats[i]))
			return NULL;
	return "not a disk format (raw, qcow, qcow2, vhd, qed)";
}

/* Stored as the backend's "mode" node wants it: "r" or "w". */
static const char *check_access(const char *v, char *norm)
{
	if (!strcmp(v, "r") || !strcmp(v, "ro"))
		strcpy(norm, "r");
	else if (!strcmp(v, "w") || !strcmp(v, "rw"))
		strcpy(norm, "w");
	else
		return "not an access mode (r, ro, rw, w)";
	return NULL;
}

static const char *check_devtype(const char *v, char *norm)
{
	(void)norm;
	if (!strcmp(v, "disk") || !strcmp(v, "cdrom"))
		return NULL;
	return "not a device type (disk, cdrom)";
}

/*
 * The script runs as root in the backend domain, its name resolved
 * against the scripts directory: components of SCRIPT_CHARS only (no
 * space, quote or shell metacharacter), none empty, "." or "..", so it
 * can neither escape that directory nor be read as more than a path.
 */
static const char *check_script(const char *v, char *norm)
{
	const char *p = v[0] == '/' ? v + 1 : v;
	size_t n;

	(void)norm;
	if (!all_of(p, SCRIPT_CHARS "/"))
		return "contains a character other than [A-Za-z0-9_.+-/]";
	for (;; p += n + 1) {
		n = strcspn(p, "/");
		if (n == 0 || !strncmp(p, ".", n) || !strncmp(p, "..", n))
			return "has an empty, '.' or '..' path component";
		if (p[n] == '\0')
			return NULL;
	}
}

static const char *check_devid(const char *v, char *norm)
{
	uint64_t n;

	(void)norm;
	if (parse_dec(v, 65535, &n) < 0)
		return "not a device handle (decimal 0..65535)";
	return NULL;
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Stored in lower case, as libxl writes it. */
static const char *check_mac(const char *v, char *norm)
{
	unsigned o[6];
	int i, hi, lo;

	if (strlen(v) != 17)
		return "not a MAC address (six hex pairs separated by ':')";
	for (i = 0; i < 6; i++) {
		hi = hex_value(v[3 * i]);
		lo = hex_value(v[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && v[3 * i + 2] != ':'))
			return "not a MAC address (six hex pairs separated by ':')";
		o[i] = (unsigned)(hi << 4 | lo);
	}
	if (o[0] & 1)
		return "a multicast address (the first octet's low bit is set)";
	if (!(o[0] | o[1] | o[2] | o[3] | o[4] | o[5]))
		return "the all-zero address";
	snprintf(norm, NORM_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", o[0], o[1],
		 o[2], o[3], o[4], o[5]);
	return NULL;
}

static const char *check_bridge(const char *v, char *norm)
{
	(void)norm;
	if (!all_of(v, IFNAME_CHARS) || !strcmp(v, ".") || !strcmp(v, ".."))
		return "not a Linux interface name (1..15 characters of "
		       "[A-Za-z0-9_.-], not '.' or '..')";
	return NULL;
}

static const char *check_mtu(const char *v, char *norm)
{
	uint64_t n;

	(void)norm;
	if (parse_dec(v, 65535, &n) < 0 || n < 68)
		return "not an MTU (decimal 68..65535)";
	return NULL;
}

enum desc_key {
	KEY_BACKEND,
	KEY_VDEV,
	KEY_TARGET,
	KEY_FORMAT,
	KEY_ACCESS,
	KEY_DEVTYPE,
	KEY_SCRIPT,
	KEY_DEVID,
	KEY_MAC,
	KEY_BRIDGE,
	KEY_MTU,
	KEY_COUNT
};

#define FOR_VBD (1u << XDEV_VBD)
#define FOR_VIF (1u << XDEV_VIF)

/* A key: which device types have it, its longest value, its check. */
struct key_spec {
	const char *name;
	unsigned types;
	size_t max;
	check_fn *check;
};

static const struct key_spec key_specs[KEY_COUNT] = {
	[KEY_BACKEND] = { "backend", FOR_VBD | FOR_VIF, 64, check_backend },
	[KEY_VDEV] = { "vdev", FOR_VBD, 32, check_vdev },
	[KEY_TARGET] = { "target", FOR_VBD, DEV_TARGET_MAX, check_target },
	[KEY_FORMAT] = { "format", FOR_VBD, 8, check_format },
	[KEY_ACCESS] = { "access", FOR_VBD, 8, check_access },
	[KEY_DEVTYPE] = { "devtype", FOR_VBD, 8, check_devtype },
	[KEY_SCRIPT] = { "script", FOR_VBD | FOR_VIF, 255, check_script },
	[KEY_DEVID] = { "devid", FOR_VIF, 5, check_devid },
	[KEY_MAC] = { "mac", FOR_VIF, 17, check_mac },
	[KEY_BRIDGE] = { "bridge", FOR_VIF, 15, check_bridge },
	[KEY_MTU] = { "mtu", FOR_VIF, 5, check_mtu },
};

/* The index of KEY for TYPE, or -1. */
static int key_find(enum xdev_device_type type, const char *key)
{
	int i;

	for (i = 0; i < KEY_COUNT; i++)
		if ((key_specs[i].types & (1u << type)) &&
		    !strcmp(key_specs[i].name, key))
			return i;
	return -1;
}

/* ---- descriptions --------------------------------------------------------- */

/*
 * What the application wants of a device.  VALUE[k] is the checked (and
 * normalised) value of key k, malloc'd, or NULL while unset: defaults are
 * applied when the nodes are made, so an unset key stays distinguishable.
 * ERR is the message of the last failed xdev_desc_set(); it is kept
 * across later successful calls, as xdev.h promises.
 */
struct xdev_desc {
	enum xdev_device_type type;
	char *value[KEY_COUNT];
	char err[256];
};

XDEV_PUBLIC int xdev_desc_new(enum xdev_device_type type, xdev_desc **ret)
{
	xdev_desc *d;

	assert_return(type_valid(type) && ret, -EINVAL);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->type = type;
	*ret = d;
	return 0;
}

XDEV_PUBLIC void xdev_desc_free(xdev_desc *desc)
{
	int i;

	if (!desc)
		return;
	for (i = 0; i < KEY_COUNT; i++)
		free(desc->value[i]);
	free(desc);
}

XDEV_PUBLIC const char *xdev_desc_error(const xdev_desc *desc)
{
	return desc ? desc->err : "";
}

#define QUOTE_SHOWN 40
#define QUOTE_LEN (4 * QUOTE_SHOWN + 32)

/*
 * S as messages show it: in quotes, bytes outside printable ASCII (and
 * the quote and backslash) as \xNN, cut after QUOTE_SHOWN bytes with the
 * full length added.  A hostile value must neither flood a message nor
 * forge a line of the application's log.
 */
static void quote(const char *s, char out[QUOTE_LEN])
{
	size_t len = strlen(s), i, o = 0;
	unsigned char c;

	out[o++] = '\'';
	for (i = 0; i < len && i < QUOTE_SHOWN; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
			o += (size_t)sprintf(out + o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o++] = '\'';
	out[o] = '\0';
	if (len > QUOTE_SHOWN)
		snprintf(out + o, QUOTE_LEN - o, "... (%zu bytes)", len);
}

__attribute__((format(printf, 2, 3)))
static int fail(xdev_desc *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(d->err, sizeof(d->err), "%s: ", dev__type_name(d->type));
	va_start(ap, fmt);
	vsnprintf(d->err + n, sizeof(d->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Check VALUE for key K of D: 0, or -EINVAL with the message in D. */
static int check_value(xdev_desc *d, int k, const char *value, char *norm)
{
	const struct key_spec *ks = &key_specs[k];
	char q[QUOTE_LEN];
	const char *why;
	size_t len;

	if (!value)
		return fail(d, "%s: NULL value", ks->name);
	len = strnlen(value, ks->max + 1);
	quote(value, q);
	if (len == 0)
		return fail(d, "%s %s: empty value", ks->name, q);
	if (len > ks->max)
		return fail(d, "%s %s: longer than %zu bytes", ks->name, q,
			    ks->max);
	why = ks->check(value, norm);
	if (why)
		return fail(d, "%s %s: %s", ks->name, q, why);
	return 0;
}

XDEV_PUBLIC int xdev_desc_set(xdev_desc *desc, const char *key,
			      const char *value)
{
	char norm[NORM_LEN] = "", q[QUOTE_LEN];
	char *copy;
	int k, r;

	assert_return(desc, -EINVAL);
	if (!key)
		return fail(desc, "NULL key");
	k = key_find(desc->type, key);
	if (k < 0) {
		quote(key, q);
		return fail(desc, "unknown key %s", q);
	}
	r = check_value(desc, k, value, norm);
	if (r < 0)
		return r;
	copy = strdup(norm[0] ? norm : value);
	if (!copy) {
		fail(desc, "%s: out of memory", key);
		return -ENOMEM;
	}
	free(desc->value[k]);
	desc->value[k] = copy;
	return 0;
}

xdev_desc *dev__desc_dup(const xdev_desc *desc)
{
	xdev_desc *d;
	int i;

	if (!desc || xdev_desc_new(desc->type, &d) < 0)
		return NULL;
	memcpy(d->err, desc->err, sizeof(d->err));
	for (i = 0; i < KEY_COUNT; i++) {
		if (!desc->value[i])
			continue;
		d->value[i] = strdup(desc->value[i]);
		if (!d->value[i]) {
			xdev_desc_free(d);
			return NULL;
		}
	}
	return d;
}

enum xdev_device_type dev__desc_type(const xdev_desc *desc)
{
	return desc->type;
}

const char *dev__desc_get(const xdev_desc *desc, const char *key)
{
	int k;

	if (!desc || !key)
		return NULL;
	k = key_find(desc->type, key);
	return k < 0 ? NULL : desc->value[k];
}

static const char *get_or(const xdev_desc *d, int k, const char *dflt)
{
	return d->value[k] ? d->value[k] : dflt;
}

/* ---- completing a description --------------------------------------------- */

static int random_bytes(void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = getrandom((char *)buf + got, n - got, 0);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			got += (size_t)r;
	}
	return 0;
}

/* A MAC in Xen's OUI 00:16:3e with three random octets, as libxl makes:
 * unicast by construction.  *RET is malloc'd. */
static int random_mac(char **ret)
{
	unsigned char b[3];
	char mac[18];
	int r;

	r = random_bytes(b, sizeof(b));
	if (r < 0)
		return r;
	snprintf(mac, sizeof(mac), "00:16:3e:%02x:%02x:%02x", b[0], b[1],
		 b[2]);
	*ret = strdup(mac);
	return *ret ? 0 : -ENOMEM;
}

__attribute__((format(printf, 4, 5)))
static int complete_fail(const xdev_desc *d, char *err, size_t errlen,
			 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return -EINVAL;
	n = snprintf(err, errlen, "%s: ", dev__type_name(d->type));
	if (n < 0 || (size_t)n >= errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int dev__desc_complete(xdev_desc *desc, char *err, size_t errlen)
{
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (desc->type == XDEV_VBD) {
		if (!desc->value[KEY_VDEV])
			return complete_fail(desc, err, errlen,
					     "vdev is required");
		if (!desc->value[KEY_TARGET])
			return complete_fail(desc, err, errlen,
					     "target is required");
		/* the block script runs in a directory of its own (in a
		 * driver domain, another host's): only a custom script
		 * knows what a target that is no path means */
		if (desc->value[KEY_TARGET][0] != '/' &&
		    !desc->value[KEY_SCRIPT])
			return complete_fail(desc, err, errlen,
					     "target '%s': the block script "
					     "needs an absolute path (an image "
					     "file or a /dev node)",
					     desc->value[KEY_TARGET]);
		/* xl hands a qcow2 image to QEMU's qdisk; blkback, the one
		 * backend xdev drives, would show the guest the container's
		 * bytes as its disk */
		if (desc->value[KEY_FORMAT] &&
		    strcmp(desc->value[KEY_FORMAT], "raw"))
			return complete_fail(desc, err, errlen,
					     "format '%s': blkback serves raw "
					     "images and block devices only (a "
					     "%s image needs QEMU's qdisk "
					     "backend, which xdev does not "
					     "drive; or convert it: qemu-img "
					     "convert -O raw)",
					     desc->value[KEY_FORMAT],
					     desc->value[KEY_FORMAT]);
		return 0;
	}
	if (desc->value[KEY_MAC])
		return 0;
	r = random_mac(&desc->value[KEY_MAC]);
	if (r < 0 && err && errlen)
		snprintf(err, errlen, "vif: no random MAC address: %s",
			 strerror(-r));
	return r;
}

/* ---- nodes ---------------------------------------------------------------- */

/* Fills a node array; the first error sticks, so callers check once. */
struct nodes {
	struct dev_kv *kv;
	int n;
	int r;
};

static void put(struct nodes *nb, const char *key, const char *value)
{
	size_t len = strlen(value);

	if (nb->r)
		return;
	if (nb->n >= DEV_MAX_NODES) {
		nb->r = -E2BIG;
		return;
	}
	if (len >= sizeof(nb->kv->value)) {
		nb->r = -ENAMETOOLONG;
		return;
	}
	nb->kv[nb->n].key = key;
	memcpy(nb->kv[nb->n].value, value, len + 1);
	nb->n++;
}

static void put_u(struct nodes *nb, const char *key, uint32_t value)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", value);
	put(nb, key, buf);
}

static int nodes_done(const struct nodes *nb)
{
	return nb->r ? nb->r : nb->n;
}

/* The vbd's number must be its vdev's: the caller computed DEVID from it. */
static bool vbd_ready(const xdev_desc *d, uint32_t devid)
{
	uint32_t id;

	return d->value[KEY_VDEV] && d->value[KEY_TARGET] &&
	       dev__vdev_to_devid(d->value[KEY_VDEV], &id) == 0 && id == devid;
}

/* A vif needs its MAC (dev__desc_complete), and a devid set in the
 * description must be the one the caller uses. */
static bool vif_ready(const xdev_desc *d, uint32_t devid)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", devid);
	return d->value[KEY_MAC] &&
	       (!d->value[KEY_DEVID] || !strcmp(d->value[KEY_DEVID], buf));
}

static bool is_cdrom(const xdev_desc *d)
{
	return d->value[KEY_DEVTYPE] && !strcmp(d->value[KEY_DEVTYPE], "cdrom");
}

static void vbd_frontend(const xdev_desc *d, uint32_t be_domid,
			 uint32_t devid, const char *be_path, struct nodes *nb)
{
	put(nb, "backend", be_path);
	put_u(nb, "backend-id", be_domid);
	put_u(nb, "virtual-device", devid);
	put(nb, "device-type", get_or(d, KEY_DEVTYPE, "disk"));
	put(nb, "state", "1");
}

static void vif_frontend(const xdev_desc *d, uint32_t be_domid,
			 uint32_t devid, const char *be_path, struct nodes *nb)
{
	put(nb, "backend", be_path);
	put_u(nb, "backend-id", be_domid);
	put_u(nb, "handle", devid);
	put(nb, "mac", d->value[KEY_MAC]);
	put(nb, "state", "1");
}

int dev__frontend_nodes(const xdev_desc *desc, uint32_t be_domid,
			uint32_t devid, const char *be_path,
			struct dev_kv *out)
{
	struct nodes nb = { .kv = out };

	if (!desc || !be_path || !out)
		return -EINVAL;
	if (desc->type == XDEV_VBD) {
		if (!vbd_ready(desc, devid))
			return -EINVAL;
		vbd_frontend(desc, be_domid, devid, be_path, &nb);
	} else {
		if (!vif_ready(desc, devid))
			return -EINVAL;
		vif_frontend(desc, be_domid, devid, be_path, &nb);
	}
	return nodes_done(&nb);
}

/*
 * "type" tells the block script what params is: "phy" for a device node
 * (/dev/...), "file" for anything else, which it attaches to a loop
 * device.  A cdrom is read-only unless access says otherwise (xl makes
 * every cdrom read-only; libvirt may ask for "w").
 */
static void vbd_backend(const xdev_desc *d, uint32_t fe_domid,
			const char *fe_path, struct nodes *nb)
{
	const char *target = d->value[KEY_TARGET];
	bool cdrom = is_cdrom(d);

	put(nb, "frontend", fe_path);
	put_u(nb, "frontend-id", fe_domid);
	put(nb, "params", target);
	put(nb, "script", get_or(d, KEY_SCRIPT, "block"));
	put(nb, "mode", get_or(d, KEY_ACCESS, cdrom ? "r" : "w"));
	put(nb, "type", strncmp(target, "/dev/", 5) ? "file" : "phy");
	put(nb, "dev", d->value[KEY_VDEV]);
	put(nb, "device-type", cdrom ? "cdrom" : "disk");
	put(nb, "removable", cdrom ? "1" : "0");
	put(nb, "bootable", "1");
	put(nb, "discard-enable", "0");
	if (d->value[KEY_FORMAT])
		put(nb, "format", d->value[KEY_FORMAT]);
	put(nb, "online", "1");
	put(nb, "state", "1");
}

/* An empty hotplug-status: netback holds Connected until the script
 * writes "connected". */
static void vif_backend(const xdev_desc *d, uint32_t fe_domid,
			uint32_t devid, const char *fe_path, struct nodes *nb)
{
	put(nb, "frontend", fe_path);
	put_u(nb, "frontend-id", fe_domid);
	put(nb, "script", get_or(d, KEY_SCRIPT, "vif-bridge"));
	put(nb, "mac", d->value[KEY_MAC]);
	put(nb, "bridge", get_or(d, KEY_BRIDGE, "xenbr0"));
	put_u(nb, "handle", devid);
	put(nb, "type", "vif");
	put(nb, "hotplug-status", "");
	if (d->value[KEY_MTU])
		put(nb, "mtu", d->value[KEY_MTU]);
	put(nb, "online", "1");
	put(nb, "state", "1");
}

int dev__backend_nodes(const xdev_desc *desc, uint32_t fe_domid,
		       uint32_t devid, const char *fe_path,
		       struct dev_kv *out)
{
	struct nodes nb = { .kv = out };

	if (!desc || !fe_path || !out)
		return -EINVAL;
	if (desc->type == XDEV_VBD) {
		if (!vbd_ready(desc, devid))
			return -EINVAL;
		vbd_backend(desc, fe_domid, fe_path, &nb);
	} else {
		if (!vif_ready(desc, devid))
			return -EINVAL;
		vif_backend(desc, fe_domid, devid, fe_path, &nb);
	}
	return nodes_done(&nb);
}
