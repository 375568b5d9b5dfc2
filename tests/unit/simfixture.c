/*
 * Test fixture for the simulated host (simfixture.h).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simfixture.h"

struct simhost fx_host;

void fx_start(enum simhost_daemon daemon, int netns)
{
	struct simhost_opts o = { .daemon = daemon, .netns = netns,
				  .stop_with_starter = 1 };
	int r = simhost_start(&o, &fx_host);

	ck_assert_msg(r == 0, "host start: %s", fx_host.err);
	ck_assert_int_eq(simhost_setenv(&fx_host, 0, 0), 0);
}

void fx_start_c(void) { fx_start(SIMHOST_CXENSTORED, 0); }
void fx_start_o(void) { fx_start(SIMHOST_OXENSTORED, 0); }

void fx_stop(void)
{
	if (fx_host.supervisor > 0)
		ck_assert_msg(simhost_stop(&fx_host) == 0, "host stop: %s",
			      fx_host.err);
}

struct xs_handle *fx_xs(void)
{
	struct xs_handle *xs = xs_open(0);

	ck_assert_msg(xs != NULL, "xs_open: %s", strerror(errno));
	return xs;
}

uint32_t fx_domain(const char *name)
{
	uint32_t id = 0;
	int r = simhost_domain_create(&fx_host, name, 0, &id);

	ck_assert_msg(r == 0, "domain-create %s: %s", name, fx_host.err);
	return id;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int fx_next_event(struct xs_handle *xs, int timeout_ms, char **ret_path)
{
	long long deadline = now_ms() + timeout_ms;
	struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };
	char **ev;

	for (;;) {
		ev = xs_check_watch(xs);
		if (ev) {
			if (ret_path)
				*ret_path = strdup(ev[XS_WATCH_PATH]);
			free(ev);
			return 0;
		}
		ck_assert_int_eq(errno, EAGAIN);
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		poll(&p, 1, (int)(deadline - now_ms()));
	}
}

void fx_watch(struct xs_handle *xs, const char *path, const char *token)
{
	ck_assert_msg(xs_watch(xs, path, token), "watch %s: %s", path,
		      strerror(errno));
	ck_assert_int_eq(fx_next_event(xs, 5000, NULL), 0);
}
