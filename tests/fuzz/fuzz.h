/*
 * What the libFuzzer harnesses (tests/fuzz/fuzz_*.c) share.
 *
 * A harness feeds its input to a parser and asserts what the parser
 * promises (its header or file comment); a broken promise aborts with
 * FUZZ_ASSERT's message, which libFuzzer reports as a crash, like a
 * sanitizer's report.  Every string handed to the code under test is
 * malloc'd at its exact size, so that reading one byte past its NUL is
 * an AddressSanitizer report.
 */
#ifndef XDEV_FUZZ_H
#define XDEV_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond, ...)                                                 \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: broken promise: %s: ",         \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* The N bytes at DATA as a C string (cut at the first NUL, as a store
 * value read with xs_read would be for a C caller), malloc'd. */
static inline char *fuzz_string(const uint8_t *data, size_t n)
{
	size_t len = strnlen((const char *)data, n);
	char *s = malloc(len + 1);

	if (!s)
		abort();
	memcpy(s, data, len);
	s[len] = 0;
	return s;
}

/* The N bytes at DATA split at each NUL into words, as a command line's
 * argv (a word cannot hold a NUL; an empty input is no word, a NUL at the
 * end an empty last word): at most MAX words in WORDS, each malloc'd at
 * its size.  Returns how many. */
static inline int fuzz_words(const uint8_t *data, size_t n, char **words,
			     int max)
{
	size_t start = 0, end;
	int argc = 0;

	if (n == 0)
		return 0;
	while (argc < max) {
		for (end = start; end < n && data[end]; end++)
			;
		words[argc++] = fuzz_string(data + start, end - start);
		if (end >= n)
			break;
		start = end + 1;
	}
	return argc;
}

static inline void fuzz_free_words(char **words, int argc)
{
	while (argc > 0)
		free(words[--argc]);
}

/* No byte of S is a C0 control character or DEL (what would move a
 * terminal's cursor or forge a log line). */
static inline int fuzz_no_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

#endif
