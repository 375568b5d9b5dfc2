/*
 * libFuzzer harness: xl's network spec as `xdev network-attach` parses it
 * (bin/xdev-nicspec.c, spec_parse_nic), then the description the CLI
 * makes of it (spec_to_desc) and dev__desc_complete, as an add would.
 *
 * Input: the words after the domain on the command line, separated by
 * NUL bytes ("bridge=xenbr0\0mac=00:16:3e:00:00:01"); a word may be a
 * comma-separated list, as an xl.cfg vif= entry.
 *
 * Promises checked (bin/xdev-cli.h, the file comment of xdev-nicspec.c):
 * 0 or -EINVAL with a message; on 0 only devid, mac, bridge, mtu,
 * backend and script, each once, in that order, none empty; the words
 * are not modified; what the library accepts it stores (a MAC in lower
 * case); a complete vif has a unicast MAC and its nodes.
 */
#include <ctype.h>
#include <errno.h>

#include "device.h"
#include "fuzz.h"
#include "xdev-cli.h"

#define MAX_WORDS 80

static void check_parsed(const struct spec *spec)
{
	static const char *const order[] = { "devid", "mac", "bridge", "mtu",
					     "backend", "script" };
	size_t k = 0;
	int i;

	FUZZ_ASSERT(spec->type == XDEV_VIF, "type %d", spec->type);
	FUZZ_ASSERT(spec->n <= 6, "%d keys", spec->n);
	for (i = 0; i < spec->n; i++) {
		while (k < 6 && strcmp(spec->kv[i].key, order[k]))
			k++;
		FUZZ_ASSERT(k < 6, "key %s out of order, twice or unknown",
			    spec->kv[i].key);
		FUZZ_ASSERT(spec->kv[i].value[0], "%s is empty",
			    spec->kv[i].key);
		k++;
	}
}

static void check_desc(struct spec *spec)
{
	struct dev_kv kv[DEV_MAX_NODES];
	char err[256], lower[18];
	const char *mac, *v;
	xdev_desc *desc;
	unsigned long devid = 0;
	int i, r;

	r = spec_to_desc(spec, &desc);
	FUZZ_ASSERT(r == 0 || r == -EINVAL, "spec_to_desc %d", r);
	if (r < 0) {
		FUZZ_ASSERT(!strncmp(spec->err, "invalid network spec: vif: ",
				     27), "message %s", spec->err);
		return;
	}
	for (i = 0; i < spec->n; i++) {
		v = dev__desc_get(desc, spec->kv[i].key);
		FUZZ_ASSERT(v, "%s accepted, not stored", spec->kv[i].key);
		if (strcmp(spec->kv[i].key, "mac")) {
			FUZZ_ASSERT(!strcmp(v, spec->kv[i].value),
				    "%s stored as %s, given %s",
				    spec->kv[i].key, v, spec->kv[i].value);
			continue;
		}
		FUZZ_ASSERT(strlen(spec->kv[i].value) == 17, "mac %s",
			    spec->kv[i].value);
		for (r = 0; r < 17; r++)
			lower[r] = (char)tolower((unsigned char)spec->kv[i].value[r]);
		lower[17] = 0;
		FUZZ_ASSERT(!strcmp(v, lower), "mac %s stored as %s",
			    spec->kv[i].value, v);
	}
	r = dev__desc_complete(desc, err, sizeof(err));
	FUZZ_ASSERT(r == 0, "a vif is complete without more keys: %d %s", r,
		    err);
	mac = dev__desc_get(desc, "mac");
	FUZZ_ASSERT(mac && strlen(mac) == 17 &&
		    !(strtoul(mac, NULL, 16) & 1), "mac %s", mac ? mac : "-");
	v = dev__desc_get(desc, "devid");
	if (v)
		devid = strtoul(v, NULL, 10);
	r = dev__backend_nodes(desc, 1, (uint32_t)devid,
			       "/local/domain/1/device/vif/0", kv);
	FUZZ_ASSERT(r > 0 && r <= DEV_MAX_NODES, "backend nodes %d", r);
	r = dev__frontend_nodes(desc, 0, (uint32_t)devid,
				"/local/domain/0/backend/vif/1/0", kv);
	FUZZ_ASSERT(r > 0 && r <= DEV_MAX_NODES, "frontend nodes %d", r);
	xdev_desc_free(desc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *words[MAX_WORDS], *argv[MAX_WORDS];
	struct spec spec = { 0 };
	int argc, i, r;

	argc = fuzz_words(data, size, words, MAX_WORDS);
	for (i = 0; i < argc; i++)
		argv[i] = fuzz_string((const uint8_t *)words[i],
				      strlen(words[i]));
	r = spec_parse_nic(&spec, argc, argv);
	FUZZ_ASSERT(r == 0 || r == -EINVAL, "spec_parse_nic %d", r);
	for (i = 0; i < argc; i++)
		FUZZ_ASSERT(!strcmp(argv[i], words[i]), "word %d modified", i);
	if (r < 0) {
		FUZZ_ASSERT(spec.err[0] && memchr(spec.err, 0, sizeof(spec.err)),
			    "-EINVAL without a terminated message");
		/* no key is added before every word has parsed */
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
