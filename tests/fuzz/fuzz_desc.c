/*
 * libFuzzer harness: device descriptions (lib/device.c): xdev_desc_set
 * with any key and value, for a vbd or a vif, then dev__desc_complete and
 * the nodes an add would write.
 *
 * Input: one byte, whose low bit picks the type (0 vbd, 1 vif) and whose
 * bits 1-3 the size of the message buffer dev__desc_complete gets; then
 * key, value, key, value ... separated by NUL bytes
 * ("\0vdev\0xvdb\0target\0/dev/vg/lv").
 *
 * Promises checked (include/xdev.h, the file comment of device.c):
 * xdev_desc_set returns 0 or -EINVAL; a value it accepts is stored not
 * empty, within its key's length, without a control character (nothing
 * xenstore, a driver or a hotplug script could misread), normalised where
 * the key says so (access r or w, a MAC in lower case), and readable
 * back; a value it refuses leaves the key as it was, and the message
 * names the type and quotes the value escaped (printable ASCII only);
 * dev__desc_complete writes no more than the buffer it is given, and a
 * complete description has its nodes (a vbd's for its vdev's number
 * only), every value without a control character.
 */
#include <errno.h>

#include "device.h"
#include "fuzz.h"

#define MAX_WORDS 64

/* The keys, with the longest value each accepts (device.c's table). */
static const struct {
	const char *name;
	size_t max;
	unsigned types; /* 1 vbd, 2 vif */
} keys[] = {
	{ "backend", 64, 3 }, { "vdev", 32, 1 },   { "target", DEV_TARGET_MAX, 1 },
	{ "format", 8, 1 },   { "access", 8, 1 },  { "devtype", 8, 1 },
	{ "script", 255, 3 }, { "devid", 5, 2 },   { "mac", 17, 2 },
	{ "bridge", 15, 2 },  { "mtu", 5, 2 },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static int printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* No "..": a target or a script must not climb out of a directory. */
static int has_dotdot(const char *s)
{
	size_t n;

	for (;; s += n + 1) {
		n = strcspn(s, "/");
		if (n == 2 && !strncmp(s, "..", 2))
			return 1;
		if (!s[n])
			return 0;
	}
}

static void check_stored(const xdev_desc *desc, size_t k, const char *v)
{
	const char *got = dev__desc_get(desc, keys[k].name);
	size_t i;

	FUZZ_ASSERT(got, "%s accepted, not stored", keys[k].name);
	FUZZ_ASSERT(got[0] && strlen(got) <= keys[k].max,
		    "%s stored with %zu bytes", keys[k].name, strlen(got));
	FUZZ_ASSERT(fuzz_no_control(got), "%s holds a control character",
		    keys[k].name);
	if (!strcmp(keys[k].name, "access")) {
		FUZZ_ASSERT(!strcmp(got, "r") || !strcmp(got, "w"),
			    "access stored as %s", got);
	} else if (!strcmp(keys[k].name, "mac")) {
		FUZZ_ASSERT(strlen(got) == 17, "mac %s", got);
		for (i = 0; i < 17; i++)
			FUZZ_ASSERT(got[i] == (i % 3 == 2 ? ':' : got[i]) &&
				    !(got[i] >= 'A' && got[i] <= 'Z'),
				    "mac stored as %s", got);
	} else {
		FUZZ_ASSERT(!strcmp(got, v), "%s stored as %s, given %s",
			    keys[k].name, got, v);
	}
	if (!strcmp(keys[k].name, "vdev")) {
		uint32_t id;

		FUZZ_ASSERT(dev__vdev_to_devid(got, &id) == 0,
			    "vdev %s accepted, no number", got);
	}
	if (!strcmp(keys[k].name, "target") || !strcmp(keys[k].name, "script"))
		FUZZ_ASSERT(!has_dotdot(got), "%s %s has '..'", keys[k].name,
			    got);
	if (!strcmp(keys[k].name, "script"))
		FUZZ_ASSERT(got[strspn(got, "abcdefghijklmnopqrstuvwxyz"
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789_.+-/")] == 0 &&
			    !strstr(got, "//") && got[strlen(got) - 1] != '/',
			    "script %s", got);
}

static void set(xdev_desc *desc, int type, const char *key, const char *v)
{
	char *before = NULL;
	const char *old, *err;
	size_t k;
	int r;

	for (k = 0; k < N_KEYS; k++)
		if (!strcmp(keys[k].name, key) && (keys[k].types & (1u << type)))
			break;
	old = k < N_KEYS ? dev__desc_get(desc, key) : NULL;
	if (old)
		before = fuzz_string((const uint8_t *)old, strlen(old));
	r = xdev_desc_set(desc, key, v);
	FUZZ_ASSERT(r == 0 || r == -EINVAL, "xdev_desc_set %d", r);
	if (r == 0) {
		FUZZ_ASSERT(k < N_KEYS, "unknown key %s accepted", key);
		check_stored(desc, k, v);
	} else {
		err = xdev_desc_error(desc);
		FUZZ_ASSERT(!strncmp(err, type ? "vif: " : "vbd: ", 5),
			    "message %s", err);
		FUZZ_ASSERT(printable_ascii(err), "message %s", err);
		old = k < N_KEYS ? dev__desc_get(desc, key) : NULL;
		FUZZ_ASSERT((!old && !before) ||
			    (old && before && !strcmp(old, before)),
			    "a refused %s changed the key", key);
	}
	free(before);
}

static void check_nodes(const struct dev_kv *kv, int n, const char *which)
{
	int i;

	FUZZ_ASSERT(n > 0 && n <= DEV_MAX_NODES, "%s nodes: %d", which, n);
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(memchr(kv[i].value, 0, sizeof(kv[i].value)) &&
			    fuzz_no_control(kv[i].value),
			    "%s node %s", which, kv[i].key);
}

static void complete(xdev_desc *desc, int type, size_t errlen)
{
	struct dev_kv *kv = malloc(sizeof(*kv) * DEV_MAX_NODES);
	char *err = errlen ? malloc(errlen) : NULL;
	const char *v;
	uint32_t devid = 0;
	xdev_desc *dup;
	int r;

	/* what an add does first: its own copy */
	dup = dev__desc_dup(desc);
	FUZZ_ASSERT(dup, "dev__desc_dup");
	r = dev__desc_complete(dup, err, errlen);
	FUZZ_ASSERT(r == 0 || r == -EINVAL, "dev__desc_complete %d", r);
	if (errlen) {
		FUZZ_ASSERT(memchr(err, 0, errlen), "message not terminated");
		FUZZ_ASSERT(fuzz_no_control(err), "message %s", err);
		FUZZ_ASSERT(r == 0 || errlen < 6 ||
			    !strncmp(err, type ? "vif: " : "vbd: ", 5),
			    "message %s", err);
	}
	if (r == 0 && type == 0) {
		v = dev__desc_get(dup, "vdev");
		FUZZ_ASSERT(v && dev__vdev_to_devid(v, &devid) == 0,
			    "complete without a vdev");
		v = dev__desc_get(dup, "target");
		FUZZ_ASSERT(v && (v[0] == '/' || dev__desc_get(dup, "script")),
			    "complete with target %s", v ? v : "(none)");
		FUZZ_ASSERT(dev__backend_nodes(dup, 0, devid + 1, "/x", kv) ==
			    -EINVAL, "nodes for another devid");
	} else if (r == 0) {
		v = dev__desc_get(dup, "mac");
		FUZZ_ASSERT(v && !(strtoul(v, NULL, 16) & 1), "mac %s",
			    v ? v : "(none)");
		v = dev__desc_get(dup, "devid");
		devid = v ? (uint32_t)strtoul(v, NULL, 10) : 0;
	}
	if (r == 0) {
		check_nodes(kv, dev__backend_nodes(dup, 1, devid,
						   "/local/domain/1/device/x/0",
						   kv), "backend");
		check_nodes(kv, dev__frontend_nodes(dup, 0, devid,
						    "/local/domain/0/backend/x",
						    kv), "frontend");
	}
	xdev_desc_free(dup);
	free(err);
	free(kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t errlens[] = { 256, 0, 1, 5, 6, 20, 64, 1100 };
	char *words[MAX_WORDS];
	xdev_desc *desc;
	int argc, i, type;

	if (size < 1)
		return 0;
	type = data[0] & 1;
	argc = fuzz_words(data + 1, size - 1, words, MAX_WORDS);
	FUZZ_ASSERT(xdev_desc_new(type ? XDEV_VIF : XDEV_VBD, &desc) == 0,
		    "xdev_desc_new");
	FUZZ_ASSERT(xdev_desc_error(desc)[0] == 0, "a message before any");
	for (i = 0; i + 1 < argc; i += 2)
		set(desc, type, words[i], words[i + 1]);
	complete(desc, type, errlens[(data[0] >> 1) & 7]);
	xdev_desc_free(desc);
	fuzz_free_words(words, argc);
	return 0;
}
