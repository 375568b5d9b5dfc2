/*
 * loop-hooks: the context on the application's loop through
 * xdev_loop_hooks (curl's socket/timer functions, not libxl's osevent
 * hooks: one fd, one replaceable timer).  The application calls
 * xdev_ctx_fd_ready() and xdev_ctx_timeout().
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct hooks_loop {
	int fd;
	void *fd_user;
	long timer_ms; /* what the application was last told */
};

static int io_start(struct xdev_ctx *ctx, int fd)
{
	struct hooks_loop *l = ctx->loop_data;
	const xdev_loop_hooks *h = ctx->opts.hooks;
	int r = h->fd_register(h->user, fd, XDEV_POLL_IN, &l->fd_user);

	if (r)
		return r < 0 ? r : -EIO;
	l->fd = fd;
	return 0;
}

static void io_stop(struct xdev_ctx *ctx)
{
	struct hooks_loop *l = ctx->loop_data;
	const xdev_loop_hooks *h = ctx->opts.hooks;

	if (l->fd >= 0)
		h->fd_deregister(h->user, l->fd, l->fd_user);
	l->fd = -1;
}

static void timer_set(struct xdev_ctx *ctx, long ms)
{
	struct hooks_loop *l = ctx->loop_data;
	const xdev_loop_hooks *h = ctx->opts.hooks;

	/* Tell the application only about changes (curl's rule). */
	if (ms == l->timer_ms && ms != 0)
		return;
	l->timer_ms = ms;
	h->timer_set(h->user, ms);
}

/* A fired timer is not armed any more: the next timer_set must reach the
 * application even with the same interval, or its loop would never call
 * xdev_ctx_timeout() again. */
static void timer_fired(struct xdev_ctx *ctx)
{
	struct hooks_loop *l = ctx->loop_data;

	l->timer_ms = -1;
}

static void loop_free(struct xdev_ctx *ctx)
{
	struct hooks_loop *l = ctx->loop_data;

	if (l->timer_ms != -1)
		ctx->opts.hooks->timer_set(ctx->opts.hooks->user, -1);
	free(l);
	ctx->loop_data = NULL;
}

static const struct loop_ops hooks_ops = {
	.io_start = io_start,
	.io_stop = io_stop,
	.timer_set = timer_set,
	.timer_fired = timer_fired,
	.free = loop_free,
};

int loop__hooks_init(struct xdev_ctx *ctx)
{
	struct hooks_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->fd = -1;
	l->timer_ms = -1;
	ctx->loop_data = l;
	ctx->loop = &hooks_ops;
	return 0;
}
