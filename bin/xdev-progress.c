/*
 * The live status line: on a terminal, while a command waits, one line on
 * stderr says what is awaited and for how long against that wait's
 * timeout; it is redrawn in place and erased before anything else is
 * printed, so the result replaces it.  Without a terminal (or with -q)
 * there is no line at all: logs and pipes never see a control character.
 */
#define _GNU_SOURCE
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "xdev-cli.h"

struct progress {
	char what[160];            /* "block-attach xvdb to alice", escaped */
	char awaited[160];         /* "the backend to reach InitWait" */
	int timeout_ms;            /* that wait's timeout; 0: none */
	ev_tstamp step_start;
	bool drawn;
};

static int columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		return ws.ws_col;
	return 80;
}

static void draw(struct run *run)
{
	struct progress *p = run->progress;
	char line[512];
	double t = ev_time() - p->step_start;
	int n, width = columns() - 1;

	/* time first: on a narrow terminal the tail is what gets cut */
	/* a timeout of 0.5 s is not shown as "0 s" */
	if (p->timeout_ms)
		n = snprintf(line, sizeof(line), "[%4.1f s/%.*f s] %s: waiting "
			     "for %s", t, p->timeout_ms % 1000 ? 1 : 0,
			     p->timeout_ms / 1000.0, p->what, p->awaited);
	else
		n = snprintf(line, sizeof(line), "[%4.1f s] %s: waiting for %s",
			     t, p->what, p->awaited);
	/* a wrapped line could not be erased with \r; not inside a
	 * character */
	if (n > width && width < (int)sizeof(line)) {
		while (width > 0 && (line[width] & 0xc0) == 0x80)
			width--;
		line[width] = '\0';
	}
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	p->drawn = true;
}

void progress_start(struct run *run, const char *what)
{
	struct progress *p;

	if (!run->cli->tty || run->cli->quiet || run->progress)
		return;
	p = calloc(1, sizeof(*p));
	if (!p)
		return; /* no status line: not worth failing for */
	/* it names the domain: a store node */
	term_escape(what, p->what, sizeof(p->what));
	p->step_start = ev_time();
	run->progress = p;
	/* the first step is set next; the timer draws it */
	run_tick_start(run, 0.1);
}

void progress_step(struct run *run, const char *awaited, int timeout_ms)
{
	struct progress *p = run->progress;

	if (!p || (!strcmp(p->awaited, awaited) && p->timeout_ms == timeout_ms))
		return;
	snprintf(p->awaited, sizeof(p->awaited), "%s", awaited);
	p->timeout_ms = timeout_ms;
	p->step_start = ev_time();
	draw(run);
}

void progress_clear(struct run *run)
{
	struct progress *p = run->progress;

	if (!p || !p->drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->drawn = false;
}

void progress_end(struct run *run)
{
	if (!run->progress)
		return;
	progress_clear(run);
	run_tick_stop(run);
	free(run->progress);
	run->progress = NULL;
}

void progress_tick(struct run *run)
{
	if (run->progress)
		draw(run);
}
