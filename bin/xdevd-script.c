/*
 * xdevd-script: running one hotplug script with a timeout.
 *
 * The script runs in its own process group with stdin from /dev/null and
 * its output in a pipe that the daemon logs line by line.  Past the timeout
 * the group gets SIGTERM, then SIGKILL after a grace period, so a script's
 * own children (losetup, ip) end with it.  The daemon owns its process, so
 * reaping is libev's SIGCHLD handling (ev_child): nothing else here forks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "hotplug-call.h"
#include "xdevd.h"

#define KILL_GRACE_S 2.0

static void log_line(struct script *s)
{
	s->line[s->line_len] = 0;
	if (s->line_len)
		xdevd_log(s->d, LOG_INFO, "%s: %s", s->name, s->line);
	s->line_len = 0;
}

static void output_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct script *s = w->data;
	char buf[512];
	ssize_t n, i;

	(void)revents;
	n = read(s->out_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		log_line(s);
		ev_io_stop(loop, w);
		close(s->out_fd);
		s->out_fd = -1;
		return;
	}
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n' || s->line_len == sizeof(s->line) - 1)
			log_line(s);
		if (buf[i] != '\n')
			s->line[s->line_len++] = buf[i];
	}
}

static bool pipe_has_data(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void exited_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct script *s = w->data;

	(void)revents;
	ev_child_stop(loop, w);
	ev_timer_stop(loop, &s->timer);
	/* what is in the pipe belongs to this run; a grandchild that kept
	 * the pipe open does not hold the device up */
	while (s->out_fd >= 0 && pipe_has_data(s->out_fd))
		output_cb(loop, &s->out_io, EV_READ);
	if (s->out_fd >= 0) {
		log_line(s);
		ev_io_stop(loop, &s->out_io);
		close(s->out_fd);
		s->out_fd = -1;
	}
	s->pid = 0;
	s->done(s, w->rstatus);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct script *s = w->data;

	(void)revents;
	if (!s->termed) {
		xdevd_log(s->d, LOG_WARNING, "%s: timed out after %.0f s; SIGTERM",
			  s->name, s->d->timeout_s);
		s->timed_out = true;
		script_terminate(s);
		return;
	}
	xdevd_log(s->d, LOG_WARNING, "%s: SIGKILL", s->name);
	s->killed = true;
	kill(-s->pid, SIGKILL);
	(void)loop;
}

/* Start the script's timer counting from now.  libev counts a relative
 * timer from the time it cached at the start of the loop iteration, and an
 * iteration can be long: the start-up scan of every backend, a burst of
 * watch events each read back from the store, all on a busy host; a
 * script started late in one would lose that part of its time. */
static void timer_start_now(struct script *s)
{
	ev_now_update(s->d->loop);
	ev_timer_start(s->d->loop, &s->timer);
}

/* SIGTERM to the script's group; SIGKILL if it is still there after the
 * grace period. */
void script_terminate(struct script *s)
{
	if (!s->pid || s->termed)
		return;
	s->termed = true;
	kill(-s->pid, SIGTERM);
	ev_timer_stop(s->d->loop, &s->timer);
	ev_timer_set(&s->timer, KILL_GRACE_S, 0);
	timer_start_now(s);
}

int script_start(struct script *s, const char *path, char *const argv[],
		 char *const envp[])
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0)
		hotplug_exec(path, argv, envp, p[1]); /* its own group */
	close(p[1]);
	/* both sides, so that a signal sent before the child's own
	 * setpgid() already reaches the group */
	setpgid(pid, pid);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	s->pid = pid;
	s->out_fd = p[0];
	s->termed = s->killed = s->timed_out = false;
	s->line_len = 0;
	ev_io_init(&s->out_io, output_cb, p[0], EV_READ);
	s->out_io.data = s;
	ev_io_start(s->d->loop, &s->out_io);
	ev_child_init(&s->exit_watch, exited_cb, pid, 0);
	s->exit_watch.data = s;
	ev_child_start(s->d->loop, &s->exit_watch);
	ev_timer_init(&s->timer, timer_cb, s->d->timeout_s, 0);
	s->timer.data = s;
	timer_start_now(s);
	return 0;
}
