/*
 * libFuzzer harness: xenbus_state_parse (lib/xenbus.h), the names of the
 * xenbus states ("initwait", "connected" ...) as the simulated drivers'
 * fault commands give them, and xenbus_state_name on any number.
 *
 * Input: the name, cut at its first NUL; its first four bytes (when
 * there are four) also as a state number for xenbus_state_name.
 *
 * Promises checked: xenbus_state_parse is -1 or a state 0..8 whose name
 * is exactly the input; -1 only when no state has that name;
 * xenbus_state_name is never NULL, "invalid" outside 0..8.
 */
#include "fuzz.h"
#include "xenbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);
	int r = xenbus_state_parse(s), i, n;
	const char *name;

	FUZZ_ASSERT(r >= -1 && r <= XB_RECONFIGURED, "'%s': %d", s, r);
	if (r >= 0)
		FUZZ_ASSERT(!strcmp(xenbus_state_name(r), s), "'%s': %d", s, r);
	else
		for (i = XB_UNKNOWN; i <= XB_RECONFIGURED; i++)
			FUZZ_ASSERT(strcmp(xenbus_state_name(i), s),
				    "'%s' is state %d's name", s, i);
	if (size >= sizeof(n)) {
		memcpy(&n, data, sizeof(n));
		name = xenbus_state_name(n);
		FUZZ_ASSERT(name && (n < XB_UNKNOWN || n > XB_RECONFIGURED) ==
					    !strcmp(name, "invalid"),
			    "state %d: %s", n, name ? name : "NULL");
	}
	free(s);
	return 0;
}
