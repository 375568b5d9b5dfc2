/*
 * The shared fixture of the library's tests (libfixture.h): a simulated
 * host per test (simfixture.h) with a context on it, the helpers the tests
 * share, and main() for every program.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libfixture.h"

struct xs_handle *xs;
xdev_ctx *ctx;
char loopdev[64];
static int loop_fd = -1;
char events[4096];
int gone_alive = -1;
bool free_on_state;

const xdev_op_how how_patient = {
	.timeout_init_ms = PATIENT_MS, .timeout_hotplug_ms = PATIENT_MS,
	.timeout_connect_ms = PATIENT_MS, .timeout_remove_ms = PATIENT_MS,
};

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void on_event(void *user, const xdev_event *ev)
{
	char e[64];

	(void)user;
	if (ev->type == XDEV_EVENT_DEVICE_GONE)
		gone_alive = ev->backend_domain_alive;
	if (ev->type == XDEV_EVENT_DEVICE_STATE)
		snprintf(e, sizeof(e), "state%d ", ev->backend_state);
	else
		snprintf(e, sizeof(e), "%s:%u/%u ",
			 ev->type == XDEV_EVENT_DEVICE_GONE ? "gone" : "done",
			 ev->device.frontend_domid, ev->device.devid);
	strncat(events, e, sizeof(events) - strlen(events) - 1);
	if (free_on_state && ev->type == XDEV_EVENT_DEVICE_STATE) {
		free_on_state = false;
		xdev_ctx_free(ctx);
		ctx = NULL;
	}
}

/* The library's warnings, in the test's output: the why of a failure. */
static void on_log(void *user, enum xdev_log_level level, const char *m)
{
	(void)user;
	(void)level;
	fprintf(stderr, "xdev: %s\n", m);
}

void open_ctx(xdev_ctx_opts *o)
{
	int r;

	/* the agent stands in for udev's rules: only where the context
	 * leaves the scripts to an outside agent (or to none) */
	if (o->hotplug == XDEV_HOTPLUG_EXTERNAL ||
	    o->hotplug == XDEV_HOTPLUG_NONE)
		fx_hotplug_agent_start();
	else
		fx_hotplug_agent_stop();
	o->event_cb = on_event;
	if (!o->log_cb) {
		o->log_cb = on_log;
		o->log_level = XDEV_LOG_WARNING;
	}
	r = xdev_ctx_new(o, &ctx);
	ck_assert_msg(r == 0, "xdev_ctx_new: %s", xdev_strerror(r));
}

static void setup(enum simhost_daemon daemon)
{
	char image[300];
	/* only the removal timeout is short: the adds must not run into
	 * theirs on a busy machine */
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .hotplug = XDEV_HOTPLUG_EXTERNAL };
	int fd;

	fx_start(daemon, 1);
	xs = fx_xs();
	snprintf(image, sizeof(image), "%s/disk.img", fx_host.dir);
	fd = open(image, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4 << 20), 0);
	close(fd);
	loop_fd = fx_loop_attach(image, loopdev, sizeof(loopdev));
	events[0] = 0;
	gone_alive = -1;
	open_ctx(&o);
}

static void setup_c(void) { setup(SIMHOST_CXENSTORED); }
static void setup_o(void) { setup(SIMHOST_OXENSTORED); }

static void teardown(void)
{
	xdev_ctx_free(ctx);
	ctx = NULL;
	if (loop_fd >= 0)
		close(loop_fd);
	loop_fd = -1;
	if (xs)
		xs_close(xs);
	xs = NULL;
	fx_stop();
}

/* ---- helpers ------------------------------------------------------------- */

uint32_t guest(const char *name, enum simhost_dom_kind kind)
{
	uint32_t id = 0;
	int r = simhost_domain_create_kind(&fx_host, name, 0, kind, &id);

	ck_assert_msg(r == 0, "domain %s: %s", name, fx_host.err);
	return id;
}

xdev_desc *vbd(const char *vdev, const char *backend)
{
	xdev_desc *d = NULL;

	ck_assert_int_eq(xdev_desc_new(XDEV_VBD, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "vdev", vdev), 0);
	ck_assert_int_eq(xdev_desc_set(d, "target", loopdev), 0);
	if (backend)
		ck_assert_int_eq(xdev_desc_set(d, "backend", backend), 0);
	return d;
}

int add_vbd(uint32_t dom, const char *vdev, const char *backend,
	    unsigned flags, xdev_device_id *id)
{
	xdev_desc *d = vbd(vdev, backend);
	int r = xdev_vbd_add(ctx, dom, d, flags, NULL, id, NULL);

	xdev_desc_free(d);
	return r;
}

bool exists(const char *path)
{
	char *v = xs_read(xs, XBT_NULL, path, NULL);

	free(v);
	return v != NULL;
}

int state_at(const char *dir)
{
	char path[300], *v;
	int s;

	snprintf(path, sizeof(path), "%s/state", dir);
	v = xs_read(xs, XBT_NULL, path, NULL);
	s = v ? atoi(v) : 0;
	free(v);
	return s;
}

void paths_of(const xdev_device_id *id, struct track *t)
{
	store__paths(id, t);
}

/* The names under DIR, for a failure message. */
const char *children(const char *dir)
{
	static char buf[512];
	unsigned n, i;
	char **v = xs_directory(xs, XBT_NULL, dir, &n);

	buf[0] = 0;
	for (i = 0; v && i < n; i++) {
		strncat(buf, v[i], sizeof(buf) - strlen(buf) - 2);
		strcat(buf, " ");
	}
	free(v);
	return buf;
}

/* Nothing of the device is left in the store. */
void assert_clean(const xdev_device_id *id)
{
	struct track t;

	paths_of(id, &t);
	ck_assert_msg(!exists(t.fe), "%s left behind: %s", t.fe,
		      children(t.fe));
	ck_assert_msg(!exists(t.be), "%s left behind: %s", t.be,
		      children(t.be));
	ck_assert_msg(!exists(t.rec), "%s left behind", t.rec);
}

void on_done(xdev_op *op, int r, void *user)
{
	struct result *res = user;

	(void)op;
	res->done = true;
	res->r = r;
}

/* Run the private loop until RES is done (bounded). */
void run_until(struct result *res, int ms)
{
	long long end = now_ms() + ms;

	while (!res->done && now_ms() < end)
		xdev_ctx_run(ctx, (int)(end - now_ms()));
	ck_assert_msg(res->done, "operation did not complete in %d ms", ms);
}

int wait_state(const char *dir, int want, int ms)
{
	long long end = now_ms() + ms;
	char path[300];

	snprintf(path, sizeof(path), "%s/state", dir);
	ck_assert(xs_watch(xs, path, "w"));
	while (state_at(dir) != want && now_ms() < end)
		fx_next_event(xs, (int)(end - now_ms()), NULL);
	xs_unwatch(xs, path, "w");
	while (fx_next_event(xs, 0, NULL) == 0)
		;
	return state_at(dir) == want ? 0 : -ETIMEDOUT;
}

/* Wait (a watch) until PATH exists; true if it does within MS. */
bool wait_exists(const char *path, int ms)
{
	long long end = now_ms() + ms;

	ck_assert(xs_watch(xs, path, "e"));
	while (!exists(path) && now_ms() < end)
		fx_next_event(xs, (int)(end - now_ms()), NULL);
	xs_unwatch(xs, path, "e");
	while (fx_next_event(xs, 0, NULL) == 0)
		;
	return exists(path);
}

/* A failed SAFE removal: the device is still there and online (nothing
 * deleted, nothing torn down).  What its ends do next is theirs: a
 * frontend that already closed stays closed, a refusing one stays
 * Closing. */
void assert_kept(const xdev_device_id *id)
{
	struct track t;
	char path[300], *v;

	paths_of(id, &t);
	ck_assert(exists(t.fe) && exists(t.be) && exists(t.rec));
	snprintf(path, sizeof(path), "%s/online", t.be);
	v = xs_read(xs, XBT_NULL, path, NULL);
	ck_assert_str_eq(v ? v : "", "1");
	free(v);
}

void connected_vbd(uint32_t g, xdev_device_id *id)
{
	struct track t;

	int r = add_vbd(g, "xvda", NULL, XDEV_ADD_WAIT_CONNECTED, id);

	ck_assert_msg(r == 0, "add: %s: %s", xdev_strerror(r),
		      xdev_ctx_last_message(ctx));
	paths_of(id, &t);
	ck_assert_int_eq(wait_state(t.fe, 4, 5000), 0);
}

/* ---- library hotplug mode ------------------------------------------------ */

char record[300];

/* A context in library mode with the test scripts of tests/hotplug. */
void library_ctx(int hotplug_ms)
{
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .timeout_hotplug_ms = hotplug_ms,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = TEST_SRCDIR "/tests/hotplug" };

	xdev_ctx_free(ctx);
	open_ctx(&o);
	snprintf(record, sizeof(record), "%s/record", fx_host.dir);
	ck_assert_int_eq(setenv("XDEV_TEST_RECORD", record, 1), 0);
}

const char *recorded(void)
{
	static char buf[2048];
	FILE *f = fopen(record, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	buf[n] = 0;
	if (f)
		fclose(f);
	return buf;
}

int add_with_script(uint32_t g, const char *script, const char *target,
		    xdev_device_id *id)
{
	xdev_desc *d = vbd("xvda", NULL);
	int r;

	ck_assert_int_eq(xdev_desc_set(d, "script", script), 0);
	if (target)
		ck_assert_int_eq(xdev_desc_set(d, "target", target), 0);
	r = xdev_vbd_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, NULL, id, NULL);
	xdev_desc_free(d);
	return r;
}

/* ---- the gate script: held until the test opens it ----------------------- */

char queue_log[4096];

static void on_log_keep(void *user, enum xdev_log_level level, const char *m)
{
	(void)user;
	if (level <= XDEV_LOG_WARNING)
		fprintf(stderr, "xdev: %s\n", m);
	if (strstr(m, "waits for one of"))
		strncat(queue_log, m, sizeof(queue_log) - strlen(queue_log) - 2),
		strcat(queue_log, "\n");
}

/* Drive the loop until FIFO has a writer's line; returns it. */
const char *fifo_line(const char *fifo)
{
	static char line[32];
	struct pollfd p = { .events = POLLIN };
	long long end = now_ms() + 20000;
	ssize_t r;

	p.fd = open(fifo, O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(p.fd, 0);
	while (poll(&p, 1, 0) != 1 && now_ms() < end)
		xdev_ctx_run(ctx, 20);
	r = read(p.fd, line, sizeof(line) - 1);
	close(p.fd);
	ck_assert_msg(r > 0, "%s: nothing within 20 s", fifo);
	line[r - 1] = 0;
	return line;
}

void gate_open(const char *fifo)
{
	int fd = open(fifo, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "go\n", 3), 3);
	close(fd);
}

/* Without the gate, remove the two devices IDS and check they are gone. */
void gate_remove_both(const xdev_device_id ids[2])
{
	int i;

	unsetenv("XDEV_TEST_GATE");
	unsetenv("XDEV_TEST_GATE_ON");
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(xdev_device_remove(ctx, &ids[i],
						    XDEV_REMOVE_AUTO, NULL,
						    NULL), 0);
	for (i = 0; i < 2; i++)
		assert_clean(&ids[i]);
}

/* Library mode with the test scripts; queueing said in queue_log. */
xdev_ctx_opts gate_opts(void)
{
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .timeout_hotplug_ms = 20000,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = TEST_SRCDIR "/tests/hotplug",
			    .log_cb = on_log_keep,
			    .log_level = XDEV_LOG_DEBUG };

	return o;
}

/* The gate script's FIFOs, $fx_host.dir/gate/{started,open}, in STARTED
 * and OPEN_FIFO; its add runs wait there.  A fresh library context with
 * options O. */
void gate_setup(xdev_ctx_opts *o, char started[320],
		char open_fifo[320])
{
	char gate[300];

	xdev_ctx_free(ctx);
	queue_log[0] = 0;
	open_ctx(o);
	snprintf(gate, sizeof(gate), "%s/gate", fx_host.dir);
	snprintf(started, 320, "%s/started", gate);
	snprintf(open_fifo, 320, "%s/open", gate);
	ck_assert_int_eq(mkdir(gate, 0700), 0);
	ck_assert_int_eq(mkfifo(started, 0600), 0);
	ck_assert_int_eq(mkfifo(open_fifo, 0600), 0);
	ck_assert_int_eq(setenv("XDEV_TEST_GATE", gate, 1), 0);
	ck_assert_int_eq(setenv("XDEV_TEST_GATE_ON", "add", 1), 0);
}

/* ---- operations the test drives itself ----------------------------------- */

/* Add VDEV on guest G (backend BACKEND, NULL: dom0) asynchronously. */
void add_async(uint32_t g, const char *vdev, const char *backend,
	       const char *script, struct result *res,
	       xdev_device_id *id, xdev_op **op)
{
	xdev_desc *d = vbd(vdev, backend);
	xdev_op_how how = { .cb = on_done, .user = res };

	if (script)
		ck_assert_int_eq(xdev_desc_set(d, "script", script), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, id, op), 0);
	xdev_desc_free(d);
}

/* ---- the programs -------------------------------------------------------- */

static TCase *daemon_case(const char *name, void (*setup_fn)(void),
			  const struct lib_tests *t)
{
	TCase *tc = tcase_create(name);
	size_t i;

	/* XDEV_CK_TEST=NAME runs that test only (a developer's shortcut;
	 * Check itself selects suites and cases, not tests) */
	const char *only = getenv("XDEV_CK_TEST");

	tcase_add_checked_fixture(tc, setup_fn, teardown);
	tcase_set_timeout(tc, 300);
	for (i = 0; i < t->n; i++)
		if (!only || !strcmp(only, t->tests[i]->name))
			tcase_add_test(tc, t->tests[i]);
	if (t->loop && (!only || !strcmp(only, t->loop->name)))
		tcase_add_loop_test(tc, t->loop, 0, t->loop_end);
	return tc;
}

int lib_main(char **argv, const struct lib_tests *t)
{
	Suite *s = suite_create(t->suite);
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_%s: needs root (loop devices, taps)\n",
			t->suite);
		return 77;
	}
	fx_ensure_preloaded(argv);
	suite_add_tcase(s, daemon_case("xenstored", setup_c, t));
	suite_add_tcase(s, daemon_case("oxenstored", setup_o, t));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The output of CMD (run by the shell: fixed strings only). */
const char *output_of(const char *cmd)
{
	static char buf[8192];
	FILE *p = popen(cmd, "r");
	size_t n;

	ck_assert_ptr_nonnull(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = 0;
	pclose(p);
	return buf;
}

/* ---- an application's own loop (xdev_loop_hooks) ------------------------- */

static int app_fd_register(void *user, int fd, int events, void **fd_user)
{
	(void)events;
	*fd_user = NULL;
	((struct app_loop *)user)->fd = fd;
	return 0;
}

static void app_fd_deregister(void *user, int fd, void *fd_user)
{
	(void)fd;
	(void)fd_user;
	((struct app_loop *)user)->fd = -1;
}

static void app_timer_set(void *user, long ms)
{
	struct app_loop *a = user;

	a->timer_ms = ms;
	a->armed_at = now_ms();
}

void app_loop_init(struct app_loop *a)
{
	a->fd = -1;
	a->timer_ms = -1;
	a->armed_at = 0;
	a->hooks.fd_register = app_fd_register;
	a->hooks.fd_deregister = app_fd_deregister;
	a->hooks.timer_set = app_timer_set;
	a->hooks.user = a;
}

void app_loop_turn(xdev_ctx *c, struct app_loop *a)
{
	struct pollfd p = { .fd = a->fd, .events = POLLIN };
	long left = a->timer_ms < 0 ? 100
		: (long)(a->armed_at + a->timer_ms - now_ms());

	if (poll(&p, 1, left < 0 ? 0 : (int)left) > 0) {
		xdev_ctx_fd_ready(c, a->fd, XDEV_POLL_IN);
	} else if (a->timer_ms >= 0) {
		a->timer_ms = -1; /* one-shot: fired, not armed any more */
		xdev_ctx_timeout(c);
	}
}
