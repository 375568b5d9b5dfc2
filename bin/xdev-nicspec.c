/*
 * xl's network spec: the key=value words of `xl network-attach`, or the
 * comma-separated list of a vif= line in xl.cfg(5); both forms may be
 * mixed.  As with disks, what xl knows and xdev cannot do is refused by
 * name rather than dropped, and an empty value means the default.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xdev-cli.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The keys xdev passes to the library, in the order they are printed. */
static const char *const keys[] = { "devid", "mac", "bridge", "mtu",
				    "backend", "script" };
/* xl's other keys (xl.cfg(5) "vif"): known, but not for xdev. */
static const char *const unsupported[] = {
	"ip", "type", "model", "vifname", "rate", "accel", "gatewaydev",
	"forwarddev", "trusted", "untrusted", "netdev", "ipv6",
};

static bool in(const char *k, const char *const *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(k, set[i]))
			return true;
	return false;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct spec *spec, const char *item, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = (size_t)snprintf(spec->err, sizeof(spec->err),
			     "invalid network spec '%s': ", item);
	if (n < sizeof(spec->err)) {
		va_start(ap, fmt);
		vsnprintf(spec->err + n, sizeof(spec->err) - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* One key=value item, blanks before it ignored as xl does. */
static int item(struct spec *spec, char *it, char **vals)
{
	char *eq, *v;
	size_t i;

	it += strspn(it, " \t");
	if (!*it)
		return 0;
	eq = strchr(it, '=');
	if (!eq)
		return fail(spec, it, "not key=value: write e.g. "
			    "mac=00:16:3e:00:00:01 or bridge=xenbr0");
	*eq = '\0';
	v = eq + 1;
	if (in(it, unsupported, ARRAY_SIZE(unsupported)))
		return fail(spec, it, "'%s' is not supported by xdev: remove it",
			    it);
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(it, keys[i]))
			break;
	if (i == ARRAY_SIZE(keys))
		return fail(spec, it, "unknown key '%s': the keys are mac, "
			    "bridge, mtu, backend, script, devid", it);
	if (vals[i] && *vals[i] && *v)
		return fail(spec, it, "%s given twice ('%s', then '%s'): give "
			    "it once", it, vals[i], v);
	if (*v || !vals[i])
		vals[i] = v;
	return 0;
}

int spec_parse_nic(struct spec *spec, int argc, char **argv)
{
	char *copies[64], *vals[ARRAY_SIZE(keys)] = { NULL }, *it, *save;
	int i, r = 0, n = 0;
	size_t k;

	spec->type = XDEV_VIF;
	if (argc > (int)ARRAY_SIZE(copies))
		return fail(spec, argv[0], "too many words");
	/* The values point into the copies until spec_add copies them. */
	for (i = 0; i < argc && !r; i++) {
		copies[n] = strdup(argv[i]);
		if (!copies[n])
			return fail(spec, argv[i], "out of memory");
		for (it = strtok_r(copies[n++], ",", &save); it && !r;
		     it = strtok_r(NULL, ",", &save))
			r = item(spec, it, vals);
	}
	for (k = 0; k < ARRAY_SIZE(keys) && !r; k++)
		if (vals[k] && *vals[k] && spec_add(spec, keys[k], vals[k]))
			r = fail(spec, keys[k], "out of memory");
	while (n > 0)
		free(copies[--n]);
	return r;
}
