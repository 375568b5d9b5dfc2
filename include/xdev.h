/*
 * xdev: the lifecycle of Xen paravirtual devices (vbd, vif).
 *
 * Conventions (docs/library.md has the long form):
 * - Every function returns 0 (or a non-negative value) on success and a
 *   negative error code on failure: -errno values, plus the xdev codes
 *   below.  xdev_strerror() describes any of them.
 * - Handles are opaque.  One context (xdev_ctx) per application serves any
 *   number of concurrent operations.  There is no global state.
 * - A context is not thread-safe: call it from one thread at a time, and
 *   never from inside a loop hook (xdev_loop_hooks).  Callbacks run inside
 *   xdev_ctx_run(), xdev_ctx_fd_ready(), xdev_ctx_timeout() or a
 *   synchronous call, never inside the call that started an operation.
 * - The callback contract: if a start function returns an error, its
 *   callback is never called.  If it returns 0, the completion callback is
 *   called exactly once, as the last thing that happens with that
 *   operation; the operation handle is freed when the callback returns.
 * - From inside a callback (a completion, an event, a log message) every
 *   call of the context is legal except xdev_ctx_run() (no nested loop):
 *   start, cancel, list, unmonitor, close, and free the context itself
 *   (xdev_ctx_free() then takes effect when the xdev call running the
 *   callback returns).  A synchronous operation started from a callback
 *   runs a nested wait: the other operations move on inside it.
 * - The library changes nothing of the process: not its environment, its
 *   signal dispositions, its stdio buffers or its other children.  Hotplug
 *   scripts run in their own process group.  While SIGCHLD is at its
 *   default disposition and the kernel has pidfds (Linux 5.3), a script
 *   is the library's own child, reaped through a pidfd by its pid: the
 *   application must then not reap children it did not start
 *   (waitpid(-1) in another thread).  With a SIGCHLD handler (or
 *   SIG_IGN) installed, each script runs under a watcher process of the
 *   library's own instead, and no SIGCHLD reaches the application for
 *   the scripts.
 * - Structures given to the library are copied; nothing is borrowed past
 *   the call.  Options structures (xdev_ctx_opts, xdev_op_how) end with
 *   reserved words that later releases take over without an ABI break.
 */
#ifndef XDEV_H
#define XDEV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------- */

/* xdev-specific error codes, below the errno range.  Timeouts are
 * -ETIMEDOUT, cancellation -ECANCELED, bad arguments -EINVAL. */
enum {
	XDEV_E_BASE = -4096,
	XDEV_E_BACKEND_GONE = XDEV_E_BASE,  /* the backend domain vanished */
	XDEV_E_FRONTEND_REFUSED,            /* the guest refused an unplug */
	XDEV_E_HOTPLUG_FAILED,              /* the hotplug script failed */
	XDEV_E_DOMAIN_NOT_FOUND,            /* no such domain */
	XDEV_E_XENSTORE,                    /* the store failed a request (the
					       operation's message says with
					       which errno) */
	XDEV_E_DEVICE_EXISTS,               /* the device is already there */
	XDEV_E_NO_DEVICE,                   /* no such device */
	XDEV_E_FRONTEND_GONE,               /* the frontend domain died, or its
					       device directory vanished */
	XDEV_E_CLEANUP_FAILED,              /* removed from the guest, but the
					       remove script failed or could
					       not run: the backend directory
					       and the record are kept */
	XDEV_E_LAST
};

/*
 * xdev_strerror - describe an error code
 *
 * RETURN VALUE
 *   A constant string for CODE (negative, as returned by xdev calls; a
 *   positive errno is accepted too).  Never NULL.  Static: thread-safe.
 */
const char *xdev_strerror(int code);

/* The library's release, e.g. "0.1.0". */
const char *xdev_version(void);

/* ---- the event loop ------------------------------------------------------- */

/* Poll events for xdev_loop_hooks.fd_register/_modify. */
#define XDEV_POLL_IN 1

/*
 * Hooks for applications with their own loop (libvirt), in the style of
 * curl's multi interface.  The library asks the application to watch fds
 * and one timer; the application reports back with xdev_ctx_fd_ready() and
 * xdev_ctx_timeout().  Hooks may be called from inside any xdev call; they
 * must not call xdev themselves.
 */
typedef struct xdev_loop_hooks {
	/* Start watching FD for EVENTS (XDEV_POLL_IN).  Store a per-fd
	 * pointer in *FD_USER if wanted; it is given back below. */
	int (*fd_register)(void *user, int fd, int events, void **fd_user);
	/* Stop watching FD. */
	void (*fd_deregister)(void *user, int fd, void *fd_user);
	/* Arrange for xdev_ctx_timeout() to be called in MS milliseconds
	 * (0: as soon as possible); a new call replaces the previous timer,
	 * MS -1 deletes it. */
	void (*timer_set)(void *user, long ms);
	void *user;
} xdev_loop_hooks;

/* ---- the context ---------------------------------------------------------- */

typedef struct xdev_ctx xdev_ctx;
typedef struct xdev_op xdev_op;

enum xdev_log_level {
	XDEV_LOG_ERROR = 0,
	XDEV_LOG_WARNING,
	XDEV_LOG_INFO,
	XDEV_LOG_DEBUG,
};

typedef void xdev_log_fn(void *user, enum xdev_log_level level,
			 const char *message);

enum xdev_event_type {
	XDEV_EVENT_OP_DONE = 1,      /* an operation completed */
	XDEV_EVENT_DEVICE_STATE,     /* a device's backend state changed */
	XDEV_EVENT_DEVICE_GONE,      /* a device's backend disappeared */
};

enum xdev_device_type { XDEV_VBD = 1, XDEV_VIF = 2 };

/* A device's identity: plain data. */
typedef struct xdev_device_id {
	enum xdev_device_type type;
	uint32_t backend_domid;
	uint32_t frontend_domid;
	uint32_t devid;
} xdev_device_id;

/* Delivered to xdev_ctx_opts.event_cb; valid only during the call. */
typedef struct xdev_event {
	enum xdev_event_type type;
	xdev_device_id device;
	int backend_state;           /* DEVICE_STATE: xenbus state, 0 if none */
	int result;                  /* OP_DONE: the operation's result */
	const xdev_op *op;           /* OP_DONE: the operation */
	/* DEVICE_GONE: 1 if the backend domain still lives (its directory
	 * was deleted: another toolstack's removal, say), 0 if it died */
	int backend_domain_alive;
} xdev_event;

typedef void xdev_event_fn(void *user, const xdev_event *event);

/* Hotplug: who runs the backend's script (docs/library.md). */
enum xdev_hotplug_mode {
	XDEV_HOTPLUG_LIBRARY = 0,  /* the library, for backends in dom0; a
				      driver domain's xdevd for the others */
	XDEV_HOTPLUG_EXTERNAL,     /* an outside agent writes hotplug-status */
	XDEV_HOTPLUG_NONE,         /* no script: nothing to wait for */
	XDEV_HOTPLUG_DAEMON,       /* xdevd, in every backend domain (dom0
				      too): it writes hotplug-status and
				      deletes a removed backend's nodes */
};

/* Native hotplug: where it applies (the default), or never. */
enum xdev_native_mode {
	XDEV_NATIVE_AUTO = 0,
	XDEV_NATIVE_NEVER,
};

typedef struct xdev_ctx_opts {
	/* Zero-initialise, then set what you need; 0 means the default. */
	const char *xenstore_path;     /* socket; default: libxenstore's */
	int timeout_init_ms;           /* backend InitWait (10000) */
	int timeout_hotplug_ms;        /* hotplug-status (40000) */
	int timeout_connect_ms;        /* optional Connected wait (10000) */
	int timeout_remove_ms;         /* backend Closed, the whole wait of a
					  removal (10000) */
	enum xdev_hotplug_mode hotplug;
	const char *hotplug_dir;       /* scripts named without a '/'; default
					  $(libexecdir)/xdev */
	xdev_log_fn *log_cb;           /* default: no logging */
	enum xdev_log_level log_level; /* messages up to this level */
	void *log_user;
	xdev_event_fn *event_cb;       /* progress and DEVICE_GONE events */
	void *event_user;
	/* The loop: hooks if set, else the libev loop given by
	 * xdev_ctx_attach_libev() (xdev-libev.h), else a private loop driven
	 * by xdev_ctx_run(). */
	const xdev_loop_hooks *hooks;
	/* Hotplug scripts run at once by the library (library mode); more
	 * wait their turn, oldest first, their timeouts counting from their
	 * start.  Default: 4 per online CPU, at least 8. */
	int max_scripts;
	/* Asynchronous operations in progress at once on one backend domain;
	 * more wait their turn, oldest first, not yet begun: nothing written,
	 * their timeouts not yet counting.  A backend's drivers handle a storm
	 * one event at a time, and a removal queued behind thousands would
	 * spend its timeout there and be forced.  Synchronous calls and
	 * cancels do not wait.  Default: 64. */
	int max_ops_per_backend;
	/* Native hotplug (library mode, backends in dom0): a device whose
	 * description names no script gets the block or vif-bridge script's
	 * work done in-process - an image file on a loop device, a block
	 * device as it is, a vif joining its bridge - with the same xenstore
	 * results (docs/library.md).  XDEV_NATIVE_NEVER runs the scripts
	 * instead. */
	enum xdev_native_mode native;
	/* Native hotplug's lock (block.lock) and records of loop devices,
	 * shared with the block script (which reads XDEV_HOTPLUG_LOCK_DIR;
	 * the library passes this to its scripts): default
	 * $XDEV_HOTPLUG_LOCK_DIR, else /run/xdev. */
	const char *hotplug_state_dir;
	/* Room for the options of later releases, which take it over one
	 * word at a time: leave it zero.  A library that finds a non-zero
	 * word there does not know that option and fails with -EINVAL
	 * rather than ignore it. */
	long reserved[6];
} xdev_ctx_opts;

/*
 * xdev_ctx_new - create a context
 *
 * OPTS may be NULL for all defaults.  On success *RET is the context.
 * OPTS and what it points to (the hooks structure, hotplug_dir,
 * xenstore_path) are copied: the application may reuse them at once.
 * The process environment and the application's stdio are left alone
 * (hotplug scripts get XENSTORED_PATH=xenstore_path in their own
 * environment).
 *
 * ERRORS
 *   -EINVAL      a negative timeout, max_scripts or max_ops_per_backend,
 *                an unknown hotplug mode, an incomplete hooks structure,
 *                or a non-zero reserved word
 *   XDEV_E_XENSTORE  the store cannot be reached
 *   -ENOMEM
 */
int xdev_ctx_new(const xdev_ctx_opts *opts, xdev_ctx **ret);

/*
 * xdev_ctx_free - free a context (NULL-safe)
 *
 * Operations still pending are cancelled (xdev_op_cancel()) and their
 * callbacks run inside this call, each with its honest result:
 * -ECANCELED for an add (what it wrote is removed; its remove script runs
 * if its add script ran) and for a removal that had changed nothing or
 * restored the device; 0 for a removal past its point of no return, which
 * finishes.  A running hotplug script is let finish within its own
 * timeout, never killed by the free.  So the call blocks until they are
 * done: at most twice timeout_remove_ms and a second, plus the time of a
 * script running.  To close without blocking, call xdev_ctx_close() first
 * and keep driving the loop until xdev_ctx_pending() is 0.
 *
 * Legal from inside any callback of the context (a completion, an event,
 * a log message): its operations are cancelled at once, and the context
 * is freed - their callbacks first - when the outermost xdev call running
 * the callback (xdev_ctx_run(), xdev_ctx_fd_ready(), xdev_ctx_timeout(),
 * a synchronous call, or the libev watcher) returns; that call then
 * returns as if nothing were pending.  Call nothing of the context after
 * xdev_ctx_free() but from those callbacks, and free it only once.
 */
void xdev_ctx_free(xdev_ctx *ctx);

/*
 * xdev_ctx_close - begin closing a context, without blocking
 *
 * Cancels every pending operation (as xdev_ctx_free() does) and refuses
 * new adds and removals with -ESHUTDOWN.  Returns at once with the number
 * of operations still pending; they complete through their callbacks as
 * the application keeps driving the loop.  Once xdev_ctx_pending() is 0,
 * xdev_ctx_free() returns without waiting.  Legal from inside any
 * callback.  Calling it again is harmless.
 */
int xdev_ctx_close(xdev_ctx *ctx);
/* The number of operations of CTX not yet completed (their callbacks not
 * yet run), the library's own internal clean-ups included. */
int xdev_ctx_pending(xdev_ctx *ctx);

/* Private loop: run one iteration, waiting at most TIMEOUT_MS (-1: until
 * something happens).  Returns the number of pending operations; -EINVAL
 * if the context has no private loop, -EBUSY from inside a callback. */
int xdev_ctx_run(xdev_ctx *ctx, int timeout_ms);
/* Hooks: the application reports that FD is readable (EVENTS: the events
 * it was registered for that happened, XDEV_POLL_IN; -EINVAL for another
 * fd, no event or an unknown one) / the timer fired. */
int xdev_ctx_fd_ready(xdev_ctx *ctx, int fd, int events);
int xdev_ctx_timeout(xdev_ctx *ctx);
/* The message of the last failed synchronous call (e.g. the hotplug
 * script's hotplug-error text); "" if none.  Valid until the next call. */
const char *xdev_ctx_last_message(xdev_ctx *ctx);

/* ---- device descriptions -------------------------------------------------- */

typedef struct xdev_desc xdev_desc;

/*
 * xdev_desc_new - a description of a device to add
 *
 * Set its properties with xdev_desc_set() (the keys of xl's disk and
 * network specs, docs/library.md):
 *   vbd: backend, vdev (xvdb, hda, sdc, xvdb1 ... required), target
 *        (required), format (raw, qcow2, ...), access (r, rw, w),
 *        devtype (disk, cdrom), script
 *   vif: backend, devid (default: the lowest free), mac (default: a random
 *        00:16:3e address), bridge, script, mtu
 */
int xdev_desc_new(enum xdev_device_type type, xdev_desc **ret);
void xdev_desc_free(xdev_desc *desc);
/*
 * xdev_desc_set - set KEY to VALUE
 *
 * ERRORS
 *   -EINVAL  unknown key, or a value that is malformed or contains
 *            characters xenstore or a hotplug script could misread;
 *            xdev_desc_error() says which and why
 */
int xdev_desc_set(xdev_desc *desc, const char *key, const char *value);
/* The message of the last failed xdev_desc_set(); "" if none. */
const char *xdev_desc_error(const xdev_desc *desc);

/* ---- operations ---------------------------------------------------------- */

typedef void xdev_op_cb(xdev_op *op, int result, void *user);

/* How to run an operation: with a completion callback, or synchronously
 * (no callback, or HOW NULL for all defaults).  Zero-initialise, then set
 * what you need. */
typedef struct xdev_op_how {
	xdev_op_cb *cb;                /* NULL: synchronous */
	void *user;
	/* This operation's timeouts; 0: the context's (xdev_ctx_opts). */
	int timeout_init_ms;
	int timeout_hotplug_ms;
	int timeout_connect_ms;
	int timeout_remove_ms;
	/* Room for later releases: leave it zero (-EINVAL otherwise, as for
	 * xdev_ctx_opts.reserved). */
	long reserved[4];
} xdev_op_how;

/* Add flags. */
#define XDEV_ADD_WAIT_CONNECTED 1u /* also wait for backend Connected */

/*
 * xdev_vbd_add, xdev_vif_add - add a device to domain DOMID
 *
 * One transaction writes the toolstack record and the frontend and backend
 * directories; then the operation waits for the backend's InitWait and for
 * hotplug (per the context's hotplug mode), each with its own timeout.
 * With HOW NULL the call is synchronous and returns the result; otherwise
 * it returns 0 and *RET_OP (if not NULL) is the pending operation.  The
 * device's id is in *RET_ID (if not NULL) once the nodes are written.
 *
 * ERRORS (returned, or given to the callback)
 *   -EINVAL (returned)       a NULL context or description, a description
 *                            of the other type, unknown flags, a negative
 *                            timeout or a non-zero reserved word in HOW
 *   -EINVAL                  an incomplete description, or one the backend
 *                            cannot honour: a format other than raw, a
 *                            relative target for the block script (it
 *                            runs in a directory of its own); the
 *                            message (xdev_ctx_last_message()) says which
 *   -ENOMEM (returned)
 *   -ESHUTDOWN (returned)    xdev_ctx_close() was called
 *   XDEV_E_DOMAIN_NOT_FOUND  DOMID or the backend domain does not exist
 *   XDEV_E_DEVICE_EXISTS     the device already exists (its frontend
 *                            or xdev's record of it: an xdev actor may
 *                            hold it, or have left it half done when it
 *                            died; the message says so)
 *   -EBUSY (returned)        an operation of this context on the device
 *                            is pending (as xdev_device_remove() says)
 *   -ETIMEDOUT               a wait ran out; the nodes are removed
 *   XDEV_E_BACKEND_GONE      the backend vanished while waiting
 *   XDEV_E_FRONTEND_GONE     the frontend domain died, or its directory
 *                            vanished (the guest may delete it), while
 *                            waiting or by the time the add ended: what
 *                            the add did is undone
 *   -EIO                     the backend closed the device on its own
 *                            (message: its error node); a frontend that
 *                            starts over (kexec) is waited for instead
 *   XDEV_E_HOTPLUG_FAILED    hotplug-status=error (message: hotplug-error)
 *   -ECANCELED               cancelled; the nodes are removed
 *   XDEV_E_XENSTORE          the store failed a request (the message
 *                            names the request and its errno: EACCES,
 *                            ENOSPC for a quota, ...)
 *   XDEV_E_CLEANUP_FAILED    the add failed and its undo's remove script
 *                            failed too: backend and record kept, as a
 *                            removal's XDEV_E_CLEANUP_FAILED
 *
 * The add writes xdev's record of the device (/xdev/<domid>/<type>/<devid>:
 * its backend directory and domain, vdev or MAC, and the hotplug script
 * it runs), the one source of the device's identity afterwards.
 */
int xdev_vbd_add(xdev_ctx *ctx, uint32_t domid, const xdev_desc *desc,
		 unsigned flags, const xdev_op_how *how, xdev_device_id *ret_id,
		 xdev_op **ret_op);
int xdev_vif_add(xdev_ctx *ctx, uint32_t domid, const xdev_desc *desc,
		 unsigned flags, const xdev_op_how *how, xdev_device_id *ret_id,
		 xdev_op **ret_op);

enum xdev_remove_mode {
	XDEV_REMOVE_AUTO = 0, /* wait; past the timeout, force */
	XDEV_REMOVE_SAFE,     /* wait; past the timeout, fail and restore */
	XDEV_REMOVE_FORCE,    /* do not wait */
};

/*
 * xdev_device_remove - remove a device
 *
 * Both ends alive: the backend is asked to close (online=0, Closing), the
 * operation waits for Closed, then deletes the nodes.  No answer within
 * the timeout: SAFE fails with -ETIMEDOUT and restores the device (online,
 * its previous state); AUTO forces: past three quarters of the timeout it
 * deletes the frontend, waits for Closed the rest of it, then deletes
 * both.  The timeout bounds the whole wait for Closed in either mode
 * (scripts have their own).  The backend already gone, or vanishing or
 * dying during the wait: success at once, the frontend cleaned up, and a
 * DEVICE_GONE event (except a backend directory that the backend domain's
 * xdevd deleted once Closed: its normal end).  With xdevd in the backend's
 * domain, the removal waits for it to run the remove script and delete the
 * backend: within timeout_hotplug_ms, and at most 2 s when forced (FORCE,
 * or a dead actor's device taken over); past that the library deletes the
 * backend, and xdevd runs the remove script when it comes back.  The
 * empty directories above
 * the device's nodes go with them.
 *
 * The device's identity is dom0's: if xdev's record of it names another
 * backend domain than ID does, the removal fails with XDEV_E_NO_DEVICE
 * and changes nothing (a guest can write any backend-id into its
 * frontend; docs/security.md).  The remove script is the one the add
 * recorded.  A backend domain that keeps rewriting the backend's nodes so
 * that Closing cannot be written: AUTO and FORCE remove the device
 * without its consent, SAFE fails with -EBUSY.
 *
 * ERRORS
 *   -EINVAL              a NULL context or id, an unknown type or mode, a
 *                        domid out of range, a negative timeout or a
 *                        non-zero reserved word in HOW
 *   -ENOMEM
 *   -ESHUTDOWN (returned) xdev_ctx_close() was called
 *   -EBUSY (returned)    an operation of this context on the device is
 *                        pending (an add answers the same)
 *   XDEV_E_XENSTORE      the store failed a request (the message names
 *                        the request and its errno)
 *   XDEV_E_NO_DEVICE     no such device (or not with this backend domain)
 *   -ETIMEDOUT           SAFE only
 *   XDEV_E_FRONTEND_REFUSED  SAFE only: the frontend wrote an error node
 *   -EBUSY               SAFE only: the backend's nodes kept changing
 *                        while Closing was written (nothing was
 *                        changed), or its state kept going back from
 *                        Closing until the timeout (restored)
 *   XDEV_E_CLEANUP_FAILED  the remove script failed or could not run: the
 *                        frontend is deleted, the backend directory and
 *                        the record are kept (the message says so) and
 *                        the next removal runs the script again
 *   -ECANCELED           cancelled before anything was changed, or the
 *                        device was restored as SAFE does
 */
int xdev_device_remove(xdev_ctx *ctx, const xdev_device_id *id,
		       enum xdev_remove_mode mode, const xdev_op_how *how,
		       xdev_op **ret_op);

/*
 * xdev_op_cancel - cancel a pending operation
 *
 * Asynchronous: the operation completes later, through its callback, with
 * -ECANCELED (an add removes what it wrote; a remove restores the device if
 * it can, and otherwise finishes, as libxl's abort), or with its own result
 * if it had already finished.  Legal from inside any xdev callback.
 * A hotplug script running is let finish, never killed by a cancel (an
 * add whose add script succeeded is then undone by its remove script; a
 * removal whose remove script runs completes with 0).
 * Returns -EALREADY if the operation is already completing.
 */
int xdev_op_cancel(xdev_op *op);
/* The operation's device, and a message for its result ("" if none). */
const xdev_device_id *xdev_op_device(const xdev_op *op);
const char *xdev_op_message(const xdev_op *op);

/* ---- listing ------------------------------------------------------------- */

/* An operation holding a device (xdev's record of it says so). */
enum xdev_op_kind { XDEV_OP_NONE = 0, XDEV_OP_ADD, XDEV_OP_REMOVE };

/* Who did a device's hotplug (its record's word). */
enum xdev_hotplug_kind {
	XDEV_HOTPLUG_KIND_UNKNOWN = 0, /* no record: not added by xdev */
	XDEV_HOTPLUG_KIND_NONE,        /* not the library: an external agent,
					  none, or a driver domain's xdevd */
	XDEV_HOTPLUG_KIND_SCRIPT,      /* the library ran its script */
	XDEV_HOTPLUG_KIND_NATIVE,      /* the library, natively */
};

typedef struct xdev_device_info {
	xdev_device_id id;
	int frontend_state;          /* xenbus state; 0: node missing */
	int backend_state;
	int online;
	/* An add or removal in progress on it (any xdev actor: a context of
	 * this or another process, the CLI), or left half done by one that
	 * died (op_owner_alive 0: xdev_ctx_recover() finishes it). */
	enum xdev_op_kind op;
	int op_owner_alive;
	int32_t op_owner_pid;        /* the actor's process, 0 if unknown */
	/* Who does its hotplug, as its record says (enum
	 * xdev_hotplug_kind). */
	int32_t hotplug_kind;
	int32_t reserved_int;
	long reserved[3];
} xdev_device_info;

/*
 * xdev_device_list - the devices of domain DOMID
 *
 * *RET is a malloc'd array of *RET_N entries (free() it).  Listed devices
 * are monitored: DEVICE_GONE is delivered if their backend disappears.
 * The devices are those of xdev's records and of dom0's own backend
 * directories, never read from the guest's frontend directory (whose
 * backend and backend-id nodes the guest can rewrite); a state that is no
 * xenbus state reads as 0.
 */
int xdev_device_list(xdev_ctx *ctx, uint32_t domid, xdev_device_info **ret,
		     unsigned *ret_n);

/*
 * xdev_ctx_recover - finish the operations of actors that died
 *
 * An actor (a process using xdev: a manager, the CLI) holds each device
 * it adds or removes, in xdev's record of the device, until it is done;
 * one that dies half-way (kill -9, a crash, a power cut of dom0's
 * userspace) leaves the device held by a dead actor.  This finds such
 * devices of domain DOMID (XDEV_DOMID_ANY: of every domain, dead ones
 * included) and, unless FLAGS has XDEV_RECOVER_DRY_RUN, finishes each by
 * a forced removal: an interrupted add is rolled back (its remove script
 * runs if its add script had started), an interrupted removal finished
 * (its remove script runs unless it was recorded as done: a script
 * killed with its actor runs again, and so does one that finished in the
 * instant before its actor died).  Synchronous.  CB (if not NULL) is
 * called for each device found, after it was handled (RESULT: the
 * removal's, 0 in a dry run).  A removal of such a device
 * (xdev_device_remove) takes it over the same way.
 *
 * RETURN VALUE
 *   The number of devices found, or a negative error code.
 * ERRORS
 *   -EINVAL            a NULL context, unknown flags
 *   XDEV_E_XENSTORE    the store failed a request
 */
#define XDEV_DOMID_ANY UINT32_MAX
#define XDEV_RECOVER_DRY_RUN 1u

typedef struct xdev_recovered {
	xdev_device_id id;
	enum xdev_op_kind op;        /* what was interrupted */
	int32_t owner_pid;           /* the dead actor's process */
	int result;                  /* the finishing removal's */
	const char *message;         /* ... and its message ("" if none) */
} xdev_recovered;

typedef void xdev_recover_fn(void *user, const xdev_recovered *found);

int xdev_ctx_recover(xdev_ctx *ctx, uint32_t domid, unsigned flags,
		     xdev_recover_fn *cb, void *user);

/*
 * xdev_device_unmonitor - stop monitoring a device
 *
 * No more DEVICE_STATE or DEVICE_GONE events for ID, which a list or an
 * add made the context monitor; the context forgets the device.  A later
 * list or add monitors it again.
 *
 * ERRORS
 *   -EINVAL            a NULL context or id
 *   XDEV_E_NO_DEVICE   the context does not monitor ID
 *   -EBUSY             an operation of the context on ID is pending
 */
int xdev_device_unmonitor(xdev_ctx *ctx, const xdev_device_id *id);

#ifdef __cplusplus
}
#endif

#endif
