/*
 * libxdev against the simulated host: removing a device.  The three
 * removal modes against the drivers' faults (one by one, then every mode
 * against every fault), the backend or its domain gone before or during a
 * removal, a backend overwriting Closing, the directories pruned, and a
 * cleanup that fails (the remove script missing) kept for a retry.
 *
 * A new test of what a removal does goes here; of a removal's cancellation
 * in tests/unit/check_cancel.c, of the remove script's run itself in
 * check_hotplug.c.  The fixture: libfixture.h.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libfixture.h"

/* ---- removal modes against faults ---------------------------------------- */

START_TEST(safe_remove_of_an_unresponsive_frontend_fails_and_restores)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	struct track t;
	long long t0;

	connected_vbd(g, &id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-unresponsive"), 0);
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - t0, SHORT_MS);
	paths_of(&id, &t);
	ck_assert_int_eq(wait_state(t.fe, 4, 5000), 0);
	ck_assert_int_eq(wait_state(t.be, 4, 5000), 0); /* restored: usable */
	ck_assert(exists(t.rec));
	ck_assert_int_eq(simhost_fault_clear(&fx_host, g), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
}
END_TEST

START_TEST(safe_remove_of_a_refusing_frontend_says_so)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;

	connected_vbd(g, &id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-refuse-close"), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), XDEV_E_FRONTEND_REFUSED);
	ck_assert(strstr(xdev_ctx_last_message(ctx), "Device in use") != NULL);
	assert_kept(&id);
}
END_TEST

START_TEST(auto_remove_forces_an_unresponsive_frontend)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	long long t0;

	connected_vbd(g, &id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-unresponsive"), 0);
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	/* forced at three quarters of the timeout; the backend closes once
	 * the frontend is gone */
	ck_assert_int_ge(now_ms() - t0, SHORT_MS - SHORT_MS / 4);
	ck_assert_int_lt(now_ms() - t0, 2 * SHORT_MS);
	assert_clean(&id);
}
END_TEST

START_TEST(auto_remove_forces_an_unresponsive_backend)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	long long t0;

	connected_vbd(g, &id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	/* both phases within the one timeout (it used to take two) */
	ck_assert_int_ge(now_ms() - t0, SHORT_MS);
	ck_assert_int_lt(now_ms() - t0, 2 * SHORT_MS); /* not twice */
	assert_clean(&id);
}
END_TEST

START_TEST(force_remove_does_not_wait)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	long long t0;

	connected_vbd(g, &id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_FORCE,
					    &how_patient, NULL), 0);
	ck_assert_int_lt(now_ms() - t0, AT_ONCE_MS);
	assert_clean(&id);
}
END_TEST

START_TEST(backend_deleting_its_directory_is_gone_not_a_timeout)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	long long t0;

	connected_vbd(g, &id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-delete-on-close"), 0);
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE,
					    &how_patient, NULL), 0);
	ck_assert_int_lt(now_ms() - t0, AT_ONCE_MS);
	assert_clean(&id);
	ck_assert_msg(strstr(events, "gone:1/51712") != NULL, "%s", events);
	ck_assert_int_eq(gone_alive, 1);
}
END_TEST

/* blkback's connect() decides on Connected, publishes the disk, then
 * switches without looking at the state (xenbus_switch_state()): a
 * removal's Closing written in between is overwritten, and a frontend
 * that reads the backend's state only afterwards connects instead of
 * closing.  Nobody heads for Closed any more: the removal must ask
 * again, not wait for its timeout (SAFE would fail, AUTO force).  The
 * faults make the window wide: the backend spends 1 s in connect(), the
 * frontend takes 2 s to act on anything. */
START_TEST(closing_overwritten_by_a_connecting_backend_is_asked_again)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = { .timeout_remove_ms = 12000,
			    .hotplug = XDEV_HOTPLUG_EXTERNAL };
	xdev_device_id id;
	struct track t;
	char info[300];
	int r;

	xdev_ctx_free(ctx);
	open_ctx(&o);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*", "slow=2000"), 0);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "connect-delay=1000"), 0);
	ck_assert_int_eq(add_vbd(g, "xvda", NULL, 0, &id), 0);
	paths_of(&id, &t);
	/* the disk published: the backend is inside connect() */
	snprintf(info, sizeof(info), "%s/info", t.be);
	ck_assert_msg(wait_exists(info, 30000), "%s never appeared", info);
	ck_assert_int_eq(state_at(t.be), XB_INITWAIT);
	r = xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL, NULL);
	ck_assert_msg(r == 0, "%s: %s", xdev_strerror(r),
		      xdev_ctx_last_message(ctx));
	assert_clean(&id);
}
END_TEST

/* ---- the backend gone ---------------------------------------------------- */

START_TEST(backend_domain_dying_during_remove_succeeds_at_once)
{
	uint32_t b = guest("netdom", SIMHOST_DOM_DRIVER);
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = how_patient;
	struct result res = { 0 };
	xdev_device_id id;
	long long t0;
	char bs[16];

	how.cb = on_done;
	how.user = &res;
	snprintf(bs, sizeof(bs), "%u", b);
	ck_assert_int_eq(add_vbd(g, "xvda", bs, XDEV_ADD_WAIT_CONNECTED, &id), 0);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-unresponsive"), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, &how,
					    NULL), 0);
	xdev_ctx_run(ctx, 50);
	ck_assert(!res.done);
	t0 = now_ms();
	ck_assert_int_eq(simhost_domain_destroy(&fx_host, b, 0), 0);
	run_until(&res, AT_ONCE_MS);
	ck_assert_int_eq(res.r, 0);
	ck_assert_int_lt(now_ms() - t0, AT_ONCE_MS);
	assert_clean(&id);
	ck_assert_msg(strstr(events, "gone:2/51712 done:2/51712") != NULL,
		      "events: %s", events);
	ck_assert_int_eq(gone_alive, 0);
}
END_TEST

START_TEST(device_gone_when_the_backend_domain_dies)
{
	uint32_t b = guest("netdom", SIMHOST_DOM_DRIVER);
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	long long end;
	char bs[16];

	snprintf(bs, sizeof(bs), "%u", b);
	ck_assert_int_eq(add_vbd(g, "xvda", bs, 0, &id), 0);
	events[0] = 0;
	ck_assert_int_eq(simhost_domain_destroy(&fx_host, b, 0), 0);
	end = now_ms() + 5000;
	while (!strstr(events, "gone:") && now_ms() < end)
		xdev_ctx_run(ctx, (int)(end - now_ms()));
	ck_assert_msg(strstr(events, "gone:2/51712") != NULL, "%s", events);
	ck_assert_int_eq(gone_alive, 0);
	assert_clean(&id);
	/* the backend already gone: removal succeeds at once */
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), XDEV_E_NO_DEVICE);
}
END_TEST

START_TEST(remove_with_the_backend_already_gone_cleans_the_frontend)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	struct track t;
	long long t0;

	connected_vbd(g, &id);
	paths_of(&id, &t);
	ck_assert(xs_rm(xs, XBT_NULL, t.be)); /* as a dead domain's nodes go */
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE,
					    &how_patient, NULL), 0);
	ck_assert_int_lt(now_ms() - t0, AT_ONCE_MS);
	assert_clean(&id);
}
END_TEST

/* ---- what is left -------------------------------------------------------- */

/* The directories above a removed device go once nothing else is in
 * them - the context's other devices and another client's alike keep
 * them - and the domain's own device directory stays. */
START_TEST(removal_prunes_the_directories_left_empty)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id a, b;
	char bdir[96], fdir[96], rdir[96], other[128], dev[96];

	snprintf(bdir, sizeof(bdir), "/local/domain/0/backend/vbd/%u", g);
	snprintf(fdir, sizeof(fdir), "/local/domain/%u/device/vbd", g);
	snprintf(rdir, sizeof(rdir), "/xdev/%u", g);
	snprintf(dev, sizeof(dev), "/local/domain/%u/device", g);
	/* connected first: a backend still publishing its disk (blkback's
	 * connect()) writes below its directory even after a forced
	 * removal deleted it - a race of its own, not this test's */
	ck_assert_int_eq(add_vbd(g, "xvda", NULL, XDEV_ADD_WAIT_CONNECTED, &a),
			 0);
	ck_assert_int_eq(add_vbd(g, "xvdb", NULL, XDEV_ADD_WAIT_CONNECTED, &b),
			 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &a, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&a);
	ck_assert(exists(bdir) && exists(fdir) && exists(rdir));
	/* a node of another client's, under the guest's backend directory */
	snprintf(other, sizeof(other), "%s/99/state", bdir);
	ck_assert(xs_write(xs, XBT_NULL, other, "1", 1));
	ck_assert_int_eq(xdev_device_remove(ctx, &b, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&b);
	ck_assert_msg(exists(other), "%s: deleted with the library's", other);
	ck_assert_msg(!exists(fdir) && !exists(rdir) && !exists("/xdev"),
		      "%s %s /xdev: left behind", fdir, rdir);
	ck_assert_msg(exists(dev), "%s: the domain's, deleted", dev);
	/* the other client's device gone too: nothing of the library's stays */
	snprintf(other, sizeof(other), "%s/99", bdir);
	ck_assert(xs_rm(xs, XBT_NULL, other));
	ck_assert_int_eq(add_vbd(g, "xvda", NULL, XDEV_ADD_WAIT_CONNECTED, &a),
			 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &a, XDEV_REMOVE_FORCE, NULL,
					    NULL), 0);
	ck_assert_msg(!exists("/local/domain/0/backend"),
		      "/local/domain/0/backend left behind: %s",
		      children("/local/domain/0/backend"));
}
END_TEST

/* Linux's xenbus unregisters a guest's device only on a watch event with
 * its own path (xenbus_dev_changed ignores device/<type>): the guest's
 * last device going must fire one, though its device/<type> goes too. */
START_TEST(pruning_fires_the_watch_with_the_device_path)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	struct xs_handle *w = xs_open(0);
	xdev_device_id id;
	struct track t;
	char dir[96], *path = NULL;
	bool seen = false;

	ck_assert_ptr_nonnull(w);
	connected_vbd(g, &id);
	paths_of(&id, &t);
	snprintf(dir, sizeof(dir), "/local/domain/%u/device", g);
	fx_watch(w, dir, "guest-xenbus");
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&id);
	snprintf(dir, sizeof(dir), "/local/domain/%u/device/vbd", g);
	ck_assert_msg(!exists(dir), "%s: left behind", dir);
	/* the events are queued by now: the deletes happened */
	while (!seen && fx_next_event(w, 5000, &path) == 0) {
		seen = path && !strcmp(path, t.fe);
		free(path);
		path = NULL;
	}
	xs_close(w);
	ck_assert_msg(seen, "no watch event with %s", t.fe);
}
END_TEST

/* A remove script that cannot run is no success: the guest's end goes,
 * the backend and the record stay, and the next removal, the script back,
 * finishes.  The script is the one the add recorded, whatever hotplug
 * directory the removing context has. */
START_TEST(library_remove_script_failure_keeps_the_backend_for_a_retry)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .timeout_hotplug_ms = 10000,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = "/nonexistent" };
	char script[300], moved[320], *v;
	xdev_device_id id;
	struct track t;
	int r;

	library_ctx(10000);
	snprintf(script, sizeof(script), "%s/ok", fx_host.dir);
	snprintf(moved, sizeof(moved), "%s.away", script);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "cp %s/tests/hotplug/ok %s",
			 TEST_SRCDIR, script);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_msg(add_with_script(g, script, NULL, &id) == 0, "%s",
		      xdev_ctx_last_message(ctx));
	paths_of(&id, &t);
	snprintf(moved, sizeof(moved), "%s/script", t.rec);
	v = xs_read(xs, XBT_NULL, moved, NULL);
	ck_assert_str_eq(v ? v : "", script);
	free(v);
	/* another context, another hotplug directory, and the script gone */
	xdev_ctx_free(ctx);
	open_ctx(&o);
	snprintf(moved, sizeof(moved), "%s.away", script);
	ck_assert_int_eq(rename(script, moved), 0);
	r = xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL, NULL);
	ck_assert_msg(r == XDEV_E_CLEANUP_FAILED, "%s: %s", xdev_strerror(r),
		      xdev_ctx_last_message(ctx));
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "kept: ") &&
		      strstr(xdev_ctx_last_message(ctx), t.rec), "%s",
		      xdev_ctx_last_message(ctx));
	ck_assert(!exists(t.fe));
	ck_assert(exists(t.be) && exists(t.rec));
	ck_assert_msg(!strstr(recorded(), "remove "), "%s", recorded());
	/* the script back: the next removal runs it and finishes */
	ck_assert_int_eq(rename(moved, script), 0);
	r = xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL, NULL);
	ck_assert_msg(r == 0, "%s: %s", xdev_strerror(r),
		      xdev_ctx_last_message(ctx));
	ck_assert_msg(strstr(recorded(), "remove ") &&
		      strstr(recorded(), "backend-present"), "%s", recorded());
	assert_clean(&id);
	unlink(script);
}
END_TEST

/* ---- every removal mode against every fault ------------------------------ */

/* OK_FORCED: AUTO deleted the frontend at three quarters of the timeout
 * and the backend closed then; OK_WHOLE_TIMEOUT: it did not close either,
 * and the removal ended at the timeout - never later, whatever the
 * phases (it used to wait for Closed twice). */
enum expect { OK_QUICK, OK_FORCED, OK_WHOLE_TIMEOUT, TIMEOUT_RESTORED,
	      REFUSED_RESTORED };

static const struct fault_case {
	const char *fault;    /* NULL: healthy */
	bool on_backend;      /* set on dom0, else on the guest */
	enum expect safe, autom, force;
} fault_cases[] = {
	{ NULL, false, OK_QUICK, OK_QUICK, OK_QUICK },
	{ "frontend-unresponsive", false, TIMEOUT_RESTORED, OK_FORCED,
	  OK_QUICK },
	{ "frontend-refuse-close", false, REFUSED_RESTORED, OK_FORCED,
	  OK_QUICK },
	{ "backend-unresponsive", true, TIMEOUT_RESTORED, OK_WHOLE_TIMEOUT,
	  OK_QUICK },
	{ "backend-delete-on-close", true, OK_QUICK, OK_QUICK, OK_QUICK },
	{ "slow=60", false, OK_QUICK, OK_QUICK, OK_QUICK },
};

START_TEST(remove_mode_against_fault)
{
	const struct fault_case *fc = &fault_cases[_i / 3];
	enum xdev_remove_mode mode = (enum xdev_remove_mode[]){
		XDEV_REMOVE_SAFE, XDEV_REMOVE_AUTO, XDEV_REMOVE_FORCE }[_i % 3];
	enum expect want = mode == XDEV_REMOVE_SAFE ? fc->safe
		: mode == XDEV_REMOVE_AUTO ? fc->autom : fc->force;
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	struct track t;
	long long t0, took;
	int r;

	connected_vbd(g, &id);
	paths_of(&id, &t);
	if (fc->fault)
		ck_assert_int_eq(simhost_fault_set(&fx_host, fc->on_backend ? 0 : g,
						   "*", fc->fault), 0);
	t0 = now_ms();
	/* what ends at once is given all the time there is (how_patient) */
	r = xdev_device_remove(ctx, &id, mode,
			       want == OK_QUICK ? &how_patient : NULL, NULL);
	took = now_ms() - t0;
	switch (want) {
	case OK_QUICK:
		ck_assert_msg(r == 0 && took < AT_ONCE_MS, "%s: %s after %lld ms",
			      fc->fault, xdev_strerror(r), took);
		break;
	case OK_FORCED:
		ck_assert_msg(r == 0 && took >= SHORT_MS - SHORT_MS / 4 &&
			      took < 2 * SHORT_MS, "%s: %s after %lld ms",
			      fc->fault, xdev_strerror(r), took);
		break;
	case OK_WHOLE_TIMEOUT:
		ck_assert_msg(r == 0 && took >= SHORT_MS &&
			      took < 2 * SHORT_MS, "%s: %s after %lld ms",
			      fc->fault, xdev_strerror(r), took);
		break;
	case TIMEOUT_RESTORED:
	case REFUSED_RESTORED:
		ck_assert_int_eq(r, want == TIMEOUT_RESTORED
				 ? -ETIMEDOUT : XDEV_E_FRONTEND_REFUSED);
		assert_kept(&id);
		/* and it can still be removed once the fault is over */
		ck_assert_int_eq(simhost_fault_clear(&fx_host, fc->on_backend
						     ? 0 : g), 0);
		r = xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL, NULL);
		ck_assert_int_eq(r, 0);
		break;
	}
	assert_clean(&id);
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		safe_remove_of_an_unresponsive_frontend_fails_and_restores,
		safe_remove_of_a_refusing_frontend_says_so,
		auto_remove_forces_an_unresponsive_frontend,
		auto_remove_forces_an_unresponsive_backend,
		force_remove_does_not_wait,
		backend_deleting_its_directory_is_gone_not_a_timeout,
		removal_prunes_the_directories_left_empty,
		closing_overwritten_by_a_connecting_backend_is_asked_again,
		pruning_fires_the_watch_with_the_device_path,
		backend_domain_dying_during_remove_succeeds_at_once,
		device_gone_when_the_backend_domain_dies,
		remove_with_the_backend_already_gone_cleans_the_frontend,
		library_remove_script_failure_keeps_the_backend_for_a_retry,
	};
	const struct lib_tests t = {
		.suite = "remove",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
		.loop = remove_mode_against_fault,
		.loop_end = 3 * (int)(sizeof(fault_cases) / sizeof(fault_cases[0])),
	};

	(void)argc;
	return lib_main(argv, &t);
}
