/*
 * libFuzzer harness: the parsers of values a guest or a driver domain
 * writes (lib/untrusted.c, docs/security.md): untrusted__parse_uint,
 * untrusted__parse_state and untrusted__text, each on the whole input
 * (a store value: cut at its first NUL).
 *
 * Promises checked (lib/internal.h, docs/security.md):
 * - parse_uint: 0 exactly for a canonical decimal (digits, no sign, no
 *   blank, no leading zero) not above MAX, with its value; otherwise
 *   -EINVAL or -ERANGE (-ERANGE only for a canonical decimal above MAX)
 *   and *RET untouched; NULL is -EINVAL;
 * - parse_state: 0..8, the value of a canonical decimal up to 8, else 0;
 * - text: printable ASCII only (no byte below 0x20, no DEL, nothing
 *   above 0x7e), printable ASCII other than '\' kept as it is, every
 *   other byte as \xNN, the first 200 bytes of the input and "..." if
 *   there were more: so at most 803 bytes, and decoding it gives the
 *   input back.
 */
#include <errno.h>
#include <limits.h>

#include "fuzz.h"
#include "internal.h"

#define TEXT_MAX 200

/* The reference: is S a canonical decimal, and its value if it has at
 * most 19 digits (*BIG otherwise). */
static int canonical(const char *s, unsigned long long *val, int *big)
{
	size_t n = strlen(s), i;

	if (n == 0 || (s[0] == '0' && n > 1))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	*big = n > 19;
	*val = *big ? 0 : strtoull(s, NULL, 10);
	return 1;
}

static void check_uint(const char *s, unsigned long max)
{
	const unsigned long sentinel = 0x5a5a5a5aUL;
	unsigned long long val = 0;
	unsigned long v = sentinel;
	int big = 0, canon, r;

	r = untrusted__parse_uint(s, max, &v);
	canon = canonical(s, &val, &big);
	FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ERANGE,
		    "'%s' max %lu: %d", s, max, r);
	if (canon && !big && val <= max) {
		FUZZ_ASSERT(r == 0 && v == val, "'%s' max %lu: %d, %lu", s, max,
			    r, v);
		return;
	}
	FUZZ_ASSERT(r != 0, "'%s' max %lu: parsed as %lu", s, max, v);
	FUZZ_ASSERT(v == sentinel, "'%s' max %lu: *ret written on failure", s,
		    max);
	FUZZ_ASSERT(r != -ERANGE || canon, "'%s' max %lu: -ERANGE, not a "
		    "canonical decimal", s, max);
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void check_text(const char *s)
{
	size_t n = strlen(s), len = n > TEXT_MAX ? TEXT_MAX : n, i = 0;
	char *t = untrusted__text(s);
	const char *p;
	unsigned char c;

	FUZZ_ASSERT(t, "untrusted__text: NULL");
	FUZZ_ASSERT(strlen(t) <= 4 * TEXT_MAX + 3, "%zu bytes", strlen(t));
	for (p = t; *p; p++)
		FUZZ_ASSERT(*p >= 0x20 && *p <= 0x7e, "byte 0x%02x at %zu",
			    (unsigned char)*p, (size_t)(p - t));
	/* decode: the first LEN bytes of S, then "..." if it was cut */
	for (p = t; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			FUZZ_ASSERT(*p == (char)c, "byte %zu: '%c' became '%c'",
				    i, c, *p);
			p++;
			continue;
		}
		FUZZ_ASSERT(p[0] == '\\' && p[1] == 'x' && hex(p[2]) >= 0 &&
			    hex(p[3]) >= 0 && hex(p[2]) * 16 + hex(p[3]) == c,
			    "byte %zu (0x%02x) not escaped: %.4s", i, c, p);
		p += 4;
	}
	FUZZ_ASSERT(!strcmp(p, len < n ? "..." : ""), "ends with '%s'", p);
	free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned long maxes[] = { 0, 1, 8, 9, 10, 0x7fef,
					       65535, 0xffffffffUL };
	unsigned long v = 7;
	char *s;
	size_t i;
	int st;

	if (size == 0) {
		/* no node: xs_read's NULL */
		FUZZ_ASSERT(untrusted__parse_uint(NULL, 10, &v) == -EINVAL &&
			    v == 7, "NULL");
		FUZZ_ASSERT(untrusted__parse_state(NULL) == 0, "NULL state");
	}
	s = fuzz_string(data, size);
	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
		check_uint(s, maxes[i]);
	st = untrusted__parse_state(s);
	FUZZ_ASSERT(st >= XB_UNKNOWN && st <= XB_RECONFIGURED, "state %d", st);
	v = 0;
	if (untrusted__parse_uint(s, XB_RECONFIGURED, &v) == 0)
		FUZZ_ASSERT((unsigned long)st == v, "state %d for '%s'", st, s);
	else
		FUZZ_ASSERT(st == XB_UNKNOWN, "state %d for '%s'", st, s);
	check_text(s);
	free(s);
	return 0;
}
