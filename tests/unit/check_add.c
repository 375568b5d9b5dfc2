/*
 * libxdev against the simulated host: adding a device.  A vbd's and a
 * vif's nodes, bad input refused with nothing written, the frontend's
 * domain dying during the wait, the backend never answering, an external
 * hotplug agent's error, and many adds at once (one backend watch,
 * max_ops_per_backend's queue).
 *
 * A new test of what an add does, or refuses, goes here; of an add's
 * library-run script in tests/unit/check_hotplug.c, of its cancellation
 * in check_cancel.c.  The fixture: libfixture.h.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libfixture.h"

/* ---- the nodes written, bad input refused -------------------------------- */

START_TEST(vbd_add_writes_the_nodes_and_remove_deletes_them)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	struct track t;
	char path[300], *v;
	long long t0;

	ck_assert_int_eq(add_vbd(g, "xvda", NULL, XDEV_ADD_WAIT_CONNECTED, &id),
			 0);
	ck_assert_uint_eq(id.devid, 51712);
	/* progress, then the result: the backend's states as the library saw
	 * them (level-triggered: some may be skipped), ending Connected */
	ck_assert_msg(strstr(events, "state4 done:1/51712 ") != NULL &&
		      !strstr(events, "state5") && !strstr(events, "gone"),
		      "events: %s", events);
	events[0] = 0;
	paths_of(&id, &t);
	ck_assert_int_eq(state_at(t.be), 4);
	snprintf(path, sizeof(path), "%s/params", t.be);
	v = xs_read(xs, XBT_NULL, path, NULL);
	ck_assert_str_eq(v, loopdev);
	free(v);
	v = xs_read(xs, XBT_NULL, t.rec, NULL);
	ck_assert_str_eq(v, t.be);
	free(v);
	ck_assert_int_eq(wait_state(t.fe, 4, 5000), 0);
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO,
					    &how_patient, NULL), 0);
	ck_assert_int_lt(now_ms() - t0, AT_ONCE_MS);
	assert_clean(&id);
	ck_assert_msg(strstr(events, "state5 ") && strstr(events, "state6 ") &&
		      strstr(events, "state6 done:1/51712 ") &&
		      !strstr(events, "gone"), "events: %s", events);
}
END_TEST

START_TEST(bad_input_changes_nothing)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id, id2;
	xdev_desc *d;
	char *before, *after;
	unsigned n;

	ck_assert_int_eq(add_vbd(g, "xvdb", NULL, XDEV_ADD_WAIT_CONNECTED, &id),
			 0);
	before = (char *)xs_directory(xs, XBT_NULL, "/xdev", &n);
	free(before);
	ck_assert_int_eq(add_vbd(4242, "xvdc", NULL, 0, &id2),
			 XDEV_E_DOMAIN_NOT_FOUND);
	ck_assert_int_eq(add_vbd(g, "xvdc", "nobody", 0, &id2),
			 XDEV_E_DOMAIN_NOT_FOUND);
	ck_assert_int_eq(add_vbd(g, "xvdb", NULL, 0, &id2),
			 XDEV_E_DEVICE_EXISTS);
	ck_assert_int_eq(state_at("/local/domain/0/backend/vbd/1/51728"), 4);
	ck_assert_int_eq(xdev_desc_new(XDEV_VBD, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "vdev", "xvdq"), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, NULL, NULL, NULL), -EINVAL);
	ck_assert(strstr(xdev_ctx_last_message(ctx), "target") != NULL);
	ck_assert_int_eq(xdev_vif_add(ctx, g, d, 0, NULL, NULL, NULL), -EINVAL);
	xdev_desc_free(d);
	ck_assert(!exists("/local/domain/1/device/vbd/51968"));
	id2 = id;
	id2.devid = 5;
	ck_assert_int_eq(xdev_device_remove(ctx, &id2, XDEV_REMOVE_AUTO, NULL,
					    NULL), XDEV_E_NO_DEVICE);
	after = xs_read(xs, XBT_NULL, "/local/domain/0/backend/vbd/1/51728/state",
			NULL);
	ck_assert_str_eq(after, "4");
	free(after);
}
END_TEST

/* ---- add failures -------------------------------------------------------- */

START_TEST(frontend_domain_dying_during_add_fails_at_once)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = how_patient;
	struct result res = { 0 };
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);
	struct track t;
	long long t0;

	how.cb = on_done;
	how.user = &res;
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, NULL), 0);
	xdev_desc_free(d);
	xdev_ctx_run(ctx, 50);
	t0 = now_ms();
	ck_assert_int_eq(simhost_domain_destroy(&fx_host, g, 0), 0);
	run_until(&res, AT_ONCE_MS);
	ck_assert_int_eq(res.r, XDEV_E_FRONTEND_GONE);
	ck_assert_int_lt(now_ms() - t0, AT_ONCE_MS);
	paths_of(&id, &t);
	ck_assert(!exists(t.be) && !exists(t.rec));
}
END_TEST

START_TEST(add_times_out_when_the_backend_never_answers)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = { .timeout_init_ms = SHORT_MS,
			    .hotplug = XDEV_HOTPLUG_EXTERNAL };
	xdev_device_id id;
	long long t0;

	xdev_ctx_free(ctx);
	open_ctx(&o);
	t0 = now_ms();
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	ck_assert_int_eq(add_vbd(g, "xvda", NULL, 0, &id), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - t0, SHORT_MS);
	ck_assert(strstr(xdev_ctx_last_message(ctx), "InitWait") != NULL);
	assert_clean(&id);
}
END_TEST

START_TEST(add_reports_the_hotplug_error)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);

	ck_assert_int_eq(xdev_desc_set(d, "target", "/fail"), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, NULL, &id, NULL),
			 XDEV_E_HOTPLUG_FAILED);
	xdev_desc_free(d);
	ck_assert_str_eq(xdev_ctx_last_message(ctx), "simulated failure: /fail");
	assert_clean(&id);
}
END_TEST

/* ---- max_ops_per_backend: a storm's operations take turns ---------------- */

START_TEST(library_begins_at_most_max_ops_per_backend)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	uint32_t dd = guest("diskdom", SIMHOST_DOM_DRIVER);
	xdev_ctx_opts o = gate_opts();

	struct result res[4] = { { 0 } };
	xdev_device_id id[4];
	xdev_op *op[4];
	char started[320], open_fifo[320], dds[16];
	struct track t;
	long long end;
	int i;

	o.max_ops_per_backend = 1;
	gate_setup(&o, started, open_fifo);
	/* 0 holds dom0's one slot (its script waits at the gate); 1 and 2
	 * are queued behind it */
	add_async(g, "xvda", NULL, "gate", &res[0], &id[0], &op[0]);
	add_async(g, "xvdb", NULL, "gate", &res[1], &id[1], &op[1]);
	add_async(g, "xvdc", NULL, "gate", &res[2], &id[2], &op[2]);
	ck_assert_str_eq(fifo_line(started), "add");
	end = now_ms() + 20000;
	while (!strstr(queue_log, "operation slots of backend domain 0") &&
	       now_ms() < end)
		xdev_ctx_run(ctx, 20);
	ck_assert_msg(strstr(queue_log, "waits for one of 1 operation slots "
			     "of backend domain 0"), "%s", queue_log);
	for (i = 1; i <= 2; i++) {
		paths_of(&id[i], &t);
		ck_assert_msg(!exists(t.be) && !exists(t.fe),
			      "queued add %d wrote its nodes", i);
	}
	ck_assert(!res[0].done && !res[1].done && !res[2].done);
	/* a queued operation cancelled ends at once, having written nothing */
	ck_assert_int_eq(xdev_op_cancel(op[2]), 0);
	run_until(&res[2], AT_ONCE_MS);
	ck_assert_int_eq(res[2].r, -ECANCELED);
	assert_clean(&id[2]);
	/* another backend domain has slots of its own (held at InitWait
	 * there, to be cancelled) */
	snprintf(dds, sizeof(dds), "%u", dd);
	ck_assert_int_eq(simhost_fault_set(&fx_host, dd, "*",
					   "backend-unresponsive"), 0);
	add_async(g, "xvdd", dds, NULL, &res[3], &id[3], &op[3]);
	paths_of(&id[3], &t);
	end = now_ms() + 20000;
	while (!exists(t.be) && now_ms() < end)
		xdev_ctx_run(ctx, 20);
	ck_assert_msg(exists(t.be), "the driver domain's add did not begin");
	ck_assert_int_eq(xdev_op_cancel(op[3]), 0);
	run_until(&res[3], 5000);
	ck_assert_int_eq(res[3].r, -ECANCELED);
	assert_clean(&id[3]);
	/* the first one's end begins the next */
	ck_assert(!res[0].done && !res[1].done);
	gate_open(open_fifo);
	ck_assert_str_eq(fifo_line(started), "add");
	ck_assert_msg(res[0].done && res[0].r == 0, "first add: %d (%d)",
		      res[0].done, res[0].r);
	paths_of(&id[1], &t);
	ck_assert(exists(t.be));
	gate_open(open_fifo);
	run_until(&res[1], 20000);
	ck_assert_int_eq(res[1].r, 0);
	gate_remove_both(id);
}
END_TEST

/* ---- many at once -------------------------------------------------------- */

START_TEST(fifty_concurrent_adds_and_removes)
{
	xdev_op_how how = { .cb = on_done };
	struct result res[50];
	xdev_device_id ids[50];
	uint32_t doms[5];
	unsigned i, watches = 0;
	struct bewatch *w;
	char name[16], vdev[16];

	/* default timeouts: a busy machine's */
	xdev_ctx_opts o = { .hotplug = XDEV_HOTPLUG_EXTERNAL };

	xdev_ctx_free(ctx);
	open_ctx(&o);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "g%u", i);
		doms[i] = guest(name, SIMHOST_DOM_GUEST);
	}
	memset(res, 0, sizeof(res));
	for (i = 0; i < 50; i++) {
		xdev_desc *d;

		snprintf(vdev, sizeof(vdev), "xvd%c", 'a' + i / 5);
		d = vbd(vdev, NULL);
		how.user = &res[i];
		ck_assert_int_eq(xdev_vbd_add(ctx, doms[i % 5], d,
					      XDEV_ADD_WAIT_CONNECTED, &how,
					      &ids[i], NULL), 0);
		xdev_desc_free(d);
	}
	for (w = ctx->bewatches; w; w = w->next)
		watches++;
	ck_assert_uint_eq(watches, 1); /* one per backend domain, not per op */
	for (i = 0; i < 50; i++) {
		run_until(&res[i], 60000);
		ck_assert_msg(res[i].r == 0, "add %u: %s", i,
			      xdev_strerror(res[i].r));
	}
	memset(res, 0, sizeof(res));
	for (i = 0; i < 50; i++) {
		how.user = &res[i];
		ck_assert_int_eq(xdev_device_remove(ctx, &ids[i],
						    XDEV_REMOVE_SAFE, &how,
						    NULL), 0);
	}
	for (i = 0; i < 50; i++) {
		run_until(&res[i], 60000);
		ck_assert_msg(res[i].r == 0, "remove %u: %s", i,
			      xdev_strerror(res[i].r));
		assert_clean(&ids[i]);
	}
	ck_assert(!exists("/xdev/1") || !exists("/xdev/1/vbd/51712"));
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		vbd_add_writes_the_nodes_and_remove_deletes_them,
		bad_input_changes_nothing,
		frontend_domain_dying_during_add_fails_at_once,
		add_times_out_when_the_backend_never_answers,
		add_reports_the_hotplug_error,
		library_begins_at_most_max_ops_per_backend,
		fifty_concurrent_adds_and_removes,
	};
	const struct lib_tests t = {
		.suite = "add",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
