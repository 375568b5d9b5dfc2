/*
 * glib-manager: a libvirt-style manager on a GLib main loop, driving xdev
 * through the header-only adapter xdev-glib.h, built against an installed
 * xdev:
 *
 *	cc -o glib-manager glib-manager.c $(pkg-config --cflags --libs xdev-glib)
 *	glib-manager [-r REMOVE_MS] GUEST DRIVER
 *
 * On guest domain GUEST, every step started from a callback of the loop:
 *  1. five NICs added at once: vif 1, 2 and 3 with their backend in dom0,
 *     vif 4 in driver domain DRIVER, and vif 5, waiting for Connected,
 *     which the manager cancels at its own deadline (500 ms) if it has not
 *     connected by then;
 *  2. vif 1, 2 and 3 removed at once, SAFE, AUTO and FORCE, each given
 *     REMOVE_MS (default: the library's 10000);
 *  3. "waiting for DEVICE_GONE": until vif 4's backend vanishes (its driver
 *     domain destroyed by someone else), at most 60 s;
 *  4. vif 6 and vif 7 (waiting for Connected) added at once; vif 6's
 *     completion callback frees the context, and whatever is still pending
 *     is cancelled inside the free, its callback run there.
 * Every result is printed, a line each.  Hotplug mode none: the backends'
 * scripts are another agent's business here.  Exit status 0 once the
 * sequence has run to its end, 1 if a step could not start or the wait
 * for DEVICE_GONE ran out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xdev-glib.h>

struct manager {
	xdev_ctx *ctx;          /* NULL once freed */
	GMainLoop *loop;
	uint32_t guest, driver;
	int remove_ms;
	int left;               /* operations of this step not yet done */
	void (*next)(struct manager *m); /* the step after them */
	xdev_device_id gone;    /* the device whose DEVICE_GONE ends step 3 */
	guint gone_deadline;
	int status;
};

/* One operation: what it is, and what to do when it completes. */
struct job {
	struct manager *m;
	char what[64];
	xdev_op *op;
	guint deadline;         /* a cancel at the manager's deadline */
	void (*then)(struct job *j);
};

static void name_of(const xdev_device_id *id, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%u@%u(backend %u)",
		 id->type == XDEV_VBD ? "vbd" : "vif", id->devid,
		 id->frontend_domid, id->backend_domid);
}

static void fail(struct manager *m, const char *why, int r)
{
	printf("%s: %d %s\n", why, r, xdev_strerror(r));
	m->status = 1;
	if (m->ctx) {
		xdev_ctx_free_glib(m->ctx);
		m->ctx = NULL;
	}
	g_main_loop_quit(m->loop);
}

/* ---- completions ---------------------------------------------------------- */

static void on_done(xdev_op *op, int result, void *user)
{
	struct job *j = user;
	struct manager *m = j->m;

	(void)op;
	printf("%s: %d %s\n", j->what, result, xdev_strerror(result));
	if (j->deadline)
		g_source_remove(j->deadline);
	if (j->then)
		j->then(j);
	g_free(j);
	/* the last of a step starts the next, unless the context is gone */
	if (--m->left == 0 && m->ctx && m->next)
		m->next(m);
}

static gboolean cancel_at_deadline(gpointer user)
{
	struct job *j = user;
	int r = xdev_op_cancel(j->op);

	j->deadline = 0;
	printf("cancel %s: %d %s\n", j->what, r, xdev_strerror(r));
	return G_SOURCE_REMOVE;
}

/* ---- starting operations ------------------------------------------------- */

static struct job *job_new(struct manager *m, xdev_op_how *how)
{
	struct job *j = g_new0(struct job, 1);

	j->m = m;
	memset(how, 0, sizeof(*how));
	how->cb = on_done;
	how->user = j;
	return j;
}

/* Start adding vif DEVID with its backend in BACKEND; NULL if refused. */
static struct job *add_vif(struct manager *m, unsigned devid,
			   uint32_t backend, unsigned flags)
{
	char buf[16], name[48];
	xdev_op_how how;
	struct job *j = job_new(m, &how);
	xdev_device_id id;
	xdev_desc *d;
	int r;

	if ((r = xdev_desc_new(XDEV_VIF, &d)) < 0)
		goto refused;
	snprintf(buf, sizeof(buf), "%u", devid);
	xdev_desc_set(d, "devid", buf);
	snprintf(buf, sizeof(buf), "%u", backend);
	xdev_desc_set(d, "backend", buf);
	r = xdev_vif_add(m->ctx, m->guest, d, flags, &how, &id, &j->op);
	xdev_desc_free(d);
	if (r < 0)
		goto refused;
	name_of(&id, name, sizeof(name));
	snprintf(j->what, sizeof(j->what), "add %s", name);
	m->left++;
	return j;
refused:
	g_free(j);
	fail(m, "an add could not start", r);
	return NULL;
}

static void remove_vif(struct manager *m, unsigned devid,
		       enum xdev_remove_mode mode, const char *mode_name)
{
	xdev_device_id id = { XDEV_VIF, 0, m->guest, devid };
	xdev_op_how how;
	struct job *j = job_new(m, &how);
	char name[48];
	int r;

	how.timeout_remove_ms = m->remove_ms;
	name_of(&id, name, sizeof(name));
	snprintf(j->what, sizeof(j->what), "remove %s %s", mode_name, name);
	r = xdev_device_remove(m->ctx, &id, mode, &how, &j->op);
	if (r < 0) {
		g_free(j);
		fail(m, "a removal could not start", r);
		return;
	}
	m->left++;
}

/* ---- the steps -------------------------------------------------------------- */

/* No callback runs inside a start: all of a step's operations are under
 * way together. */
static void under_way(struct manager *m, const char *step)
{
	printf("%s: %d under way\n", step, m->left);
}

static void step_teardown(struct manager *m);
static void step_removals(struct manager *m);

static void step_adds(struct manager *m)
{
	struct job *slow;
	unsigned devid;

	m->next = step_removals;
	for (devid = 1; devid <= 3; devid++)
		if (!add_vif(m, devid, 0, 0))
			return;
	if (!add_vif(m, 4, m->driver, 0))
		return;
	slow = add_vif(m, 5, 0, XDEV_ADD_WAIT_CONNECTED);
	if (!slow)
		return;
	slow->deadline = g_timeout_add(500, cancel_at_deadline, slow);
	under_way(m, "adds");
}

static void step_gone(struct manager *m);

static void step_removals(struct manager *m)
{
	m->next = step_gone;
	remove_vif(m, 1, XDEV_REMOVE_SAFE, "safe");
	if (m->ctx)
		remove_vif(m, 2, XDEV_REMOVE_AUTO, "auto");
	if (m->ctx)
		remove_vif(m, 3, XDEV_REMOVE_FORCE, "force");
	if (m->ctx)
		under_way(m, "removals");
}

static gboolean gone_too_late(gpointer user)
{
	struct manager *m = user;

	m->gone_deadline = 0;
	fail(m, "no DEVICE_GONE within 60 s", -ETIMEDOUT);
	return G_SOURCE_REMOVE;
}

static void step_gone(struct manager *m)
{
	char name[48];

	m->next = NULL;
	m->gone = (xdev_device_id){ XDEV_VIF, m->driver, m->guest, 4 };
	name_of(&m->gone, name, sizeof(name));
	printf("waiting for DEVICE_GONE of %s\n", name);
	m->gone_deadline = g_timeout_add_seconds(60, gone_too_late, m);
}

static void on_event(void *user, const xdev_event *ev)
{
	struct manager *m = user;
	char name[48];

	if (ev->type != XDEV_EVENT_DEVICE_GONE)
		return;
	name_of(&ev->device, name, sizeof(name));
	printf("DEVICE_GONE %s: backend domain alive %d\n", name,
	       ev->backend_domain_alive);
	if (m->gone_deadline && !memcmp(&ev->device, &m->gone,
					sizeof(m->gone))) {
		g_source_remove(m->gone_deadline);
		m->gone_deadline = 0;
		step_teardown(m); /* starting operations from an event: legal */
	}
}

/* From inside a completion callback: the free takes effect when the xdev
 * call running the callback returns, and cancels what is pending. */
static void free_from_callback(struct job *j)
{
	struct manager *m = j->m;

	printf("freeing the context from a completion callback, %d pending\n",
	       xdev_ctx_pending(m->ctx));
	xdev_ctx_free_glib(m->ctx);
	m->ctx = NULL;
	g_main_loop_quit(m->loop);
}

static void step_teardown(struct manager *m)
{
	struct job *first = add_vif(m, 6, 0, 0);

	if (first)
		first->then = free_from_callback;
	if (m->ctx && add_vif(m, 7, 0, XDEV_ADD_WAIT_CONNECTED))
		under_way(m, "teardown adds");
}

/* ---- main ----------------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr, "usage: glib-manager [-r REMOVE_MS] GUEST DRIVER\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct manager m = { 0 };
	xdev_ctx_opts o = { 0 };
	int c, r;

	while ((c = getopt(argc, argv, "r:")) != -1) {
		if (c != 'r')
			return usage();
		m.remove_ms = atoi(optarg);
	}
	if (argc - optind != 2)
		return usage();
	m.guest = (uint32_t)strtoul(argv[optind], NULL, 10);
	m.driver = (uint32_t)strtoul(argv[optind + 1], NULL, 10);
	/* a line at a time: whoever reads us acts on "waiting for ..." */
	setvbuf(stdout, NULL, _IOLBF, 0);

	o.hotplug = XDEV_HOTPLUG_NONE;
	o.event_cb = on_event;
	o.event_user = &m;
	r = xdev_ctx_new_glib(&o, NULL, &m.ctx);
	if (r < 0) {
		fprintf(stderr, "glib-manager: %s\n", xdev_strerror(r));
		return 1;
	}
	m.loop = g_main_loop_new(NULL, FALSE);
	step_adds(&m);
	if (m.ctx)
		g_main_loop_run(m.loop);
	/* the glue's memory goes back at the next iteration */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_main_loop_unref(m.loop);
	printf("done: %d\n", m.status);
	return m.status;
}
