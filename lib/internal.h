/*
 * Private declarations shared by the library's files.
 *
 * The library is built with -fvisibility=hidden and a version script;
 * XDEV_PUBLIC marks the definitions of public functions.  Internal
 * cross-file functions are named <file>__<verb> (ctx__process, watch__...).
 *
 * Ownership in one picture:
 *
 *   xdev_ctx ── tracks: struct track (one per known device: added, being
 *      │         added or removed, or listed), by backend path
 *      ├── watches: "@releaseDomain" and one per backend domain in use
 *      │   (struct bewatch, refcounted by tracks) - never one per op
 *      ├── ops: struct xdev_op, each with an explicit state and deadline
 *      └── done: ops whose completion callback is due (run from the loop)
 */
#ifndef XDEV_INTERNAL_H
#define XDEV_INTERNAL_H

#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "device.h"
#include "xenbus.h"
#include "xdev.h"

#define XDEV_PUBLIC __attribute__((visibility("default")))

/* Argument checks of public entry points (style guide, lesson 6). */
#define assert_return(expr, r)                                                 \
	do {                                                                   \
		if (!(expr))                                                   \
			return (r);                                            \
	} while (0)


/* Whether the N bytes at P are all zero (reserved option words). */
static inline bool util__all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		if (*b++)
			return false;
	return true;
}

#define PATH_LEN 160
#define SCRIPT_LEN (PATH_LEN + 256)

struct xdev_op;

/* What the context knows of one device. */
struct track {
	struct track *next;
	xdev_device_id id;
	char be[PATH_LEN];        /* backend directory */
	char fe[PATH_LEN];        /* frontend directory */
	char rec[PATH_LEN];       /* the toolstack's record */
	struct xdev_op *op;       /* the operation on it, if any */
	char script[SCRIPT_LEN];  /* its hotplug script, once resolved ("":
				     none: the add ran none) */
	bool script_known;        /* script is resolved (hotplug.c) */
	int be_state;             /* last backend state seen (0: none) */
	bool monitored;           /* deliver DEVICE_GONE when it vanishes */
	bool recorded;            /* its id is dom0's word: from its add or
				     its record (record.c) */
	bool dirty;               /* an event concerned it: look once more */
	unsigned long seq;        /* the order tracks were made in */
	struct track *index_next; /* ctx->index: the same bucket */
	struct track *dirty_next; /* ctx->dirty */
};

/* One watch on /local/domain/<domid>/backend, shared by every track of
 * that backend domain. */
struct bewatch {
	struct bewatch *next;
	uint32_t domid;
	unsigned refs;
};

/* A program the library runs (child.c). */
struct child;
struct child_tag {             /* epoll data: which pipe of which child */
	struct child *child;
	int fd;
};

struct child {
	/* caller fills in */
	void (*done)(struct child *c, int status, void *user); /* wait status
						      or -errno */
	void *user;
	/* private */
	pid_t watcher;            /* our direct child (see child.c) */
	pid_t pid;                /* the program, reaped by the watcher */
	int status_fd, out_fd;
	struct child_tag tags[2];
	char out[512];            /* a partial line of output */
	size_t out_len;
	char name[64];
	bool active;
	bool direct;              /* our own child: status_fd is its pidfd */
	int status;
};

/* The loop the context runs on (loop-*.c): one fd, one timer. */
struct loop_ops {
	int (*io_start)(struct xdev_ctx *ctx, int fd);
	void (*io_stop)(struct xdev_ctx *ctx);
	void (*timer_set)(struct xdev_ctx *ctx, long ms); /* -1: none */
	/* the application's one-shot timer fired (xdev_ctx_timeout()):
	 * NULL where the library's own loop runs the timer */
	void (*timer_fired)(struct xdev_ctx *ctx);
	void (*free)(struct xdev_ctx *ctx);
};

struct xdev_ctx {
	xdev_ctx_opts opts;       /* the application's, with what they point
				     to copied: nothing borrowed */
	xdev_loop_hooks hooks;    /* opts.hooks points here */
	char *hotplug_dir;        /* opts.hotplug_dir points here */
	char *state_dir;          /* opts.hotplug_state_dir points here */
	int release_wait_ms;      /* native: $XDEV_BLOCK_RELEASE_WAIT_MS */
	char *xenstore_path;      /* opts.xenstore_path points here */
	struct xs_handle *xs;
	xc_interface *xc;         /* NULL: domains are checked in the store */
	int xs_fd;
	int epfd;                 /* xs_fd and the children's pipes: the one
				     fd the loop watches */
	struct track *tracks;     /* oldest first */
	struct track **index;     /* tracks by backend directory (track.c) */
	unsigned index_size, index_n;
	struct track *dirty;      /* tracks an event concerned, unordered */
	struct track **flushing;  /* what track__flush is stepping */
	unsigned flushing_n;
	unsigned long track_seq;
	struct bewatch *bewatches;
	struct xdev_op *ops;      /* pending, newest first */
	size_t n_ops;             /* ... how many */
	size_t n_alive;           /* operations allocated, not yet freed */
	unsigned long long op_seq; /* operations started so far */
	struct xdev_op **heap;    /* the pending ones by due time (deadline.c) */
	size_t heap_n, heap_cap;
	bool stepping;            /* inside step_expired's pass */
	struct xdev_op *deferred; /* stepped in this pass, due again */
	struct xdev_op *slot_head, *slot_tail; /* waiting for a slot, FIFO */
	struct xdev_op *script_head, *script_tail; /* scripts queued, FIFO */
	int children_active;      /* scripts alive (child.c) */
	bool pidfd_probed, pidfd_works; /* child.c: may scripts be direct? */
	struct xdev_op *done;     /* completed, callback not yet run: oldest
				     first */
	struct xdev_op *done_tail;
	struct backend_load *loads; /* operations begun, per backend domain */
	unsigned watch_gen;       /* tokens "xdev/<gen>/..." of this ctx */
	const struct loop_ops *loop;
	void *loop_data;
	bool processing;          /* inside ctx__process: no re-entry */
	unsigned pass;            /* ctx__process passes, for step_expired */
	unsigned script_seq;      /* scripts queued so far */
	bool domains_dirty;       /* @releaseDomain fired */
	bool freeing;
	/* xdev_ctx_free() from inside a callback: the context is freed when
	 * the outermost call into the library returns (ctx__leave) */
	unsigned depth;           /* calls into the library in progress */
	bool free_pending;
	bool closing;             /* xdev_ctx_close(): no new operations */
	char self[96];            /* this context as an actor (owner.c) */
	int store_errno;          /* of the last failed request (store.c) */
	char last_message[512];
};

/* ---- ctx.c -------------------------------------------------------------- */
void ctx__log(struct xdev_ctx *ctx, enum xdev_log_level level,
	      const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t ctx__now_ms(void);
/* Run whatever is due: watch events, expired deadlines, completions; then
 * re-arm the loop's timer for the next deadline. */
void ctx__process(struct xdev_ctx *ctx);
/* Re-arm the loop's timer (after a deadline changed). */
void ctx__rearm(struct xdev_ctx *ctx);
/* Drive the context until OP completes (synchronous calls). */
int ctx__run_until_done(struct xdev_ctx *ctx, struct xdev_op *op);
void ctx__event(struct xdev_ctx *ctx, const xdev_event *ev);
/* Around every public call that may run callbacks: a context freed by
 * one of them is freed by the outermost ctx__leave, which then returns
 * true (the context is gone: touch nothing of it). */
void ctx__enter(struct xdev_ctx *ctx);
bool ctx__leave(struct xdev_ctx *ctx);

struct ev_loop;
int ctx__new(const xdev_ctx_opts *opts, struct ev_loop *app_loop,
	     xdev_ctx **ret);

/* ---- loop-*.c ----------------------------------------------------------- */
/* libev: APP_LOOP, or a private loop (xdev_ctx_run) when NULL. */
int loop__libev_init(struct xdev_ctx *ctx, struct ev_loop *app_loop);
int loop__hooks_init(struct xdev_ctx *ctx);
/* Private loop only: one iteration (xdev_ctx_run). */
int loop__libev_run(struct xdev_ctx *ctx, int timeout_ms);

/* ---- store.c ------------------------------------------------------------ */
/* DIR/KEY (DIR itself if KEY is NULL); NULL if missing.  Free it. */
char *store__read(struct xdev_ctx *ctx, const char *dir, const char *key);
/* DIR's xenbus state: 0 if missing or not a state (untrusted.c). */
int store__read_state(struct xdev_ctx *ctx, const char *dir);
/* DIR/KEY as text fit for a message: bounded, escaped (untrusted.c); NULL
 * if missing.  Free it. */
char *store__read_text(struct xdev_ctx *ctx, const char *dir,
		       const char *key);
bool store__exists(struct xdev_ctx *ctx, const char *path);
/* ONLINE and STATE of backend BE, unless it is gone (-ENOENT); -EAGAIN
 * if the transaction kept conflicting. */
int store__write_online_state(struct xdev_ctx *ctx, const char *be,
			      const char *online, int state);
/* The same steps inside the caller's transaction TX: BE's state (0 if
 * not a state; -ENOENT if gone, -EAGAIN on a conflict, XDEV_E_XENSTORE),
 * and the writes of ONLINE and STATE (0, -EAGAIN, XDEV_E_XENSTORE). */
int store__read_state_in(struct xdev_ctx *ctx, xs_transaction_t tx,
			 const char *be);
int store__online_state_put(struct xdev_ctx *ctx, xs_transaction_t tx,
			    const char *be, const char *online, int state);
/* Did a delete fail only because the node is not there?  C xenstored
 * answers EINVAL, not ENOENT, when the parent is missing too: a domain's
 * directory deleted under us (xenstored deletes a destroyed domain's
 * nodes itself). */
static inline bool store__rm_absent(int e)
{
	return e == ENOENT || e == EINVAL;
}
/* A request failed with errno E: kept for the operation's message (a
 * manager wants EACCES or a quota's EDQUOT, not just "the store failed").
 * Returns XDEV_E_XENSTORE. */
int store__failed(struct xdev_ctx *ctx, int e);
/* BODY in a transaction until it commits (store.c has the rules). */
int store__transact(struct xdev_ctx *ctx,
		    int (*body)(struct xdev_ctx *ctx, xs_transaction_t tx,
				void *arg),
		    void *arg, int tries, int fast);
/* Remove PATHS (NULL-terminated) in one transaction; absent ones are
 * fine.  Retried on conflict. */
int store__rm_all(struct xdev_ctx *ctx, const char *const *paths);
/* The same, one request each and no transaction: for paths whose order
 * does not matter to anyone (a removal's last step). */
int store__rm_each(struct xdev_ctx *ctx, const char *const *paths);
/* Domain DOMID exists and is not dying (libxenctrl, else the store). */
bool store__domain_alive(struct xdev_ctx *ctx, uint32_t domid);
/* Resolve a domain given by id or name; XDEV_E_DOMAIN_NOT_FOUND. */
int store__domain_resolve(struct xdev_ctx *ctx, const char *s, uint32_t *ret);
void store__paths(const xdev_device_id *id, struct track *t);

/* ---- untrusted.c (values a guest or a driver domain can write) -------- */
/* V as a canonical decimal (no sign, no leading zero) up to MAX: 0, or
 * -EINVAL / -ERANGE. */
int untrusted__parse_uint(const char *v, unsigned long max,
			  unsigned long *ret);
/* A xenbus state; 0 (Unknown: "not yet") for V NULL or not a state. */
int untrusted__parse_state(const char *v);
/* V bounded and escaped for a message (malloc'd; NULL if out of memory). */
char *untrusted__text(const char *v);

/* ---- watch.c ------------------------------------------------------------ */
int watch__init(struct xdev_ctx *ctx);
/* Hold / release the watch on DOMID's backend subtree. */
int watch__backend_ref(struct xdev_ctx *ctx, uint32_t domid);
void watch__backend_unref(struct xdev_ctx *ctx, uint32_t domid);
/* Drain libxenstore's queue and dispatch every event. */
void watch__dispatch(struct xdev_ctx *ctx);

/* ---- track.c ------------------------------------------------------------ */
struct track *track__find(struct xdev_ctx *ctx, const xdev_device_id *id);
struct track *track__get(struct xdev_ctx *ctx, const xdev_device_id *id);
void track__drop(struct xdev_ctx *ctx, struct track *t);
/* The backend of T is gone: clean up the frontend and the record, and
 * deliver DEVICE_GONE. */
void track__gone(struct xdev_ctx *ctx, struct track *t);
/* DEVICE_GONE for T, its nodes left to the actor removing it. */
void track__gone_event(struct xdev_ctx *ctx, struct track *t);
/* A watch event at PATH, or a domain died (PATH NULL): mark who cares. */
void track__changed(struct xdev_ctx *ctx, const char *path);
/* Look once at every marked device: a burst of events (a transaction
 * fires one per node) costs one read, not one per event. */
void track__flush(struct xdev_ctx *ctx);
void track__state_seen(struct xdev_ctx *ctx, struct track *t, int state);

/* ---- record.c ---------------------------------------------------------- */
/* In TX: T's record (its backend directory, backend domain, NAME - the
 * vdev or MAC, if any - and the script in T->script, if any). */
bool record__write(struct xdev_ctx *ctx, xs_transaction_t tx,
		   const struct track *t, const char *name);
/* The record of KEY's frontend, type and devid (KEY's backend domain is
 * not used): the backend domain it names and, if SCRIPT, the script the
 * add ran ("" if none).  -ENOENT if there is none (or it is not one of
 * xdev's: a warning), XDEV_E_XENSTORE; -ENODATA (the backend domain
 * filled in) for a record of an older xdev, which does not say whether a
 * script ran. */
int record__read(struct xdev_ctx *ctx, const xdev_device_id *key,
		 uint32_t *backend_domid, char *script, size_t script_len);

/* ---- prune.c ------------------------------------------------------------ */
/* Delete T's frontend, backend and record directories, and the directories
 * above them left empty (one transaction, retried on conflict). */
int prune__delete_device(struct xdev_ctx *ctx, const struct track *t);

/* ---- child.c ------------------------------------------------------------ */
/* Run PATH with ARGV and ENVP; C->done is called from the loop once it
 * ended.  Stdin is /dev/null; its output is logged. */
int child__start(struct xdev_ctx *ctx, struct child *c, const char *path,
		 char *const argv[], char *const envp[]);
/* Ask it to end: SIGTERM, or SIGKILL with HARD. */
void child__signal(struct child *c, bool hard);
/* Kill it, reap it, release everything; done is not called.  Idempotent. */
void child__stop(struct xdev_ctx *ctx, struct child *c);
void child__io(struct xdev_ctx *ctx, struct child *c, int fd);

/* The numeric names under DIR (devids, domids), appended to *V (*N of
 * them); a missing DIR adds none. */
int track__ids_below(struct xdev_ctx *ctx, const char *dir, uint32_t **v,
		     unsigned *n);

/* ---- owner.c ------------------------------------------------------------ */
/* Who acts on a device, and what its scripts did (the record's owner,
 * add-script and remove-script nodes). */
struct owner_info {
	char op[8];               /* "add", "remove"; "": none; "?": unreadable */
	char actor[96];
	bool mine;                /* this context */
	bool alive;               /* its process runs (owner__alive) */
	pid_t pid;
	bool add_script_started;
	int remove_script;        /* 0: not started, 1: started, 2: done */
};

int owner__init(struct xdev_ctx *ctx);
void owner__read(struct xdev_ctx *ctx, const char *rec, xs_transaction_t tx,
		 struct owner_info *info);
/* Take T for OP ("add", "remove") in a transaction: 0 (WAS: who had it,
 * dead or none), -EBUSY (a live actor holds it; WAS says who), -ENOENT
 * (no record: not xdev's), XDEV_E_XENSTORE. */
int owner__claim(struct xdev_ctx *ctx, struct track *t, const char *op,
		 struct owner_info *was);
/* The claim as part of the caller's transaction TX (the removal's, which
 * also writes Closing): the same answers, -EAGAIN on a conflict. */
int owner__claim_in(struct xdev_ctx *ctx, xs_transaction_t tx,
		    struct track *t, const char *op, struct owner_info *was);
/* Record a step (add-script, remove-script) while holding T. */
int owner__mark(struct xdev_ctx *ctx, const struct track *t, const char *key,
		const char *value);
void owner__release(struct xdev_ctx *ctx, const struct track *t);

/* ---- op.c --------------------------------------------------------------- */
enum op_kind { OP_ADD, OP_REMOVE };

/* Every state of an operation of either kind: one enum and one name table
 * (op.c), changed only by op__set_state(), which logs "old -> new".  The
 * step functions (op-add.c, op-remove.c) read it; cancels, timeouts,
 * script ends, watch events and domain deaths are their inputs. */
enum op_state {
	/* an add */
	OP_ADD_WRITE = 0,         /* its one transaction to write */
	OP_ADD_BACKOFF,           /* it conflicted: wait, write again */
	OP_ADD_WAIT_INITWAIT,
	OP_ADD_WAIT_HOTPLUG,      /* external mode, or a driver domain's xdevd */
	OP_ADD_WAIT_CONNECTED,
	/* a removal, and a failed add's undo (op->undoing) */
	OP_RM_START,
	OP_RM_WAIT_CLOSED,
	OP_RM_FORCE_WAIT,         /* frontend deleted: Closed, or the rest of
				     the timeout */
	OP_RM_WAIT_DAEMON,        /* the backend domain's xdevd runs the remove
				     script and deletes the backend */
	/* a hotplug script of either (script_adding: the add script) */
	OP_SCRIPT_QUEUED,         /* waiting for one of max_scripts slots */
	OP_SCRIPT_RUNNING,
	OP_SCRIPT_TERMED,         /* past its timeout: SIGTERM sent */
	OP_SCRIPT_KILLED,         /* ... and SIGKILL */
	OP_SCRIPT_EXITED,         /* reaped in time: script_status says how */
	OP_SCRIPT_TIMED_OUT,      /* reaped after SIGTERM or SIGKILL */
	OP_SCRIPT_NOT_STARTED,    /* could not start (the message says why) */
	/* native hotplug instead of the script (hotplug-native.c) */
	OP_NATIVE_WAITING,        /* its job waits: for block.lock, or for the
				     kernel to let go of a loop device */
	OP_NATIVE_DONE,           /* ended: native_result says how */
	OP_DONE,                  /* completed: its callback is due or ran */
};

struct xdev_op {
	struct xdev_op *next;
	struct xdev_op *prev;     /* in ctx->ops (pending) only */
	struct xdev_ctx *ctx;
	unsigned long long seq;   /* started so far: ties go to the oldest */
	/* deadline.c */
	size_t heap_idx;          /* its place in ctx->heap + 1; 0: not there */
	int64_t heap_key;
	bool deferred;            /* stepped in this pass: back at its end */
	struct xdev_op *deferred_next;
	/* admission (op.c): waiting for one of its backend's slots */
	bool slot_waiting;
	struct xdev_op *slot_prev, *slot_next;
	/* hotplug.c: the queue of scripts waiting for one of max_scripts */
	struct xdev_op *script_prev, *script_next;
	enum op_kind kind;
	enum op_state state;
	int64_t deadline;         /* ms, 0: none: its timeout, nothing else */
	bool again;               /* step once more now (op__again) */
	bool woken;               /* an input arrived (a cancel, its script's
				     end): step it in the next pass */
	unsigned stepped_pass;    /* the last pass step_expired stepped it */
	int result;
	bool cancelled;           /* xdev_op_cancel(): an input to its step */
	bool begun;               /* stepped once: watch events step it too */
	bool load_held;           /* counted in load_domid's backend_load */
	bool queue_logged;        /* "waits for one of ... slots" said */
	uint32_t load_domid;
	bool internal;            /* the library's own: no OP_DONE event */
	xdev_op_how how;
	bool sync;
	/* its timeouts: the how's, else the context's */
	int timeout_init_ms, timeout_hotplug_ms, timeout_connect_ms,
	    timeout_remove_ms;
	struct track *track;
	xdev_device_id id;
	char message[512];
	/* add */
	xdev_desc *desc;
	unsigned flags;
	int tries;
	/* remove */
	enum xdev_remove_mode mode;
	int prev_state;
	int prev_online;
	int closing_asks;         /* Closing written again (op-remove.c) */
	int64_t remove_end;       /* the whole wait for Closed ends here */
	bool backend_vanished;    /* its remove script runs for a backend
				     that deleted its own directory */
	bool claimed;             /* it holds the device's record (owner.c) */
	bool took_over;           /* ... from a dead actor: forced */
	/* a failed add's undo: the removal's teardown (op-remove.c) */
	bool undoing;
	bool add_script_started;  /* its remove script must undo it */
	int undo_result;          /* the add's failure, reported at the end */
	char undo_why[256];       /* ... and its message */
	/* hotplug (hotplug.c) */
	struct child child;
	int script_status;
	bool script_adding;       /* add (online) or remove (offline) */
	int script_timeout_ms;
	unsigned script_seq;      /* its place in the queue (FIFO) */
	struct native_job *native; /* native hotplug's job, while it runs */
	int native_result;
};

/* Whether OP's state is a phase of a hotplug script. */
static inline bool op__in_script(const struct xdev_op *op)
{
	return op->state >= OP_SCRIPT_QUEUED &&
	       op->state <= OP_NATIVE_DONE;
}

/* Whether OP's script has ended (reaped, or never started). */
static inline bool op__script_ended(const struct xdev_op *op)
{
	return op->state == OP_SCRIPT_EXITED ||
	       op->state == OP_SCRIPT_TIMED_OUT ||
	       op->state == OP_SCRIPT_NOT_STARTED ||
	       op->state == OP_NATIVE_DONE;
}

/* Whether OP's script process lives (started, not yet reaped). */
static inline bool op__script_alive(const struct xdev_op *op)
{
	return op->state == OP_SCRIPT_RUNNING ||
	       op->state == OP_SCRIPT_TERMED || op->state == OP_SCRIPT_KILLED;
}

/* Whether HOW (NULL: all defaults) is valid: no negative timeout, its
 * reserved words zero. */
bool op__how_valid(const xdev_op_how *how);
/* A new operation run as HOW says (NULL, or no callback: synchronously). */
struct xdev_op *op__new(struct xdev_ctx *ctx, enum op_kind kind,
			const xdev_op_how *how);
/* A new operation of the library's own: asynchronous, no callback, no
 * OP_DONE event, the context's timeouts. */
struct xdev_op *op__new_internal(struct xdev_ctx *ctx, enum op_kind kind);
/* Start OP: its first step runs from the loop (or at once when sync). */
int op__start(struct xdev_op *op, struct xdev_op **ret_op);
/* Every transition, in one place, logged "<backend>: <kind> old -> new". */
void op__set_state(struct xdev_op *op, enum op_state state);
const char *op__state_name(enum op_state state);
void op__set_deadline(struct xdev_op *op, int ms);
/* Step OP in the loop's next pass: an input for it arrived.  Never by
 * moving its deadline, which a waiting state reads as its timeout. */
void op__wake(struct xdev_op *op);
/* Finish OP with RESULT: it leaves the pending list; its callback runs
 * later from the loop. */
void op__complete(struct xdev_op *op, int result);
void op__step(struct xdev_op *op);
/* The transition just made wants the new state looked at at once: the
 * step function runs again (op__step loops). */
void op__again(struct xdev_op *op);
/* Whether OP may be stepped now: begun already, or its backend domain has
 * fewer than max_ops_per_backend operations begun (cancels, synchronous
 * calls and the library's own operations never wait). */
bool op__may_begin(struct xdev_op *op);
/* OP may not begin (op__may_begin): it waits in the context's slot queue,
 * out of the heap, until one of its backend's operations completes. */
void op__slot_wait(struct xdev_op *op);
/* Set OP's deadline to the absolute time AT (ms; 0: none). */
void op__set_deadline_at(struct xdev_op *op, int64_t at);
void op__loads_free(struct xdev_ctx *ctx);
void op__run_completions(struct xdev_ctx *ctx);
void op__free(struct xdev_op *op);

/* ---- deadline.c --------------------------------------------------------- */
/* Room in the heap for N pending operations; -ENOMEM. */
int deadline__reserve(struct xdev_ctx *ctx, size_t n);
/* OP's due time changed (its deadline, woken, done, waiting for a slot):
 * its place in the heap follows.  Called by op.c wherever they change. */
void deadline__update(struct xdev_op *op);
void deadline__remove(struct xdev_op *op);
/* The pending operation due first (woken ones, then the earliest
 * deadline, the oldest among equals); NULL if none. */
struct xdev_op *deadline__first(struct xdev_ctx *ctx);
/* step_expired's pass ends: what it stepped goes back into the heap. */
void deadline__pass_end(struct xdev_ctx *ctx);
void deadline__free(struct xdev_ctx *ctx);

/* ---- hotplug.c ---------------------------------------------------------- */
/* OP enters or leaves SCRIPT_QUEUED (op__set_state): the script queue. */
void hotplug__queue_enter(struct xdev_op *op);
void hotplug__queue_leave(struct xdev_op *op);
/* Does the library run the scripts of this device (library mode, a
 * backend in dom0)? */
bool hotplug__in_library(struct xdev_ctx *ctx, const xdev_device_id *id);
bool hotplug__daemon_cleans_up(struct xdev_ctx *ctx, const xdev_device_id *id);
/* Learn OP's device's script now (from the backend's `script` node unless
 * known since the add or from the record), for a remove script that may
 * have to run after the backend directory has vanished. */
void hotplug__resolve_script(struct xdev_op *op);
/* Whether OP's device has a remove script to run (resolving it): not if
 * its add ran none (hotplug mode none or external, as its record says). */
bool hotplug__has_script(struct xdev_op *op);
/* Start the add (online) or remove (offline) script, or queue it while
 * max_scripts run (its timeout counts from its start); its end steps
 * OP. */
int hotplug__start(struct xdev_op *op, bool adding, int timeout_ms);
/* Start queued scripts, oldest first, while slots are free. */
void hotplug__run_queued(struct xdev_ctx *ctx);
/* OP's deadline passed while its script runs: SIGTERM, then SIGKILL. */
void hotplug__tick(struct xdev_op *op);
/* The finished script's verdict: 0, -ETIMEDOUT or XDEV_E_HOTPLUG_FAILED
 * (message: hotplug-error, or how it ended). */
int hotplug__result(struct xdev_op *op, bool adding);

/* ---- hotplug-native.c --------------------------------------------------- */
/* A track's script when the library does its hotplug natively. */
#define HOTPLUG_NATIVE "native"
static inline bool hotplug__is_native(const struct track *t)
{
	return !strcmp(t->script, HOTPLUG_NATIVE);
}
/* Whether an add of DESC gets native hotplug (no script named, the
 * context allows it). */
bool hotplug__native_applies(struct xdev_ctx *ctx, const xdev_desc *desc);
/* Run OP's native job (op->script_adding: add or remove); it ends in
 * OP_NATIVE_DONE, at once or after OP_NATIVE_WAITING. */
void hotplug__native_start(struct xdev_op *op);
/* OP_NATIVE_WAITING's deadline passed: its job tries again. */
void hotplug__native_tick(struct xdev_op *op);
/* OP's job, if any, dropped (the op ends or is freed). */
void hotplug__native_drop(struct xdev_op *op);

/* op-add.c, op-remove.c */
void add__step(struct xdev_op *op);
/* Whether the add's transaction has written the device's nodes. */
bool add__wrote(const struct xdev_op *op);
void remove__step(struct xdev_op *op);
/* OP, an add that failed with RESULT (its message says why) after it
 * wrote its nodes, is undone by the teardown of a forced removal: its
 * remove script (if its add script started) or the backend domain's
 * xdevd, then the nodes.  It completes with RESULT, or with
 * XDEV_E_CLEANUP_FAILED if the remove script failed (the backend and the
 * record kept, as for a removal). */
void remove__undo(struct xdev_op *op, int result);
/* T, monitored with no operation, lost its backend directory while its
 * domain lives: DEVICE_GONE, and its remove script if the library ran its
 * add script.  T is dropped (at once, or once the script ended). */
void remove__vanished_unattended(struct xdev_ctx *ctx, struct track *t);

#endif
