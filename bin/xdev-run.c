/*
 * The loop of one command: a libev loop of our own, with the context on
 * it (xdev_ctx_new_libev), SIGINT and SIGTERM as ev_signal watchers, and a
 * timer for the status line.  Signals go through the loop rather than a
 * handler so that what they trigger (cancelling an operation, ending the
 * monitor) runs as ordinary loop work, never inside an xdev call.
 *
 * A loop of our own, not libev's default one: the default loop would
 * install a SIGCHLD handler and reap every child, the library's hotplug
 * script watchers included.
 */
#define _GNU_SOURCE
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "xdev-cli.h"
#include "xdev-libev.h"

struct run_priv {
	ev_signal sigint, sigterm;
	ev_timer tick;
};

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct run *run = w->data;

	(void)loop;
	(void)revents;
	run->interrupted = true;
	if (run->on_signal)
		run->on_signal(run);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	progress_tick(w->data);
}

static void on_event(void *user, const xdev_event *ev)
{
	struct run *run = user;

	if (run->on_event)
		run->on_event(run, ev);
}

/* The library's log on stderr, below the status line. */
static void on_log(void *user, enum xdev_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info",
					     "debug" };
	struct run *run = user;
	char safe[4096];

	/* a message may quote a node, a script's output: one line, and
	 * nothing a terminal would act on */
	progress_clear(run);
	if (cli_timestamps)
		cli_stamp();
	fprintf(stderr, "%s: [%s] %s\n", cli_prog,
		level <= XDEV_LOG_DEBUG ? names[level] : "?",
		term_escape(msg, safe, sizeof(safe)));
}

static void watch_signals(struct run *run, struct run_priv *p)
{
	ev_signal_init(&p->sigint, on_signal, SIGINT);
	ev_signal_init(&p->sigterm, on_signal, SIGTERM);
	p->sigint.data = p->sigterm.data = run;
	ev_signal_start(run->loop, &p->sigint);
	ev_signal_start(run->loop, &p->sigterm);
	ev_timer_init(&p->tick, on_tick, 0., 0.);
	p->tick.data = run;
}

int run_open(struct run *run, const struct cli *cli)
{
	xdev_ctx_opts o = cli->ctx;
	struct run_priv *p = calloc(1, sizeof(*p));
	int r;

	run->cli = cli;
	run->loop = ev_loop_new(EVFLAG_AUTO);
	if (!p || !run->loop) {
		free(p);
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	run->priv = p;
	watch_signals(run, p);
	o.event_cb = on_event;
	o.event_user = run;
	if (cli->verbose) {
		o.log_cb = on_log;
		o.log_user = run;
		o.log_level = cli->verbose > 1 ? XDEV_LOG_DEBUG : XDEV_LOG_INFO;
	}
	r = xdev_ctx_new_libev(&o, run->loop, &run->ctx);
	if (r < 0) {
		cli_error_code(r);
		cli_error("cannot start: %s; is xenstored running, and are you "
			  "root? --xenstore PATH or XENSTORED_PATH names "
			  "another socket", xdev_strerror(r));
		run_close(run);
		return r == XDEV_E_XENSTORE ? EXIT_FAILED : EXIT_USAGE;
	}
	return 0;
}

void run_close(struct run *run)
{
	struct run_priv *p = run->priv;

	progress_end(run);
	xdev_ctx_free(run->ctx); /* may run callbacks: the loop still exists */
	run->ctx = NULL;
	if (p && run->loop) {
		/* The operation has ended: a SIGINT or SIGTERM from here on
		 * has nothing to cancel, as one the watchers caught after the
		 * end has not.  Blocked before the watchers go (libev then
		 * restores the default action): it would kill xdev between
		 * the result and its report, a completed attach reported as
		 * interrupted (a shell's 130) and its output lost.  Still
		 * pending at exit, it is discarded. */
		sigset_t late;

		sigemptyset(&late);
		sigaddset(&late, SIGINT);
		sigaddset(&late, SIGTERM);
		sigprocmask(SIG_BLOCK, &late, NULL);
		ev_signal_stop(run->loop, &p->sigint);
		ev_signal_stop(run->loop, &p->sigterm);
		ev_timer_stop(run->loop, &p->tick);
	}
	if (run->loop)
		ev_loop_destroy(run->loop);
	run->loop = NULL;
	free(p);
	run->priv = NULL;
}

void run_loop(struct run *run)
{
	ev_run(run->loop, 0);
}

void run_stop(struct run *run)
{
	ev_break(run->loop, EVBREAK_ALL);
}

void run_tick_start(struct run *run, double interval)
{
	struct run_priv *p = run->priv;

	ev_timer_stop(run->loop, &p->tick);
	ev_timer_set(&p->tick, interval, interval);
	ev_timer_start(run->loop, &p->tick);
}

void run_tick_stop(struct run *run)
{
	struct run_priv *p = run->priv;

	if (p)
		ev_timer_stop(run->loop, &p->tick);
}
