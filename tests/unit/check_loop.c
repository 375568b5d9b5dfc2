/*
 * libxdev against the simulated host: the three loop modes.  The private
 * loop (xdev_ctx_run), the application's own loop through hooks
 * (xdev_loop_hooks, xdev_ctx_fd_ready, xdev_ctx_timeout), and libev
 * (xdev_ctx_new_libev): each drives an asynchronous operation to its end,
 * which never completes inside the starting call.
 *
 * A new test of how a context is driven goes here.  The fixture:
 * libfixture.h.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libfixture.h"
#include "xdev-libev.h"

/* ---- the private loop ---------------------------------------------------- */

START_TEST(vif_add_async_on_the_private_loop)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	xdev_desc *d;
	struct track t;

	how.user = &res;
	ck_assert_int_eq(xdev_desc_new(XDEV_VIF, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "bridge", "br0"), 0);
	ck_assert_int_eq(xdev_vif_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, &how,
				      &id, NULL), 0);
	xdev_desc_free(d);
	ck_assert(!res.done); /* never inside the starting call */
	run_until(&res, 10000);
	ck_assert_int_eq(res.r, 0);
	paths_of(&id, &t);
	ck_assert_int_eq(state_at(t.be), 4);
	ck_assert_uint_eq(id.devid, 0);
	res = (struct result){ 0 };
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, &how,
					    NULL), 0);
	run_until(&res, 10000);
	ck_assert_int_eq(res.r, 0);
	assert_clean(&id);
}
END_TEST

/* ---- the application's loop ---------------------------------------------- */

START_TEST(application_hooks_drive_an_add)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	struct app_loop hs;
	xdev_ctx_opts o = { .hooks = &hs.hooks,
			    .hotplug = XDEV_HOTPLUG_EXTERNAL };
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);
	long long end = now_ms() + 10000;

	app_loop_init(&hs);
	xdev_ctx_free(ctx);
	open_ctx(&o);
	ck_assert_int_ge(hs.fd, 0);
	how.user = &res;
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, NULL), 0);
	xdev_desc_free(d);
	ck_assert_int_ge(hs.timer_ms, 0); /* the first step is scheduled */
	while (!res.done && now_ms() < end)
		app_loop_turn(ctx, &hs);
	ck_assert(res.done);
	ck_assert_int_eq(res.r, 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&id);
	xdev_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(hs.fd, -1);
	ck_assert_int_eq(hs.timer_ms, -1);
}
END_TEST

static void stop_loop(xdev_op *op, int r, void *user)
{
	struct ev_loop *loop = user;

	(void)op;
	ck_assert_int_eq(r, 0);
	ev_break(loop, EVBREAK_ALL);
}

START_TEST(application_libev_loop_drives_an_add)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	xdev_op_how how = { .cb = stop_loop, .user = loop };
	xdev_device_id id;
	xdev_desc *d = vbd("xvda", NULL);
	struct track t;

	xdev_ctx_free(ctx);
	xdev_ctx_opts o = { .hotplug = XDEV_HOTPLUG_EXTERNAL };

	ck_assert_int_eq(xdev_ctx_new_libev(&o, loop, &ctx), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, NULL), 0);
	xdev_desc_free(d);
	ev_run(loop, 0);
	paths_of(&id, &t);
	ck_assert_int_ge(state_at(t.be), 2);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&id);
	xdev_ctx_free(ctx);
	ctx = NULL;
	ev_loop_destroy(loop);
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		vif_add_async_on_the_private_loop,
		application_hooks_drive_an_add,
		application_libev_loop_drives_an_add,
	};
	const struct lib_tests t = {
		.suite = "loop",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
