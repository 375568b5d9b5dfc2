/*
 * Test fixture: one simulated host per test (each test runs in its own
 * forked process, so hosts of parallel tests never meet), plus waits on
 * xenstore watches with a deadline.
 */
#ifndef XDEV_SIMFIXTURE_H
#define XDEV_SIMFIXTURE_H

#include <stdint.h>
#include <xenstore.h>
#include "simhost.h"

extern struct simhost fx_host;

/* Start a host with DAEMON and enter its environment; fails the test on
 * error.  NETNS as in simhost_opts. */
void fx_start(enum simhost_daemon daemon, int netns);
void fx_start_c(void);
void fx_start_o(void);
/* Stop the host; fails the test if anything was left behind. */
void fx_stop(void);

struct xs_handle *fx_xs(void);
uint32_t fx_domain(const char *name);

/* Wait until a watch event arrives on XS; returns 0 and its path in
 * RET_PATH (malloc'd, may be NULL), or -ETIMEDOUT after TIMEOUT_MS. */
int fx_next_event(struct xs_handle *xs, int timeout_ms, char **ret_path);
/* Register a watch and consume the event its registration fires. */
void fx_watch(struct xs_handle *xs, const char *path, const char *token);

#endif
