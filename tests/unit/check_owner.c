/*
 * check_owner: one actor per device across contexts and processes
 * (lib/owner.c), and the recovery of what an actor killed half-way left
 * (lib/recover.c).  Every test runs on both xenstore daemons, with the
 * test scripts of tests/hotplug counting their runs in `record`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libfixture.h"

/* How many lines of the scripts' record start with WHAT ("add ",
 * "remove "). */
static int runs(const char *what)
{
	const char *p = recorded();
	int n = 0;

	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
		n += !strncmp(p, what, strlen(what));
	return n;
}

static xdev_ctx *second_ctx(void)
{
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = TEST_SRCDIR "/tests/hotplug" };
	xdev_ctx *c = NULL;

	ck_assert_int_eq(xdev_ctx_new(&o, &c), 0);
	return c;
}

/* A manager's context added the device; another context (of this
 * process, or the CLI in another) removes it.  The remove script runs
 * once: before, the adding context ran it a second time when it saw the
 * backend vanish. */
START_TEST(another_context_s_removal_runs_the_remove_script_once)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_ctx *b;
	xdev_device_id id;
	long long end;

	library_ctx(20000);
	ck_assert_int_eq(add_with_script(g, "ok", NULL, &id), 0);
	b = second_ctx();
	events[0] = 0;
	ck_assert_int_eq(xdev_device_remove(b, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
	/* the first context sees it go, and tells its application */
	end = now_ms() + 20000;
	while (!strstr(events, "gone:") && now_ms() < end)
		xdev_ctx_run(ctx, 50);
	ck_assert_msg(strstr(events, "gone:1/51712"), "%s", events);
	xdev_ctx_run(ctx, 100); /* a second script would have started */
	ck_assert_msg(runs("add ") == 1 && runs("remove ") == 1, "%s",
		      recorded());
	xdev_ctx_free(b);
	assert_clean(&id);
}
END_TEST

/* Two actors asking at once: the second is -EBUSY and names the first;
 * an add of a device being removed is XDEV_E_DEVICE_EXISTS. */
START_TEST(a_device_held_by_a_live_actor_is_busy)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	char want[64];
	xdev_desc *d = vbd("xvda", NULL);
	xdev_device_id id;
	xdev_ctx *b;

	library_ctx(20000);
	how.user = &res;
	ck_assert_int_eq(add_with_script(g, "ok", NULL, &id), 0);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-unresponsive"), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, &how,
					    NULL), 0);
	xdev_ctx_run(ctx, 50); /* it claimed the device and waits */
	b = second_ctx();
	ck_assert_int_eq(xdev_device_remove(b, &id, XDEV_REMOVE_FORCE, NULL,
					    NULL), -EBUSY);
	snprintf(want, sizeof(want), "being removed by another xdev actor "
		 "(process %d)", (int)getpid());
	ck_assert_msg(strstr(xdev_ctx_last_message(b), want), "%s",
		      xdev_ctx_last_message(b));
	ck_assert_int_eq(xdev_desc_set(d, "script", "ok"), 0);
	ck_assert_int_eq(xdev_vbd_add(b, g, d, 0, NULL, NULL, NULL),
			 XDEV_E_DEVICE_EXISTS);
	xdev_desc_free(d);
	xdev_ctx_free(b);
	ck_assert_int_eq(simhost_fault_clear(&fx_host, g), 0);
	run_until(&res, AT_ONCE_MS);
	ck_assert_int_eq(res.r, 0);
	ck_assert_msg(runs("remove ") == 1, "%s", recorded());
	assert_clean(&id);
}
END_TEST

/* ---- an actor killed at a named point ------------------------------------
 *
 * A child process runs the operation in a context of its own and kills
 * itself (SIGKILL: no clean-up of any kind) when its log says it reached
 * the point: the library logs every transition and every step it
 * records, so the points are its own.  The gate script, on in the child
 * only, holds a script so that it cannot finish before the kill (the
 * script's watcher stops it when the child dies).  Then the device must
 * be listed as held by the dead actor, and a recovery must leave it
 * fully absent, the scripts run the number of times docs/library.md
 * says. */

struct crash_case {
	const char *point;        /* a substring of the child's log */
	bool removal;             /* the child removes (else adds) */
	const char *gate_on;      /* the child's gate, or NULL */
	int adds, removes;        /* script runs at the end */
};

static const struct crash_case crash_cases[] = {
	/* an add rolled back; its remove script only once its add script
	 * started */
	{ "add write -> wait-initwait", false, NULL, 0, 0 },
	{ "add-script started", false, NULL, 0, 1 },
	{ "-> script-running (add script)", false, "add", 0, 1 },
	{ "-> script-exited (add script)", false, NULL, 1, 1 },
	/* a removal finished; its script again unless recorded done */
	{ "remove start -> wait-closed", true, NULL, 1, 1 },
	{ "-> script-running (remove script)", true, "remove", 1, 1 },
	{ "-> script-exited (remove script)", true, NULL, 1, 2 },
	{ "remove-script done", true, NULL, 1, 1 },
};

static const char *crash_point;
static FILE *child_log;       /* the child's log, for a failure message */
static char child_log_path[320];

static void kill_at_point(void *user, enum xdev_log_level level,
			  const char *m)
{
	(void)user;
	(void)level;
	if (child_log) {
		fprintf(child_log, "%s\n", m);
		fflush(child_log);
	}
	if (strstr(m, crash_point))
		raise(SIGKILL);
}

/* The child's end, within a bound (it hangs: killed, and the test says
 * where it was). */
static void wait_child(pid_t pid, const char *point)
{
	long long end = now_ms() + 30000;
	char text[2048] = "";
	int status = 0;
	FILE *f;

	while (waitpid(pid, &status, WNOHANG) == 0 && now_ms() < end)
		usleep(10000); /* a child's end has no fd to wait on */
	if (now_ms() >= end) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    now_ms() < end)
		return;
	f = fopen(child_log_path, "r");
	if (f) {
		text[fread(text, 1, sizeof(text) - 1, f)] = 0;
		fclose(f);
	}
	ck_abort_msg("%s: the child ended with status %#x, not at the "
		     "point; its log:\n%s", point, status, text);
}

static void child_acts(const struct crash_case *c, uint32_t g,
		       const xdev_device_id *id, const char *gate)
{
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .timeout_hotplug_ms = 20000,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = TEST_SRCDIR "/tests/hotplug",
			    .log_cb = kill_at_point,
			    .log_level = XDEV_LOG_DEBUG };
	xdev_desc *d = vbd("xvda", NULL);
	xdev_ctx *mine = NULL;

	if (c->gate_on && (setenv("XDEV_TEST_GATE", gate, 1) ||
			   setenv("XDEV_TEST_GATE_ON", c->gate_on, 1)))
		_exit(3);
	crash_point = c->point;
	child_log = fopen(child_log_path, "w");
	/* the gate holds the script until the child is gone: killed with it
	 * (else it could finish first, on a slow machine or under valgrind) */
	if (xdev_ctx_new(&o, &mine) ||
	    xdev_desc_set(d, "script", c->gate_on ? "gate" : "ok"))
		_exit(4);
	if (c->removal)
		xdev_device_remove(mine, id, XDEV_REMOVE_SAFE, NULL, NULL);
	else
		xdev_vbd_add(mine, g, d, XDEV_ADD_WAIT_CONNECTED, NULL, NULL,
			     NULL);
	_exit(5); /* the point was never reached */
}

struct found { int n; xdev_recovered last; };

static void on_recovered(void *user, const xdev_recovered *f)
{
	struct found *found = user;

	found->n++;
	found->last = *f;
}

START_TEST(an_actor_killed_at_each_point_is_recovered)
{
	const struct crash_case *c = &crash_cases[_i];
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id = { XDEV_VBD, 0, g, 51712 };
	xdev_device_info *v = NULL;
	struct found found = { 0 };
	char gate[300], fifo[320];
	unsigned n = 0;
	pid_t pid;

	library_ctx(20000);
	snprintf(gate, sizeof(gate), "%s/gate", fx_host.dir);
	ck_assert_int_eq(mkdir(gate, 0700), 0);
	snprintf(fifo, sizeof(fifo), "%s/started", gate);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	snprintf(fifo, sizeof(fifo), "%s/open", gate);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	if (c->removal) /* the gate is on in the child only */
		ck_assert_int_eq(add_with_script(g, c->gate_on ? "gate" : "ok",
						 NULL, &id), 0);
	snprintf(child_log_path, sizeof(child_log_path), "%s/child.log",
		 fx_host.dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		child_acts(c, g, &id, gate);
	wait_child(pid, c->point);
	/* listed as held by a dead actor */
	ck_assert_int_eq(xdev_device_list(ctx, g, &v, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(v[0].op, c->removal ? XDEV_OP_REMOVE : XDEV_OP_ADD);
	ck_assert_int_eq(v[0].op_owner_alive, 0);
	ck_assert_int_eq(v[0].op_owner_pid, pid);
	free(v);
	/* a dry run changes nothing; a recovery finishes it */
	ck_assert_int_eq(xdev_ctx_recover(ctx, g, XDEV_RECOVER_DRY_RUN,
					  on_recovered, &found), 1);
	ck_assert_int_eq(found.last.op, c->removal ? XDEV_OP_REMOVE
						   : XDEV_OP_ADD);
	ck_assert_int_eq(xdev_ctx_recover(ctx, XDEV_DOMID_ANY, 0,
					  on_recovered, &found), 1);
	ck_assert_int_eq(found.n, 2);
	ck_assert_msg(found.last.result == 0, "%s: %s: %s", c->point,
		      xdev_strerror(found.last.result), found.last.message);
	ck_assert_int_eq(found.last.owner_pid, pid);
	assert_clean(&id);
	ck_assert_msg(runs("add ") == c->adds && runs("remove ") == c->removes,
		      "%s: %s", c->point, recorded());
	ck_assert_int_eq(xdev_ctx_recover(ctx, XDEV_DOMID_ANY, 0, NULL, NULL),
			 0);
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		another_context_s_removal_runs_the_remove_script_once,
		a_device_held_by_a_live_actor_is_busy,
	};
	const struct lib_tests t = {
		.suite = "owner",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
		.loop = an_actor_killed_at_each_point_is_recovered,
		.loop_end = sizeof(crash_cases) / sizeof(crash_cases[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
