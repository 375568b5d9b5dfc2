/*
 * loop-libev: the context on libev, either a private loop (driven by
 * xdev_ctx_run) or the application's (xdev_ctx_new_libev).  One io watcher
 * on the store's fd, one timer for the earliest deadline.
 *
 * No ev_child, ever: libev reaps every child, which would steal the
 * application's (style guide, "Supplementary").
 */
#include <errno.h>
#include <ev.h>
#include <stdlib.h>

#include "internal.h"
#include "xdev-libev.h"

struct libev_loop {
	struct ev_loop *loop;
	bool own;
	ev_io io;
	ev_timer timer;
	ev_timer guard; /* bounds xdev_ctx_run */
};

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	ctx__process(w->data);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	ctx__process(w->data);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ONE);
}

static int io_start(struct xdev_ctx *ctx, int fd)
{
	struct libev_loop *l = ctx->loop_data;

	ev_io_init(&l->io, io_cb, fd, EV_READ);
	l->io.data = ctx;
	ev_io_start(l->loop, &l->io);
	return 0;
}

static void io_stop(struct xdev_ctx *ctx)
{
	struct libev_loop *l = ctx->loop_data;

	ev_io_stop(l->loop, &l->io);
}

static void timer_set(struct xdev_ctx *ctx, long ms)
{
	struct libev_loop *l = ctx->loop_data;

	ev_timer_stop(l->loop, &l->timer);
	if (ms < 0)
		return;
	ev_timer_set(&l->timer, ms / 1000.0, 0.);
	ev_timer_start(l->loop, &l->timer);
}

static void loop_free(struct xdev_ctx *ctx)
{
	struct libev_loop *l = ctx->loop_data;

	ev_timer_stop(l->loop, &l->timer);
	ev_timer_stop(l->loop, &l->guard);
	if (l->own)
		ev_loop_destroy(l->loop);
	free(l);
	ctx->loop_data = NULL;
}

static const struct loop_ops libev_ops = {
	.io_start = io_start,
	.io_stop = io_stop,
	.timer_set = timer_set,
	.free = loop_free,
};

int loop__libev_init(struct xdev_ctx *ctx, struct ev_loop *app_loop)
{
	struct libev_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->own = !app_loop;
	l->loop = app_loop ? app_loop : ev_loop_new(EVFLAG_AUTO);
	if (!l->loop) {
		free(l);
		return -ENOMEM;
	}
	ev_init(&l->timer, timer_cb);
	l->timer.data = ctx;
	ev_init(&l->guard, guard_cb);
	ctx->loop_data = l;
	ctx->loop = &libev_ops;
	return 0;
}

int loop__libev_run(struct xdev_ctx *ctx, int timeout_ms)
{
	struct libev_loop *l = ctx->loop_data;

	if (timeout_ms >= 0) {
		ev_timer_set(&l->guard, timeout_ms / 1000.0, 0.);
		ev_timer_start(l->loop, &l->guard);
	}
	ev_run(l->loop, EVRUN_ONCE);
	ev_timer_stop(l->loop, &l->guard);
	return 0;
}

XDEV_PUBLIC int xdev_ctx_new_libev(const xdev_ctx_opts *opts,
				   struct ev_loop *loop, xdev_ctx **ret)
{
	assert_return(loop && (!opts || !opts->hooks), -EINVAL);
	return ctx__new(opts, loop, ret);
}

XDEV_PUBLIC int xdev_ctx_run(xdev_ctx *ctx, int timeout_ms)
{
	struct libev_loop *l;
	struct xdev_op *op;
	int n = 0;

	assert_return(ctx && ctx->loop == &libev_ops, -EINVAL);
	l = ctx->loop_data;
	assert_return(l->own, -EINVAL); /* the application runs its loop */
	assert_return(!ctx->depth, -EBUSY); /* no nested loop in a callback */
	ctx__enter(ctx);
	loop__libev_run(ctx, timeout_ms);
	for (op = ctx->ops; op; op = op->next)
		n++;
	/* freed by a callback: its loop is gone, and so are its operations */
	return ctx__leave(ctx) ? 0 : n;
}
