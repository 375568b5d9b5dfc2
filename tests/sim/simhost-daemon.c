/*
 * simhost-daemon: how each real xenstored is started inside a host, and the
 * process facts (which supervisor, which namespace) the host relies on.
 *
 * C xenstored takes its socket directory from $XENSTORED_RUNDIR and its
 * dom0 port and page from /proc/xen (redirected by the shim).  oxenstored
 * reads everything from a config file and binds a fixed socket path that the
 * shim moves into the host directory.  Both get XDEV_SIM_READY_FD, the pipe
 * the shim signals from inside listen().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakexen.h"
#include "simhost-internal.h"

#define XEN_BIN "/usr/lib/xen-4.17/bin"

const char *sim__daemon_name(enum simhost_daemon d)
{
	return d == SIMHOST_OXENSTORED ? "oxenstored" : "xenstored";
}

static const char *daemon_path(enum simhost_daemon d)
{
	const char *env = getenv(d == SIMHOST_OXENSTORED
				 ? "XDEV_SIM_OXENSTORED_BIN"
				 : "XDEV_SIM_XENSTORED_BIN");

	if (env && *env)
		return env;
	return d == SIMHOST_OXENSTORED ? XEN_BIN "/oxenstored"
				       : XEN_BIN "/xenstored";
}

void sim__redirect_stdio(const char *dir, const char *log)
{
	char path[PATH_MAX];
	int in = open("/dev/null", O_RDONLY), out;

	snprintf(path, sizeof(path), "%s/%s", dir, log);
	out = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (in >= 0) {
		dup2(in, 0);
		close(in);
	}
	if (out >= 0) {
		dup2(out, 1);
		dup2(out, 2);
		close(out);
	}
}

/* oxenstored's configuration: quotas as in Debian's default file, every
 * path inside the host directory. */
static int write_oxenstored_conf(const char *dir, char *ret_path, size_t size)
{
	FILE *f;

	snprintf(ret_path, size, "%s/oxenstored.conf", dir);
	f = fopen(ret_path, "we");
	if (!f)
		return -errno;
	fprintf(f,
		"pid-file = %s/daemon.pid\n"
		"test-eagain = false\n"
		"merge-activate = true\n"
		"perms-activate = true\n"
		"perms-watch-activate = true\n"
		"quota-activate = true\n"
		"quota-maxentity = 1000\n"
		"quota-maxsize = 2048\n"
		"quota-maxwatch = 100\n"
		"quota-transaction = 10\n"
		"quota-maxrequests = 1024\n"
		"quota-maxoutstanding = 1024\n"
		"quota-maxwatchevents = 1024\n"
		"persistent = false\n"
		"xenstored-log-file = %s/daemon.log\n"
		"xenstored-log-level = warn\n"
		"access-log-file = %s/access.log\n"
		"xenstored-kva = %s/xsd_kva\n"
		"xenstored-port = %s/xsd_port\n",
		dir, dir, dir, dir, dir);
	return fclose(f) ? -errno : 0;
}

static void record_daemon(const char *dir, enum simhost_daemon d)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/daemon", dir);
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%s\n", sim__daemon_name(d));
		fclose(f);
	}
}

enum simhost_daemon sim__daemon_of(const char *dir)
{
	char path[PATH_MAX], name[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/daemon", dir);
	f = fopen(path, "re");
	if (f) {
		if (!fgets(name, sizeof(name), f))
			name[0] = 0;
		fclose(f);
	}
	return !strncmp(name, "oxenstored", 10) ? SIMHOST_OXENSTORED
						: SIMHOST_CXENSTORED;
}

/* What launch-xenstore does on a dom0 (prlimit --nofile=
 * $XENSTORED_MAX_OPEN_FDS, "unlimited" by default: fs.nr_open): the daemon
 * holds an fd per domain (here, the FIFO of each peer's event-channel
 * handle), so an inherited soft limit of 1024 would cap the host at about a
 * thousand domains, 64 at fifty.  Unprivileged, settle for the hard limit. */
static void raise_nofile(void)
{
	struct rlimit rl;
	unsigned long nr_open = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	rl.rlim_cur = rl.rlim_max = nr_open;
	if (nr_open && setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void exec_daemon(struct simhost *h, const struct simhost_opts *o,
			int ready_fd, const char *conf)
{
	char fdbuf[16], pidfile[PATH_MAX];
	const char *bin = daemon_path(o->daemon);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	raise_nofile();
	sim__redirect_stdio(h->dir, "daemon.log");
	snprintf(fdbuf, sizeof(fdbuf), "%d", ready_fd);
	fcntl(ready_fd, F_SETFD, 0);
	setenv("XDEV_SIM_READY_FD", fdbuf, 1);
	setenv(FAKEXEN_ENV_DIR, h->dir, 1);
	setenv("XENSTORED_RUNDIR", h->dir, 1);
	setenv("XENSTORED_PATH", h->socket, 1);
	setenv("LD_PRELOAD", h->preload, 1);
	unsetenv("XDEV_SIM_DOMID");
	if (o->daemon == SIMHOST_OXENSTORED) {
		execl(bin, bin, "--no-fork", "--config-file", conf,
		      (char *)NULL);
	} else {
		snprintf(pidfile, sizeof(pidfile), "%s/daemon.pid", h->dir);
		if (o->trace_file)
			execl(bin, bin, "-N", "-F", pidfile, "-T", o->trace_file,
			      (char *)NULL);
		else
			execl(bin, bin, "-N", "-F", pidfile, (char *)NULL);
	}
	fprintf(stderr, "xdev-sim: exec %s: %s\n", bin, strerror(errno));
	_exit(127);
}

pid_t sim__daemon_spawn(struct simhost *h, const struct simhost_opts *o,
			int ready_fd)
{
	char conf[PATH_MAX] = "";
	const char *bin = daemon_path(o->daemon);
	sigset_t none;
	pid_t pid;
	int r;

	if (access(bin, X_OK) < 0) {
		snprintf(h->err, sizeof(h->err),
			 "%s: %s (install the Debian package xen-utils-4.17)",
			 bin, strerror(errno));
		return -1;
	}
	if (o->daemon == SIMHOST_OXENSTORED && o->trace_file) {
		snprintf(h->err, sizeof(h->err),
			 "a request trace is only available with C xenstored");
		return -1;
	}
	if (o->daemon == SIMHOST_OXENSTORED &&
	    (r = write_oxenstored_conf(h->dir, conf, sizeof(conf)))) {
		snprintf(h->err, sizeof(h->err), "oxenstored.conf: %s",
			 strerror(-r));
		return -1;
	}
	record_daemon(h->dir, o->daemon);
	pid = fork();
	if (pid < 0) {
		snprintf(h->err, sizeof(h->err), "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		exec_daemon(h, o, ready_fd, conf);
	}
	return pid;
}

/* PID is the supervisor of DIR: its command line is ours and it holds the
 * host's pid file.  Guards against a recycled pid before signalling. */
int sim__is_supervisor(pid_t pid, const char *dir)
{
	char path[64], exe[PATH_MAX], pidpath[PATH_MAX];
	ssize_t n;
	FILE *f;
	int filepid = 0;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = 0;
	snprintf(pidpath, sizeof(pidpath), "%s/supervisor.pid", dir);
	f = fopen(pidpath, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &filepid) != 1)
		filepid = 0;
	fclose(f);
	/* The supervisor is a fork of the process that started the host,
	 * never an exec: it runs xdev-sim or a test program, not xenstored. */
	return filepid == pid && !strstr(exe, "xenstored");
}

static int netns_ino(pid_t pid, ino_t *ret)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat(path, &st) < 0)
		return -errno;
	*ret = st.st_ino;
	return 0;
}

int sim__has_own_netns(pid_t pid)
{
	ino_t a, b;

	return netns_ino(pid, &a) == 0 && netns_ino(getpid(), &b) == 0 &&
	       a != b;
}

int sim__enter_netns(pid_t pid)
{
	char path[64];
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		r = -errno;
	close(fd);
	return r;
}
