/*
 * xdev-sim bench-store: does the simulated host distort performance?
 *
 * On real Xen an event-channel notify is one hypercall and the number of
 * idle domains costs xenstored little.  This measures xenstored's CPU time
 * (utime + stime from /proc) for the same sequence of writes through
 * libxenstore with 10 and with 100 introduced domains, each on a fresh
 * host, and prints both and their ratio; then the same for writes a guest
 * sends over its ring, which exercise the shim's event channels (one notify
 * each way per request).  It also prints the shim's own event-channel
 * traffic, to show that no simulated-hypervisor work grows with the number
 * of idle domains.  It reports; it does not assert.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakexen.h"
#include "guest-xs.h"
#include "sim-bench.h"
#include "simhost-internal.h"

static int daemon_pid(const char *dir)
{
	char path[300];
	FILE *f;
	int pid = -1;

	snprintf(path, sizeof(path), "%s/daemon.pid", dir);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &pid) != 1)
		pid = -1;
	fclose(f);
	return pid;
}

/* CPU seconds used so far by PID (user + system). */
static double cpu_seconds(int pid)
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

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct run { int domains; double cpu, wall; struct fakexen_stats ev; };

/* WRITES writes by dom0 over the socket (GUEST 0) or by the first guest
 * over its ring (GUEST 1). */
static int do_writes(struct simhost *h, int guest, int writes)
{
	struct xs_handle *xs = NULL;
	struct xsg *g = NULL;
	char path[64], val[32];
	int i, r = 0;

	if (guest ? xsg_open(1, &g) != 0 : !(xs = sim__xs_open(h)))
		return -1;
	for (i = 0; i < writes && r == 0; i++) {
		snprintf(path, sizeof(path), "%s/k%d",
			 guest ? "data" : "/bench", i % 100);
		snprintf(val, sizeof(val), "%d", i);
		r = guest ? xsg_write(g, 0, path, val, strlen(val))
			  : (xs_write(xs, XBT_NULL, path, val, strlen(val))
			     ? 0 : -errno);
	}
	if (r)
		fprintf(stderr, "xdev-sim bench-store: write: %s\n",
			strerror(-r));
	xsg_close(g);
	if (xs)
		xs_close(xs);
	return r;
}

static int one_run(enum simhost_daemon d, int domains, int writes, int guest,
		   struct run *out)
{
	struct simhost_opts o = { .daemon = d, .netns = 0,
				  .stop_with_starter = 1 };
	struct fakexen_stats e0, e1;
	struct simhost h;
	char name[32];
	double c0, w0;
	int i, r = -1, pid;

	if (simhost_start(&o, &h)) {
		fprintf(stderr, "xdev-sim bench-store: %s\n", h.err);
		return -1;
	}
	for (i = 0; i < domains; i++) {
		snprintf(name, sizeof(name), "bench%d", i);
		if (simhost_domain_create(&h, name, 0, NULL)) {
			fprintf(stderr, "xdev-sim bench-store: %s\n", h.err);
			goto out;
		}
	}
	pid = daemon_pid(h.dir);
	if (pid < 0 || fakexen_stats(&e0))
		goto out;
	c0 = cpu_seconds(pid);
	w0 = wall();
	if (do_writes(&h, guest, writes))
		goto out;
	out->wall = wall() - w0;
	out->cpu = cpu_seconds(pid) - c0;
	out->domains = domains;
	fakexen_stats(&e1);
	out->ev.notifies = e1.notifies - e0.notifies;
	out->ev.wakeups = e1.wakeups - e0.wakeups;
	r = 0;
out:
	simhost_stop(&h);
	return r;
}

static int report(enum simhost_daemon d, int writes, int guest)
{
	struct run runs[2];
	int i;

	if (one_run(d, 10, writes, guest, &runs[0]) ||
	    one_run(d, 100, writes, guest, &runs[1]))
		return -1;
	printf("\n%s, %d sequential writes %s\n", sim__daemon_name(d), writes,
	       guest ? "by a guest over its ring"
		     : "by dom0 through libxenstore");
	printf("%8s %13s %9s %10s %10s %10s\n", "domains", "daemon CPU s",
	       "wall s", "writes/s", "notifies", "wakeups");
	for (i = 0; i < 2; i++)
		printf("%8d %13.3f %9.3f %10.0f %10llu %10llu\n",
		       runs[i].domains, runs[i].cpu, runs[i].wall,
		       writes / runs[i].wall,
		       (unsigned long long)runs[i].ev.notifies,
		       (unsigned long long)runs[i].ev.wakeups);
	printf("daemon CPU, 100 domains / 10 domains: %.2f\n",
	       runs[0].cpu > 0 ? runs[1].cpu / runs[0].cpu : 0.0);
	return 0;
}

int sim_bench_main(int argc, char **argv)
{
	enum simhost_daemon d = simhost_default_daemon();
	int writes = 10000, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--writes") && i + 1 < argc)
			writes = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--daemon") && i + 1 < argc)
			d = argv[++i][0] == 'o' ? SIMHOST_OXENSTORED
						: SIMHOST_CXENSTORED;
		else {
			fprintf(stderr, "usage: xdev-sim bench-store "
				"[--writes N] [--daemon c|o]\n");
			return 2;
		}
	}
	if (writes <= 0) {
		fprintf(stderr, "xdev-sim bench-store: --writes must be > 0\n");
		return 2;
	}
	if (report(d, writes, 0) || report(d, writes, 1))
		return 1;
	return 0;
}
