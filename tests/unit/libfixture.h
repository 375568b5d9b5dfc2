/*
 * The shared fixture of the library's tests (check_add, check_remove,
 * check_cancel, check_hotplug, check_loop, check_peers, check_contract;
 * tests/README.md says which behaviour each holds).
 *
 * Every test runs on both xenstore daemons (lib_main() makes a Check case
 * of each), in a simulated host of its own (simfixture.h) with a loop
 * device for its disks, a stand-in hotplug agent, and a context (ctx) in
 * external hotplug mode whose removal timeout is SHORT_MS.  Every test
 * checks the store's final contents (nothing left behind), the result, the
 * events, and, where the behaviour is "at once", that the elapsed time
 * stayed far below the timeout.  The process runs with libfakexen.so
 * preloaded (lib_main() re-executes it so), so the library's libxenctrl
 * calls reach the simulated hypervisor as they would the real one.
 */
#ifndef XDEV_LIBFIXTURE_H
#define XDEV_LIBFIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h" /* first: xenctrl.h before any other xen header */
#include "simfixture.h"
#include "xdev.h"

#define SHORT_MS 1200  /* the removal timeout, which tests run into */
/* "At once", without a narrow wall-clock margin: the operation is given
 * PATIENT_MS for its waits (how_patient) and must end within AT_ONCE_MS,
 * which no busy machine or valgrind run comes near; one that waited for
 * its timeout cannot.  A cancel's end is told by its result
 * (-ECANCELED, not -ETIMEDOUT); AT_ONCE_MS only bounds the wait. */
#define PATIENT_MS 120000
#define AT_ONCE_MS 30000
extern const xdev_op_how how_patient; /* synchronous, PATIENT_MS waits */

extern struct xs_handle *xs; /* the test's own connection to the store */
extern xdev_ctx *ctx;        /* the context under test (NULL once freed) */
extern char loopdev[64];     /* the test's loop device, vbd()'s target */
extern char events[4096];    /* "gone:vbd/51712 done:0 ..." in order */
extern int gone_alive;       /* the last DEVICE_GONE's backend_domain_alive */
extern bool free_on_state;   /* on_event frees the context (then NULLs it) */

long long now_ms(void);
/* A new context with options O, into ctx: its events go to events, its
 * warnings (unless O has a log_cb) to stderr. */
void open_ctx(xdev_ctx_opts *o);

/* ---- helpers ------------------------------------------------------------- */

uint32_t guest(const char *name, enum simhost_dom_kind kind);
/* A vbd description of the test's loop device (the caller frees it). */
xdev_desc *vbd(const char *vdev, const char *backend);
/* A synchronous add of vbd(VDEV, BACKEND). */
int add_vbd(uint32_t dom, const char *vdev, const char *backend,
	    unsigned flags, xdev_device_id *id);
/* A vbd xvda added and Connected at both ends. */
void connected_vbd(uint32_t g, xdev_device_id *id);
bool exists(const char *path);
int state_at(const char *dir);
void paths_of(const xdev_device_id *id, struct track *t);
/* The names under DIR, for a failure message. */
const char *children(const char *dir);
/* Nothing of the device is left in the store. */
void assert_clean(const xdev_device_id *id);
/* A failed SAFE removal: the device is still there and online (nothing
 * deleted, nothing torn down). */
void assert_kept(const xdev_device_id *id);

/* An asynchronous operation's end, from on_done (its how.user). */
struct result { bool done; int r; };
void on_done(xdev_op *op, int r, void *user);
/* Run the private loop until RES is done (bounded). */
void run_until(struct result *res, int ms);
/* Wait (a watch) until DIR/state is WANT: 0, or -ETIMEDOUT after MS. */
int wait_state(const char *dir, int want, int ms);
/* Wait (a watch) until PATH exists; true if it does within MS. */
bool wait_exists(const char *path, int ms);
/* Add VDEV on guest G (backend BACKEND, NULL: dom0) asynchronously. */
void add_async(uint32_t g, const char *vdev, const char *backend,
	       const char *script, struct result *res,
	       xdev_device_id *id, xdev_op **op);

/* ---- library hotplug mode ------------------------------------------------ */

/* The file the test scripts of tests/hotplug append their calls to
 * (XDEV_TEST_RECORD), and what it holds. */
extern char record[300];
const char *recorded(void);
/* A context in library mode with the test scripts of tests/hotplug. */
void library_ctx(int hotplug_ms);
/* A synchronous add of vbd xvda with SCRIPT (and TARGET, if not NULL). */
int add_with_script(uint32_t g, const char *script, const char *target,
		    xdev_device_id *id);

/* ---- the gate script: held until the test opens it ----------------------- */

/* The library's "waits for one of" messages, in a gate_opts() context. */
extern char queue_log[4096];
/* Library mode with the test scripts; queueing said in queue_log. */
xdev_ctx_opts gate_opts(void);
/* The gate script's FIFOs, $fx_host.dir/gate/{started,open}, in STARTED
 * and OPEN_FIFO; its add runs wait there.  A fresh library context with
 * options O. */
void gate_setup(xdev_ctx_opts *o, char started[320],
		char open_fifo[320]);
/* Drive the loop until FIFO has a writer's line; returns it. */
const char *fifo_line(const char *fifo);
void gate_open(const char *fifo);
/* Without the gate, remove the two devices IDS and check they are gone. */
void gate_remove_both(const xdev_device_id ids[2]);

/* ---- the programs -------------------------------------------------------- */

/* A program's tests.  XDEV_CK_TEST=NAME runs only the test NAME (the loop
 * test too, by its name); CK_RUN_CASE=xenstored or oxenstored one daemon's
 * case. */
struct lib_tests {
	const char *suite;          /* "add": the suite of check_add */
	const TTest *const *tests;  /* each runs once on each daemon */
	size_t n;
	const TTest *loop;          /* a loop test, or NULL, run with _i ... */
	int loop_end;               /* ... from 0 to loop_end - 1 */
};

/* An application's own loop driving a context through xdev_loop_hooks:
 * the one fd, and a one-shot timer (as GLib's and asyncio's are). */
struct app_loop {
	int fd;              /* registered, else -1 */
	long timer_ms;       /* armed for this long from armed_at, else -1 */
	long long armed_at;
	xdev_loop_hooks hooks;
};
/* A fresh loop (nothing registered); pass &A->hooks as opts.hooks. */
void app_loop_init(struct app_loop *a);
/* One turn: wait on the fd until the timer is due, then tell C what
 * happened (the fd ready, or the timer fired: disarmed first). */
void app_loop_turn(xdev_ctx *c, struct app_loop *a);

/* The output of CMD (run by the shell: fixed strings only), in a static
 * buffer. */
const char *output_of(const char *cmd);

/* main() of every program: returns its exit status (77 when not root). */
int lib_main(char **argv, const struct lib_tests *t);

#endif
