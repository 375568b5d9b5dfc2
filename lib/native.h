/*
 * native: hotplug without a script, for the common cases - an image file
 * or a block device for blkback, a vif on a Linux bridge for netback.
 *
 * A job does what hotplug/block and hotplug/vif-bridge do, with the same
 * xenstore results (physical-device, physical-device-path, xdev-loop,
 * hotplug-status, and on failure hotplug-error in the scripts' words) and
 * the same host state (block.lock and the record files in the lock
 * directory, which is what keeps the two interchangeable: a script may
 * remove what a job added and a job what a script added).
 *
 * A job never blocks its caller's loop: where a script would sleep (on
 * the lock another holds, on a loop device the kernel has not let go yet)
 * a step returns NATIVE_RETRY with the milliseconds after which to call it
 * again.  It depends on libxenstore only, so that xdevd can run jobs too.
 */
#ifndef XDEV_NATIVE_H
#define XDEV_NATIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

#define NATIVE_MSG_LEN 512
#define NATIVE_PATH_LEN 4096

/* The scripts' defaults (hotplug/block): where the lock and the records
 * live, how long a removal waits for the kernel to let go of a loop
 * device, how long anyone waits for the lock. */
#define NATIVE_LOCK_DIR "/run/xdev"
#define NATIVE_RELEASE_WAIT_MS 5000
#define NATIVE_LOCK_WAIT_MS 30000

enum native_kind { NATIVE_VBD, NATIVE_VIF };

enum native_status {
	NATIVE_DONE,    /* success */
	NATIVE_FAILED,  /* message says why (hotplug-error written) */
	NATIVE_RETRY,   /* call native_job_step() again after *retry_ms */
};

/* Where a job is: the steps that may wait have a phase of their own. */
enum native_phase {
	NATIVE_START = 0,
	NATIVE_LOCK_WAIT,         /* block.lock is held by another */
	NATIVE_RELEASE_WAIT,      /* a loop device detached, still open */
	NATIVE_LINK_WAIT,         /* the backend is up, its vif not yet */
	NATIVE_ENDED,
};

struct native_job {
	/* set by the caller */
	enum native_kind kind;
	bool adding;
	struct xs_handle *xs;
	char be[256];             /* the backend directory, absolute */
	char lock_dir[256];       /* NATIVE_LOCK_DIR unless set */
	int release_wait_ms;      /* NATIVE_RELEASE_WAIT_MS unless set */
	int lock_wait_ms;         /* NATIVE_LOCK_WAIT_MS unless set */
	/* vbd add: the target (params) and whether it is writable */
	char target[NATIVE_PATH_LEN];
	bool writable;
	/* vif: the interface, its bridge and MTU (0: leave it) */
	char ifname[16];
	char bridge[16];
	unsigned mtu;

	/* the job's own */
	enum native_phase phase;
	int lock_fd;              /* block.lock, held; -1 */
	int64_t lock_end;         /* ms (CLOCK_MONOTONIC) */
	int64_t release_end;      /* also the end of NATIVE_LINK_WAIT */
	int nap_ms;
	char loop[32];            /* vbd: the loop device in question */
	char image[NATIVE_PATH_LEN];
	int requests;             /* xenstore requests made (for the bench) */
	bool used_direct_io;      /* vbd add: the kernel kept direct I/O */
	char message[NATIVE_MSG_LEN];
};

/* Ready JOB (zeroed by the caller, then its inputs set). */
void native_job_init(struct native_job *job);
/* Run JOB as far as it goes now; NOW is CLOCK_MONOTONIC in ms. */
enum native_status native_job_step(struct native_job *job, int64_t now,
				   int *retry_ms);
/* JOB's lock released, its fds closed: call once it is over (any
 * status), or to abandon it (only a job in NATIVE_LOCK_WAIT holds
 * nothing the host would keep). */
void native_job_release(struct native_job *job);

/* native-block.c, native-vif.c: one attempt of each phase. */
enum native_status native__vbd_step(struct native_job *job, int64_t now,
				    int *retry_ms);
enum native_status native__vif_step(struct native_job *job, int64_t now,
				    int *retry_ms);

/* native.c, for the two: the result nodes, in one transaction, unless the
 * backend directory is gone (then -ENOENT).  KV is key, value, ..., NULL. */
int native__write(struct native_job *job, const char *const *kv);
/* Fail JOB: its message (printf), hotplug-error and, adding, hotplug-status
 * error written if the backend directory exists. */
enum native_status native__fail(struct native_job *job, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* block.lock: 0 held, -EWOULDBLOCK held by another, else a failure
 * (message set). */
int native__lock(struct native_job *job);
void native__unlock(struct native_job *job);

#endif
