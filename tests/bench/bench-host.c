/*
 * What the bench programs share (xdev-bench and libxl-bench): one
 * simulated host per measurement with the real C xenstored, its domains, a
 * loop device to name as a vbd's target, markers in xenstored's trace and
 * the trace's parsing, and small statistics.  docs/performance.md has the
 * method.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

#include "fakexen.h"
#include "bench-host.h"

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

const char *bench_name = "bench";
void (*bench_on_stop)(void);
const char *srcdir = BENCH_SRCDIR;
struct simhost host;
bool host_up;
struct xs_handle *bxs;       /* the bench's own connection */
char loopdev[64];
static int loop_fd = -1;
char tmpdir[256];            /* traces, callgrind files */

/* ---- small helpers ------------------------------------------------------ */

void msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (host_up && bench_on_stop)
		bench_on_stop();
	if (host_up)
		simhost_stop(&host);
	if (tmpdir[0]) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd)) {
			/* reported by the caller's leftover check */
		}
	}
	exit(1);
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This thread's CPU time: the library's own work (scripts and the host
 * run in other processes). */
double cpu_self(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Page faults of this process so far.  After every fork() (a script's
 * watcher) each page the library writes again costs one copy-on-write
 * fault: the figure shows what a write in a loop over every operation
 * costs. */
long faults_self(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_minflt + ru.ru_majflt;
}

int daemon_pid(void)
{
	char path[300];
	FILE *f;
	int pid = -1;

	snprintf(path, sizeof(path), "%s/daemon.pid", host.dir);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &pid) != 1)
		pid = -1;
	fclose(f);
	return pid;
}

/* CPU seconds used so far by PID (user + system), from /proc. */
double cpu_of(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

/* CPU seconds the whole machine has been busy (every CPU, every process:
 * /proc/stat's first line without idle and iowait).  On a host this
 * small the storm's processes share the CPUs: the library, xenstored, the
 * simulated drivers, the scripts. */
double host_busy(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	int k;

	if (!f)
		return -1;
	k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (k != 8)
		return -1;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
	       sysconf(_SC_CLK_TCK);
}

/* This process's peak resident set (VmHWM: unlike ru_maxrss, not
 * inherited across exec from the parent), in KiB. */
long peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile Q (0..1) of V[N]; sorts V. */
double pct(double *v, int n, double q)
{
	int k;

	if (n <= 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	k = (int)ceil(q * n) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return v[k];
}

/* One JSON member NAME with the wall times (ms) of N operations, their
 * CPU time in this thread and the difference (waiting). */
void print_stats(const char *name, double *wall, double *cpu, int n,
			bool last)
{
	double *wait = calloc(n, sizeof(double));
	int i;

	for (i = 0; i < n; i++)
		wait[i] = wall[i] - cpu[i];
	printf("  \"%s\": {\"n\": %d, \"p50\": %.3f, \"p90\": %.3f, "
	       "\"p95\": %.3f, \"max\": %.3f, \"cpu_p50\": %.3f, "
	       "\"cpu_p95\": %.3f, \"wait_p50\": %.3f, \"wait_p95\": %.3f}%s\n",
	       name, n, pct(wall, n, 0.5), pct(wall, n, 0.9),
	       pct(wall, n, 0.95), pct(wall, n, 1), pct(cpu, n, 0.5),
	       pct(cpu, n, 0.95), pct(wait, n, 0.5), pct(wait, n, 0.95),
	       last ? "" : ",");
	free(wait);
}

/* ---- the open loop -------------------------------------------------------- */

/* Sleep until T (now()'s clock): the last millisecond before an
 * operation is due, which a loop's millisecond timeout cannot wait. */
void sleep_until(double t)
{
	struct timespec ts;

	if (t <= now())
		return;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* One JSON member NAME: P's latencies (s, from each operation's due time;
 * sorted here), the rate asked for and the one achieved (n - 1 intervals
 * between the first due time and the last issue), how late an issue was
 * at most, the wall time from the first due time to the last
 * completion. */
void print_open_phase(const char *name, struct open_phase *p, bool last)
{
	double span = p->issued_last - p->t0;

	printf("  \"%s\": {\"n\": %d, \"rate\": %.3f, \"issue_rate\": %.3f, "
	       "\"issue_lag_max_s\": %.4f, \"latency_p50_s\": %.4f, "
	       "\"latency_p90_s\": %.4f, \"latency_p99_s\": %.4f, "
	       "\"latency_max_s\": %.4f, \"failed\": %d, \"errors\": \"%s\", "
	       "\"wall_s\": %.3f}%s\n", name, p->n, p->rate,
	       p->n > 1 && span > 0 ? (p->n - 1) / span : 0, p->lag_max,
	       pct(p->lat, p->n, 0.5), pct(p->lat, p->n, 0.9),
	       pct(p->lat, p->n, 0.99), pct(p->lat, p->n, 1), p->failed,
	       p->errors, p->n ? p->done_last - p->t0 : 0, last ? "" : ",");
}

/* ---- the host ------------------------------------------------------------ */

void host_start(const char *trace)
{
	struct simhost_opts o = { .daemon = SIMHOST_CXENSTORED, .netns = -1,
				  .trace_file = trace,
				  .stop_with_starter = 1 };

	if (simhost_start(&o, &host))
		die("host start: %s", host.err);
	host_up = true;
	if (simhost_setenv(&host, 0, 0))
		die("simhost_setenv failed");
	bxs = xs_open(0);
	if (!bxs)
		die("xs_open: %s", strerror(errno));
}

void host_stop(void)
{
	if (bxs)
		xs_close(bxs);
	bxs = NULL;
	if (loop_fd >= 0)
		close(loop_fd); /* autoclear: the kernel detaches it */
	loop_fd = -1;
	if (host_up && bench_on_stop)
		bench_on_stop();
	if (host_up && simhost_stop(&host))
		msg("host stop: %s", host.err);
	host_up = false;
}

uint32_t domain(const char *name, enum simhost_dom_kind kind)
{
	uint32_t id = 0;

	if (simhost_domain_create_kind(&host, name, 0, kind, &id))
		die("domain %s: %s", name, host.err);
	return id;
}

/* A 4 MiB image in the host's directory. */
void make_image(const char *path, off_t size)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, size))
		die("%s: %s", path, strerror(errno));
	close(fd);
}

/* One loop device with autoclear, held open: the target of every vbd run
 * with the trivial script, which needs a block device to name. */
void loop_attach(void)
{
	struct loop_info64 info = { .lo_flags = LO_FLAGS_AUTOCLEAR };
	char image[300];
	int ctl, n, ifd;

	snprintf(image, sizeof(image), "%s/disk.img", host.dir);
	make_image(image, 4 << 20);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	n = ctl >= 0 ? ioctl(ctl, LOOP_CTL_GET_FREE) : -1;
	if (ctl >= 0)
		close(ctl);
	if (n < 0)
		die("no free loop device: %s", strerror(errno));
	snprintf(loopdev, sizeof(loopdev), "/dev/loop%d", n);
	loop_fd = open(loopdev, O_RDWR | O_CLOEXEC);
	ifd = open(image, O_RDWR | O_CLOEXEC);
	if (loop_fd < 0 || ifd < 0 || ioctl(loop_fd, LOOP_SET_FD, ifd) ||
	    ioctl(loop_fd, LOOP_SET_STATUS64, &info))
		die("attaching %s: %s", loopdev, strerror(errno));
	close(ifd);
}

/* A marker in the trace: a read of a node that does not exist, on the
 * bench's own connection.  The daemon is single-threaded, so the trace's
 * order is the order it handled the requests in. */
void marker(const char *label)
{
	char path[200];

	snprintf(path, sizeof(path), "/xdev-bench/%s", label);
	free(xs_read(bxs, XBT_NULL, path, NULL));
}

int read_state(const char *dir)
{
	char path[300], *v;
	int s;

	snprintf(path, sizeof(path), "%s/state", dir);
	v = xs_read(bxs, XBT_NULL, path, NULL);
	s = v ? atoi(v) : 0;
	free(v);
	return s;
}

/* ---- the trace ----------------------------------------------------------- */

const char *const client_name[CLIENTS] = {
	"library", "backend_drivers", "frontend_drivers", "scripts_and_other"
};

struct conn {
	unsigned long long id;
	int watches;
	char last[24];
	enum client kind;
};

static void count_type(struct counts *c, const char *type)
{
	int i;

	for (i = 0; i < MAXTYPES && c->type[i][0]; i++)
		if (!strcmp(c->type[i], type))
			break;
	if (i == MAXTYPES)
		return;
	if (!c->type[i][0])
		snprintf(c->type[i], sizeof(c->type[i]), "%s", type);
	c->n[i]++;
	c->total++;
}

/* ARGS of a WATCH: "<path> <token> )"; the drivers watch
 * /local/domain/<n>/backend and /local/domain/<n>/device. */
static enum client client_of_watch(const char *args)
{
	size_t k = strcspn(args, " ");

	if (strncmp(args, "/local/domain/", 14))
		return CL_OTHER;
	if (k > 8 && !strncmp(args + k - 8, "/backend", 8))
		return CL_BACKENDS;
	if (k > 7 && !strncmp(args + k - 7, "/device", 7))
		return CL_FRONTENDS;
	return CL_OTHER;
}

static struct conn *conn_get(struct conn **v, int *n, unsigned long long id)
{
	int i;

	for (i = 0; i < *n; i++)
		if ((*v)[i].id == id)
			return &(*v)[i];
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	if (!*v)
		die("out of memory");
	memset(&(*v)[*n], 0, sizeof(**v));
	(*v)[*n].id = id;
	(*v)[*n].kind = CL_OTHER;
	return &(*v)[(*n)++];
}

/* Split the trace into segments at each marker; count per segment the
 * library's requests by type.  The library's connection is the first to
 * send a LIB_TYPE request whose arguments contain LIB_ARGS: xdev's sets the
 * watch on @releaseDomain with the token xdev/release; libxl-bench makes
 * libxl's connection read a node of its own before the first marker. */
void trace_parse(const char *file, const char *lib_type, const char *lib_args,
		 struct trace *t)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	struct conn *conns = NULL;
	int nconns = 0;

	memset(t, 0, sizeof(*t));
	if (!f)
		die("%s: %s", file, strerror(errno));
	t->seg = calloc(1, sizeof(*t->seg));
	snprintf(t->seg[0].label, sizeof(t->seg[0].label), "start");
	t->nseg = 1;
	while (getline(&line, &cap, f) > 0) {
		char dir[8], type[24];
		unsigned long long id;
		struct counts *c = &t->seg[t->nseg - 1];
		struct conn *cn;
		int k = 0;
		char *args;

		if (sscanf(line, "DESTROY connection %llx", &id) == 1) {
			cn = conn_get(&conns, &nconns, id);
			t->all_watches -= cn->watches;
			cn->watches = 0;
			continue;
		}
		if (sscanf(line, "%7s %llx %*s %*s %23s (%n", dir, &id, type,
			   &k) != 3 || !k)
			continue;
		args = line + k;
		cn = conn_get(&conns, &nconns, id);
		if (!strcmp(dir, "IN")) {
			if (!strcmp(type, "READ") &&
			    !strncmp(args, "/xdev-bench/", 12)) {
				char *e = strchr(args + 12, ' ');

				t->seg = realloc(t->seg, (t->nseg + 1) *
						 sizeof(*t->seg));
				if (!t->seg)
					die("out of memory");
				c = &t->seg[t->nseg++];
				memset(c, 0, sizeof(*c));
				snprintf(c->label, sizeof(c->label), "%.*s",
					 e ? (int)(e - args - 12) : 63,
					 args + 12);
				continue;
			}
			if (!t->lib && !strcmp(type, lib_type) &&
			    strstr(args, lib_args))
				t->lib = id;
			if (!strcmp(type, "WATCH") && cn->kind == CL_OTHER)
				cn->kind = client_of_watch(args);
			c->all++;
			c->by_client[id == t->lib ? CL_LIBRARY : cn->kind]++;
			snprintf(cn->last, sizeof(cn->last), "%s", type);
			if (id == t->lib)
				count_type(c, type);
			continue;
		}
		if (strcmp(dir, "OUT"))
			continue;
		/* the replies: watches set or removed, transactions refused */
		if (!strcmp(type, "WATCH") || !strcmp(type, "UNWATCH")) {
			int d = type[0] == 'W' ? 1 : -1;

			cn->watches += d;
			t->all_watches += d;
			if (t->all_watches > t->all_watches_peak)
				t->all_watches_peak = t->all_watches;
			if (id == t->lib) {
				t->lib_watches += d;
				if (t->lib_watches > t->lib_watches_peak)
					t->lib_watches_peak = t->lib_watches;
			}
		} else if (!strcmp(type, "ERROR") && id == t->lib &&
			   !strcmp(cn->last, "TRANSACTION_END") &&
			   !strncmp(args, "EAGAIN", 6)) {
			c->eagain++;
		}
	}
	free(line);
	free(conns);
	fclose(f);
}

struct counts *seg_find(struct trace *t, const char *label)
{
	int i;

	for (i = 0; i < t->nseg; i++)
		if (!strcmp(t->seg[i].label, label))
			return &t->seg[i];
	return NULL;
}

void tmpdir_make(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s.XXXXXX", bench_name);
	if (!mkdtemp(tmpdir))
		die("mkdtemp: %s", strerror(errno));
}

void tmpdir_remove(void)
{
	char cmd[300];

	if (!tmpdir[0])
		return;
	if (getenv("XDEV_BENCH_KEEP")) {
		msg("kept %s (XDEV_BENCH_KEEP)", tmpdir);
		tmpdir[0] = 0;
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		msg("could not remove %s", tmpdir);
	tmpdir[0] = 0;
}

/* ---- request counts ----------------------------------------------------- */

/* One JSON member NAME: the median, min and max of the library's requests
 * over the N segments C, the median one's breakdown by type. */
void print_counts(const char *name, struct counts **c, int n,
			 bool last)
{
	double tot[16], s[16], m;
	int i, j, med = 0;

	/* the cycle with the median total; its breakdown by type */
	for (i = 0; i < n; i++)
		tot[i] = s[i] = c[i]->total;
	m = pct(s, n, 0.5);
	for (i = 0; i < n; i++)
		if (tot[i] == m)
			med = i;
	printf("  \"%s\": {\"median\": %u, \"min\": %.0f, \"max\": %.0f, "
	       "\"by_type\": {", name, c[med]->total, pct(tot, n, 0),
	       pct(tot, n, 1));
	for (j = 0; j < MAXTYPES && c[med]->type[j][0]; j++)
		printf("%s\"%s\": %u", j ? ", " : "", c[med]->type[j],
		       c[med]->n[j]);
	printf("}, \"runs\": [");
	for (i = 0; i < n; i++)
		printf("%s%u", i ? ", " : "", c[i]->total);
	printf("]}%s\n", last ? "" : ",");
}

/* Re-execute with libfakexen.so preloaded, as a host's program runs. */
static void ensure_preloaded(char **argv)
{
	const char *pre = getenv("LD_PRELOAD");
	Dl_info info;

	/* already preloaded; or under valgrind, which preloads its own (the
	 * link order then puts libfakexen.so before libxenctrl anyway) */
	if (pre && (strstr(pre, "libfakexen") || strstr(pre, "vgpreload")))
		return;
	if (!dladdr((void *)fakexen_attach, &info) || !info.dli_fname)
		return;
	setenv("LD_PRELOAD", info.dli_fname, 1);
	execv("/proc/self/exe", argv);
}

static void on_sigchld(int sig)
{
	(void)sig;
}

int bench_main(int argc, char **argv, const struct bench_cmd *cmds,
	       void (*usage)(void))
{
	int i;

	if (geteuid() != 0) {
		fprintf(stderr, "%s: needs root (loop devices, taps)\n",
			bench_name);
		return 77;
	}
	ensure_preloaded(argv);
	if (argc > 2 && !strcmp(argv[1], "--srcdir")) {
		srcdir = argv[2];
		argv += 2;
		argc -= 2;
	}
	/* --watched (xdev-bench): a SIGCHLD handler of the application's, so
	 * the library runs each script under a watcher (lib/child.c): the
	 * two ways compared in one run.  Here, after the re-exec, which
	 * resets handlers. */
	if (argc > 1 && !strcmp(argv[1], "--watched")) {
		struct sigaction sa = { .sa_handler = on_sigchld,
					.sa_flags = SA_RESTART };

		sigaction(SIGCHLD, &sa, NULL);
		argv++;
		argc--;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	for (i = 0; argc >= 2 && cmds[i].name; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	usage();
	return 2;
}

/* In this process's network namespace: 0 once NAME is gone, 1 past
 * DEADLINE, 2 on a netlink error.  Subscribed to link events before the
 * first look, so a removal between the look and the wait is not missed. */
static int link_gone_here(const char *name, double deadline)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	char buf[8192];

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 2;
	while (if_nametoindex(name)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((deadline - now()) * 1000);

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return 1;
		/* ENOBUFS: events were lost; the next look tells */
		if (recv(fd, buf, sizeof(buf), 0) < 0 && errno != ENOBUFS)
			return 2;
	}
	close(fd);
	return 0;
}

void vif_settle(uint32_t frontend, uint32_t devid, int ms)
{
	char name[IFNAMSIZ + 8];
	int st = 0;
	pid_t pid;

	snprintf(name, sizeof(name), "vif%u.%u", frontend, devid);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) /* the host's namespace, where its netback's taps are */
		_exit(simhost_setenv(&host, 0, 1) ? 3
		      : link_gone_here(name, now() + ms / 1000.0));
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) > 1)
		die("waiting for %s to go failed (status %d)", name, st);
	if (WEXITSTATUS(st))
		msg("%s still there after %d ms", name, ms);
	sleep_until(now() + VIF_SETTLE_PAUSE_MS / 1000.0);
}

/* Until DIR's state reads WANT (0: gone), through a watch on the bench's
 * own connection; at most MS.  True if it did. */
bool wait_state(const char *dir, int want, int ms)
{
	double end = now() + ms / 1000.0;
	char path[320];
	bool ok;

	snprintf(path, sizeof(path), "%s/state", dir);
	if (!xs_watch(bxs, path, "bench"))
		die("watch %s: %s", path, strerror(errno));
	while (!(ok = read_state(dir) == want) && now() < end) {
		struct pollfd p = { .fd = xs_fileno(bxs), .events = POLLIN };
		unsigned int k;

		if (poll(&p, 1, (int)((end - now()) * 1000) + 1) > 0)
			free(xs_read_watch(bxs, &k));
	}
	xs_unwatch(bxs, path, "bench");
	return ok;
}
