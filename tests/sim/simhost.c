/*
 * simhost: the life of a simulated host (see simhost.h).
 *
 * simhost_start() forks a supervisor.  The supervisor makes the private
 * network namespace, starts the daemon under libfakexen.so and waits for the
 * daemon's own "listening" signal (the shim writes into a pipe from inside
 * listen(), so readiness is an event, not a poll).  It then reports to the
 * starter through a pipe and waits for a stop signal or the daemon's death;
 * either way it ends the daemon and removes the host directory.  The
 * supervisor's pid is in <dir>/supervisor.pid for simhost_open().
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakexen.h"
#include "simhost.h"
#include "simhost-internal.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000

static int fail(struct simhost *h, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct simhost *h, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->err, sizeof(h->err), fmt, ap);
	va_end(ap);
	return r;
}

enum simhost_daemon simhost_default_daemon(void)
{
	const char *s = getenv("XDEV_SIM_XENSTORED");

	return s && (!strcmp(s, "o") || !strcmp(s, "oxenstored"))
		? SIMHOST_OXENSTORED : SIMHOST_CXENSTORED;
}

int sim__pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The libfakexen.so this process has loaded: the one to preload into the
 * daemon, whether we run from the build tree or installed. */
static int find_preload(struct simhost *h)
{
	Dl_info info;
	char *real;

	if (getenv("XDEV_SIM_PRELOAD") && *getenv("XDEV_SIM_PRELOAD")) {
		snprintf(h->preload, sizeof(h->preload), "%s",
			 getenv("XDEV_SIM_PRELOAD"));
		return 0;
	}
	if (!dladdr((void *)fakexen_attach, &info) || !info.dli_fname)
		return fail(h, -ENOENT, "cannot locate libfakexen.so");
	real = realpath(info.dli_fname, NULL);
	if (!real)
		return fail(h, -errno, "%s: %s", info.dli_fname, strerror(errno));
	snprintf(h->preload, sizeof(h->preload), "%s", real);
	free(real);
	return 0;
}

/* DIR's absolute path into h->dir.  realpath() into a buffer shorter than
 * PATH_MAX could overflow it, and with _FORTIFY_SOURCE (on in Debian's
 * package builds) the call aborts: realpath allocates, what fits is kept. */
static int resolve_dir(struct simhost *h, const char *dir)
{
	char *real = realpath(dir, NULL);
	size_t n;

	if (!real)
		return fail(h, -errno, "%s: %s", dir, strerror(errno));
	n = strlen(real);
	if (n >= sizeof(h->dir)) {
		free(real);
		return fail(h, -ENAMETOOLONG, "%s: path too long", dir);
	}
	memcpy(h->dir, real, n + 1);
	free(real);
	return 0;
}

/* Host directories go to /dev/shm when possible: the registry and the
 * event-channel table are mapped shared and should not be written back to
 * a disk. */
static int make_dir(const struct simhost_opts *o, struct simhost *h)
{
	const char *base = getenv("XDEV_SIM_TMPDIR");

	if (o->dir) {
		if (strlen(o->dir) >= 100)
			return fail(h, -ENAMETOOLONG,
				    "%s: too long for a unix socket path", o->dir);
		if (mkdir(o->dir, 0700) < 0)
			return fail(h, -errno, "%s: %s", o->dir, strerror(errno));
		return resolve_dir(h, o->dir);
	}
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
			: getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if (strlen(base) >= 80)
		return fail(h, -ENAMETOOLONG, "%s: too long for a socket path",
			    base);
	snprintf(h->dir, sizeof(h->dir), "%s/xdev-sim.XXXXXX", base);
	if (!mkdtemp(h->dir))
		return fail(h, -errno, "%s: %s", h->dir, strerror(errno));
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void sim__rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void sim__loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
}

/* Has DAEMON, our child, exited?  Reaps it if so. */
static int daemon_exited(pid_t daemon)
{
	return waitpid(daemon, NULL, WNOHANG) == daemon;
}

/* Wait until FD is readable or the daemon exits.  SIGFD is a signalfd for
 * SIGCHLD (among others): no pidfd, which valgrind does not support. */
static int wait_ready(int fd, int sigfd, pid_t daemon, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = sigfd, .events = POLLIN } };
	struct signalfd_siginfo si;
	char c;

	for (;;) {
		int n = poll(p, 2, timeout_ms);

		if (n == 0)
			return -ETIMEDOUT;
		if (n < 0 && errno != EINTR)
			return -errno;
		if ((p[0].revents & POLLIN) && read(fd, &c, 1) == 1)
			return 0;
		if (p[0].revents & POLLHUP)
			return -ECHILD; /* exited without listening */
		if ((p[1].revents & POLLIN) &&
		    read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGCHLD)
				return -EINTR;
			if (daemon_exited(daemon))
				return -ECHILD; /* reaped: do not signal it */
		}
	}
}

static void report(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report(int fd, const char *fmt, ...)
{
	char buf[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(fd, buf, (size_t)n) < 0)
		return;
}

static int write_pidfile(const char *dir, const char *name, pid_t pid)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)pid);
	return fclose(f) ? -errno : 0;
}

/* Stop the daemon: SIGTERM, then SIGKILL past STOP_TIMEOUT_MS; always
 * reaped.  Only called for the daemon this supervisor started.  SIGCHLD is
 * blocked here, so sigtimedwait() is the wait. */
static void daemon_stop(pid_t pid)
{
	struct timespec left = { .tv_sec = STOP_TIMEOUT_MS / 1000 };
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	kill(pid, SIGTERM);
	while (!daemon_exited(pid)) {
		if (sigtimedwait(&chld, NULL, &left) < 0 && errno == EAGAIN) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return;
		}
	}
}

/* With $XDEV_SIM_KEEP_LOGS=DIR, the host's logs survive it, appended to
 * DIR/<file> (debugging a failed test). */
static void keep_logs(const char *dir)
{
	static const char *const logs[] = { "supervisor.log", "daemon.log",
					    "drivers.log", "xenbus.log" };
	const char *keep = getenv("XDEV_SIM_KEEP_LOGS");
	char cmd[PATH_MAX * 2];
	size_t i;

	if (!keep || !*keep)
		return;
	for (i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s/%s", dir, logs[i]);
		if (access(cmd, R_OK) < 0)
			continue;
		snprintf(cmd, sizeof(cmd), "(echo '==== %s'; cat '%s/%s') >> '%s/%s'",
			 dir, dir, logs[i], keep, logs[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "xdev-sim: keeping %s failed\n", logs[i]);
	}
}

/* Run until asked to stop (a signal: from simhost_stop(), or SIGTERM from
 * the kernel when the starter ends with stop_with_starter), or until the
 * daemon dies on its own.  Meanwhile serve control requests (kernels of
 * new domains, simhost-kernel.c). */
static void supervise_until_stop(const char *dir, pid_t daemon, int sigfd,
				 int lfd)
{
	struct pollfd p[2] = { { .fd = sigfd, .events = POLLIN },
			       { .fd = lfd, .events = POLLIN } };
	struct signalfd_siginfo si;

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			sim__control_serve(dir, lfd);
		if (!(p[0].revents & POLLIN) ||
		    read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD)
			break;
		sim__kernel_reap();
		if (daemon_exited(daemon)) {
			fprintf(stderr, "xdev-sim: the daemon exited\n");
			sim__kernel_stop_all();
			return;
		}
	}
	sim__kernel_stop_all();
	daemon_stop(daemon);
}

static void supervise(struct simhost *h, const struct simhost_opts *o,
		      int report_fd, pid_t starter)
{
	int ready[2], sigfd, r, lfd;
	sigset_t set;
	pid_t daemon;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	/* The kernel tells us when the starter ends; if it already has, the
	 * parent is no longer the starter. */
	if (o->stop_with_starter &&
	    (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != starter)) {
		report(report_fd, "E the starting process ended");
		goto out;
	}
	if (o->netns == 1 || (o->netns == -1 && geteuid() == 0)) {
		if (unshare(CLONE_NEWNET) < 0) {
			report(report_fd, "E cannot create a network namespace: %s",
			       strerror(errno));
			goto out;
		}
		sim__loopback_up();
		sim__kernel_use_netns();
	}
	if (pipe2(ready, O_CLOEXEC) < 0) {
		report(report_fd, "E pipe: %s", strerror(errno));
		goto out;
	}
	daemon = sim__daemon_spawn(h, o, ready[1]);
	close(ready[1]);
	if (daemon < 0) {
		report(report_fd, "E %s", h->err);
		goto out;
	}
	if ((r = wait_ready(ready[0], sigfd, daemon, START_TIMEOUT_MS)) < 0) {
		report(report_fd, "E %s did not start (%s)",
		       sim__daemon_name(o->daemon), strerror(-r));
		if (r != -ECHILD)
			daemon_stop(daemon);
		goto out;
	}
	close(ready[0]);
	lfd = sim__control_listen(h->dir);
	if (lfd < 0 || (!o->no_drivers && (r = sim__kernel_start_dom0(h->dir)))) {
		report(report_fd, "E %s", lfd < 0 ? "cannot listen for control"
		       : "dom0's drivers did not start; see drivers.log");
		sim__kernel_stop_all();
		daemon_stop(daemon);
		goto out;
	}
	write_pidfile(h->dir, "supervisor.pid", getpid());
	report(report_fd, "OK");
	close(report_fd);
	report_fd = -1;
	supervise_until_stop(h->dir, daemon, sigfd, lfd);
out:
	if (report_fd >= 0)
		close(report_fd);
	keep_logs(h->dir);
	sim__rm_tree(h->dir);
	_exit(0);
}

/* The starter's side: wait for the supervisor's verdict, one line.  Not
 * for EOF: the supervisor's children hold copies of the pipe. */
static int await_supervisor(struct simhost *h, int fd)
{
	char buf[600];
	ssize_t n = 0, k;

	while (!memchr(buf, '\n', n) &&
	       (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += k;
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	if (!strcmp(buf, "OK"))
		return 0;
	waitpid(h->supervisor, NULL, 0);
	return fail(h, -EIO, "%s", buf[0] == 'E' ? buf + 2
		    : "the host supervisor died while starting");
}

int simhost_start(const struct simhost_opts *opts, struct simhost *h)
{
	struct simhost_opts o = opts ? *opts : (struct simhost_opts){ .netns = -1 };
	pid_t pid, starter = getpid();
	int rep[2], r;

	memset(h, 0, sizeof(*h));
	h->daemon = o.daemon;
	if ((r = find_preload(h)) || (r = make_dir(&o, h)))
		return r;
	snprintf(h->socket, sizeof(h->socket), "%s/socket", h->dir);
	if ((r = fakexen_host_init(h->dir))) {
		sim__rm_tree(h->dir);
		return fail(h, r, "%s: cannot create the host state: %s",
			    h->dir, strerror(-r));
	}
	if (pipe2(rep, O_CLOEXEC) < 0)
		return fail(h, -errno, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(rep[0]);
		close(rep[1]);
		sim__rm_tree(h->dir);
		return fail(h, r, "fork: %s", strerror(-r));
	}
	if (pid == 0) {
		close(rep[0]);
		setsid();
		sim__redirect_stdio(h->dir, "supervisor.log");
		supervise(h, &o, rep[1], starter);
	}
	close(rep[1]);
	h->supervisor = pid;
	h->has_netns = o.netns == 1 || (o.netns == -1 && geteuid() == 0);
	if ((r = await_supervisor(h, rep[0])))
		return r;
	if ((r = sim__dom0_nodes(h))) {
		simhost_stop(h);
		return r;
	}
	return 0;
}

int simhost_open(const char *dir, struct simhost *h)
{
	char path[PATH_MAX];
	FILE *f;
	int pid = 0, r;

	memset(h, 0, sizeof(*h));
	if (!dir)
		dir = getenv(FAKEXEN_ENV_DIR);
	if (!dir || !*dir)
		return fail(h, -EINVAL, "no host given (--dir or $XDEV_SIM_DIR)");
	if ((r = resolve_dir(h, dir)))
		return r;
	snprintf(path, sizeof(path), "%s/supervisor.pid", h->dir);
	f = fopen(path, "re");
	if (!f)
		return fail(h, -ESRCH, "%s: no simulated host runs there", dir);
	r = fscanf(f, "%d", &pid);
	fclose(f);
	if (r != 1 || pid <= 0 || !sim__is_supervisor(pid, h->dir))
		return fail(h, -ESRCH, "%s: its supervisor is gone", dir);
	h->supervisor = pid;
	snprintf(h->socket, sizeof(h->socket), "%s/socket", h->dir);
	h->daemon = sim__daemon_of(h->dir);
	h->has_netns = sim__has_own_netns(pid);
	if ((r = find_preload(h)))
		return r;
	return 0;
}

/* Wait for the supervisor to exit: reaped if it is our child (it stops
 * within the daemon's stop timeout), else watched through a pidfd. */
static int supervisor_wait(struct simhost *h)
{
	struct pollfd p = { .events = POLLIN };
	int r = 0;

	if (waitpid(h->supervisor, NULL, 0) == h->supervisor)
		return 0;
	if (errno != ECHILD)
		return fail(h, -errno, "waiting for the supervisor: %s",
			    strerror(errno));
	p.fd = sim__pidfd_open(h->supervisor);
	if (p.fd < 0)
		return errno == ESRCH ? 0
			: fail(h, -errno, "supervisor %d: %s",
			       (int)h->supervisor, strerror(errno));
	if (poll(&p, 1, STOP_TIMEOUT_MS * 2) <= 0)
		r = fail(h, -ETIMEDOUT, "the supervisor did not exit");
	close(p.fd);
	return r;
}

int simhost_stop(struct simhost *h)
{
	int r;

	if (h->supervisor <= 0)
		return fail(h, -ESRCH, "host not running");
	if (kill(h->supervisor, SIGTERM) < 0)
		return fail(h, -errno, "supervisor %d: %s", (int)h->supervisor,
			    strerror(errno));
	r = supervisor_wait(h);
	if (!r && access(h->dir, F_OK) == 0)
		r = fail(h, -EEXIST, "%s was left behind", h->dir);
	h->supervisor = 0;
	return r;
}

int simhost_setenv(const struct simhost *h, int preload, int enter_netns)
{
	if (setenv(FAKEXEN_ENV_DIR, h->dir, 1) ||
	    setenv("XENSTORED_PATH", h->socket, 1) ||
	    setenv("XDEV_SIM_PRELOAD", h->preload, 1) ||
	    (preload && setenv("LD_PRELOAD", h->preload, 1)))
		return -errno;
	if (enter_netns && h->has_netns)
		return sim__enter_netns(h->supervisor);
	return 0;
}
