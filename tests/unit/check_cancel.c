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
	run_until(&res, AT_ONCE_MS);
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
	run_until(&res, AT_ONCE_MS);
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
	run_until(&res, AT_ONCE_MS);
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

/* ---- freeing the context with an operation in each state ----------------
 *
 * What xdev_ctx_free() promises for each state an operation can be in
 * (xdev.h): a cancel, each result honest; a running script let finish,
 * never killed (the gate script holds it until the cancel is logged);
 * nothing left in the store but a device a SAFE removal restored. */

struct free_case {
	const char *name;
	enum op_kind kind;
	enum op_state state;     /* reached before the free */
	const char *gate_on;     /* the gate script holds this action */
	int result;              /* the operation's */
	bool kept;               /* restored, still there */
};

static const struct free_case free_cases[] = {
	{ "add before its first step", OP_ADD, OP_ADD_WRITE, "add",
	  -ECANCELED, false },
	{ "add waiting for InitWait", OP_ADD, OP_ADD_WAIT_INITWAIT, "add",
	  -ECANCELED, false },
	{ "add with its script queued", OP_ADD, OP_SCRIPT_QUEUED, "add",
	  -ECANCELED, false },
	{ "add with its script running", OP_ADD, OP_SCRIPT_RUNNING, "add",
	  -ECANCELED, false },
	{ "removal waiting for Closed", OP_REMOVE, OP_RM_WAIT_CLOSED, "none",
	  -ECANCELED, true },
	{ "removal forcing", OP_REMOVE, OP_RM_FORCE_WAIT, "none", 0, false },
	{ "removal with its script running", OP_REMOVE, OP_SCRIPT_RUNNING,
	  "remove", 0, false },
};

static char gate_fifo[320];
static char free_log[8192];

/* Opens the gate when the free's cancel reaches a running script: the
 * script then ends as it would have (a kill would show as "timed out" or
 * "SIGTERM" here). */
static void on_log_free(void *user, enum xdev_log_level level, const char *m)
{
	(void)user;
	(void)level;
	if (strlen(free_log) + strlen(m) + 2 < sizeof(free_log)) {
		strcat(free_log, m);
		strcat(free_log, "\n");
	}
	if (strstr(m, "cancelled in script-running"))
		gate_open(gate_fifo);
}

static void drive_to(xdev_op *op, enum op_state want)
{
	long long end = now_ms() + 20000;

	while (op->state != want && now_ms() < end)
		ck_assert_int_ge(xdev_ctx_run(ctx, 20), 0);
	ck_assert_msg(op->state == want, "in %s, not %s",
		      op__state_name(op->state), op__state_name(want));
}

START_TEST(freeing_the_context_in_every_state)
{
	const struct free_case *c = &free_cases[_i];
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = gate_opts();
	char started[320];
	struct result res = { 0 }, first = { 0 };
	xdev_op_how how = { .cb = on_done, .user = &res };
	xdev_device_id id, id0;
	xdev_op *op = NULL;

	free_log[0] = 0;
	o.log_cb = on_log_free;
	o.max_scripts = 1; /* a second script waits in the queue */
	gate_setup(&o, started, gate_fifo);
	ck_assert_int_eq(setenv("XDEV_TEST_GATE_ON", c->gate_on, 1), 0);
	snprintf(record, sizeof(record), "%s/record", fx_host.dir);
	ck_assert_int_eq(setenv("XDEV_TEST_RECORD", record, 1), 0);
	if (c->kind == OP_REMOVE) {
		ck_assert_int_eq(add_with_script(g, "gate", NULL, &id), 0);
		if (c->state != OP_SCRIPT_RUNNING)
			ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
				"frontend-unresponsive"), 0);
		if (c->state == OP_RM_FORCE_WAIT)
			ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
				"backend-unresponsive"), 0);
		ck_assert_int_eq(xdev_device_remove(ctx, &id,
			c->state == OP_RM_FORCE_WAIT ? XDEV_REMOVE_AUTO
						     : XDEV_REMOVE_SAFE,
			&how, &op), 0);
	} else if (c->state == OP_SCRIPT_QUEUED) {
		add_async(g, "xvdb", NULL, "gate", &first, &id0, NULL);
		ck_assert_str_eq(fifo_line(started), "add");
		add_async(g, "xvda", NULL, "gate", &res, &id, &op);
	} else {
		if (c->state == OP_ADD_WAIT_INITWAIT)
			ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
				"backend-unresponsive"), 0);
		add_async(g, "xvda", NULL, "gate", &res, &id, &op);
	}
	if (c->state == OP_SCRIPT_RUNNING)
		ck_assert_str_eq(fifo_line(started), c->gate_on);
	if (c->state != OP_ADD_WRITE)
		drive_to(op, c->state);
	xdev_ctx_free(ctx);
	ctx = NULL;
	ck_assert_msg(res.done, "%s: no callback", c->name);
	ck_assert_msg(res.r == c->result, "%s: %s, not %s", c->name,
		      xdev_strerror(res.r), xdev_strerror(c->result));
	ck_assert_msg(!strstr(free_log, "timed out") &&
		      !strstr(free_log, "SIGTERM"), "%s: %s", c->name,
		      free_log);
	if (c->state == OP_SCRIPT_QUEUED) {
		ck_assert_int_eq(first.r, -ECANCELED);
		assert_clean(&id0);
	}
	/* a script that started ran to its end; one that did not, never */
	if (c->state == OP_SCRIPT_RUNNING || c->state == OP_SCRIPT_QUEUED)
		ck_assert_msg(strstr(recorded(), "add ") &&
			      strstr(recorded(), "remove "), "%s: %s",
			      c->name, recorded());
	else if (c->kind == OP_ADD)
		ck_assert_msg(!recorded()[0], "%s: %s", c->name, recorded());
	if (getenv("XDEV_TEST_SHOW_LOG")) /* the transition log, to read */
		fprintf(stderr, "%s\n", free_log);
	ck_assert_int_eq(simhost_fault_clear(&fx_host, g), 0);
	ck_assert_int_eq(simhost_fault_clear(&fx_host, 0), 0);
	if (c->kept) {
		assert_kept(&id);
		library_ctx(20000);
		ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE,
						    NULL, NULL), 0);
	}
	assert_clean(&id);
}
END_TEST

/* An add cancelled while its backend is inside its connect() (the disk
 * published, Connected not yet written: the connect-delay fault): the undo
 * lets the backend say Closed before the remove script runs.  blkback
 * holds the loop device the script detaches until then, and writes its
 * directory back (sectors, info, its features) if it is deleted under
 * its connect(). */
START_TEST(the_undo_lets_a_connecting_backend_close_first)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	struct result res = { 0 };
	xdev_op_how how = { .cb = on_done, .user = &res };
	xdev_ctx_opts o = { .timeout_remove_ms = 20000,
			    .timeout_hotplug_ms = 20000,
			    .hotplug = XDEV_HOTPLUG_LIBRARY };
	char states[320], info[320], *st;
	xdev_desc *d;
	xdev_device_id id;
	xdev_op *op = NULL;
	struct track t;
	FILE *f;
	size_t n;

	/* a removal timeout longer than the undo's own bound (2 s), which
	 * then is the one that counts: the backend sleeps half of it */
	xdev_ctx_free(ctx);
	o.hotplug_dir = TEST_SRCDIR "/tests/hotplug";
	open_ctx(&o);
	snprintf(states, sizeof(states), "%s/states", fx_host.dir);
	ck_assert_int_eq(setenv("XDEV_TEST_STATES", states, 1), 0);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "connect-delay=1000"), 0);
	d = vbd("xvda", NULL);
	ck_assert_int_eq(xdev_desc_set(d, "script", "ok"), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, &how,
				      &id, &op), 0);
	xdev_desc_free(d);
	drive_to(op, OP_ADD_WAIT_CONNECTED);
	paths_of(&id, &t);
	snprintf(info, sizeof(info), "%s/info", t.be);
	ck_assert_msg(wait_exists(info, 10000), "the disk was not published");
	ck_assert_int_eq(state_at(t.be), 2); /* inside connect() */
	ck_assert_int_eq(xdev_op_cancel(op), 0);
	run_until(&res, 20000);
	ck_assert_int_eq(res.r, -ECANCELED);
	f = fopen(states, "r");
	ck_assert_ptr_nonnull(f);
	st = calloc(1, 256);
	n = fread(st, 1, 255, f);
	fclose(f);
	ck_assert_msg(n > 0 && !strcmp(st, "remove state=6\n"),
		      "the remove script ran with the backend in: %s", st);
	free(st);
	ck_assert_int_eq(simhost_fault_clear(&fx_host, 0), 0);
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
		the_undo_lets_a_connecting_backend_close_first,
	};
	const struct lib_tests t = {
		.suite = "cancel",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
		.loop = freeing_the_context_in_every_state,
		.loop_end = sizeof(free_cases) / sizeof(free_cases[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
