/*
 * floor-client: the protocol floor of `xdev-bench scale` (floor-client.c,
 * docs/performance.md).  A minimal reference client of the Xen device
 * protocol for a storm of vbds in dom0: it writes and waits for exactly
 * what the protocol needs, through plain libxenstore, and runs the
 * hotplug script with Xen's calling convention - nothing else (no
 * record, no ownership, no admission limits, no timeouts beyond a safety
 * bound, no retries beyond a transaction's EAGAIN).
 *
 *   add:    one transaction (frontend and backend directories, their
 *           permissions and nodes: the set xdev writes), backend state
 *           InitWait, `<script> add`, hotplug-status=connected
 *   remove: one transaction (backend online=0, state=Closing), backend
 *           state Closed, `<script> remove` reaped, both directories
 *           deleted
 *
 * Every device is issued at once; one watch, on /local/domain/0/backend/vbd,
 * serves the whole storm.  Scripts are started with posix_spawn and reaped
 * with waitpid when their pidfd says they exited (no watcher process).
 */
#ifndef XDEV_FLOOR_CLIENT_H
#define XDEV_FLOOR_CLIENT_H

#include <stdint.h>

struct floor_client;

struct floor_result {
	double wall_s;    /* start to the last device complete */
	double reaped_s;  /* start to the last script reaped */
	double p50_s, max_s; /* per device: issue to complete */
	int failed;       /* devices that did not complete (or whose
			   * script failed) */
	int retries;      /* transactions ended with EAGAIN */
};

/* N vbds, backend in dom0, each on TARGET (a /dev node), with the script
 * SCRIPT_PATH (an absolute path) named SCRIPT_NODE in the backend's
 * "script" node; SCRIPT_PATH NULL: no script, the client writes what
 * native hotplug writes for a block device itself (physical-device and
 * hotplug-status, one transaction) and deletes a removed device's
 * directories at Closed: the floor when hotplug costs nothing. */
struct floor_client *floor_new(int n, const char *target,
			       const char *script_path,
			       const char *script_node);
/* Device I: frontend domain, devid and vdev (its name, e.g. "xvda"). */
void floor_set(struct floor_client *fc, int i, uint32_t frontend,
	       uint32_t devid, const char *vdev);
/* The storms; both return when every device is complete, failed, or
 * after the safety bound. */
void floor_add(struct floor_client *fc, struct floor_result *r);
void floor_remove(struct floor_client *fc, struct floor_result *r);
void floor_free(struct floor_client *fc);

#endif
