/*
 * simhost-enter: the inside of a domain (simhost_domain_enter()).
 *
 * Inside a domain a program has the domain's own xenstore connection (its
 * kernel's xenbus socket, unprivileged) and no hypervisor access.  A driver
 * domain on a host with its own network namespace also has a network
 * namespace of its own, made by its driver process as it starts, so that
 * netback's vif taps appear there and not in the host's.
 *
 * The driver process of every domain but dom0 records itself in
 * $dir/kernels/<domid> as "<pid> <starttime> <role> <netns|->".  Entering
 * opens /proc/<pid> once and checks the start time through that directory
 * fd before opening the namespace through it: the fd stays bound to the
 * process it was opened for, so a recycled pid is never entered.
 *
 * The namespace is the driver process's.  When the supervisor kills a
 * kernel it also kills whatever else still runs in its namespace (programs
 * entered into the domain): nothing of a destroyed domain keeps running, and
 * nothing outlives the host.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fakexen.h"
#include "simhost-internal.h"

#define SWEEP_ROUNDS 100

struct kernel_rec {
	int pid;
	unsigned long long start;
	char role[16];
	char netns[8];
};

static void rec_path(const char *dir, uint32_t domid, char *buf, size_t n)
{
	snprintf(buf, n, "%s/kernels/%u", dir, domid);
}

/* Field 22 of /proc/<pid>/stat (DIRFD is /proc/<pid>): the start time,
 * which tells a process apart from a later one with the same pid. */
static int proc_starttime(int dirfd, unsigned long long *ret)
{
	char buf[1024], *p;
	int fd = openat(dirfd, "stat", O_RDONLY | O_CLOEXEC), i;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may hold anything */
	for (i = 2; p && i < 22; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", ret) != 1)
		return -EIO;
	return 0;
}

int sim__kernel_record(const char *dir, uint32_t domid, bool backend,
		       bool netns)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	unsigned long long start;
	int self = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
	FILE *f;

	if (self < 0)
		return -errno;
	r = proc_starttime(self, &start);
	close(self);
	if (r)
		return r;
	if (netns) {
		if (unshare(CLONE_NEWNET) < 0)
			return -errno;
		sim__loopback_up();
	}
	snprintf(path, sizeof(path), "%s/kernels", dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	rec_path(dir, domid, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d %llu %s %s\n", (int)getpid(), start,
		backend ? "backend" : "frontend", netns ? "netns" : "-");
	/* renamed into place: a reader never sees half a record */
	if (fclose(f) || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

void sim__kernel_unrecord(const char *dir, uint32_t domid)
{
	char path[PATH_MAX];

	rec_path(dir, domid, path, sizeof(path));
	unlink(path);
}

static int read_record(const char *dir, uint32_t domid, struct kernel_rec *k)
{
	char path[PATH_MAX];
	FILE *f;
	int n;

	rec_path(dir, domid, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%d %llu %15s %7s", &k->pid, &k->start, k->role,
		   k->netns);
	fclose(f);
	return n == 4 && k->pid > 0 ? 0 : -EIO;
}

/* /proc/<pid> of the recorded process, if it is still that process. */
static int open_kernel(const struct kernel_rec *k)
{
	char path[64];
	unsigned long long start;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d", k->pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	if (proc_starttime(fd, &start) || start != k->start) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

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

static const char *not_running(uint32_t flags)
{
	if (flags & FAKEXEN_DOM_DYING)
		return "dying";
	if (flags & FAKEXEN_DOM_CRASHED)
		return "crashed";
	if (flags & FAKEXEN_DOM_SHUTDOWN)
		return "shut down";
	return NULL;
}

/* The domain's running driver-domain kernel: its /proc/<pid> fd. */
static int find_kernel(struct simhost *h, uint32_t domid,
		       const struct fakexen_dominfo *d, struct kernel_rec *k)
{
	const char *dead = not_running(d->flags);
	int r;

	if (dead)
		return fail(h, -ESRCH, "domain %u (%s) is not running: %s",
			    domid, d->name, dead);
	r = read_record(h->dir, domid, k);
	if (r == -ENOENT)
		return fail(h, -EOPNOTSUPP, "domain %u (%s) is bare: it has "
			    "no kernel, nothing runs in it", domid, d->name);
	if (r)
		return fail(h, r, "domain %u (%s): bad kernel record", domid,
			    d->name);
	if (strcmp(k->role, "backend"))
		return fail(h, -EOPNOTSUPP, "domain %u (%s) is a guest: only "
			    "dom0 and driver domains run programs", domid,
			    d->name);
	r = open_kernel(k);
	if (r < 0)
		return fail(h, r, "domain %u (%s) is not running: its kernel "
			    "(pid %d) is gone", domid, d->name, k->pid);
	return r;
}

static int enter_netns(int procfd)
{
	int fd = openat(procfd, "ns/net", O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno; /* exited since */
	if (setns(fd, CLONE_NEWNET) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int domain_env(struct simhost *h, uint32_t domid)
{
	char sock[PATH_MAX], num[16];

	snprintf(sock, sizeof(sock), "%s/xenbus/%u", h->dir, domid);
	snprintf(num, sizeof(num), "%u", domid);
	if (setenv(FAKEXEN_ENV_DIR, h->dir, 1) ||
	    setenv("XENSTORED_PATH", sock, 1) ||
	    setenv("XDEV_DOMID", num, 1) || unsetenv("LD_PRELOAD"))
		return fail(h, -errno, "setting the environment: %s",
			    strerror(errno));
	return 0;
}

int simhost_domain_enter(struct simhost *h, uint32_t domid)
{
	struct fakexen_dominfo d;
	struct kernel_rec k;
	int r, procfd;

	if ((r = fakexen_attach(h->dir)))
		return fail(h, r, "%s: %s", h->dir, strerror(-r));
	if (domid >= FAKEXEN_NR_DOMIDS || fakexen_domain_get(domid, &d))
		return fail(h, -ESRCH, "no domain %u", domid);
	if (domid == 0) {
		if ((r = simhost_setenv(h, 1, 1)))
			return fail(h, r, "entering the host: %s",
				    strerror(-r));
		return setenv("XDEV_DOMID", "0", 1) ? -errno : 0;
	}
	procfd = find_kernel(h, domid, &d, &k);
	if (procfd < 0)
		return procfd;
	r = strcmp(k.netns, "netns") ? 0 : enter_netns(procfd);
	close(procfd);
	if (r == -ESRCH)
		return fail(h, r, "domain %u (%s) is not running: its kernel "
			    "(pid %d) is gone", domid, d.name, k.pid);
	if (r)
		return fail(h, r, "entering the network namespace of domain "
			    "%u: %s", domid, strerror(-r));
	return domain_env(h, domid);
}

int sim__netns_hold(pid_t pid)
{
	char path[64];
	struct stat a, b;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &a) < 0 || stat("/proc/self/ns/net", &b) < 0 ||
	    a.st_ino == b.st_ino) {
		close(fd);
		return -1; /* ours: not the kernel's own */
	}
	return fd;
}

static bool in_netns(pid_t pid, const struct stat *ns)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	return stat(path, &st) == 0 && st.st_ino == ns->st_ino &&
	       st.st_dev == ns->st_dev;
}

/* Kill PID if it is in the namespace NS; true if it was.  Through a pidfd
 * when the kernel has them, checked again once open: the check and the
 * signal then reach the same process even if PID is reused meanwhile.
 * Without (valgrind knows no pidfd_open), a plain kill. */
static int kill_if_in(pid_t pid, const struct stat *ns)
{
	int pfd;

	if (!in_netns(pid, ns))
		return 0;
	pfd = sim__pidfd_open(pid);
	if (pfd < 0) {
		if (errno == ESRCH)
			return 0;
		kill(pid, SIGKILL);
		return 1;
	}
	if (in_netns(pid, ns))
		syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
	close(pfd);
	return 1;
}

void sim__netns_sweep(int nsfd)
{
	struct stat ns;
	struct dirent *e;
	int round, hits = 1;
	DIR *d;

	if (fstat(nsfd, &ns) < 0)
		return;
	/* Again until a pass finds no one: a process may fork meanwhile. */
	for (round = 0; hits && round < SWEEP_ROUNDS; round++) {
		hits = 0;
		d = opendir("/proc");
		while (d && (e = readdir(d)))
			if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
			    atoi(e->d_name) != getpid())
				hits += kill_if_in(atoi(e->d_name), &ns);
		if (d)
			closedir(d);
	}
}
