/*
 * watch: the context's xenstore watches, and their dispatch.
 *
 * A fixed set, whatever the number of pending operations: one on
 * @releaseDomain, and one per backend domain in use on
 * /local/domain/<domid>/backend, which covers every node the operations
 * wait on (backend state, hotplug-status) and the disappearance of a
 * backend directory.  Tokens are "xdev/<gen>/<what>"; an event is treated
 * as level-triggered: whoever cares re-reads the store (the Linux drivers'
 * lesson: intermediate values may be missed, and every watch fires once
 * when registered).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "internal.h"

#define RELEASE_TOKEN "xdev/release"

int watch__init(struct xdev_ctx *ctx)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	ctx->xs_fd = xs_fileno(ctx->xs);
	if (ctx->xs_fd < 0 ||
	    epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, ctx->xs_fd, &ev) < 0 ||
	    !xs_watch(ctx->xs, "@releaseDomain", RELEASE_TOKEN)) {
		ctx__log(ctx, XDEV_LOG_ERROR, "watching @releaseDomain: %s",
			 strerror(errno));
		return XDEV_E_XENSTORE;
	}
	return 0;
}

static void backend_path(uint32_t domid, char *buf, size_t n)
{
	snprintf(buf, n, "/local/domain/%u/backend", domid);
}

int watch__backend_ref(struct xdev_ctx *ctx, uint32_t domid)
{
	struct bewatch *w;
	char path[64];

	for (w = ctx->bewatches; w; w = w->next)
		if (w->domid == domid) {
			w->refs++;
			return 0;
		}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	backend_path(domid, path, sizeof(path));
	if (!xs_watch(ctx->xs, path, "xdev/backend")) {
		free(w);
		return XDEV_E_XENSTORE;
	}
	w->domid = domid;
	w->refs = 1;
	w->next = ctx->bewatches;
	ctx->bewatches = w;
	return 0;
}

void watch__backend_unref(struct xdev_ctx *ctx, uint32_t domid)
{
	struct bewatch **p, *w;
	char path[64];

	for (p = &ctx->bewatches; (w = *p); p = &w->next) {
		if (w->domid != domid)
			continue;
		if (--w->refs)
			return;
		*p = w->next;
		backend_path(domid, path, sizeof(path));
		xs_unwatch(ctx->xs, path, "xdev/backend");
		free(w);
		return;
	}
}

void watch__dispatch(struct xdev_ctx *ctx)
{
	char **ev;

	while ((ev = xs_check_watch(ctx->xs))) {
		const char *path = ev[XS_WATCH_PATH];

		if (!strcmp(ev[XS_WATCH_TOKEN], RELEASE_TOKEN))
			track__changed(ctx, NULL);
		else
			track__changed(ctx, path);
		free(ev);
	}
	track__flush(ctx);
}
