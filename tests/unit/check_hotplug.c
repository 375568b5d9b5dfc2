/*
 * libxdev against the simulated host: the hotplug scripts the library runs
 * (XDEV_HOTPLUG_LIBRARY).  Add and remove scripts and when they run (the
 * remove script before the nodes go, after a forced removal, for a backend
 * that deleted itself), a failing script undone, a hanging one killed at
 * its timeout with its whole process group, the script queue
 * (max_scripts), and the real block and vif-bridge scripts.
 *
 * A new test of a script the library runs goes here; of an external
 * agent's hotplug error in tests/unit/check_add.c, of a cancel meeting a
 * running script in check_cancel.c, of lib/child.c itself in
 * check_child.c.  The fixture: libfixture.h.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "libfixture.h"

/* ---- the scripts of an add and a removal --------------------------------- */

START_TEST(library_runs_the_scripts_and_deletes_after_remove)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	char want[200];

	library_ctx(10000);
	setenv("REMOVE_DELAY", "0.3", 1); /* a slow remove script */
	ck_assert_msg(add_with_script(g, "ok", NULL, &id) == 0, "%s",
		      xdev_ctx_last_message(ctx));
	snprintf(want, sizeof(want), "add /local/domain/0/backend/vbd/%u/51712\n",
		 g);
	ck_assert_str_eq(recorded(), want);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	/* the remove script ran while the backend directory still existed:
	 * the nodes went only after it ended */
	ck_assert_msg(strstr(recorded(), "remove /local/domain/0/backend/vbd/")
		      && strstr(recorded(), "backend-present"), "%s",
		      recorded());
	assert_clean(&id);
	unsetenv("REMOVE_DELAY");
}
END_TEST

START_TEST(library_forced_removal_still_runs_the_remove_script)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;

	library_ctx(10000);
	ck_assert_int_eq(add_with_script(g, "ok", NULL, &id), 0);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_FORCE, NULL,
					    NULL), 0);
	ck_assert_msg(strstr(recorded(), "backend-present"), "%s", recorded());
	assert_clean(&id);
}
END_TEST

/* A backend in dom0 deletes its own directory while nobody removes it:
 * DEVICE_GONE, the frontend and record go, and the remove script still
 * runs for what the add script acquired - with no OP_DONE, since the
 * application started no operation. */
START_TEST(library_runs_the_remove_script_of_a_backend_that_deleted_itself)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	struct track t;
	long long end;

	library_ctx(10000);
	ck_assert_msg(add_with_script(g, "ok", NULL, &id) == 0, "%s",
		      xdev_ctx_last_message(ctx));
	paths_of(&id, &t);
	events[0] = 0;
	ck_assert(xs_rm(xs, XBT_NULL, t.be));
	end = now_ms() + 10000;
	while (!strstr(recorded(), "remove ") && now_ms() < end)
		xdev_ctx_run(ctx, 50);
	ck_assert_msg(strstr(recorded(), "backend-gone"), "%s", recorded());
	xdev_ctx_run(ctx, 50); /* the internal operation's end */
	ck_assert_msg(strstr(events, "gone:") && !strstr(events, "done:"),
		      "events: %s", events);
	ck_assert_int_eq(gone_alive, 1); /* dom0 lives */
	assert_clean(&id);
}
END_TEST

START_TEST(library_reports_a_failing_script_and_undoes_it)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;

	library_ctx(10000);
	ck_assert_int_eq(add_with_script(g, "fail", NULL, &id),
			 XDEV_E_HOTPLUG_FAILED);
	ck_assert_str_eq(xdev_ctx_last_message(ctx),
			 "the test script fails on purpose");
	ck_assert_msg(strstr(recorded(), "remove "), "%s", recorded());
	assert_clean(&id);
}
END_TEST

/* ---- timeouts and process groups ----------------------------------------- */

START_TEST(library_kills_a_hanging_script_at_its_timeout)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	long long t0 = now_ms(), took;

	library_ctx(SHORT_MS);
	ck_assert_int_eq(add_with_script(g, "hang", NULL, &id), -ETIMEDOUT);
	took = now_ms() - t0;
	/* SIGTERM at the timeout is ignored; SIGKILL two seconds later */
	ck_assert_int_ge(took, SHORT_MS + 2000);
	ck_assert_int_lt(took, SHORT_MS + 2000 + 3000);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "timed out"), "%s",
		      xdev_ctx_last_message(ctx));
	ck_assert_msg(strstr(recorded(), "remove "), "%s", recorded());
	assert_clean(&id);
}
END_TEST

/* A script's children are signalled with it: its process group (a
 * losetup it started must not attach a loop device as an orphan after
 * the script was stopped).  The script here starts a child and waits for
 * it; at the timeout both get SIGTERM. */
static bool pid_ended(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return !p || p[2] == 'Z'; /* a zombie has ended */
}

START_TEST(library_signals_the_scripts_whole_process_group)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	char script[300], pidfile[300], cmd[1200];
	xdev_device_id id;
	pid_t child;
	FILE *f;

	library_ctx(SHORT_MS);
	snprintf(script, sizeof(script), "%s/with-child", fx_host.dir);
	snprintf(pidfile, sizeof(pidfile), "%s/child.pid", fx_host.dir);
	snprintf(cmd, sizeof(cmd), "printf '#!/bin/bash\\n"
		 "case $1 in add) sleep 300 & echo $! >%s; wait;; esac\\n' "
		 ">%s && chmod +x %s", pidfile, script, script);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(add_with_script(g, script, NULL, &id), -ETIMEDOUT);
	f = fopen(pidfile, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &child), 1);
	fclose(f);
	/* the group got SIGTERM with the script: reaped by init or a
	 * subreaper meanwhile, or a zombie; wait for that with a bound */
	for (int i = 0; i < 200 && !pid_ended(child); i++)
		xdev_ctx_run(ctx, 10);
	ck_assert_msg(pid_ended(child), "the script's child %d survived it",
		      child);
	assert_clean(&id);
}
END_TEST

/* ---- max_scripts: a storm's scripts take turns --------------------------- */

/* The gate scripts running, ours only: their parent is this process (a
 * direct script) or a watcher the library forked from it. */
static int gate_scripts_running(void)
{
	char path[64], buf[512];
	int n = 0, k;
	FILE *f;
	DIR *d = opendir("/proc");
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		long pid = strtol(e->d_name, NULL, 10), ppid = 0, gppid = 0;
		size_t len;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		if (!(f = fopen(path, "re")))
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (k = 0; k < (int)len; k++)
			buf[k] = buf[k] ? buf[k] : ' ';
		buf[len] = 0;
		if (!strstr(buf, "tests/hotplug/gate add"))
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if ((f = fopen(path, "re"))) {
			if (fscanf(f, "%*d (%*[^)]) %*c %ld", &ppid) != 1)
				ppid = 0;
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%ld/stat", ppid);
		if (ppid > 0 && (f = fopen(path, "re"))) {
			if (fscanf(f, "%*d (%*[^)]) %*c %ld", &gppid) != 1)
				gppid = 0;
			fclose(f);
		}
		/* ours: our child (a direct script) or our watcher's */
		n += ppid == (long)getpid() || gppid == (long)getpid();
	}
	closedir(d);
	return n;
}

START_TEST(library_runs_at_most_max_scripts_at_once)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = gate_opts();

	struct result res[2] = { { 0 } };
	xdev_device_id id[2];
	char started[320], open_fifo[320], want[200];
	const char *vdevs[] = { "xvda", "xvdb" };
	int i;

	o.max_scripts = 1;
	gate_setup(&o, started, open_fifo);
	snprintf(record, sizeof(record), "%s/record", fx_host.dir);
	ck_assert_int_eq(setenv("XDEV_TEST_RECORD", record, 1), 0);
	for (i = 0; i < 2; i++) {
		xdev_desc *d = vbd(vdevs[i], NULL);
		xdev_op_how how = { .cb = on_done, .user = &res[i] };

		ck_assert_int_eq(xdev_desc_set(d, "script", "gate"), 0);
		ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id[i],
					      NULL), 0);
		xdev_desc_free(d);
	}
	/* the first script holds the one slot; the second device reaches
	 * InitWait and its script waits (the library says so) */
	ck_assert_str_eq(fifo_line(started), "add");
	{
		long long end = now_ms() + 20000;

		while (!strstr(queue_log, "waits for one of 1 slots") &&
		       now_ms() < end)
			xdev_ctx_run(ctx, 20);
	}
	ck_assert_msg(strstr(queue_log, "waits for one of 1 slots"),
		      "no script queued");
	ck_assert_int_eq(gate_scripts_running(), 1);
	ck_assert(!res[0].done && !res[1].done);
	/* its end starts the next, oldest first */
	gate_open(open_fifo);
	ck_assert_str_eq(fifo_line(started), "add");
	/* whichever backend reached InitWait first went first */
	i = res[0].done ? 0 : 1;
	ck_assert_msg(res[i].done && res[i].r == 0 && !res[!i].done,
		      "adds: done %d (%d), %d (%d)", res[0].done, res[0].r,
		      res[1].done, res[1].r);
	ck_assert_int_eq(gate_scripts_running(), 1);
	gate_open(open_fifo);
	run_until(&res[!i], 20000);
	ck_assert_int_eq(res[!i].r, 0);
	for (i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "add /local/domain/0/backend/vbd/"
			 "%u/%u\n", g, id[i].devid);
		ck_assert_msg(strstr(recorded(), want), "%s", recorded());
	}
	gate_remove_both(id);
}
END_TEST

/* ---- the real scripts (hotplug/) ----------------------------------------- */

START_TEST(library_with_the_block_script_attaches_and_detaches_a_loop)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = TEST_SRCDIR "/hotplug" };
	char image[300], lockdir[300];
	xdev_device_id id;
	int fd;

	xdev_ctx_free(ctx);
	open_ctx(&o);
	snprintf(lockdir, sizeof(lockdir), "%s/hotplug-lock", fx_host.dir);
	setenv("XDEV_HOTPLUG_LOCK_DIR", lockdir, 1);
	snprintf(image, sizeof(image), "%s/file.img", fx_host.dir);
	fd = open(image, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 2 << 20), 0);
	close(fd);
	ck_assert_msg(add_with_script(g, "block", image, &id) == 0, "%s",
		      xdev_ctx_last_message(ctx));
	ck_assert_int_eq(fx_loops_backing(image), 1);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	assert_clean(&id);
	unsetenv("XDEV_HOTPLUG_LOCK_DIR");
}
END_TEST

START_TEST(library_with_vif_bridge_enslaves_and_releases_the_interface)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = TEST_SRCDIR "/hotplug" };
	xdev_desc *d = NULL;
	xdev_device_id id;
	char cmd[100];
	const char *out;
	int r;

	/* into the host's namespace (its taps are there), as an application
	 * in dom0 is; the bridge dies with the namespace */
	ck_assert_int_eq(simhost_setenv(&fx_host, 0, 1), 0);
	ck_assert_int_eq(system("ip link add xdbr1 type bridge && "
				"ip link set xdbr1 up"), 0);
	xdev_ctx_free(ctx);
	open_ctx(&o);
	ck_assert_int_eq(xdev_desc_new(XDEV_VIF, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "bridge", "xdbr1"), 0);
	ck_assert_int_eq(xdev_desc_set(d, "mac", "00:16:3e:01:02:03"), 0);
	/* the script, named: native hotplug is check_native's */
	ck_assert_int_eq(xdev_desc_set(d, "script", "vif-bridge"), 0);
	r = xdev_vif_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, NULL, &id, NULL);
	xdev_desc_free(d);
	ck_assert_msg(r == 0, "%s", xdev_ctx_last_message(ctx));
	snprintf(cmd, sizeof(cmd), "ip -o link show vif%u.%u", g, id.devid);
	out = output_of(cmd);
	/* enslaved and up, with Xen's host-side MAC, not the guest's */
	ck_assert_msg(strstr(out, "master xdbr1") && strstr(out, "UP") &&
		      strstr(out, "fe:ff:ff:ff:ff:ff"), "%s", out);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
	out = output_of("ip -o link show master xdbr1");
	ck_assert_msg(out[0] == 0, "still on the bridge: %s", out);
	ck_assert_int_eq(system("ip link del xdbr1"), 0);
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		library_runs_the_scripts_and_deletes_after_remove,
		library_runs_at_most_max_scripts_at_once,
		library_reports_a_failing_script_and_undoes_it,
		library_kills_a_hanging_script_at_its_timeout,
		library_forced_removal_still_runs_the_remove_script,
		library_signals_the_scripts_whole_process_group,
		library_runs_the_remove_script_of_a_backend_that_deleted_itself,
		library_with_the_block_script_attaches_and_detaches_a_loop,
		library_with_vif_bridge_enslaves_and_releases_the_interface,
	};
	const struct lib_tests t = {
		.suite = "hotplug",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
