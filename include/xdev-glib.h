/*
 * xdev on a GLib main loop: header-only glue over xdev_loop_hooks, as
 * hiredis ships adapters/glib.h.  libxdev never links GLib: a program that
 * includes this header links glib-2.0 and xdev itself
 * (`pkg-config --cflags --libs xdev-glib`).
 *
 *	xdev_ctx *ctx;
 *	int r = xdev_ctx_new_glib(&opts, NULL, &ctx); // the default context
 *	...                                         // g_main_loop_run()
 *	xdev_ctx_free_glib(ctx);                    // also from a callback
 *
 * One GSource per xdev context, attached to the GMainContext: the
 * context's fd is a unix fd of the source (g_source_add_unix_fd) and its
 * one timer the source's ready time.  Like the library, the context
 * belongs to one thread: the one that runs the GMainContext.
 */
#ifndef XDEV_GLIB_H
#define XDEV_GLIB_H

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "xdev.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Internal: the source, and one watched fd. */
typedef struct xdev_glib_fd {
	int fd;
	gpointer tag; /* g_source_add_unix_fd()'s */
} xdev_glib_fd;

typedef struct xdev_glib_source {
	GSource source;
	xdev_ctx *ctx;
	GSList *fds;      /* xdev_glib_fd, as the library registered them */
	long timer_ms;    /* the library's last word on its timer */
	gboolean freed;   /* xdev_ctx_free_glib() was called */
} xdev_glib_source;

#define XDEV_GLIB__KEY "xdev-glib-source"

/* ---- the hooks (called by the library, never calling it) -------------- */

static inline int xdev_glib__fd_register(void *user, int fd, int events,
					 void **fd_user)
{
	xdev_glib_source *x = (xdev_glib_source *)user;
	xdev_glib_fd *f = g_new0(xdev_glib_fd, 1);

	(void)events; /* XDEV_POLL_IN, the only one */
	f->fd = fd;
	f->tag = g_source_add_unix_fd(&x->source, fd, G_IO_IN);
	x->fds = g_slist_prepend(x->fds, f);
	*fd_user = f;
	return 0;
}

static inline void xdev_glib__fd_deregister(void *user, int fd,
					    void *fd_user)
{
	xdev_glib_source *x = (xdev_glib_source *)user;
	xdev_glib_fd *f = (xdev_glib_fd *)fd_user;

	(void)fd;
	/* a destroyed source has dropped its fds already */
	if (!g_source_is_destroyed(&x->source))
		g_source_remove_unix_fd(&x->source, f->tag);
	x->fds = g_slist_remove(x->fds, f);
	g_free(f);
}

static inline void xdev_glib__arm(xdev_glib_source *x, long ms)
{
	if (g_source_is_destroyed(&x->source))
		return;
	g_source_set_ready_time(&x->source, ms < 0 ? -1 :
				g_get_monotonic_time() + (gint64)ms * 1000);
}

static inline void xdev_glib__timer_set(void *user, long ms)
{
	xdev_glib_source *x = (xdev_glib_source *)user;

	x->timer_ms = ms;
	xdev_glib__arm(x, ms);
}

/* ---- the source ----------------------------------------------------------- */

static inline gboolean xdev_glib__has_fd(xdev_glib_source *x, int fd)
{
	GSList *l;

	for (l = x->fds; l; l = l->next)
		if (((xdev_glib_fd *)l->data)->fd == fd)
			return TRUE;
	return FALSE;
}

/* The readable fds, collected first: the library may register and
 * deregister fds inside xdev_ctx_fd_ready(), or be freed there.  (It has
 * one fd; more than 8 would wait for the next iteration.) */
static inline void xdev_glib__io(xdev_glib_source *x)
{
	int ready[8];
	unsigned n = 0, i;
	GSList *l;

	for (l = x->fds; l && n < G_N_ELEMENTS(ready); l = l->next) {
		xdev_glib_fd *f = (xdev_glib_fd *)l->data;

		if (g_source_query_unix_fd(&x->source, f->tag) &
		    (G_IO_IN | G_IO_HUP | G_IO_ERR))
			ready[n++] = f->fd;
	}
	for (i = 0; i < n && !x->freed; i++)
		if (xdev_glib__has_fd(x, ready[i]))
			xdev_ctx_fd_ready(x->ctx, ready[i], XDEV_POLL_IN);
}

static inline void xdev_glib__timeout(xdev_glib_source *x)
{
	gint64 due = g_source_get_ready_time(&x->source);

	/* freed, disarmed, or re-armed later by the fd's processing */
	if (x->freed || due < 0 || due > g_source_get_time(&x->source))
		return;
	/* one-shot: fired, it is disarmed; the library arms it again inside
	 * the call if it has something due (it forgets a fired timer) */
	x->timer_ms = -1;
	xdev_glib__arm(x, -1);
	xdev_ctx_timeout(x->ctx);
}

static inline gboolean xdev_glib__dispatch(GSource *source,
					   GSourceFunc callback,
					   gpointer data)
{
	xdev_glib_source *x = (xdev_glib_source *)source;

	(void)callback;
	(void)data;
	xdev_glib__io(x);
	xdev_glib__timeout(x);
	return G_SOURCE_CONTINUE;
}

static inline void xdev_glib__finalize(GSource *source)
{
	xdev_glib_source *x = (xdev_glib_source *)source;

	g_slist_free_full(x->fds, g_free);
	x->fds = NULL;
}

/*
 * xdev_ctx_new_glib - a context whose fd and timer are watched by GCTX
 *
 * As xdev_ctx_new(), but the context is driven by the GMainContext GCTX
 * (NULL: the default one), which the application runs.  opts->hooks must
 * be NULL (-EINVAL otherwise).  Free the context with xdev_ctx_free_glib(),
 * which also takes the glue off GCTX.  GCTX must outlive the context.
 */
static inline int xdev_ctx_new_glib(const xdev_ctx_opts *opts,
				    GMainContext *gctx, xdev_ctx **ret)
{
	/* set here, not by designated initialisers, for C++ before C++20 */
	static GSourceFuncs funcs;
	xdev_ctx_opts o;
	xdev_loop_hooks hooks;
	xdev_glib_source *x;
	int r;

	if (!ret || (opts && opts->hooks))
		return -EINVAL;
	/* memset, not { 0 }: clean in C++ with -Wextra too */
	memset(&hooks, 0, sizeof(hooks));
	if (opts)
		o = *opts;
	else
		memset(&o, 0, sizeof(o));
	funcs.dispatch = xdev_glib__dispatch;
	funcs.finalize = xdev_glib__finalize;
	x = (xdev_glib_source *)g_source_new(&funcs, sizeof(*x));
	g_source_set_name(&x->source, "xdev");
	x->timer_ms = -1;
	hooks.fd_register = xdev_glib__fd_register;
	hooks.fd_deregister = xdev_glib__fd_deregister;
	hooks.timer_set = xdev_glib__timer_set;
	hooks.user = x;
	o.hooks = &hooks; /* copied by the library */
	r = xdev_ctx_new(&o, &x->ctx);
	if (r) {
		g_source_unref(&x->source);
		return r;
	}
	/* our reference stays until the context is freed: the library
	 * calls the hooks until then */
	g_source_attach(&x->source, gctx);
	g_dataset_set_data(x->ctx, XDEV_GLIB__KEY, x);
	*ret = x->ctx;
	return 0;
}

/* Drops the glue's last reference: at the next iteration of its
 * GMainContext, when every xdev call is over. */
static inline gboolean xdev_glib__release(gpointer data)
{
	(void)data;
	return G_SOURCE_REMOVE;
}

/*
 * xdev_ctx_free_glib - xdev_ctx_free() for a context of
 * xdev_ctx_new_glib() (NULL-safe)
 *
 * Frees the context as xdev_ctx_free() does - legal from inside any of
 * its callbacks, where the free takes effect when the xdev call running
 * the callback returns - and takes its source off the GMainContext.  The
 * glue's memory goes at the next iteration of the GMainContext (or with
 * it): so do not iterate that GMainContext from inside an xdev callback.
 */
static inline void xdev_ctx_free_glib(xdev_ctx *ctx)
{
	xdev_glib_source *x;
	GSource *idle;

	if (!ctx)
		return;
	x = (xdev_glib_source *)g_dataset_get_data(ctx, XDEV_GLIB__KEY);
	if (!x) { /* not ours: the plain free */
		xdev_ctx_free(ctx);
		return;
	}
	g_dataset_remove_data(ctx, XDEV_GLIB__KEY);
	x->freed = TRUE;
	xdev_ctx_free(ctx);
	/* Off the loop now; the hooks may still come (the free of a call
	 * inside a callback is deferred), so the memory stays until the
	 * loop's next iteration. */
	idle = g_idle_source_new();
	g_source_set_callback(idle, xdev_glib__release, x,
			      (GDestroyNotify)g_source_unref);
	g_source_attach(idle, g_source_get_context(&x->source));
	g_source_unref(idle);
	g_source_destroy(&x->source);
}

#ifdef __cplusplus
}
#endif

#endif
