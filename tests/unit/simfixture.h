/*
 * Test fixture: one simulated host per test (each test runs in its own
 * forked process, so hosts of parallel tests never meet), plus waits on
 * xenstore watches with a deadline.
 */
#ifndef XDEV_SIMFIXTURE_H
#define XDEV_SIMFIXTURE_H

#include <stdbool.h>
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

/* Attach IMAGE to a free loop device with autoclear and keep it open: the
 * kernel detaches it when the fd closes, even if the test crashes.
 * Returns the fd; the device path goes to DEV. */
int fx_loop_attach(const char *image, char *dev, size_t devlen);

/* A stand-in hotplug agent (a child process): for every backend device
 * that reaches InitWait it does what Xen's scripts do - vbd: writes
 * physical-device for the block device named by `params` and
 * hotplug-status=connected (params "/fail": hotplug-status=error with a
 * hotplug-error); vif: hotplug-status=connected.  Stopped by fx_stop().
 * Starting it again while it runs does nothing. */
void fx_hotplug_agent_start(void);

/* Stops the agent, if it runs: a context that runs the scripts itself
 * (or through xdevd) must not have a second runner writing
 * physical-device and hotplug-status before its own script. */
void fx_hotplug_agent_stop(void);

/* Wait until domain DOMID's network namespace (0: the host's) has no
 * interface NAME: netback's vif goes a moment after its backend wrote
 * Closed, as in Linux.  Woken by rtnetlink's link events, never polled;
 * true if it went within TIMEOUT_MS. */
bool fx_link_wait_gone(uint32_t domid, const char *name, int timeout_ms);
/* The same until it exists: netback registers its vif just after it
 * wrote InitWait, as Linux's netback_probe() does. */
bool fx_link_wait_present(uint32_t domid, const char *name, int timeout_ms);

/* How many loop devices have IMAGE as their backing file (sysfs). */
int fx_loops_backing(const char *image);

/* Re-execute the test program with libfakexen.so preloaded, as an
 * application on the simulated host runs (xdev-sim exec does the same),
 * so the library's libxenctrl calls reach the simulated hypervisor. */
void fx_ensure_preloaded(char **argv);

#endif
