/*
 * libxdev against the simulated host: cancelling an operation.  A cancel
 * in every state of an add and of a removal (before the first step,
 * waiting for the drivers, a script running; queued: check_add.c's
 * max_ops_per_backend test), and freeing the context, which cancels what
 * is pending.  A script a cancel finds running is let finish, never
 * stopped halfway.
 *
 * A new test of xdev_op_cancel() or of what freeing a context cancels goes
 * here; freeing it from a callback is the contract's
 * (tests/unit/check_contract.c).  The fixture: libfixture.h.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libfixture.h"

/* ---- cancel in every state ----------------------------------------------- */

START_TEST(cancel_before_the_first_step_writes_nothing)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);
	xdev_op *op = NULL;

	how.user = &res;
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, &op), 0);
	xdev_desc_free(d);
	ck_assert_int_eq(xdev_op_cancel(op), 0);
	ck_assert_int_eq(xdev_op_cancel(op), -EALREADY);
	run_until(&res, QUICK_MS);
	ck_assert_int_eq(res.r, -ECANCELED);
	assert_clean(&id);
}
END_TEST

START_TEST(cancel_during_the_wait_removes_the_nodes)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);
	xdev_op *op = NULL;
	struct track t;

	how.user = &res;
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, &op), 0);
	xdev_desc_free(d);
	xdev_ctx_run(ctx, 50);
	paths_of(&id, &t);
	ck_assert(exists(t.be)); /* written, waiting */
	ck_assert_int_eq(xdev_op_cancel(op), 0);
	run_until(&res, QUICK_MS);
	ck_assert_int_eq(res.r, -ECANCELED);
	assert_clean(&id);
}
END_TEST

START_TEST(cancel_of_a_remove_restores_the_device)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	xdev_op *op = NULL;
	struct track t;

	how.user = &res;
	connected_vbd(g, &id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-unresponsive"), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, &how,
					    &op), 0);
	xdev_ctx_run(ctx, 50);
	ck_assert_int_eq(xdev_op_cancel(op), 0);
	run_until(&res, QUICK_MS);
	ck_assert_int_eq(res.r, -ECANCELED);
	paths_of(&id, &t);
	ck_assert_int_eq(wait_state(t.be, 4, 5000), 0);
	ck_assert_int_eq(wait_state(t.fe, 4, 5000), 0);
}
END_TEST

START_TEST(freeing_the_context_cancels_and_cleans_up)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);

	how.user = &res;
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, NULL), 0);
	xdev_desc_free(d);
	xdev_ctx_run(ctx, 50);
	xdev_ctx_free(ctx);
	ctx = NULL;
	ck_assert(res.done);
	ck_assert_int_eq(res.r, -ECANCELED);
	assert_clean(&id);
}
END_TEST

/* ---- a running script is let finish -------------------------------------- */

/* A cancel is an input, not a timeout: a script it finds running is let
 * finish (one stopped halfway - block between losetup and recording the
 * loop device - leaks what it took).  A removal past Closed completes
 * with 0 and says the cancel came too late; an add is undone by its
 * remove script and completes with -ECANCELED. */
static void still_running_after_a_cancel(xdev_op *op, struct result *res)
{
	long long end = now_ms() + 300; /* the old bug: SIGTERM within ms */

	ck_assert_int_eq(xdev_op_cancel(op), 0);
	while (now_ms() < end)
		xdev_ctx_run(ctx, 50);
	ck_assert(!res->done);
	ck_assert_int_eq(op->state, OP_SCRIPT_RUNNING);
}

START_TEST(cancel_lets_a_running_remove_script_finish)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = gate_opts();
	char started[320], open_fifo[320];
	struct result res = { 0 };
	xdev_op_how how = { .cb = on_done, .user = &res };
	xdev_device_id id;
	xdev_op *op = NULL;

	gate_setup(&o, started, open_fifo);
	ck_assert_int_eq(setenv("XDEV_TEST_GATE_ON", "remove", 1), 0);
	snprintf(record, sizeof(record), "%s/record", fx_host.dir);
	ck_assert_int_eq(setenv("XDEV_TEST_RECORD", record, 1), 0);
	ck_assert_msg(add_with_script(g, "gate", NULL, &id) == 0, "%s",
		      xdev_ctx_last_message(ctx));
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, &how,
					    &op), 0);
	ck_assert_str_eq(fifo_line(started), "remove");
	still_running_after_a_cancel(op, &res);
	gate_open(open_fifo);
	run_until(&res, 10000);
	ck_assert_int_eq(res.r, 0);
	ck_assert_msg(strstr(recorded(), "remove ") &&
		      strstr(recorded(), "backend-present"), "%s", recorded());
	ck_assert_msg(!strstr(queue_log, "timed out"), "%s", queue_log);
	assert_clean(&id);
}
END_TEST

START_TEST(cancel_lets_a_running_add_script_finish_then_undoes_it)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = gate_opts();
	char started[320], open_fifo[320];
	struct result res = { 0 };
	xdev_device_id id;
	xdev_op *op = NULL;

	gate_setup(&o, started, open_fifo);
	snprintf(record, sizeof(record), "%s/record", fx_host.dir);
	ck_assert_int_eq(setenv("XDEV_TEST_RECORD", record, 1), 0);
	add_async(g, "xvda", NULL, "gate", &res, &id, &op);
	ck_assert_str_eq(fifo_line(started), "add");
	still_running_after_a_cancel(op, &res);
	gate_open(open_fifo);
	run_until(&res, 10000);
	ck_assert_int_eq(res.r, -ECANCELED);
	/* the add script ended as it does, then the remove script undid it */
	ck_assert_msg(strstr(recorded(), "add ") && strstr(recorded(), "remove "),
		      "%s", recorded());
	ck_assert_msg(!strstr(queue_log, "timed out"), "%s", queue_log);
	assert_clean(&id);
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		cancel_during_the_wait_removes_the_nodes,
		cancel_of_a_remove_restores_the_device,
		cancel_before_the_first_step_writes_nothing,
		freeing_the_context_cancels_and_cleans_up,
		cancel_lets_a_running_remove_script_finish,
		cancel_lets_a_running_add_script_finish_then_undoes_it,
	};
	const struct lib_tests t = {
		.suite = "cancel",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
