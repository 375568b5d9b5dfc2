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
/*
 * xl's other keys (xl.cfg(5) "vif", xl_parse.c parse_nic_config), each
 * refused with why: libxl writes most of them as backend nodes that the
 * hotplug scripts read (libxl_nic.c, libxl__set_xenstore_nic), and
 * xdev's description has no key to write them from.
 */
static const struct {
	const char *key, *why;
} refused[] = {
	{ "ip", "libxl writes it to the backend's 'ip' node, for vif-route, "
		"vif-nat and the antispoofing rules; xdev's description has no "
		"such key, so the scripts would see no address" },
	{ "vifname", "libxl writes it to the backend's 'vifname' node, which "
		     "the hotplug script renames the interface to; xdev's "
		     "description has no such key, so the interface keeps "
		     "its vif<domid>.<devid> name" },
	{ "rate", "libxl writes it to the backend's 'rate' node "
		  "(bytes,microseconds) for netback's credit scheduler; "
		  "xdev's description has no such key, so the vif would not "
		  "be rate-limited" },
	{ "gatewaydev", "libxl writes it to the backend's 'gatewaydev' node, "
			"for vif-route and vif-nat; xdev's description has "
			"no such key (xdev's default script is vif-bridge)" },
	{ "netdev", "xl itself deprecates it for gatewaydev, which xdev "
		    "cannot write either" },
	{ "vlan", "libxl writes it to the backend's 'vlan' node, for "
		  "vif-openvswitch; xdev's description has no such key" },
	{ "model", "it names the NIC QEMU emulates for an HVM guest; xdev "
		   "attaches netback vifs only and starts no device model" },
	{ "accel", "xl itself does not support it (xl_parse.c: 'the accel "
		   "parameter for vifs is currently not supported')" },
	{ "forwarddev", "a COLO setting: xdev does not set up COLO" },
};

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

/* xl's type=: "vif" is what xdev attaches; "ioemu" (libxl's
 * vif_ioemu) also needs the emulated NIC of the guest's device model. */
static int nic_type(struct spec *spec, const char *it, const char *v)
{
	if (!strcmp(v, "vif") || !*v)
		return 0;
	if (!strcmp(v, "ioemu"))
		return fail(spec, it, "type=ioemu is not supported by xdev: it "
			    "pairs the vif with a NIC emulated by the guest's "
			    "device model (QEMU), which xdev does not drive; "
			    "use type=vif or leave it out");
	return fail(spec, it, "unknown type '%s': use vif (xl also knows "
		    "ioemu, which xdev cannot attach)", v);
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
	for (i = 0; i < ARRAY_SIZE(refused); i++)
		if (!strcmp(it, refused[i].key))
			return fail(spec, it, "'%s' is not supported by xdev: "
				    "%s; remove it", it, refused[i].why);
	if (!strncmp(it, "colo_", 5))
		return fail(spec, it, "'%s' is a COLO setting, which xdev does "
			    "not set up: remove it", it);
	/* xdev writes backend type=vif, as libxl does for a PV vif */
	if (!strcmp(it, "type"))
		return nic_type(spec, it, v);
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(it, keys[i]))
			break;
	if (i == ARRAY_SIZE(keys))
		return fail(spec, it, "unknown key '%s': the keys are mac, "
			    "bridge, mtu, backend, script, devid, type", it);
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
