/*
 * libxdev against the simulated host: listing devices, and peers that
 * write what they like (docs/security.md).  The list comes from dom0's
 * side; a guest's forged backend-id changes no device's identity, a state
 * no driver can be in is "not yet", a backend rewriting its state without
 * pause is forced away.
 *
 * A new test of xdev_device_list() or of what a guest or a driver domain
 * writes goes here (the CLI's view of a hostile peer:
 * tests/py/test_hostile.py).  The fixture: libfixture.h.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libfixture.h"

/* ---- listing ------------------------------------------------------------- */

START_TEST(list_reports_devices_and_states)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_info *v = NULL;
	xdev_device_id id;
	unsigned n = 0;

	connected_vbd(g, &id);
	ck_assert_int_eq(xdev_device_list(ctx, g, &v, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(v[0].id.devid, 51712);
	ck_assert_int_eq(v[0].id.type, XDEV_VBD);
	ck_assert_int_eq(v[0].frontend_state, 4);
	ck_assert_int_eq(v[0].backend_state, 4);
	ck_assert_int_eq(v[0].online, 1);
	free(v);
	ck_assert_int_eq(xdev_device_list(ctx, 4242, &v, &n),
			 XDEV_E_DOMAIN_NOT_FOUND);
}
END_TEST

/* ---- peers that write what they like (docs/security.md) ------------------ */

static void write_node(const char *dir, const char *key, const char *v)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	ck_assert(xs_write(xs, XBT_NULL, path, v, strlen(v)));
}

/* A guest owns its frontend's backend-id: 999 there must not make the
 * library list, monitor or remove the device as one of domain 999 (which
 * would delete the record and orphan the real backend). */
START_TEST(a_forged_backend_id_changes_no_identity)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_info *v = NULL;
	xdev_device_id id, forged;
	struct track t;
	unsigned n = 0;
	char *rec;

	connected_vbd(g, &id);
	paths_of(&id, &t);
	write_node(t.fe, "backend-id", "999");
	write_node(t.fe, "backend", "/local/domain/999/backend/vbd/1/51712");
	ck_assert_int_eq(xdev_device_list(ctx, g, &v, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(v[0].id.backend_domid, 0);
	ck_assert_int_eq(v[0].backend_state, 4);
	free(v);
	/* the record, dom0's own, says which backend it is */
	rec = xs_read(xs, XBT_NULL, t.rec, NULL);
	ck_assert_str_eq(rec, t.be);
	free(rec);
	forged = id;
	forged.backend_domid = 999;
	ck_assert_int_eq(xdev_device_remove(ctx, &forged, XDEV_REMOVE_FORCE,
					    NULL, NULL), XDEV_E_NO_DEVICE);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "names backend "
			     "domain 0"), "%s", xdev_ctx_last_message(ctx));
	assert_kept(&id);
	ck_assert_int_eq(state_at(t.be), 4);
	ck_assert(!strstr(events, "gone:"));
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&id);
}
END_TEST

/* A device nobody recorded (another toolstack's) is listed from dom0's
 * own backend directory; a frontend alone, whatever it points at, is no
 * device. */
START_TEST(list_finds_devices_from_dom0s_side_only)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_info *v = NULL;
	xdev_device_id id;
	struct track t;
	char fe[96];
	unsigned n = 0;

	connected_vbd(g, &id);
	paths_of(&id, &t);
	ck_assert(xs_rm(xs, XBT_NULL, t.rec));
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/vbd/51728", g);
	write_node(fe, "backend-id", "0");
	write_node(fe, "backend", t.be);
	write_node(fe, "state", "4");
	ck_assert_int_eq(xdev_device_list(ctx, g, &v, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(v[0].id.devid, 51712);
	ck_assert_uint_eq(v[0].id.backend_domid, 0);
	free(v);
	ck_assert(xs_rm(xs, XBT_NULL, fe));
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&id);
}
END_TEST

/* A state no driver can be in ("2147483648" read as a negative int, say)
 * is Unknown, "not yet": a SAFE removal waits for Closed, times out and
 * restores, and the listing shows 0. */
START_TEST(an_impossible_backend_state_is_not_yet)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_info *v = NULL;
	xdev_device_id id;
	struct track t;
	unsigned n = 0;

	connected_vbd(g, &id);
	paths_of(&id, &t);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	write_node(t.be, "state", "2147483648");
	ck_assert_int_eq(xdev_device_list(ctx, g, &v, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(v[0].backend_state, 0);
	free(v);
	write_node(t.be, "state", "4294967302"); /* 6 + 2^32 */
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), -ETIMEDOUT);
	assert_kept(&id);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*", ""), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_FORCE, NULL,
					    NULL), 0);
	assert_clean(&id);
}
END_TEST

/* A peer rewriting the backend's state without pause (a hostile driver
 * domain; here a process of dom0's, which conflicts the same way): every
 * transaction writing Closing conflicts.  FORCE removes all the same,
 * SAFE fails with -EBUSY and changes nothing. */
static pid_t state_flood_start(const char *be)
{
	char path[300];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/state", be);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct xs_handle *h = xs_open(0);
		int i = 0;

		while (h) {
			xs_write(h, XBT_NULL, path, i++ & 1 ? "4" : "3", 1);
			if (!(i & 255) && !xs_read(h, XBT_NULL, path, NULL))
				break; /* deleted: stop recreating it */
		}
		_exit(0);
	}
	return pid;
}

static void state_flood_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

START_TEST(a_backend_rewriting_its_state_is_forced_away)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	struct track t;
	pid_t flood;
	int r;

	connected_vbd(g, &id);
	paths_of(&id, &t);
	/* the drivers do not close it on their own: only force removes it */
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	flood = state_flood_start(t.be);
	/* C xenstored fails every try; oxenstored may let one through
	 * between two writes, and then the wait for Closed times out */
	r = xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL, NULL);
	ck_assert_msg(r == -EBUSY || r == -ETIMEDOUT, "SAFE: %s: %s",
		      xdev_strerror(r), xdev_ctx_last_message(ctx));
	if (r == -EBUSY)
		ck_assert_msg(strstr(xdev_ctx_last_message(ctx),
				     "kept changing"), "%s",
			      xdev_ctx_last_message(ctx));
	ck_assert(exists(t.fe) && exists(t.be) && exists(t.rec));
	r = xdev_device_remove(ctx, &id, XDEV_REMOVE_FORCE, NULL, NULL);
	ck_assert_msg(r == 0, "FORCE: %s: %s", xdev_strerror(r),
		      xdev_ctx_last_message(ctx));
	state_flood_stop(flood);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*", ""), 0);
	ck_assert(!exists(t.fe) && !exists(t.rec));
	/* the flood may have written state once more after the deletion:
	 * that node is the writer's own, and nothing of ours is below */
	if (exists(t.be)) {
		ck_assert_str_eq(children(t.be), "state ");
		ck_assert(xs_rm(xs, XBT_NULL, t.be));
	}
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		list_reports_devices_and_states,
		a_forged_backend_id_changes_no_identity,
		list_finds_devices_from_dom0s_side_only,
		an_impossible_backend_state_is_not_yet,
		a_backend_rewriting_its_state_is_forced_away,
	};
	const struct lib_tests t = {
		.suite = "peers",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
