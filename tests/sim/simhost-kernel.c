/*
 * simhost-kernel: the processes that stand for each domain's kernel, and
 * the supervisor's control socket through which they are started and
 * stopped.
 *
 * A domain's "kernel" is its xenbus multiplexer (xenbus-mux.c: owns the
 * ring, serves $dir/xenbus/<domid> to the domain's own programs) plus its
 * drivers (drv.c).  Dom0's kernel is only its backend drivers: dom0's
 * programs use xenstored's socket.  All are children of the supervisor, so
 * stopping the host ends them and nothing outlives it; a destroyed domain's
 * kernel is killed first, as a real domain stops running before the
 * toolstack notices.  A driver domain's driver process has the domain's
 * network namespace (simhost-enter.c) when the host has one; killing the
 * kernel also kills what else runs in it.
 *
 * Control requests, one line per connection to $dir/control, answered by
 * "OK" or "E <message>":
 *   kernel <domid> frontend|backend   start the domain's kernel
 *   gone <domid>                      kill it (SIGKILL, reaped)
 *   destroy <domid>                   destroy the domain (for drivers that
 *                                     act out destroy-at; done by a helper
 *                                     child, answered at once)
 *   kexec <domid>                     signal a guest kexec to its drivers
 *   faults <domid>                    its fault file changed: tell its
 *                                     drivers (DRV_FAULT_SIGNAL), if any
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drv.h"
#include "fakexen.h"
#include "simhost-internal.h"
#include "xenbus-mux.h"

#define KERNEL_START_MS 5000
/* Two per domain with a kernel: about 2000 such domains (docs/
 * simulated-host.md, "Limits"). */
#define MAX_PROCS 4096

enum proc_kind { PROC_MUX, PROC_DRIVER, PROC_HELPER };

/* The supervisor's children other than the daemon. */
static struct kproc {
	pid_t pid;
	uint32_t domid;
	enum proc_kind kind;
	int nsfd;       /* its network namespace while it is being killed */
} procs[MAX_PROCS];
static int nprocs;
static bool domain_netns;

void sim__kernel_use_netns(void)
{
	domain_netns = true;
}

static void track(pid_t pid, uint32_t domid, enum proc_kind kind)
{
	if (nprocs < MAX_PROCS)
		procs[nprocs++] = (struct kproc){ pid, domid, kind, -1 };
}

/* Reap whatever of ours has exited; never waits for others' children. */
void sim__kernel_reap(void)
{
	int i;

	for (i = 0; i < nprocs;)
		if (waitpid(procs[i].pid, NULL, WNOHANG) == procs[i].pid)
			procs[i] = procs[--nprocs];
		else
			i++;
}

/* A driver's namespace is held open from before the kill until what else
 * ran in it is killed too: its inode number cannot be reused meanwhile. */
static void kill_proc(struct kproc *p)
{
	if (p->kind == PROC_DRIVER)
		p->nsfd = sim__netns_hold(p->pid);
	kill(p->pid, SIGKILL);
}

static void forget_proc(int i)
{
	if (procs[i].nsfd >= 0) {
		sim__netns_sweep(procs[i].nsfd);
		close(procs[i].nsfd);
	}
	procs[i] = procs[--nprocs];
}

static void kill_matching(uint32_t domid, bool all)
{
	int i;

	for (i = 0; i < nprocs; i++)
		if (all || (procs[i].domid == domid &&
			    procs[i].kind != PROC_HELPER))
			kill_proc(&procs[i]);
	for (i = 0; i < nprocs;) {
		if ((all || (procs[i].domid == domid &&
			     procs[i].kind != PROC_HELPER)) &&
		    waitpid(procs[i].pid, NULL, 0) >= 0) {
			forget_proc(i);
			continue;
		}
		i++;
	}
}

void sim__kernel_stop_all(void)
{
	kill_matching(0, true);
}

/* In a fresh child of the supervisor: a clean signal state, dies with the
 * supervisor, logs to LOG. */
static void child_init(const char *dir, const char *log)
{
	char sock[PATH_MAX];
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sim__redirect_stdio(dir, log);
	/* dom0's programs reach xenstored through its socket */
	snprintf(sock, sizeof(sock), "%s/socket", dir);
	setenv("XENSTORED_PATH", sock, 1);
	setenv(FAKEXEN_ENV_DIR, dir, 1);
}

static int wait_byte(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) <= 0)
		return -ETIMEDOUT;
	return read(fd, &c, 1) == 1 ? 0 : -ECHILD;
}

static int spawn(const char *dir, uint32_t domid, enum proc_kind kind,
		 enum drv_role role, int close_fd)
{
	char sock[PATH_MAX];
	int ready[2], r;
	pid_t pid;

	if (nprocs >= MAX_PROCS) {
		fprintf(stderr, "domain %u: kernel: more than %d processes\n",
			domid, MAX_PROCS);
		return -EAGAIN;
	}
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(ready[0]);
		close(ready[1]);
		return r;
	}
	if (pid == 0) {
		close(ready[0]);
		close(close_fd);
		child_init(dir, kind == PROC_MUX ? "xenbus.log" : "drivers.log");
		if (kind == PROC_MUX) {
			snprintf(sock, sizeof(sock), "%s/xenbus/%u", dir, domid);
			_exit(sim_xenbus_run(domid, sock, ready[1]) ? 1 : 0);
		}
		if (domid != 0 &&
		    (r = sim__kernel_record(dir, domid, role == DRV_BACKEND,
					    domain_netns &&
					    role == DRV_BACKEND))) {
			fprintf(stderr, "domain %u: kernel: %s\n", domid,
				strerror(-r));
			_exit(1);
		}
		_exit(sim_driver_run(domid, role, ready[1]));
	}
	close(ready[1]);
	track(pid, domid, kind);
	r = wait_byte(ready[0], KERNEL_START_MS);
	close(ready[0]);
	return r;
}

static int kernel_start(const char *dir, uint32_t domid, enum drv_role role,
			int close_fd)
{
	char path[PATH_MAX];
	int r;

	if (domid != 0) {
		snprintf(path, sizeof(path), "%s/xenbus", dir);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		if ((r = spawn(dir, domid, PROC_MUX, role, close_fd)))
			goto fail;
	}
	if ((r = spawn(dir, domid, PROC_DRIVER, role, close_fd)))
		goto fail;
	return 0;
fail:
	kill_matching(domid, false);
	sim__kernel_unrecord(dir, domid);
	return r;
}

int sim__kernel_start_dom0(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/faults", dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return kernel_start(dir, 0, DRV_BACKEND, -1);
}

static int signal_driver(uint32_t domid, int sig)
{
	int i;

	for (i = 0; i < nprocs; i++)
		if (procs[i].domid == domid && procs[i].kind == PROC_DRIVER)
			return kill(procs[i].pid, sig) < 0 ? -errno : 0;
	return -ESRCH;
}

static int destroy_async(const char *dir, uint32_t domid, int close_fd)
{
	struct simhost h;
	pid_t pid;

	if (nprocs >= MAX_PROCS)
		return -EAGAIN;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(close_fd);
		child_init(dir, "supervisor.log");
		if (simhost_open(dir, &h) || simhost_domain_destroy(&h, domid, 0))
			fprintf(stderr, "destroy %u: %s\n", domid, h.err);
		_exit(0);
	}
	track(pid, domid, PROC_HELPER);
	return 0;
}

static int handle_request(const char *dir, char *line, int lfd)
{
	char what[16] = "", role[16] = "";
	unsigned long domid;

	if (sscanf(line, "%15s %lu %15s", what, &domid, role) < 2 ||
	    domid >= FAKEXEN_NR_DOMIDS)
		return -EINVAL;
	if (!strcmp(what, "kernel"))
		return kernel_start(dir, domid, strcmp(role, "backend")
				    ? DRV_FRONTEND : DRV_BACKEND, lfd);
	if (!strcmp(what, "gone")) {
		kill_matching(domid, false);
		sim__kernel_unrecord(dir, domid);
		return 0;
	}
	if (!strcmp(what, "destroy"))
		return destroy_async(dir, domid, lfd);
	if (!strcmp(what, "kexec"))
		return signal_driver(domid, SIGUSR1);
	if (!strcmp(what, "faults")) {
		/* a bare domain, or dom0 with --no-drivers: no one to tell */
		int r = signal_driver(domid, DRV_FAULT_SIGNAL);

		return r == -ESRCH ? 0 : r;
	}
	return -EINVAL;
}

int sim__control_listen(const char *dir)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/control", dir);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* One request from one connection; the supervisor calls this when the
 * listening socket is readable. */
void sim__control_serve(const char *dir, int lfd)
{
	char buf[128], reply[160];
	ssize_t n;
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), r;
	struct timeval tv = { .tv_sec = 2 };

	if (c < 0)
		return;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = read(c, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		r = handle_request(dir, buf, lfd);
		if (r)
			snprintf(reply, sizeof(reply), "E %s\n", strerror(-r));
		else
			snprintf(reply, sizeof(reply), "OK\n");
		if (write(c, reply, strlen(reply)) < 0)
			r = -errno;
	}
	close(c);
}

int sim__control(const char *dir, const char *request)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;
	char reply[160];
	ssize_t n;

	if (fd < 0)
		return -errno;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/control", dir);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write(fd, request, strlen(request)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	shutdown(fd, SHUT_WR);
	n = read(fd, reply, sizeof(reply) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	reply[n] = 0;
	return strncmp(reply, "OK", 2) ? -EIO : 0;
}

int drv_request_destroy(uint32_t domid)
{
	char req[48];

	snprintf(req, sizeof(req), "destroy %u\n", domid);
	return sim__control(fakexen_dir(), req);
}
