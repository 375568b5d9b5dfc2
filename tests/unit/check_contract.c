/*
 * libxdev against the simulated host: the contract a manager relies on.
 * Callbacks may free the context, the options are copied and the process
 * environment left alone, a device unmonitored sends no more events, and
 * one error code per condition (a device with an operation pending is
 * -EBUSY, for an add as for a removal).
 *
 * A new test of what the API promises whatever the operation - callbacks,
 * freeing, options, monitoring, error codes and xdev_strerror() - goes
 * here; the pure functions (descriptions, device nodes) are in
 * tests/unit/check_device.c.  The fixture: libfixture.h.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libfixture.h"

/* ---- callbacks freeing the context --------------------------------------- */

/* A manager frees its context from a callback (shutdown on an event, on
 * an operation's end): legal, the pending operations are cancelled and
 * their callbacks run once, and the context goes when the library's own
 * frames are done with it (valgrind's run of this program finds any
 * use after free). */
static void free_in_done(xdev_op *op, int r, void *user)
{
	on_done(op, r, user);
	xdev_ctx_free(ctx);
	xdev_ctx_free(ctx); /* a second call from a callback: ignored */
}

START_TEST(freeing_the_context_from_a_completion_callback)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how_a = { .cb = free_in_done }, how_b = { .cb = on_done };
	struct result a = { 0 }, b = { 0 };
	xdev_device_id id_a, id_b;
	xdev_desc *d = vbd("xvda", NULL);
	xdev_desc *v = NULL;
	long long end = now_ms() + 20000;

	how_a.user = &a;
	how_b.user = &b;
	/* B's backend never answers: B is pending when A's callback runs */
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "vif/0",
					   "backend-unresponsive"), 0);
	ck_assert_int_eq(xdev_desc_new(XDEV_VIF, &v), 0);
	ck_assert_int_eq(xdev_vif_add(ctx, g, v, 0, &how_b, &id_b, NULL), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how_a, &id_a, NULL), 0);
	xdev_desc_free(d);
	xdev_desc_free(v);
	while (!a.done && now_ms() < end)
		ck_assert_int_ge(xdev_ctx_run(ctx, 100), 0);
	ctx = NULL; /* freed when that xdev_ctx_run returned */
	ck_assert_msg(a.done && a.r == 0, "A: %d", a.r);
	ck_assert_msg(b.done && b.r == -ECANCELED, "B: %d %d", b.done, b.r);
	assert_clean(&id_b);
	/* A was added; a new context removes it */
	open_ctx(&(xdev_ctx_opts){ .hotplug = XDEV_HOTPLUG_EXTERNAL });
	ck_assert_int_eq(xdev_device_remove(ctx, &id_a, XDEV_REMOVE_FORCE, NULL,
					    NULL), 0);
	assert_clean(&id_a);
}
END_TEST

START_TEST(freeing_the_context_from_an_event_callback)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);
	long long end = now_ms() + 20000;

	how.user = &res;
	/* a backend that stays Initialising: nothing of it races the
	 * cancelled add's deletion (a connecting blkback publishes its disk
	 * into the directory being deleted) */
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	free_on_state = true; /* at the add's first backend state */
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, &how,
				      &id, NULL), 0);
	xdev_desc_free(d);
	while (ctx && now_ms() < end)
		xdev_ctx_run(ctx, 100);
	ck_assert_ptr_null(ctx);
	ck_assert(res.done);
	ck_assert_int_eq(res.r, -ECANCELED);
	ck_assert_msg(strstr(events, "state1 "), "%s", events);
	assert_clean(&id);
}
END_TEST

/* ---- options and the environment ----------------------------------------- */

/* The options are the application's: what they point to is copied (the
 * buffers reused at once here), and the process environment is left as it
 * was (the store's socket reaches the scripts through theirs). */
START_TEST(options_are_copied_and_the_environment_left_alone)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	char dir[300], sock[300], *real = strdup(getenv("XENSTORED_PATH"));
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = dir, .xenstore_path = sock };
	xdev_device_id id;
	int r;

	ck_assert_ptr_nonnull(real);
	snprintf(dir, sizeof(dir), "%s/tests/hotplug", TEST_SRCDIR);
	snprintf(sock, sizeof(sock), "%s", real);
	ck_assert_int_eq(setenv("XENSTORED_PATH", "/nonexistent/socket", 1), 0);
	snprintf(record, sizeof(record), "%s/record", fx_host.dir);
	ck_assert_int_eq(setenv("XDEV_TEST_RECORD", record, 1), 0);
	xdev_ctx_free(ctx);
	open_ctx(&o);
	ck_assert_str_eq(getenv("XENSTORED_PATH"), "/nonexistent/socket");
	memset(dir, 'x', sizeof(dir) - 1); /* reused by the application */
	memset(sock, 'y', sizeof(sock) - 1);
	r = add_with_script(g, "ok", NULL, &id);
	ck_assert_msg(r == 0, "%s: %s", xdev_strerror(r),
		      xdev_ctx_last_message(ctx));
	/* the script reached the context's store */
	ck_assert_msg(strstr(recorded(), "add "), "%s", recorded());
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	ck_assert_str_eq(getenv("XENSTORED_PATH"), "/nonexistent/socket");
	ck_assert_int_eq(setenv("XENSTORED_PATH", real, 1), 0);
	free(real);
	assert_clean(&id);
}
END_TEST

/* ---- monitoring ---------------------------------------------------------- */

/* A manager that stops caring for a device says so: no more events for
 * it, whatever becomes of it. */
START_TEST(unmonitor_stops_the_events_of_a_device)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_info *v = NULL;
	xdev_device_id id, other;
	struct track t;
	unsigned n = 0;

	connected_vbd(g, &id);
	ck_assert_int_eq(xdev_device_list(ctx, g, &v, &n), 0);
	free(v);
	ck_assert_int_eq(xdev_device_unmonitor(ctx, &id), 0);
	ck_assert_int_eq(xdev_device_unmonitor(ctx, &id), XDEV_E_NO_DEVICE);
	other = id;
	other.devid++;
	ck_assert_int_eq(xdev_device_unmonitor(ctx, &other), XDEV_E_NO_DEVICE);
	ck_assert_int_eq(xdev_device_unmonitor(NULL, &id), -EINVAL);
	/* its backend vanishes: nobody is told, nothing is cleaned up */
	paths_of(&id, &t);
	events[0] = 0;
	ck_assert(xs_rm(xs, XBT_NULL, t.be));
	for (int i = 0; i < 20; i++)
		xdev_ctx_run(ctx, 10);
	ck_assert_msg(!strstr(events, "gone:"), "%s", events);
	ck_assert(exists(t.fe) && exists(t.rec));
	/* a removal still cleans up what is left */
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&id);
}
END_TEST

/* ---- error codes --------------------------------------------------------- */

/* One code per condition: a device with an operation of the context
 * pending is busy, for an add as for a removal (an add said "exists"). */
START_TEST(a_device_with_an_operation_pending_is_busy)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id, id2;
	xdev_desc *d = vbd("xvda", NULL);
	xdev_op *op = NULL;

	how.user = &res;
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, &op), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id2, NULL), -EBUSY);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_FORCE, &how,
					    NULL), -EBUSY);
	xdev_desc_free(d);
	ck_assert_int_eq(xdev_op_cancel(op), 0);
	run_until(&res, AT_ONCE_MS);
	ck_assert_int_eq(res.r, -ECANCELED);
	assert_clean(&id);
}
END_TEST

/* Options grow without an ABI break: the reserved words must be zero,
 * and a library that finds one set refuses the option it does not know
 * rather than ignore it; nothing is written. */
START_TEST(reserved_option_words_must_be_zero)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = { .reserved = { [5] = 1 } };
	xdev_ctx_opts bad_native = { .native = 7 };
	xdev_ctx_opts bad_dir = { .hotplug_state_dir = "run/xdev" };
	xdev_op_how how = { .cb = on_done, .reserved = { [3] = 1 } };
	xdev_op_how neg = { .timeout_remove_ms = -1 };
	xdev_desc *d = vbd("xvda", NULL);
	xdev_ctx *c = NULL;
	xdev_device_id id = { .type = XDEV_VBD, .frontend_domid = g,
			      .devid = 51712 };

	ck_assert_int_eq(xdev_ctx_new(&o, &c), -EINVAL);
	ck_assert_ptr_null(c);
	/* and the options that took reserved words over: checked too */
	ck_assert_int_eq(xdev_ctx_new(&bad_native, &c), -EINVAL);
	ck_assert_int_eq(xdev_ctx_new(&bad_dir, &c), -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &neg, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, &how,
					    NULL), -EINVAL);
	xdev_desc_free(d);
	assert_clean(&id);
}
END_TEST

/* A per-operation timeout: one short SAFE removal on a context whose
 * removal timeout is a minute, synchronous (a how without a callback)
 * and asynchronous.  The message names the operation's timeout. */
START_TEST(a_per_operation_timeout_overrides_the_contexts)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = { .timeout_remove_ms = 60000,
			    .hotplug = XDEV_HOTPLUG_EXTERNAL };
	xdev_op_how sync = { .timeout_remove_ms = 300 };
	xdev_op_how how = { .cb = on_done, .timeout_remove_ms = 400 };
	struct result res = { 0 };
	xdev_device_id id;
	xdev_op *op = NULL;

	xdev_ctx_free(ctx);
	open_ctx(&o);
	how.user = &res;
	connected_vbd(g, &id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-unresponsive"), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, &sync,
					    NULL), -ETIMEDOUT);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "within 300 ms"),
		      "%s", xdev_ctx_last_message(ctx));
	assert_kept(&id);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, &how,
					    &op), 0);
	run_until(&res, 20000); /* far below the context's minute */
	ck_assert_int_eq(res.r, -ETIMEDOUT);
	assert_kept(&id);
	ck_assert_int_eq(simhost_fault_clear(&fx_host, g), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
}
END_TEST

/* Closing without blocking: xdev_ctx_close() cancels, returns at once
 * with what is pending, refuses new operations; the application drives
 * the loop until nothing is pending, and the free that follows has
 * nothing to wait for (the callback ran before it). */
START_TEST(close_cancels_and_returns_at_once)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .hotplug = XDEV_HOTPLUG_EXTERNAL };
	xdev_device_id id, other;
	xdev_desc *d = vbd("xvda", NULL);
	xdev_op *op = NULL;
	struct track t;

	how.user = &res;
	connected_vbd(g, &other);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	xdev_desc_free(d);
	d = vbd("xvdb", NULL);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, &op), 0);
	ck_assert_int_eq(xdev_ctx_pending(ctx), 1);
	ck_assert_int_eq(xdev_ctx_close(ctx), 1);
	ck_assert(!res.done); /* through the loop, never inside the call */
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, NULL, NULL),
			 -ESHUTDOWN);
	ck_assert_int_eq(xdev_device_remove(ctx, &other, XDEV_REMOVE_FORCE,
					    NULL, NULL), -ESHUTDOWN);
	ck_assert_int_eq(xdev_ctx_close(ctx), xdev_ctx_pending(ctx));
	xdev_desc_free(d);
	run_until(&res, 5000);
	ck_assert_int_eq(res.r, -ECANCELED);
	ck_assert_int_eq(xdev_ctx_pending(ctx), 0);
	assert_clean(&id);
	xdev_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(simhost_fault_clear(&fx_host, 0), 0);
	/* the other device stays: a close cancels, it removes nothing */
	paths_of(&other, &t);
	ck_assert_int_eq(state_at(t.be), 4);
	open_ctx(&o);
	ck_assert_int_eq(xdev_device_remove(ctx, &other, XDEV_REMOVE_SAFE,
					    NULL, NULL), 0);
	assert_clean(&other);
}
END_TEST

static void run_inside(xdev_op *op, int r, void *user)
{
	int *ret = user;

	(void)op;
	(void)r;
	*ret = xdev_ctx_run(ctx, 0);
}

/* No nested loop: xdev_ctx_run() from a callback is refused (-EBUSY),
 * and the operation that called back still ends as it should. */
START_TEST(run_from_a_callback_is_busy)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = run_inside };
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);
	int ret = 1;

	how.user = &ret;
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, NULL), 0);
	xdev_desc_free(d);
	while (ret == 1)
		ck_assert_int_ge(xdev_ctx_run(ctx, 5000), 0);
	ck_assert_int_eq(ret, -EBUSY);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		a_device_with_an_operation_pending_is_busy,
		freeing_the_context_from_a_completion_callback,
		freeing_the_context_from_an_event_callback,
		options_are_copied_and_the_environment_left_alone,
		unmonitor_stops_the_events_of_a_device,
		reserved_option_words_must_be_zero,
		a_per_operation_timeout_overrides_the_contexts,
		close_cancels_and_returns_at_once,
		run_from_a_callback_is_busy,
	};
	const struct lib_tests t = {
		.suite = "contract",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
