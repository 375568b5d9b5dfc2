/*
 * libFuzzer harness: xl's disk spec as `xdev block-attach` parses it
 * (bin/xdev-spec.c, spec_parse_disk), then the description the CLI makes
 * of it (bin/xdev-desc.c, spec_to_desc: the library's xdev_desc_set) and
 * dev__desc_complete, as an add would.
 *
 * Input: the words after the domain on the command line, separated by
 * NUL bytes ("phy:/dev/vg/lv\0xvdb\0w").
 *
 * Promises checked (bin/xdev-cli.h, the file comment of xdev-spec.c):
 * 0 or -EINVAL; on -EINVAL a message and no key; on 0 target, vdev,
 * format, access and devtype in that order, then backend and script if
 * given, none empty, with xl's defaults made explicit (format raw, a
 * cdrom read-only, /dev/ before a target without '/' unless a script
 * reads it); the words are not modified; every key the CLI passes on is
 * one the library knows; what the library accepts it stores as given.
 */
#include <errno.h>

#include "device.h"
#include "fuzz.h"
#include "xdev-cli.h"

#define MAX_WORDS 80

static const char *const formats[] = { "raw", "qcow", "qcow2", "vhd", "qed" };

static int in(const char *v, const char *const *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v, set[i]))
			return 1;
	return 0;
}

static const char *value(const struct spec *spec, const char *key)
{
	int i;

	for (i = 0; i < spec->n; i++)
		if (!strcmp(spec->kv[i].key, key))
			return spec->kv[i].value;
	return NULL;
}

static void check_parsed(const struct spec *spec)
{
	static const char *const order[] = { "target", "vdev", "format",
					     "access", "devtype", "backend",
					     "script" };
	const char *target, *access;
	size_t k = 0;
	int i;

	FUZZ_ASSERT(spec->type == XDEV_VBD, "type %d", spec->type);
	FUZZ_ASSERT(spec->err[0] == 0, "a message on success: %s", spec->err);
	FUZZ_ASSERT(spec->n >= 5 && spec->n <= 7, "%d keys", spec->n);
	for (i = 0; i < spec->n; i++) {
		while (k < 7 && strcmp(spec->kv[i].key, order[k]))
			k++;
		FUZZ_ASSERT(k < 7, "key %s out of order or unknown",
			    spec->kv[i].key);
		FUZZ_ASSERT(i >= 5 || (int)k == i, "key %d is %s", i,
			    spec->kv[i].key);
		FUZZ_ASSERT(spec->kv[i].value[0], "%s is empty",
			    spec->kv[i].key);
		k++;
	}
	FUZZ_ASSERT(in(value(spec, "format"), formats, 5), "format %s",
		    value(spec, "format"));
	access = value(spec, "access");
	FUZZ_ASSERT(!strcmp(access, "r") || !strcmp(access, "w"), "access %s",
		    access);
	if (!strcmp(value(spec, "devtype"), "cdrom"))
		FUZZ_ASSERT(!strcmp(access, "r"), "a writable cdrom");
	else
		FUZZ_ASSERT(!strcmp(value(spec, "devtype"), "disk"),
			    "devtype %s", value(spec, "devtype"));
	target = value(spec, "target");
	FUZZ_ASSERT(target[0] == '/' || value(spec, "script"),
		    "target %s: no '/' and no script", target);
}

/* The description the CLI hands to the library, and an add's check. */
static void check_desc(struct spec *spec)
{
	struct dev_kv kv[DEV_MAX_NODES];
	char err[256];
	xdev_desc *desc;
	uint32_t devid;
	int i, r;

	r = spec_to_desc(spec, &desc);
	FUZZ_ASSERT(r == 0 || r == -EINVAL, "spec_to_desc %d", r);
	if (r < 0) {
		FUZZ_ASSERT(!strncmp(spec->err, "invalid disk spec: vbd: ", 24),
			    "message %s", spec->err);
		return;
	}
	for (i = 0; i < spec->n; i++) {
		const char *v = dev__desc_get(desc, spec->kv[i].key);

		FUZZ_ASSERT(v && !strcmp(v, spec->kv[i].value),
			    "%s stored as %s, given %s", spec->kv[i].key,
			    v ? v : "(unset)", spec->kv[i].value);
	}
	r = dev__desc_complete(desc, err, sizeof(err));
	FUZZ_ASSERT(r == 0 || r == -EINVAL, "dev__desc_complete %d", r);
	FUZZ_ASSERT(r == 0 || !strncmp(err, "vbd: ", 5), "message %s", err);
	if (r == 0) {
		FUZZ_ASSERT(dev__vdev_to_devid(value(spec, "vdev"), &devid) == 0,
			    "vdev %s accepted, no devid", value(spec, "vdev"));
		r = dev__backend_nodes(desc, 1, devid,
				       "/local/domain/1/device/vbd/51712", kv);
		FUZZ_ASSERT(r > 0 && r <= DEV_MAX_NODES, "backend nodes %d", r);
		r = dev__frontend_nodes(desc, 0, devid,
					"/local/domain/0/backend/vbd/1/51712",
					kv);
		FUZZ_ASSERT(r > 0 && r <= DEV_MAX_NODES, "frontend nodes %d",
			    r);
	}
	xdev_desc_free(desc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *words[MAX_WORDS], *argv[MAX_WORDS];
	struct spec spec = { 0 };
	int argc, i, r;

	argc = fuzz_words(data, size, words, MAX_WORDS);
	/* the parser gets copies, compared with the words after */
	for (i = 0; i < argc; i++)
		argv[i] = fuzz_string((const uint8_t *)words[i],
				      strlen(words[i]));
	r = spec_parse_disk(&spec, argc, argv);
	FUZZ_ASSERT(r == 0 || r == -EINVAL, "spec_parse_disk %d", r);
	for (i = 0; i < argc; i++)
		FUZZ_ASSERT(!strcmp(argv[i], words[i]), "word %d modified", i);
	if (r < 0) {
		FUZZ_ASSERT(spec.err[0], "-EINVAL without a message");
		FUZZ_ASSERT(memchr(spec.err, 0, sizeof(spec.err)),
			    "message not terminated");
		FUZZ_ASSERT(spec.n == 0, "%d keys after a failure", spec.n);
	} else {
		check_parsed(&spec);
		check_desc(&spec);
	}
	spec_free(&spec);
	fuzz_free_words(argv, argc);
	fuzz_free_words(words, argc);
	return 0;
}
