/*
 * child: running a program (a hotplug script) from the library without
 * touching the application's children or signal handling.
 *
 * Two ways, chosen for each script:
 *
 * Direct (the common case): the script is the library's own child, one
 * process, as libxl runs it.  It is created with clone(CLONE_VM |
 * CLONE_VFORK), as posix_spawn() does, so that no page table of the
 * application is copied (a fork() of a large manager costs more than the
 * script), and it sets its death signal before it execs (posix_spawn()
 * cannot).  A pidfd in the context's epoll set says when it exits; it is
 * then reaped by its pid, which no one else can have reaped or recycled.
 * Chosen only when the kernel has pidfds and SIGCHLD is at its default
 * disposition: an application with a SIGCHLD handler (or SIG_IGN, which
 * reaps every child) might reap the script itself.
 *
 * Watched (otherwise: no pidfd, as under valgrind; a SIGCHLD handler):
 * the script runs under a small "watcher" process, the library's direct
 * child:
 *
 *   library ──fork──> watcher ──fork+exec──> script
 *      ^  status pipe: the script's pid, then its wait status
 *      ^  output pipe: the script's stdout and stderr, logged by lines
 *
 * The watcher reaps the script and reports its status through a pipe, so
 * the library needs no SIGCHLD handler and never calls waitpid(-1): it
 * only waits for its own watcher, once the status has arrived.  Signals
 * for the script go to the watcher, which relays them to the script's
 * process group (the script leads its own) only while the script is not
 * yet reaped, so a recycled pid is never signalled.
 *
 * Either way the pipes are in the context's epoll set (the application
 * still watches one fd), the script leads its own process group, which
 * timeouts signal whole, and it gets SIGTERM when the thread that started
 * it dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hotplug-call.h"
#include "internal.h"

/* ---- the watcher (runs in its own process) ------------------------------ */

/* Reap the script, relaying SIGTERM and SIGUSR1 (as SIGKILL) until then.
 * The application's death also shows as an error on the status pipe,
 * whose only reader it was: a second sign besides the death signal, which
 * under valgrind could be taken off the kernel's queue before the
 * signalfd saw it (a script was left running in CI). */
static int watcher_wait(pid_t pid, int sfd, int status_fd)
{
	struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
				 { .fd = status_fd, .events = 0 } };
	struct signalfd_siginfo si;
	bool termed = false;
	int status;

	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents & (POLLERR | POLLHUP)) {
			pfd[1].fd = -1; /* said once */
			if (!termed) {
				termed = true;
				kill(-pid, SIGTERM);
			}
		}
		if (!(pfd[0].revents & POLLIN) ||
		    read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		/* the script's whole group: a child it started (losetup,
		 * ip) must not finish as an orphan after the script is gone */
		/* once: the death signal comes again for each thread of a
		 * killed application, and a second SIGTERM would cut the
		 * script's own clean-up short */
		if (si.ssi_signo == SIGTERM && !termed) {
			termed = true;
			kill(-pid, SIGTERM);
		}
		else if (si.ssi_signo == SIGUSR1)
			kill(-pid, SIGKILL);
	}
}

static void watcher_main(const char *path, char *const argv[],
			 char *const envp[], int status_fd, int out_fd,
			 pid_t parent)
{
	sigset_t set;
	int32_t msg;
	pid_t pid;
	int sfd;

	/* every signal blocked since the fork (child__start): the
	 * application's handlers never run here */
	hotplug_signals_default();
	/* a terminal's Ctrl-C, quit or hangup is for the application (whose
	 * process group the watcher shares), not for the watcher: ignored,
	 * as the script, in a group of its own, never sees them; one that
	 * came since the fork is dropped with it */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_SETMASK, &set, NULL);
	/* the application gone, the script goes (its actor's death leaves
	 * the record saying the script started: a recovery runs the remove
	 * script); gone before the request was made: no script at all */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	/* a write to a dead application fails instead of killing the
	 * watcher, which must still stop and reap the script (the death
	 * signal is pending for watcher_wait); the script gets SIGPIPE back
	 * (hotplug_exec) */
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		_exit(1);
	pid = fork();
	if (pid == 0)
		hotplug_exec(path, argv, envp, out_fd); /* its own group */
	if (pid < 0)
		_exit(1);
	setpgid(pid, pid); /* before any relay: whichever runs first */
	close(out_fd);
	msg = pid;
	if (write(status_fd, &msg, sizeof(msg)) != sizeof(msg))
		raise(SIGTERM); /* the application is gone: as its death
				   signal, relayed once by watcher_wait */
	msg = watcher_wait(pid, sfd, status_fd);
	_exit(write(status_fd, &msg, sizeof(msg)) == sizeof(msg) ? 0 : 1);
}

/* ---- the direct child (runs on its own stack, in our memory) ------------ */

struct spawn_args {
	const char *path;
	char *const *argv;
	char *const *envp;
	int null_fd, out_fd;
	pid_t parent;
};

#define SPAWN_STACK (64 * 1024)

/* Until it execs, the child shares the library's memory and the parent
 * is suspended (CLONE_VFORK): system calls only, nothing written but its
 * own stack.  Every signal is blocked in it (spawn_direct), and the
 * application's handlers are reset before any is unblocked, so none of
 * them runs here. */
__attribute__((no_sanitize("address", "undefined")))
static int spawn_child(void *p)
{
	const struct spawn_args *a = p;
	sigset_t none;

	/* the application gone, the script goes (its actor's death leaves
	 * the record saying the script started: a recovery runs the remove
	 * script); gone before the request was made: no script at all */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != a->parent)
		_exit(127);
	setpgid(0, 0); /* its own group, signalled whole */
	/* A terminal's Ctrl-C, quit or hangup sent to the application's
	 * group before the line above reached this child too, blocked: it is
	 * the application's (a script in its own group never sees them), and
	 * a pending signal set to SIG_IGN is dropped.  The defaults then. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	hotplug_signals_default();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(a->null_fd, 0) < 0 || dup2(a->out_fd, 1) < 0 ||
	    dup2(a->out_fd, 2) < 0)
		_exit(126);
	execve(a->path, a->argv, a->envp);
	_exit(127);
}

/* Whether a script may be the library's own child now: pidfds work (not
 * under valgrind, which has none; Linux 5.3 or later) and nobody but us
 * reaps children (SIGCHLD at its default, no SA_NOCLDWAIT). */
static bool direct_possible(struct xdev_ctx *ctx)
{
	struct sigaction sa;
	int fd;

	if (!ctx->pidfd_probed) {
		ctx->pidfd_probed = true;
		fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
		ctx->pidfd_works = fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	if (!ctx->pidfd_works || sigaction(SIGCHLD, NULL, &sa) < 0)
		return false;
	return sa.sa_handler == SIG_DFL && !(sa.sa_flags & SA_NOCLDWAIT);
}

/* The script as our child, its pid in c->pid and a pidfd in c->status_fd;
 * -errno. */
static int spawn_direct(struct child *c, const char *path,
			char *const argv[], char *const envp[], int out_fd)
{
	struct spawn_args a = { .path = path, .argv = argv, .envp = envp,
				.out_fd = out_fd, .parent = getpid() };
	sigset_t all, old;
	char *stack;
	pid_t pid;
	int r = 0;

	a.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	stack = malloc(SPAWN_STACK);
	if (a.null_fd < 0 || !stack) {
		r = a.null_fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(spawn_child, stack + SPAWN_STACK,
		    CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
	if (pid < 0)
		r = -errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		goto out;
	c->pid = pid;
	c->status_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (c->status_fd < 0) {
		r = -errno;
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		c->pid = 0;
	}
out:
	free(stack);
	if (a.null_fd >= 0)
		close(a.null_fd);
	return r;
}

/* ---- the library's side ------------------------------------------------- */

/* ctx->children_active counts the live ones: hotplug.c's max_scripts
 * without a scan of every operation. */
static void set_active(struct xdev_ctx *ctx, struct child *c, bool on)
{
	if (c->active != on)
		ctx->children_active += on ? 1 : -1;
	c->active = on;
}

static void reap_watcher(struct child *c)
{
	if (c->watcher > 0)
		waitpid(c->watcher, NULL, 0); /* exits right after reporting */
	c->watcher = -1;
}

static void close_fd(struct xdev_ctx *ctx, int *fd)
{
	if (*fd < 0)
		return;
	epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

/* Log the script's output line by line. */
static void read_output(struct xdev_ctx *ctx, struct child *c)
{
	ssize_t n;
	char *nl;

	for (;;) {
		n = read(c->out_fd, c->out + c->out_len,
			 sizeof(c->out) - 1 - c->out_len);
		if (n <= 0)
			break;
		c->out_len += (size_t)n;
		c->out[c->out_len] = 0;
		while ((nl = strchr(c->out, '\n')) ||
		       c->out_len == sizeof(c->out) - 1) {
			size_t len = nl ? (size_t)(nl - c->out) + 1 : c->out_len;

			if (nl)
				*nl = 0;
			ctx__log(ctx, XDEV_LOG_INFO, "%s: %s", c->name, c->out);
			memmove(c->out, c->out + len, c->out_len - len + 1);
			c->out_len -= len;
		}
	}
	if (n == 0)
		close_fd(ctx, &c->out_fd);
}

static void finish(struct xdev_ctx *ctx, struct child *c, int status)
{
	close_fd(ctx, &c->status_fd);
	if (c->out_fd >= 0)
		read_output(ctx, c);
	close_fd(ctx, &c->out_fd);
	set_active(ctx, c, false);
	c->status = status;
	c->done(c, c->status, c->user);
}

/* The pidfd is readable: the script has exited. */
static void reap_direct(struct xdev_ctx *ctx, struct child *c)
{
	int status;
	pid_t r = waitpid(c->pid, &status, WNOHANG);

	if (r == 0)
		return; /* not yet (never seen: readable means exited) */
	c->pid = 0;
	/* ECHILD: someone reaped it although SIGCHLD was at its default
	 * (waitpid(-1) in another thread): its status is lost */
	finish(ctx, c, r > 0 ? status : -errno);
}

static void read_status(struct xdev_ctx *ctx, struct child *c)
{
	int32_t msg;
	ssize_t n;

	if (c->direct) {
		reap_direct(ctx, c);
		return;
	}
	n = read(c->status_fd, &msg, sizeof(msg));
	if (n == sizeof(msg) && c->pid <= 0) {
		c->pid = msg;
		return;
	}
	reap_watcher(c);
	finish(ctx, c, n == sizeof(msg) ? msg : -EIO);
}

void child__io(struct xdev_ctx *ctx, struct child *c, int fd)
{
	if (fd == c->out_fd)
		read_output(ctx, c);
	else if (fd == c->status_fd)
		read_status(ctx, c);
}

static int watch_fd(struct xdev_ctx *ctx, struct child *c, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.ptr = &c->tags[fd == c->status_fd ? 0 : 1];
	c->tags[0] = (struct child_tag){ c, c->status_fd };
	c->tags[1] = (struct child_tag){ c, c->out_fd };
	return epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int child__start(struct xdev_ctx *ctx, struct child *c, const char *path,
		 char *const argv[], char *const envp[])
{
	int st[2] = { -1, -1 }, out[2] = { -1, -1 }, r;
	sigset_t all, old;
	pid_t parent;

	c->watcher = -1;
	c->pid = 0;
	c->direct = false;
	c->out_len = 0;
	c->status_fd = c->out_fd = -1;
	snprintf(c->name, sizeof(c->name), "%s", path);
	/* The common failure, reported without a fork (exec can still fail
	 * later: the watcher then reports exit status 127). */
	if (access(path, X_OK) < 0)
		return -errno;
	if (direct_possible(ctx)) {
		if (pipe2(out, O_CLOEXEC) < 0)
			return -errno;
		r = spawn_direct(c, path, argv, envp, out[1]);
		close(out[1]);
		out[1] = -1;
		if (r) {
			close(out[0]);
			return r;
		}
		c->direct = true;
		goto started;
	}
	if (pipe2(st, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	/* No fflush(NULL): the application's stdio is its own.  The copies
	 * of its buffers in the watcher are never written out: the watcher
	 * and the script's child end with _exit() or exec. */
	parent = getpid();
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	c->watcher = fork();
	if (c->watcher == 0) {
		close(st[0]);
		close(out[0]);
		watcher_main(path, argv, envp, st[1], out[1], parent);
	}
	r = c->watcher < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		goto fail;
	close(st[1]);
	close(out[1]);
	c->status_fd = st[0];
started:
	c->out_fd = out[0];
	fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
	if ((r = watch_fd(ctx, c, c->status_fd)) ||
	    (r = watch_fd(ctx, c, c->out_fd))) {
		child__stop(ctx, c);
		return r;
	}
	set_active(ctx, c, true);
	if (c->direct)
		ctx__log(ctx, XDEV_LOG_DEBUG, "%s: pid %d, the library's own "
			 "child", c->name, (int)c->pid);
	else
		ctx__log(ctx, XDEV_LOG_DEBUG, "%s: under watcher pid %d",
			 c->name, (int)c->watcher);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (st[i] >= 0)
			close(st[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return r;
}

void child__signal(struct child *c, bool hard)
{
	if (!c->active)
		return;
	/* not reaped yet (c->pid is cleared when it is): the group is the
	 * script's own */
	if (c->direct && c->pid > 0)
		kill(-c->pid, hard ? SIGKILL : SIGTERM);
	else if (c->watcher > 0)
		kill(c->watcher, hard ? SIGUSR1 : SIGTERM);
}

/* Idempotent: kill the script (hard), wait for the watcher's report, and
 * release everything, without calling done. */
void child__stop(struct xdev_ctx *ctx, struct child *c)
{
	int32_t msg;

	if (c->direct && c->pid > 0) {
		kill(-c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
	}
	if (c->watcher > 0) {
		kill(c->watcher, SIGUSR1);
		if (c->status_fd >= 0)
			while (read(c->status_fd, &msg, sizeof(msg)) > 0)
				;
		reap_watcher(c);
	}
	close_fd(ctx, &c->status_fd);
	close_fd(ctx, &c->out_fd);
	set_active(ctx, c, false);
}
