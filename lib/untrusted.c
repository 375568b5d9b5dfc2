/*
 * untrusted: values read from nodes a guest or a driver domain can write
 * (docs/security.md).  A guest owns its whole frontend directory and a
 * driver domain its backend directory: what they hold can be any bytes up
 * to xenstored's size limit, a non-number where a number belongs, a number
 * out of range, and it can change between two reads.  So such a value is
 * never a device's identity, never part of a path, parsed strictly here,
 * and escaped before it is put in a message that may reach a terminal.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The longest peer text a message quotes (an error node, hotplug-error). */
#define TEXT_MAX 200

int untrusted__parse_uint(const char *v, unsigned long max, unsigned long *ret)
{
	unsigned long n = 0;
	const char *p;

	if (!v || !*v || (v[0] == '0' && v[1]) || strlen(v) > 10)
		return -EINVAL;
	for (p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n > max)
		return -ERANGE;
	*ret = n;
	return 0;
}

/* A xenbus state is 0 (Unknown) .. 8 (Reconfigured): anything else is no
 * state a driver can be in, so it reads as Unknown, "not yet". */
int untrusted__parse_state(const char *v)
{
	unsigned long n;

	return untrusted__parse_uint(v, XB_RECONFIGURED, &n) ? 0 : (int)n;
}

/* Printable ASCII as it is; a backslash, control characters, DEL and any
 * byte above 0x7e as \xNN (a terminal's escape sequences and forged
 * lines), at most TEXT_MAX bytes of input ("..." after). */
char *untrusted__text(const char *v)
{
	size_t n = strlen(v), i, k = 0, len = n > TEXT_MAX ? TEXT_MAX : n;
	char *out = malloc(len * 4 + 4);

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[k++] = (char)c;
		else
			k += (size_t)sprintf(out + k, "\\x%02x", c);
	}
	if (len < n)
		k += (size_t)sprintf(out + k, "...");
	out[k] = 0;
	return out;
}
