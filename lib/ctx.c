/*
 * ctx: the context, its logging, and the processing loop every event
 * source ends in.
 *
 * The context watches exactly one fd (libxenstore's watch pipe) and one
 * timer (the earliest deadline of its operations).  Whatever drives it -
 * the private libev loop, the application's hooks, or a synchronous call
 * polling by itself - calls ctx__process(), which dispatches watch events,
 * steps the operations whose deadline passed, and runs due completions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define DEFAULT_INIT_MS 10000
#define DEFAULT_HOTPLUG_MS 40000
#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_REMOVE_MS 10000
#define DEFAULT_OPS_PER_BACKEND 64

int64_t ctx__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void ctx__log(struct xdev_ctx *ctx, enum xdev_log_level level,
	      const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (!ctx->opts.log_cb || level > ctx->opts.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->opts.log_cb(ctx->opts.log_user, level, msg);
}

void ctx__event(struct xdev_ctx *ctx, const xdev_event *ev)
{
	if (ctx->opts.event_cb)
		ctx->opts.event_cb(ctx->opts.event_user, ev);
}

static int check_opts(const xdev_ctx_opts *o)
{
	if (o->timeout_init_ms < 0 || o->timeout_hotplug_ms < 0 ||
	    o->timeout_connect_ms < 0 || o->timeout_remove_ms < 0 ||
	    o->max_scripts < 0 || o->max_ops_per_backend < 0)
		return -EINVAL;
	if (o->hotplug != XDEV_HOTPLUG_LIBRARY &&
	    o->hotplug != XDEV_HOTPLUG_EXTERNAL &&
	    o->hotplug != XDEV_HOTPLUG_NONE &&
	    o->hotplug != XDEV_HOTPLUG_DAEMON)
		return -EINVAL;
	if (o->native != XDEV_NATIVE_AUTO && o->native != XDEV_NATIVE_NEVER)
		return -EINVAL;
	if (o->hotplug_state_dir && (o->hotplug_state_dir[0] != '/' ||
				     strlen(o->hotplug_state_dir) > 200))
		return -EINVAL;
	if (o->hooks && (!o->hooks->fd_register || !o->hooks->fd_deregister ||
			 !o->hooks->timer_set))
		return -EINVAL;
	return util__all_zero(o->reserved, sizeof(o->reserved)) ? 0 : -EINVAL;
}

/* The block script's own default: its environment's lock directory (an
 * absolute path of sane length), else /run/xdev. */
static const char *state_dir_default(void)
{
	const char *v = getenv("XDEV_HOTPLUG_LOCK_DIR");

	return v && v[0] == '/' && strlen(v) <= 200 ? v : "/run/xdev";
}

/* $XDEV_BLOCK_RELEASE_WAIT_MS, as the block script reads it (1 to 7
 * digits), else its default. */
static int release_wait_default(void)
{
	const char *v = getenv("XDEV_BLOCK_RELEASE_WAIT_MS");
	size_t n = v ? strspn(v, "0123456789") : 0;

	return n && n <= 7 && !v[n] ? atoi(v) : 5000;
}

static void apply_defaults(xdev_ctx_opts *o)
{
	if (!o->timeout_init_ms)
		o->timeout_init_ms = DEFAULT_INIT_MS;
	if (!o->timeout_hotplug_ms)
		o->timeout_hotplug_ms = DEFAULT_HOTPLUG_MS;
	if (!o->timeout_connect_ms)
		o->timeout_connect_ms = DEFAULT_CONNECT_MS;
	if (!o->timeout_remove_ms)
		o->timeout_remove_ms = DEFAULT_REMOVE_MS;
	if (!o->hotplug_dir)
		o->hotplug_dir = XDEV_HOTPLUG_DIR;
	if (!o->hotplug_state_dir)
		o->hotplug_state_dir = state_dir_default();
	if (!o->max_ops_per_backend)
		o->max_ops_per_backend = DEFAULT_OPS_PER_BACKEND;
	if (!o->max_scripts) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		o->max_scripts = cpus > 2 ? (int)(cpus > 64 ? 256 : 4 * cpus)
					  : 8;
	}
}

/* libxenstore takes the socket's path from XENSTORED_PATH only: set for
 * the call, then put back as it was - the process environment is the
 * application's. */
static struct xs_handle *open_store_at(const char *path)
{
	const char *cur = getenv("XENSTORED_PATH");
	char *saved = cur ? strdup(cur) : NULL;
	struct xs_handle *xs;
	int e;

	if (cur && !saved)
		return NULL;
	if (setenv("XENSTORED_PATH", path, 1)) {
		free(saved);
		return NULL;
	}
	xs = xs_open(0);
	e = errno;
	if (saved)
		setenv("XENSTORED_PATH", saved, 1);
	else
		unsetenv("XENSTORED_PATH");
	free(saved);
	errno = e;
	return xs;
}

/* What the options point to, copied: an application may reuse or free
 * its buffers (and hooks structure) once xdev_ctx_new() returned. */
static int copy_opts(struct xdev_ctx *ctx)
{
	if (ctx->opts.hooks) {
		ctx->hooks = *ctx->opts.hooks;
		ctx->opts.hooks = &ctx->hooks;
	}
	ctx->hotplug_dir = strdup(ctx->opts.hotplug_dir);
	ctx->opts.hotplug_dir = ctx->hotplug_dir;
	ctx->state_dir = strdup(ctx->opts.hotplug_state_dir);
	ctx->opts.hotplug_state_dir = ctx->state_dir;
	ctx->release_wait_ms = release_wait_default();
	if (!ctx->state_dir)
		return -ENOMEM;
	if (ctx->opts.xenstore_path) {
		ctx->xenstore_path = strdup(ctx->opts.xenstore_path);
		ctx->opts.xenstore_path = ctx->xenstore_path;
		if (!ctx->xenstore_path)
			return -ENOMEM;
	}
	return ctx->hotplug_dir ? 0 : -ENOMEM;
}

static void free_opts(struct xdev_ctx *ctx)
{
	free(ctx->hotplug_dir);
	free(ctx->state_dir);
	free(ctx->xenstore_path);
}

static int connect_store(struct xdev_ctx *ctx)
{
	ctx->xs = ctx->opts.xenstore_path
			  ? open_store_at(ctx->opts.xenstore_path)
			  : xs_open(0);
	if (!ctx->xs) {
		ctx__log(ctx, XDEV_LOG_ERROR, "cannot connect to xenstore: %s",
			 strerror(errno));
		return XDEV_E_XENSTORE;
	}
	/* Without a hypervisor interface domains are checked in the store. */
	ctx->xc = xc_interface_open(NULL, NULL, 0);
	return 0;
}

static void run_until_idle(struct xdev_ctx *ctx, long max_ms);

static int ctx__init_loop(struct xdev_ctx *ctx, struct ev_loop *app_loop)
{
	int r = ctx->opts.hooks ? loop__hooks_init(ctx)
				: loop__libev_init(ctx, app_loop);

	if (r)
		return r;
	return ctx->loop->io_start(ctx, ctx->epfd);
}

int ctx__new(const xdev_ctx_opts *opts, struct ev_loop *app_loop,
	     xdev_ctx **ret)
{
	struct xdev_ctx *ctx;
	int r;

	assert_return(ret, -EINVAL);
	assert_return(!opts || check_opts(opts) == 0, -EINVAL);
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	if (opts)
		ctx->opts = *opts;
	apply_defaults(&ctx->opts);
	if ((r = copy_opts(ctx)) || (r = owner__init(ctx))) {
		free_opts(ctx);
		free(ctx);
		return r;
	}
	ctx->xs_fd = -1;
	ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ctx->epfd < 0) {
		r = -errno;
		free_opts(ctx);
		free(ctx);
		return r;
	}
	if ((r = connect_store(ctx)) || (r = watch__init(ctx)) ||
	    (r = ctx__init_loop(ctx, app_loop))) {
		xdev_ctx_free(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}

XDEV_PUBLIC int xdev_ctx_new(const xdev_ctx_opts *opts, xdev_ctx **ret)
{
	return ctx__new(opts, NULL, ret);
}

static void cancel_all(struct xdev_ctx *ctx)
{
	struct xdev_op *op;

	for (op = ctx->ops; op; op = op->next)
		if (!op->cancelled)
			xdev_op_cancel(op);
}

static void ctx_destroy(struct xdev_ctx *ctx);

void ctx__enter(struct xdev_ctx *ctx)
{
	ctx->depth++;
}

bool ctx__leave(struct xdev_ctx *ctx)
{
	if (--ctx->depth || !ctx->free_pending)
		return false;
	ctx_destroy(ctx);
	return true;
}

/* Called from a callback, the context cannot go at once: the library's
 * own frames below the callback still use it (a use-after-free before).
 * Its operations are cancelled now, and the context is freed - as below,
 * their callbacks run first - when the outermost xdev call returns. */
XDEV_PUBLIC void xdev_ctx_free(xdev_ctx *ctx)
{
	if (!ctx || ctx->free_pending)
		return;
	ctx->free_pending = true;
	if (ctx->depth) {
		cancel_all(ctx);
		ctx__rearm(ctx);
		return;
	}
	ctx_destroy(ctx);
}

XDEV_PUBLIC int xdev_ctx_close(xdev_ctx *ctx)
{
	assert_return(ctx, -EINVAL);
	ctx->closing = true;
	cancel_all(ctx);
	ctx__rearm(ctx);
	return xdev_ctx_pending(ctx);
}

XDEV_PUBLIC int xdev_ctx_pending(xdev_ctx *ctx)
{
	struct xdev_op *op;
	int n = 0;

	assert_return(ctx, -EINVAL);
	for (op = ctx->ops; op; op = op->next)
		n++;
	for (op = ctx->done; op; op = op->next)
		n++;
	return n;
}

/* How long cancelled operations may take to clean up: a removal's two
 * waits for Closed (restore or force) and a script's run, the longest of
 * them, and a second. */
static long cleanup_bound_ms(struct xdev_ctx *ctx)
{
	long worst = 0, ms;
	struct xdev_op *op;

	for (op = ctx->ops; op; op = op->next) {
		ms = 2L * op->timeout_remove_ms + op->timeout_hotplug_ms;
		if (ms > worst)
			worst = ms;
	}
	return worst + 1000;
}

static void ctx_destroy(struct xdev_ctx *ctx)
{
	ctx->depth++; /* a callback's xdev_ctx_free() now returns at once */
	ctx->freeing = true;
	cancel_all(ctx);
	/* Cancelled operations still clean up what they wrote (or restore
	 * what they changed): let them, within a bound. */
	if (ctx->xs)
		run_until_idle(ctx, cleanup_bound_ms(ctx));
	op__run_completions(ctx);
	while (ctx->tracks)
		track__drop(ctx, ctx->tracks);
	op__loads_free(ctx);
	deadline__free(ctx);
	if (ctx->loop) {
		ctx->loop->io_stop(ctx);
		ctx->loop->free(ctx);
	}
	if (ctx->xs)
		xs_close(ctx->xs);
	if (ctx->xc)
		xc_interface_close(ctx->xc);
	if (ctx->epfd >= 0)
		close(ctx->epfd);
	free_opts(ctx);
	free(ctx);
}

/* Until the first pending operation is due (deadline.c); -1 if none. */
static long next_timeout(struct xdev_ctx *ctx)
{
	struct xdev_op *op = deadline__first(ctx);
	int64_t now;

	if (ctx->done)
		return 0;
	if (!op)
		return -1;
	now = ctx__now_ms();
	return op->heap_key > now ? (long)(op->heap_key - now) : 0;
}

void ctx__rearm(struct xdev_ctx *ctx)
{
	if (ctx->loop && !ctx->processing)
		ctx->loop->timer_set(ctx, next_timeout(ctx));
}

/* At most STEP_BATCH due operations a pass, earliest first.  A storm of
 * adds issued at once is then written a batch at a time, and the store's
 * events for the first devices (their backends' InitWait) are handled
 * between batches: the first device of a storm does not wait for the
 * last one to be written.  The rest stay due: the timer is re-armed at
 * 0, and the loop polls the store before it fires. */
#define STEP_BATCH 16

static void step_expired(struct xdev_ctx *ctx)
{
	int64_t now = ctx__now_ms();
	struct xdev_op *op;
	int n = 0;

	ctx->pass++;
	ctx->stepping = true;
	while (n < STEP_BATCH && (op = deadline__first(ctx)) &&
	       op->heap_key <= now) {
		if (!op__may_begin(op)) {
			op__slot_wait(op);
			continue;
		}
		/* out of the heap until the pass ends: stepped once a pass */
		op->stepped_pass = ctx->pass;
		deadline__update(op);
		op__step(op);
		n++;
	}
	deadline__pass_end(ctx);
}

/* What the one fd has: store events (handled by watch__dispatch) and the
 * children's pipes. */
static void drain_epoll(struct xdev_ctx *ctx)
{
	struct epoll_event ev[16];
	int n, i;

	while ((n = epoll_wait(ctx->epfd, ev, 16, 0)) > 0) {
		for (i = 0; i < n; i++) {
			struct child_tag *tag = ev[i].data.ptr;

			if (tag)
				child__io(ctx, tag->child, tag->fd);
		}
		if (n < 16)
			break;
	}
}

void ctx__process(struct xdev_ctx *ctx)
{
	if (ctx->processing)
		return;
	ctx__enter(ctx);
	ctx->processing = true;
	drain_epoll(ctx);
	watch__dispatch(ctx);
	step_expired(ctx);
	hotplug__run_queued(ctx);
	ctx->processing = false;
	op__run_completions(ctx);
	ctx__rearm(ctx);
	ctx__leave(ctx);
}

/* One iteration without the loop backend: wait for the store's fd or the
 * next deadline (at most MAX_MS), then process. */
static int poll_once(struct xdev_ctx *ctx, long max_ms)
{
	struct pollfd p = { .fd = ctx->epfd, .events = POLLIN };
	long ms = next_timeout(ctx);

	if (ms < 0 || ms > max_ms)
		ms = max_ms;
	if (poll(&p, 1, (int)ms) < 0 && errno != EINTR)
		return -errno;
	ctx__process(ctx); /* and the loop's timer is re-armed as ever */
	return 0;
}

static void run_until_idle(struct xdev_ctx *ctx, long max_ms)
{
	int64_t end = ctx__now_ms() + max_ms;

	while (ctx->ops && ctx__now_ms() < end)
		if (poll_once(ctx, (long)(end - ctx__now_ms())) < 0)
			break;
}

/* A synchronous call: poll the store's fd ourselves until OP is done.
 * Other operations progress meanwhile, and their callbacks run. */
int ctx__run_until_done(struct xdev_ctx *ctx, struct xdev_op *op)
{
	int r;

	while (op->state != OP_DONE)
		if ((r = poll_once(ctx, LONG_MAX / 2)) < 0)
			return r;
	return op->result;
}

XDEV_PUBLIC int xdev_ctx_fd_ready(xdev_ctx *ctx, int fd, int events)
{
	assert_return(ctx && fd == ctx->epfd, -EINVAL);
	assert_return(events == XDEV_POLL_IN, -EINVAL);
	ctx__process(ctx);
	return 0;
}

XDEV_PUBLIC int xdev_ctx_timeout(xdev_ctx *ctx)
{
	assert_return(ctx, -EINVAL);
	if (ctx->loop && ctx->loop->timer_fired)
		ctx->loop->timer_fired(ctx);
	ctx__process(ctx);
	return 0;
}

XDEV_PUBLIC const char *xdev_ctx_last_message(xdev_ctx *ctx)
{
	return ctx ? ctx->last_message : "";
}
