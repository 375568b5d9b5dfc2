/*
 * xdev on the application's libev loop.  Kept apart from xdev.h so that
 * xdev.h never includes ev.h.
 */
#ifndef XDEV_LIBEV_H
#define XDEV_LIBEV_H

#include <ev.h>
#include "xdev.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * xdev_ctx_new_libev - a context whose events are watched by LOOP
 *
 * As xdev_ctx_new(), but the context registers an io and a timer watcher on
 * LOOP (the application runs it) instead of keeping a private loop.
 * opts->hooks must be NULL.  LOOP must outlive the context.
 */
int xdev_ctx_new_libev(const xdev_ctx_opts *opts, struct ev_loop *loop,
		       xdev_ctx **ret);

#ifdef __cplusplus
}
#endif

#endif
