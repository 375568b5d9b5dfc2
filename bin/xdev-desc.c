/*
 * Specs as the library's descriptions.  The CLI parses the syntax; the
 * library checks every value (xdev_desc_set), so that the command line
 * accepts exactly what the library does, and its message - naming the key,
 * the value and the problem - reaches the user unchanged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xdev-cli.h"

int spec_add(struct spec *spec, const char *key, const char *value)
{
	char *v;

	if (spec->n >= SPEC_MAX)
		return -E2BIG;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	spec->kv[spec->n].key = key;
	spec->kv[spec->n].value = v;
	spec->n++;
	return 0;
}

void spec_free(struct spec *spec)
{
	while (spec->n > 0)
		free(spec->kv[--spec->n].value);
}

int spec_to_desc(struct spec *spec, xdev_desc **ret)
{
	xdev_desc *desc;
	int i, r;

	r = xdev_desc_new(spec->type, &desc);
	if (r < 0) {
		snprintf(spec->err, sizeof(spec->err), "%s", xdev_strerror(r));
		return r;
	}
	for (i = 0; i < spec->n; i++) {
		r = xdev_desc_set(desc, spec->kv[i].key, spec->kv[i].value);
		if (r < 0) {
			/* "vbd: vdev 'xvd!': not xvd*, hd*, ..." */
			snprintf(spec->err, sizeof(spec->err),
				 "invalid %s spec: %s",
				 spec->type == XDEV_VBD ? "disk" : "network",
				 xdev_desc_error(desc));
			xdev_desc_free(desc);
			return r;
		}
	}
	*ret = desc;
	return 0;
}
