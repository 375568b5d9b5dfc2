/*
 * xdevd in a driver domain, driven by libxdev in dom0, on the simulated
 * host: the daemon runs "inside" the driver domain (its own unprivileged
 * xenstore connection through the domain's xenbus, its own network
 * namespace), runs real hotplug scripts on real loop devices and bridges,
 * and deletes the backend nodes only after its remove script.  Restarts in
 * the middle of an add and of a remove lose nothing.
 *
 * Every test checks the result, the store's final contents and that no
 * loop device, interface or process is left.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h" /* first: xenctrl.h before any other xen header */
#include "fakexen.h"
#include "simfixture.h"
#include "xdev-libev.h"
#include "xdev.h"

#define XDEVD TEST_BUILDDIR "/bin/xdevd"
#define TEST_SCRIPTS TEST_SRCDIR "/tests/hotplug"
#define REAL_SCRIPTS TEST_SRCDIR "/hotplug"
#define WAIT_MS 60000   /* for what must happen: generous, never reached */
#define HOTPLUG_MS 60000 /* the library's wait for xdevd: a restart under
			    valgrind on a busy machine takes seconds */

static struct xs_handle *xs;
static xdev_ctx *ctx;
static struct ev_loop *loop; /* the library's, and the test's waits */
static uint32_t guest_id, drv_id;
static char drv_name[16] = "drvdom";
static pid_t xdevd_pid = -1;
static char loopdev[64]; /* a block device for the test scripts */
static int loop_fd = -1;
static char record[300], gate[300], xdevd_log[300];
/* xdevd's --timeout for its scripts: generous (a test script under a
 * valgrind-run daemon on a busy machine can take seconds), except in the
 * test of that timeout */
static const char *script_timeout = "30";

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- the daemon ---------------------------------------------------------- */

/* The last lines of xdevd's log, for failure messages. */
static const char *xdevd_said(void)
{
	static char buf[2048];
	FILE *f = fopen(xdevd_log, "r");
	long n;

	buf[0] = 0;
	if (!f)
		return buf;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, n > (long)sizeof(buf) - 1 ? n - (long)sizeof(buf) + 1 : 0,
	      SEEK_SET);
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = 0;
	fclose(f);
	return buf;
}

/* In a child: become a process of the driver domain, die with the test. */
static void enter_driver_domain(void)
{
	int fd = open(xdevd_log, O_WRONLY | O_CREAT | O_APPEND, 0600);

	signal(SIGTERM, SIG_DFL); /* Check's handler kills the group */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
	    simhost_domain_enter(&fx_host, drv_id) < 0) {
		dprintf(2, "cannot enter domain %u: %s\n", drv_id, fx_host.err);
		_exit(125);
	}
}

/* Start xdevd in the driver domain with SCRIPTS as its hotplug directory;
 * "gate" arms tests/hotplug/gate for ACTION. */
/* xdevd's --native: "auto" (its default) unless a test says "never". */
static const char *xdevd_native = "auto";

static void xdevd_start(const char *scripts, const char *gate_on)
{
	char *valgrind = getenv("XDEV_TEST_VALGRIND");
	char state[320];
	pid_t pid;

	/* the test's own, kept across restarts of the daemon within it */
	snprintf(state, sizeof(state), "%s/xdevd-state", fx_host.dir);

	ck_assert_int_lt(xdevd_pid, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		enter_driver_domain();
		if (gate_on) {
			setenv("XDEV_TEST_GATE", gate, 1);
			setenv("XDEV_TEST_GATE_ON", gate_on, 1);
		}
		if (valgrind && *valgrind)
			execl(valgrind, valgrind, "-q", "--leak-check=full",
			      "--show-leak-kinds=definite",
			      "--errors-for-leak-kinds=definite",
			      "--error-exitcode=99", XDEVD, "--hotplug-dir",
			      scripts, "--timeout", script_timeout,
			      "--state-dir", state, "--native", xdevd_native,
			      "-v", (char *)NULL);
		else
			execl(XDEVD, XDEVD, "--hotplug-dir", scripts,
			      "--timeout", script_timeout, "--state-dir", state,
			      "--native", xdevd_native, "-v", (char *)NULL);
		_exit(127);
	}
	xdevd_pid = pid;
}

/* SIGTERM, and it must exit 0 (also: valgrind-clean). */
static void xdevd_stop(void)
{
	int st = 0;

	ck_assert_int_gt(xdevd_pid, 0);
	kill(xdevd_pid, SIGTERM);
	ck_assert_int_eq(waitpid(xdevd_pid, &st, 0), xdevd_pid);
	xdevd_pid = -1;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "xdevd ended with status 0x%x: %s", st, xdevd_said());
}

/* Run ARGV inside the driver domain; its output (up to N bytes) in OUT. */
static int in_driver_domain(char *const argv[], char *out, size_t n)
{
	int p[2], st = 0;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		enter_driver_domain();
		dup2(p[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while (got + 1 < n && (r = read(p[0], out + got, n - got - 1)) > 0)
		got += (size_t)r;
	out[got] = 0;
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void io_break_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

static void timer_break_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

/* Run the loop (the library's operations progress meanwhile) until FD is
 * readable, or for at most WAIT_MS; true if it is. */
static bool loop_until_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ev_timer timer;
	ev_io io;

	ev_io_init(&io, io_break_cb, fd,
		   EV_READ);
	ev_timer_init(&timer, timer_break_cb, WAIT_MS / 1000.0, 0);
	ev_io_start(loop, &io);
	ev_timer_start(loop, &timer);
	ev_run(loop, 0);
	ev_io_stop(loop, &io);
	ev_timer_stop(loop, &timer);
	return poll(&p, 1, 0) == 1;
}

/* Wait until a gated script announces itself; returns its action. */
static const char *gate_wait_started(void)
{
	static char action[32];
	char path[320];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/started", gate);
	fd = open(path, O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(loop_until_readable(fd), "no gated script started: %s",
		      xdevd_said());
	r = read(fd, action, sizeof(action) - 1);
	close(fd);
	ck_assert_int_gt(r, 0);
	action[r - 1] = 0;
	return action;
}

/* ---- fixture ------------------------------------------------------------- */

static void make_fifo(const char *name)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%s", gate, name);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
}

static const char *image(const char *name);

static void setup(enum simhost_daemon daemon)
{
	xdev_ctx_opts o = { .timeout_remove_ms = 3000,
			    .timeout_hotplug_ms = HOTPLUG_MS };
	char lockdir[300];
	int r;

	fx_start(daemon, 1);
	xs = fx_xs();
	r = simhost_domain_create_kind(&fx_host, "guest", 0, SIMHOST_DOM_GUEST,
				       &guest_id);
	ck_assert_msg(r == 0, "guest: %s", fx_host.err);
	r = simhost_domain_create_kind(&fx_host, drv_name, 0,
				       SIMHOST_DOM_DRIVER, &drv_id);
	ck_assert_msg(r == 0, "driver domain: %s", fx_host.err);
	snprintf(record, sizeof(record), "%s/record", fx_host.dir);
	snprintf(xdevd_log, sizeof(xdevd_log), "%s/xdevd.log", fx_host.dir);
	snprintf(lockdir, sizeof(lockdir), "%s/hotplug-lock", fx_host.dir);
	snprintf(gate, sizeof(gate), "%s/gate", fx_host.dir);
	ck_assert_int_eq(mkdir(gate, 0700), 0);
	loop_fd = fx_loop_attach(image("loop.img"), loopdev, sizeof(loopdev));
	make_fifo("started");
	make_fifo("open");
	/* inherited by xdevd and its scripts */
	setenv("XDEV_TEST_RECORD", record, 1);
	setenv("XDEV_HOTPLUG_LOCK_DIR", lockdir, 1);
	loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(loop);
	ck_assert_int_eq(xdev_ctx_new_libev(&o, loop, &ctx), 0);
}

static void setup_c(void) { setup(SIMHOST_CXENSTORED); }
static void setup_o(void) { setup(SIMHOST_OXENSTORED); }

static void teardown(void)
{
	if (xdevd_pid > 0)
		xdevd_stop();
	script_timeout = "30";
	xdev_ctx_free(ctx);
	ctx = NULL;
	ev_loop_destroy(loop);
	loop = NULL;
	if (loop_fd >= 0)
		close(loop_fd);
	loop_fd = -1;
	xs_close(xs);
	xs = NULL;
	fx_stop();
}

/* ---- helpers ------------------------------------------------------------- */

/* PATH's subtree as "name=value ..." (one level), for failure messages. */
static const char *dump(const char *path)
{
	static char buf[2048];
	size_t len;
	unsigned n, i;
	char **v = xs_directory(xs, XBT_NULL, path, &n);

	snprintf(buf, sizeof(buf), "%s:", path);
	for (i = 0; v && i < n; i++) {
		char *p, *val;

		if (asprintf(&p, "%s/%s", path, v[i]) < 0)
			break;
		val = xs_read(xs, XBT_NULL, p, NULL);
		free(p);
		len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, " %.40s=%.60s", v[i],
			 val ? val : "?");
		free(val);
	}
	free(v);
	return buf;
}

static bool exists(const char *path)
{
	char *v = xs_read(xs, XBT_NULL, path, NULL);

	free(v);
	return v != NULL;
}

static void assert_clean(const xdev_device_id *id)
{
	struct track t;

	store__paths(id, &t);
	ck_assert_msg(!exists(t.fe), "%s left behind", t.fe);
	ck_assert_msg(!exists(t.be), "%s left behind", t.be);
	ck_assert_msg(!exists(t.rec), "%s left behind", t.rec);
}

static const char *recorded(void)
{
	static char buf[2048];
	FILE *f = fopen(record, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	buf[n] = 0;
	if (f)
		fclose(f);
	return buf;
}

static xdev_desc *vbd_desc(const char *script, const char *target,
			   const char *access)
{
	xdev_desc *d = NULL;

	ck_assert_int_eq(xdev_desc_new(XDEV_VBD, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "vdev", "xvdb"), 0);
	ck_assert_int_eq(xdev_desc_set(d, "target", target), 0);
	ck_assert_int_eq(xdev_desc_set(d, "backend", drv_name), 0);
	if (script)
		ck_assert_int_eq(xdev_desc_set(d, "script", script), 0);
	if (access)
		ck_assert_int_eq(xdev_desc_set(d, "access", access), 0);
	return d;
}

/* A 2 MiB image in the host's directory. */
static const char *image(const char *name)
{
	static char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fx_host.dir, name);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 2 << 20), 0);
	close(fd);
	return path;
}

struct result { bool done; int r; };

static void on_done(xdev_op *op, int r, void *user)
{
	struct result *res = user;

	(void)op;
	res->done = true;
	res->r = r;
	ev_break(loop, EVBREAK_ALL);
}

static void run_until(struct result *res)
{
	ev_timer timer;

	ev_timer_init(&timer, timer_break_cb, WAIT_MS / 1000.0, 0);
	ev_timer_start(loop, &timer);
	if (!res->done)
		ev_run(loop, 0);
	ev_timer_stop(loop, &timer);
	ck_assert_msg(res->done, "the operation did not end: %s", xdevd_said());
}

static int add_vbd(const char *script, const char *target,
		   const char *access, xdev_device_id *id)
{
	xdev_desc *d = vbd_desc(script, target, access);
	int r = xdev_vbd_add(ctx, guest_id, d, XDEV_ADD_WAIT_CONNECTED, NULL,
			     id, NULL);

	xdev_desc_free(d);
	return r;
}

/* ---- round trips ----------------------------------------------------------- */

/* Native hotplug in the driver domain (its default), then, with --native
 * never, the block script: both attach and release the image. */
START_TEST(vbd_round_trip_attaches_and_detaches_a_loop_device)
{
	const char *img = image("disk.img");
	xdev_device_id id;
	struct track t;
	char path[400], *pd;
	int r;

	xdevd_native = _i ? "never" : "auto";
	xdevd_start(REAL_SCRIPTS, NULL);
	r = add_vbd(NULL, img, NULL, &id);
	ck_assert_msg(r == 0, "add: %s; xdevd: %s", xdev_ctx_last_message(ctx),
		      xdevd_said());
	ck_assert_uint_eq(id.backend_domid, drv_id);
	ck_assert_int_eq(fx_loops_backing(img), 1);
	/* the block script of the driver domain wrote what it attached */
	store__paths(&id, &t);
	snprintf(path, sizeof(path), "%s/physical-device-path", t.be);
	pd = xs_read(xs, XBT_NULL, path, NULL);
	ck_assert_msg(pd && !strncmp(pd, "/dev/loop", 9), "%s", pd ? pd : "-");
	free(pd);
	ck_assert_msg(!strstr(xdevd_said(), "native add (no script)") == !!_i,
		      "native %s: %s", xdevd_native, xdevd_said());
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(img), 0);
	assert_clean(&id);
	xdevd_stop();
	xdevd_native = "auto";
}
END_TEST

START_TEST(vif_round_trip_enslaves_the_interface_to_the_bridge)
{
	char *add_br[] = { "ip", "link", "add", "xdbr0", "type", "bridge", NULL };
	char *up_br[] = { "ip", "link", "set", "xdbr0", "up", NULL };
	char vif[32], out[4096], host[4096], be[100];
	char *show[] = { "ip", "-o", "link", "show", vif, NULL };
	xdev_desc *d = NULL;
	xdev_device_id id;
	int r;

	ck_assert_int_eq(in_driver_domain(add_br, out, sizeof(out)), 0);
	ck_assert_int_eq(in_driver_domain(up_br, out, sizeof(out)), 0);
	xdevd_start(REAL_SCRIPTS, NULL);
	ck_assert_int_eq(xdev_desc_new(XDEV_VIF, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "bridge", "xdbr0"), 0);
	ck_assert_int_eq(xdev_desc_set(d, "backend", drv_name), 0);
	ck_assert_int_eq(xdev_desc_set(d, "mtu", "1400"), 0);
	r = xdev_vif_add(ctx, guest_id, d, XDEV_ADD_WAIT_CONNECTED, NULL, &id,
			 NULL);
	xdev_desc_free(d);
	snprintf(be, sizeof(be), "/local/domain/%u/error/backend/vif/%u/0",
		 drv_id, guest_id);
	if (r) system("tail -20 $XDEV_SIM_DIR/drivers.log >&2");
	ck_assert_msg(r == 0, "add: %s; xdevd: %s; %s",
		      xdev_ctx_last_message(ctx), xdevd_said(), dump(be));
	snprintf(vif, sizeof(vif), "vif%u.%u", guest_id, id.devid);
	ck_assert_int_eq(in_driver_domain(show, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "master xdbr0") && strstr(out, "mtu 1400") &&
		      strstr(out, "UP"), "%s", out);
	ck_assert_msg(strstr(xdevd_said(), "native add (no script)"), "%s",
		      xdevd_said());
	/* the driver domain's interface, not the host's */
	FILE *p = popen("ip -o link show", "r");
	ck_assert_ptr_nonnull(p);
	host[fread(host, 1, sizeof(host) - 1, p)] = 0;
	pclose(p);
	ck_assert_msg(!strstr(host, vif), "%s is in the host's namespace", vif);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	assert_clean(&id);
	/* netback removes it a moment after Closed, as in Linux */
	ck_assert_msg(fx_link_wait_gone(drv_id, vif, 10000), "%s left", vif);
	xdevd_stop();
}
END_TEST

START_TEST(slow_remove_script_runs_before_the_nodes_go)
{
	xdev_device_id id;
	char want[200];

	setenv("REMOVE_DELAY", "0.3", 1);
	xdevd_start(TEST_SCRIPTS, NULL);
	ck_assert_msg(add_vbd("ok", loopdev, "r", &id) == 0, "%s; %s",
		      xdev_ctx_last_message(ctx), xdevd_said());
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	/* the remove script found the backend directory present: the nodes
	 * went after it ended, and by then the operation had waited */
	snprintf(want, sizeof(want),
		 "add /local/domain/%u/backend/vbd/%u/51728\n"
		 "remove /local/domain/%u/backend/vbd/%u/51728 backend-present\n",
		 drv_id, guest_id, drv_id, guest_id);
	ck_assert_str_eq(recorded(), want);
	assert_clean(&id);
	xdevd_stop();
	unsetenv("REMOVE_DELAY");
}
END_TEST

START_TEST(failing_script_reports_its_hotplug_error)
{
	xdev_device_id id;

	xdevd_start(TEST_SCRIPTS, NULL);
	ck_assert_int_eq(add_vbd("fail", loopdev, "r", &id),
			 XDEV_E_HOTPLUG_FAILED);
	ck_assert_str_eq(xdev_ctx_last_message(ctx),
			 "the test script fails on purpose");
	assert_clean(&id);
	xdevd_stop();
	/* the library deleted the failed device; xdevd released it */
	ck_assert_msg(strstr(recorded(), "remove "), "%s", recorded());
}
END_TEST

START_TEST(hanging_script_is_killed_at_the_daemons_timeout)
{
	long long t0 = now_ms(), took;
	xdev_device_id id;

	script_timeout = "3";
	xdevd_start(TEST_SCRIPTS, NULL);
	ck_assert_int_eq(add_vbd("hang", loopdev, "r", &id),
			 XDEV_E_HOTPLUG_FAILED);
	took = now_ms() - t0;
	/* SIGTERM at 3 s is ignored by the script; SIGKILL 2 s later; far
	 * below the library's own timeout */
	ck_assert_int_ge(took, 5000);
	ck_assert_int_lt(took, HOTPLUG_MS / 2);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "timed out after 3 s"),
		      "%s", xdev_ctx_last_message(ctx));
	assert_clean(&id);
	xdevd_stop();
}
END_TEST

START_TEST(forced_removal_still_runs_the_remove_script)
{
	xdev_device_id id;
	long long t0;

	xdevd_start(TEST_SCRIPTS, NULL);
	ck_assert_int_eq(add_vbd("ok", loopdev, "r", &id), 0);
	ck_assert_int_eq(simhost_fault_set(&fx_host, drv_id, "*",
					   "backend-unresponsive"), 0);
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_FORCE, NULL,
					    NULL), 0);
	ck_assert_int_lt(now_ms() - t0, 3000); /* no wait for the backend */
	ck_assert_msg(strstr(recorded(), "backend-present"), "%s", recorded());
	assert_clean(&id);
	xdevd_stop();
}
END_TEST

START_TEST(same_image_cannot_be_attached_writable_twice)
{
	const char *img = image("shared.img");
	xdev_device_id a, b;
	xdev_desc *d;
	int r;

	xdevd_start(REAL_SCRIPTS, NULL);
	ck_assert_int_eq(add_vbd(NULL, img, "rw", &a), 0);
	d = vbd_desc(NULL, img, "rw");
	ck_assert_int_eq(xdev_desc_set(d, "vdev", "xvdc"), 0);
	r = xdev_vbd_add(ctx, guest_id, d, XDEV_ADD_WAIT_CONNECTED, NULL, &b,
			 NULL);
	xdev_desc_free(d);
	ck_assert_int_eq(r, XDEV_E_HOTPLUG_FAILED);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), img), "%s",
		      xdev_ctx_last_message(ctx));
	assert_clean(&b);
	ck_assert_int_eq(fx_loops_backing(img), 1);
	ck_assert_int_eq(xdev_device_remove(ctx, &a, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(img), 0);
	assert_clean(&a);
	xdevd_stop();
}
END_TEST

/* ---- restarts ------------------------------------------------------------ */

START_TEST(restart_in_the_middle_of_an_add_completes_it)
{
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	struct track t;
	char path[400];
	xdev_desc *d = vbd_desc("gate", loopdev, "r");

	how.user = &res;
	xdevd_start(TEST_SCRIPTS, "add");
	ck_assert_int_eq(xdev_vbd_add(ctx, guest_id, d, 0, &how, &id, NULL), 0);
	xdev_desc_free(d);
	ck_assert_str_eq(gate_wait_started(), "add");
	xdevd_stop(); /* the script is terminated, and that is no failure */
	store__paths(&id, &t);
	snprintf(path, sizeof(path), "%s/hotplug-status", t.be);
	ck_assert_msg(exists(t.be) && !exists(path), "%s", xdevd_said());
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert(!res.done);
	xdevd_start(TEST_SCRIPTS, NULL); /* replays the add */
	run_until(&res);
	ck_assert_msg(res.r == 0, "add: %s; %s", xdev_strerror(res.r),
		      xdevd_said());
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
	xdevd_stop();
}
END_TEST

START_TEST(restart_in_the_middle_of_a_remove_completes_it)
{
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	struct track t;
	char path[400], *v;

	how.user = &res;
	xdevd_start(TEST_SCRIPTS, "remove");
	ck_assert_int_eq(add_vbd("gate", loopdev, "r", &id), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, &how,
					    NULL), 0);
	ck_assert_str_eq(gate_wait_started(), "remove");
	xdevd_stop();
	/* closed, but the script did not finish: the nodes are still there */
	store__paths(&id, &t);
	snprintf(path, sizeof(path), "%s/state", t.be);
	v = xs_read(xs, XBT_NULL, path, NULL);
	ck_assert_msg(v && !strcmp(v, "6"), "state %s", v ? v : "(none)");
	free(v);
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert(!res.done);
	xdevd_start(TEST_SCRIPTS, NULL);
	run_until(&res);
	ck_assert_int_eq(res.r, 0);
	ck_assert_msg(strstr(recorded(), "backend-present"), "%s", recorded());
	assert_clean(&id);
	xdevd_stop();
}
END_TEST

START_TEST(driver_domain_dying_ends_a_removal_at_once)
{
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	long long t0;

	how.user = &res;
	xdevd_start(TEST_SCRIPTS, "remove");
	ck_assert_int_eq(add_vbd("gate", loopdev, "r", &id), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, &how,
					    NULL), 0);
	ck_assert_str_eq(gate_wait_started(), "remove");
	t0 = now_ms();
	ck_assert_int_eq(simhost_domain_destroy(&fx_host, drv_id, 0), 0);
	run_until(&res);
	ck_assert_int_eq(res.r, 0);
	ck_assert_int_lt(now_ms() - t0, 2000);
	assert_clean(&id);
	kill(xdevd_pid, SIGKILL); /* it lost its domain */
	waitpid(xdevd_pid, NULL, 0);
	xdevd_pid = -1;
}
END_TEST

START_TEST(daemon_mode_in_dom0_round_trip)
{
	xdev_ctx_opts o = { .timeout_remove_ms = 3000,
			    .timeout_hotplug_ms = HOTPLUG_MS,
			    .hotplug = XDEV_HOTPLUG_DAEMON };
	xdev_device_id id;
	xdev_desc *d;
	char want[200];
	int r;

	xdev_ctx_free(ctx);
	ck_assert_int_eq(xdev_ctx_new_libev(&o, loop, &ctx), 0);
	drv_id = 0; /* xdevd in dom0, for dom0's backends */
	setenv("REMOVE_DELAY", "0.3", 1);
	xdevd_start(TEST_SCRIPTS, NULL);
	d = vbd_desc("ok", loopdev, "r");
	ck_assert_int_eq(xdev_desc_set(d, "backend", "0"), 0);
	r = xdev_vbd_add(ctx, guest_id, d, XDEV_ADD_WAIT_CONNECTED, NULL, &id,
			 NULL);
	xdev_desc_free(d);
	ck_assert_msg(r == 0, "add: %s; xdevd: %s", xdev_ctx_last_message(ctx),
		      xdevd_said());
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	/* the daemon's scripts, once each, and the nodes went after the
	 * remove script (the library did not delete them under it) */
	snprintf(want, sizeof(want),
		 "add /local/domain/0/backend/vbd/%u/51728\n"
		 "remove /local/domain/0/backend/vbd/%u/51728 backend-present\n",
		 guest_id, guest_id);
	ck_assert_str_eq(recorded(), want);
	assert_clean(&id);
	xdevd_stop();
	unsetenv("REMOVE_DELAY");
}
END_TEST

/* xdevd crashed (kill -9) while a device it added was attached; a forced
 * removal meanwhile waits for it at most 2 s (before: the whole hotplug
 * timeout, although FORCE says "do not wait") and deletes the backend
 * itself; the daemon that comes back runs the remove script for it, with
 * the script that added it (before: never - its loop device leaked). */
START_TEST(a_removal_while_the_daemon_is_down_gets_its_script_at_restart)
{
	xdev_device_id id;
	char state[320];
	long long t0, end;
	DIR *dir;
	struct dirent *e;
	int files = 0;

	xdevd_start(TEST_SCRIPTS, NULL);
	ck_assert_int_eq(add_vbd("ok", loopdev, "r", &id), 0);
	kill(xdevd_pid, SIGKILL);
	waitpid(xdevd_pid, NULL, 0);
	xdevd_pid = -1;
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_FORCE, NULL,
					    NULL), 0);
	ck_assert_int_lt(now_ms() - t0, HOTPLUG_MS / 2);
	assert_clean(&id);
	ck_assert_msg(!strstr(recorded(), "remove "), "%s", recorded());
	xdevd_start(TEST_SCRIPTS, NULL);
	end = now_ms() + 30000;
	while (!strstr(recorded(), "remove ") && now_ms() < end)
		usleep(20000); /* a file's content: nothing to wait on */
	ck_assert_msg(strstr(recorded(), "remove ") &&
		      strstr(recorded(), "backend-gone"), "%s; %s", recorded(),
		      xdevd_said());
	xdevd_stop();
	/* and it remembers nothing more */
	snprintf(state, sizeof(state), "%s/xdevd-state", fx_host.dir);
	ck_assert_ptr_nonnull(dir = opendir(state));
	while ((e = readdir(dir)))
		files += e->d_name[0] != '.';
	closedir(dir);
	ck_assert_int_eq(files, 0);
}
END_TEST

/* The guest destroyed: its backend in the driver domain closes on its own,
 * online still 1 (C xenstored; oxenstored's backend stays Connected).
 * The removal declares it online=0 for xdevd, which runs the remove
 * script at once; before, the library saw Closed, wrote nothing, and
 * waited the whole hotplug timeout for a daemon that was waiting for
 * online=0 (found by make soak). */
START_TEST(removal_of_a_destroyed_guests_device_does_not_wait)
{
	xdev_device_id id;
	long long t0;

	xdevd_start(TEST_SCRIPTS, NULL);
	ck_assert_int_eq(add_vbd("ok", loopdev, "r", &id), 0);
	ck_assert_int_eq(simhost_domain_destroy(&fx_host, guest_id, 0), 0);
	t0 = now_ms();
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_msg(now_ms() - t0 < HOTPLUG_MS / 2, "%lld ms; %s",
		      now_ms() - t0, xdevd_said());
	ck_assert_msg(strstr(recorded(), "remove "), "%s; %s", recorded(),
		      xdevd_said());
	assert_clean(&id);
	xdevd_stop();
}
END_TEST

static TCase *daemon_case(const char *name, void (*setup_fn)(void))
{
	TCase *tc = tcase_create(name);
	const TTest *const tests[] = {
		vbd_round_trip_attaches_and_detaches_a_loop_device,
		vif_round_trip_enslaves_the_interface_to_the_bridge,
		slow_remove_script_runs_before_the_nodes_go,
		failing_script_reports_its_hotplug_error,
		hanging_script_is_killed_at_the_daemons_timeout,
		forced_removal_still_runs_the_remove_script,
		same_image_cannot_be_attached_writable_twice,
		restart_in_the_middle_of_an_add_completes_it,
		restart_in_the_middle_of_a_remove_completes_it,
		driver_domain_dying_ends_a_removal_at_once,
		daemon_mode_in_dom0_round_trip,
		a_removal_while_the_daemon_is_down_gets_its_script_at_restart,
		removal_of_a_destroyed_guests_device_does_not_wait,
	};
	size_t i;

	tcase_add_checked_fixture(tc, setup_fn, teardown);
	tcase_set_timeout(tc, 120);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (tests[i] == vbd_round_trip_attaches_and_detaches_a_loop_device)
			tcase_add_loop_test(tc, tests[i], 0, 2);
		else
			tcase_add_test(tc, tests[i]);
	return tc;
}

int main(int argc, char **argv)
{
	Suite *s = suite_create("xdevd");
	SRunner *sr;
	int failed;

	(void)argc;
	if (geteuid() != 0) {
		fprintf(stderr, "check_xdevd: needs root (loop devices, "
			"network namespaces)\n");
		return 77;
	}
	fx_ensure_preloaded(argv);
	suite_add_tcase(s, daemon_case("xenstored", setup_c));
	suite_add_tcase(s, daemon_case("oxenstored", setup_o));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
