/*
 * The simulated host, seen through the real xenstored: the store basics
 * through libxenstore, an unprivileged guest's ring connection and its
 * permissions, domain destruction and shutdown, the oxenstored ring
 * reconnect, a stop that leaves nothing behind, and programs inside a
 * driver domain (its xenstore connection, its own network namespace).
 *
 * Every test but the lifecycle ones runs once against C xenstored and once
 * against oxenstored (two TCases over the same test list).
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xen/io/xs_wire.h>

#include "fakexen.h"
#include "guest-xs.h"
#include "simfixture.h"

#define WAIT_MS 5000

static char *xread(struct xs_handle *xs, const char *path)
{
	unsigned len;

	return xs_read(xs, XBT_NULL, path, &len);
}

static void xwrite(struct xs_handle *xs, const char *path, const char *v)
{
	ck_assert_msg(xs_write(xs, XBT_NULL, path, v, strlen(v)),
		      "write %s: %s", path, strerror(errno));
}

static void assert_absent(struct xs_handle *xs, const char *path)
{
	char *v = xread(xs, path);

	ck_assert_msg(v == NULL && errno == ENOENT, "%s still exists (%s)",
		      path, v ? v : strerror(errno));
}

static void assert_value(struct xs_handle *xs, const char *path,
			 const char *want)
{
	char *v = xread(xs, path);

	ck_assert_msg(v != NULL, "read %s: %s", path, strerror(errno));
	ck_assert_str_eq(v, want);
	free(v);
}

static struct xsg *guest(uint32_t domid)
{
	struct xsg *g = NULL;
	int r = xsg_open(domid, &g);

	ck_assert_msg(r == 0, "guest %u: %s", domid, strerror(-r));
	return g;
}

/* ---- store basics through libxenstore -------------------------------- */

START_TEST(store_write_read_directory_rm)
{
	struct xs_handle *xs = fx_xs();
	unsigned n;
	char **names;

	xwrite(xs, "/test/a", "1");
	xwrite(xs, "/test/b", "two");
	assert_value(xs, "/test/b", "two");
	names = xs_directory(xs, XBT_NULL, "/test", &n);
	ck_assert_ptr_nonnull(names);
	ck_assert_uint_eq(n, 2);
	ck_assert(!strcmp(names[0], "a") || !strcmp(names[1], "a"));
	free(names);
	ck_assert(xs_rm(xs, XBT_NULL, "/test"));
	assert_absent(xs, "/test/a");
	xs_close(xs);
}
END_TEST

START_TEST(store_permissions_round_trip)
{
	struct xs_handle *xs = fx_xs();
	uint32_t d = fx_domain("perm");
	struct xs_permissions set[2] = { { .id = 0, .perms = XS_PERM_NONE },
					 { .id = d, .perms = XS_PERM_READ } };
	struct xs_permissions *got;
	unsigned n;

	xwrite(xs, "/test/p", "v");
	ck_assert(xs_set_permissions(xs, XBT_NULL, "/test/p", set, 2));
	got = xs_get_permissions(xs, XBT_NULL, "/test/p", &n);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(got[0].id, 0);
	ck_assert_uint_eq(got[1].id, d);
	ck_assert_int_eq(got[1].perms, XS_PERM_READ);
	free(got);
	xs_close(xs);
}
END_TEST

START_TEST(store_watch_fires_on_write)
{
	struct xs_handle *xs = fx_xs(), *other = fx_xs();
	char *path = NULL;

	fx_watch(xs, "/test/w", "tok");
	xwrite(other, "/test/w/x", "1");
	ck_assert_int_eq(fx_next_event(xs, WAIT_MS, &path), 0);
	ck_assert_str_eq(path, "/test/w/x");
	free(path);
	xs_close(other);
	xs_close(xs);
}
END_TEST

START_TEST(store_transaction_conflict_returns_eagain)
{
	struct xs_handle *a = fx_xs(), *b = fx_xs();
	xs_transaction_t t;
	char *v;

	xwrite(a, "/test/c", "0");
	t = xs_transaction_start(a);
	ck_assert(t != XBT_NULL);
	v = xs_read(a, t, "/test/c", NULL);
	free(v);
	xwrite(b, "/test/c", "other");
	ck_assert(xs_write(a, t, "/test/c", "mine", 4));
	ck_assert(!xs_transaction_end(a, t, false));
	ck_assert_int_eq(errno, EAGAIN);
	assert_value(a, "/test/c", "other");
	xs_close(b);
	xs_close(a);
}
END_TEST

START_TEST(store_introduce_fires_introduce_domain)
{
	struct xs_handle *xs = fx_xs();
	char *path = NULL;

	fx_watch(xs, "@introduceDomain", "i");
	fx_domain("intro");
	ck_assert_int_eq(fx_next_event(xs, WAIT_MS, &path), 0);
	ck_assert_str_eq(path, "@introduceDomain");
	free(path);
	xs_close(xs);
}
END_TEST

/* ---- an unprivileged guest on its ring ------------------------------- */

START_TEST(guest_writes_under_own_domain)
{
	struct xs_handle *xs = fx_xs();
	uint32_t d = fx_domain("g1");
	struct xsg *g = guest(d);
	char path[64], *perms = NULL, *v = NULL;

	ck_assert_int_eq(xsg_write(g, 0, "data/x", "hello", 5), 0);
	ck_assert_int_eq(xsg_read(g, 0, "name", &v, NULL), 0);
	ck_assert_str_eq(v, "g1");
	free(v);
	snprintf(path, sizeof(path), "/local/domain/%u/data/x", d);
	assert_value(xs, path, "hello");
	/* The node belongs to the guest, so xenstored charges it to it. */
	ck_assert_int_eq(xsg_get_perms(g, 0, "data/x", &perms), 0);
	snprintf(path, sizeof(path), "n%u", d);
	ck_assert_str_eq(perms, path);
	free(perms);
	xsg_close(g);
	xs_close(xs);
}
END_TEST

START_TEST(guest_denied_dom0_backend_and_other_domains)
{
	struct xs_handle *xs = fx_xs();
	uint32_t d1 = fx_domain("g1"), d2 = fx_domain("g2");
	struct xsg *g = guest(d1);
	char path[96], *v = NULL;

	snprintf(path, sizeof(path), "/local/domain/0/backend/vbd/%u/51712/state",
		 d1);
	ck_assert_int_eq(xsg_write(g, 0, path, "4", 1), -EACCES);
	assert_absent(xs, "/local/domain/0/backend");
	snprintf(path, sizeof(path), "/local/domain/%u/data/x", d2);
	ck_assert_int_eq(xsg_write(g, 0, path, "1", 1), -EACCES);
	assert_absent(xs, path);
	snprintf(path, sizeof(path), "/local/domain/%u/name", d2);
	ck_assert_int_eq(xsg_read(g, 0, path, &v, NULL), -EACCES);
	/* Its own directory is dom0's: readable, not writable. */
	ck_assert_int_eq(xsg_write(g, 0, "name", "evil", 4), -EACCES);
	snprintf(path, sizeof(path), "/local/domain/%u/name", d1);
	assert_value(xs, path, "g1");
	xsg_close(g);
	xs_close(xs);
}
END_TEST

START_TEST(guest_watch_sees_dom0_write)
{
	struct xs_handle *xs = fx_xs();
	uint32_t d = fx_domain("g1");
	struct xsg *g = guest(d);
	char path[64], *p = NULL, *tok = NULL;

	ck_assert_int_eq(xsg_watch(g, "data/w", "gt"), 0);
	ck_assert_int_eq(xsg_read_watch(g, WAIT_MS, &p, &tok), 0); /* initial */
	free(p);
	free(tok);
	snprintf(path, sizeof(path), "/local/domain/%u/data/w", d);
	xwrite(xs, path, "ping");
	ck_assert_int_eq(xsg_read_watch(g, WAIT_MS, &p, &tok), 0);
	ck_assert_str_eq(p, "data/w");
	ck_assert_str_eq(tok, "gt");
	free(p);
	free(tok);
	xsg_close(g);
	xs_close(xs);
}
END_TEST

START_TEST(guest_many_requests_lose_no_notification)
{
	uint32_t d = fx_domain("busy");
	struct xsg *g = guest(d);
	char key[32], val[32], *v = NULL;
	int i;

	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "data/k%d", i % 50);
		snprintf(val, sizeof(val), "%d", i);
		ck_assert_int_eq(xsg_write(g, 0, key, val, strlen(val)), 0);
	}
	ck_assert_int_eq(xsg_read(g, 0, "data/k49", &v, NULL), 0);
	ck_assert_str_eq(v, "1999");
	free(v);
	xsg_close(g);
}
END_TEST

/* ---- domain lifecycle ------------------------------------------------ */

START_TEST(destroy_fires_release_and_removes_owned_nodes)
{
	struct xs_handle *xs = fx_xs();
	uint32_t d = fx_domain("victim");
	struct xs_permissions own = { .id = d, .perms = XS_PERM_NONE };
	struct xsg *g = guest(d);
	char path[64];
	char *ev = NULL;

	ck_assert_int_eq(xsg_write(g, 0, "data/x", "1", 1), 0);
	xsg_close(g);
	xwrite(xs, "/test/owned", "by-guest");
	ck_assert(xs_set_permissions(xs, XBT_NULL, "/test/owned", &own, 1));
	fx_watch(xs, "@releaseDomain", "rel");
	ck_assert_msg(simhost_domain_destroy(&fx_host, d, 1) == 0, "%s",
		      fx_host.err);
	ck_assert_int_eq(fx_next_event(xs, WAIT_MS, &ev), 0);
	ck_assert_str_eq(ev, "@releaseDomain");
	free(ev);
	ck_assert(!xs_is_domain_introduced(xs, d));
	snprintf(path, sizeof(path), "/local/domain/%u/data/x", d);
	assert_absent(xs, path);
	assert_absent(xs, "/test/owned");
	/* dom0's nodes stay with --keep-store, as libxl has not run yet */
	snprintf(path, sizeof(path), "/local/domain/%u/name", d);
	assert_value(xs, path, "victim");
	xs_close(xs);
}
END_TEST

START_TEST(destroy_removes_toolstack_nodes)
{
	struct xs_handle *xs = fx_xs();
	uint32_t d = fx_domain("victim");
	struct fakexen_dominfo info;
	char path[64];

	ck_assert_msg(simhost_domain_destroy(&fx_host, d, 0) == 0, "%s",
		      fx_host.err);
	snprintf(path, sizeof(path), "/local/domain/%u", d);
	assert_absent(xs, path);
	ck_assert_int_eq(fakexen_domain_get(d, &info), -ESRCH);
	xs_close(xs);
}
END_TEST

static void shutdown_case(int crash)
{
	struct xs_handle *xs = fx_xs();
	uint32_t d = fx_domain("sleepy");
	struct fakexen_dominfo info;
	struct xsg *g = guest(d);
	char path[64];
	char *ev = NULL;

	ck_assert_int_eq(xsg_write(g, 0, "data/x", "1", 1), 0);
	xsg_close(g);
	fx_watch(xs, "@releaseDomain", "rel");
	ck_assert_msg(simhost_domain_shutdown(&fx_host, d, crash, 0) == 0, "%s",
		      fx_host.err);
	ck_assert_int_eq(fx_next_event(xs, WAIT_MS, &ev), 0);
	ck_assert_str_eq(ev, "@releaseDomain");
	free(ev);
	ck_assert(xs_is_domain_introduced(xs, d));
	snprintf(path, sizeof(path), "/local/domain/%u/data/x", d);
	assert_value(xs, path, "1");
	ck_assert_int_eq(fakexen_domain_get(d, &info), 0);
	ck_assert(info.flags & (crash ? FAKEXEN_DOM_CRASHED
				      : FAKEXEN_DOM_SHUTDOWN));
	xs_close(xs);
}

START_TEST(shutdown_fires_release_and_keeps_domain) { shutdown_case(0); }
END_TEST

START_TEST(crash_fires_release_and_keeps_domain) { shutdown_case(1); }
END_TEST

/* ---- ring reconnect (the connection field of xs_wire.h) ------------ */

START_TEST(reconnect_resets_ring_on_oxenstored)
{
	uint32_t d = fx_domain("kexec");
	struct xsg *g = guest(d);
	char *v = NULL;

	ck_assert_int_eq(xsg_server_features(g) &
			 XENSTORE_SERVER_FEATURE_RECONNECTION,
			 XENSTORE_SERVER_FEATURE_RECONNECTION);
	ck_assert_int_eq(xsg_write(g, 0, "data/before", "1", 1), 0);
	ck_assert_int_eq(xsg_reconnect(g, WAIT_MS), 0);
	ck_assert_int_eq(xsg_read(g, 0, "data/before", &v, NULL), 0);
	ck_assert_str_eq(v, "1");
	free(v);
	xsg_close(g);
}
END_TEST

START_TEST(reconnect_unsupported_on_c_xenstored)
{
	uint32_t d = fx_domain("kexec");
	struct xsg *g = guest(d);

	ck_assert_int_eq(xsg_server_features(g) &
			 XENSTORE_SERVER_FEATURE_RECONNECTION, 0);
	ck_assert_int_eq(xsg_reconnect(g, WAIT_MS), -EOPNOTSUPP);
	ck_assert_int_eq(xsg_write(g, 0, "data/after", "1", 1), 0);
	xsg_close(g);
}
END_TEST

/* ---- host lifecycle (no fixture) ------------------------------------- */

static int pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

static int read_pid(const char *dir, const char *name)
{
	char path[512];
	FILE *f;
	int pid = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return pid;
}

static int netns_in_use(ino_t ino)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300];
	struct stat st;
	int found = 0;

	while (d && (e = readdir(d)) && !found) {
		snprintf(path, sizeof(path), "/proc/%s/ns/net", e->d_name);
		found = stat(path, &st) == 0 && st.st_ino == ino;
	}
	if (d)
		closedir(d);
	return found;
}

static void stop_leaves_nothing(enum simhost_daemon daemon)
{
	struct simhost_opts o = { .daemon = daemon,
				  .netns = geteuid() == 0 ? 1 : 0,
				  .stop_with_starter = 1 };
	struct simhost h;
	char dir[256], path[300];
	struct stat st;
	int sup, dmn;
	ino_t ns = 0;

	ck_assert_msg(simhost_start(&o, &h) == 0, "%s", h.err);
	strcpy(dir, h.dir);
	sup = read_pid(dir, "supervisor.pid");
	dmn = read_pid(dir, "daemon.pid");
	ck_assert_int_gt(sup, 0);
	ck_assert_int_gt(dmn, 0);
	if (o.netns) {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", sup);
		ck_assert_int_eq(stat(path, &st), 0);
		ns = st.st_ino;
		ck_assert(h.has_netns);
	}
	ck_assert_msg(simhost_stop(&h) == 0, "%s", h.err);
	ck_assert_msg(!pid_alive(sup), "supervisor %d still alive", sup);
	ck_assert_msg(!pid_alive(dmn), "daemon %d still alive", dmn);
	ck_assert_msg(access(dir, F_OK) < 0 && errno == ENOENT,
		      "%s left behind", dir);
	if (ns)
		ck_assert_msg(!netns_in_use(ns), "network namespace left");
}

START_TEST(stop_leaves_nothing_c) { stop_leaves_nothing(SIMHOST_CXENSTORED); }
END_TEST

START_TEST(stop_leaves_nothing_o) { stop_leaves_nothing(SIMHOST_OXENSTORED); }
END_TEST

START_TEST(two_hosts_are_isolated)
{
	struct simhost_opts o = { .netns = 0, .stop_with_starter = 1 };
	struct simhost a, b;
	struct xs_handle *xa, *xb;

	ck_assert_msg(simhost_start(&o, &a) == 0, "%s", a.err);
	ck_assert_msg(simhost_start(&o, &b) == 0, "%s", b.err);
	setenv("XENSTORED_PATH", a.socket, 1);
	xa = fx_xs();
	setenv("XENSTORED_PATH", b.socket, 1);
	xb = fx_xs();
	xwrite(xa, "/test/only-in-a", "1");
	assert_absent(xb, "/test/only-in-a");
	xs_close(xa);
	xs_close(xb);
	ck_assert_msg(simhost_stop(&a) == 0, "%s", a.err);
	ck_assert_msg(simhost_stop(&b) == 0, "%s", b.err);
}
END_TEST

START_TEST(start_reports_missing_daemon)
{
	struct simhost_opts o = { .netns = 0, .stop_with_starter = 1 };
	struct simhost h;

	setenv("XDEV_SIM_XENSTORED_BIN", "/nonexistent/xenstored", 1);
	ck_assert_int_ne(simhost_start(&o, &h), 0);
	ck_assert_msg(strstr(h.err, "xen-utils-4.17") != NULL, "%s", h.err);
}
END_TEST


/* ---- inside a domain (simhost_domain_enter) --------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait, through a watch, until PATH reads WANT. */
static void wait_value(struct xs_handle *xs, const char *path, const char *want)
{
	long long deadline = now_ms() + WAIT_MS;
	char *v;

	fx_watch(xs, path, "wait");
	while (!((v = xread(xs, path)) && !strcmp(v, want))) {
		free(v);
		ck_assert_msg(fx_next_event(xs, (int)(deadline - now_ms()),
					    NULL) == 0,
			      "%s did not become %s", path, want);
	}
	free(v);
	xs_unwatch(xs, path, "wait");
}

static bool write_dir(struct xs_handle *xs, xs_transaction_t t,
		      const char *dir, struct xs_permissions *perms,
		      const char *const *kv)
{
	char path[200];

	if (!xs_mkdir(xs, t, dir) || !xs_set_permissions(xs, t, dir, perms, 2))
		return false;
	for (; kv[0]; kv += 2) {
		snprintf(path, sizeof(path), "%s/%s", dir, kv[0]);
		if (!xs_write(xs, t, path, kv[1], strlen(kv[1])))
			return false;
	}
	return true;
}

/* A vif 0 as libxl writes it (one transaction), and its backend at
 * InitWait, where netback has made the tap. */
static void vif_at_initwait(uint32_t be, uint32_t fe)
{
	struct xs_permissions bperm[2] = { { be, XS_PERM_NONE },
					   { fe, XS_PERM_READ } };
	struct xs_permissions fperm[2] = { { fe, XS_PERM_NONE },
					   { be, XS_PERM_READ } };
	struct xs_handle *xs = fx_xs();
	char bp[96], fp[96], bes[16], fes[16], state[128];
	int tries;

	snprintf(bp, sizeof(bp), "/local/domain/%u/backend/vif/%u/0", be, fe);
	snprintf(fp, sizeof(fp), "/local/domain/%u/device/vif/0", fe);
	snprintf(bes, sizeof(bes), "%u", be);
	snprintf(fes, sizeof(fes), "%u", fe);
	{
		const char *const fkv[] = { "backend", bp, "backend-id", bes,
			"handle", "0", "mac", "00:16:3e:00:00:01", "state", "1",
			NULL };
		const char *const bkv[] = { "frontend", fp, "frontend-id", fes,
			"handle", "0", "online", "1", "state", "1", NULL };

		for (tries = 0; tries < 20; tries++) {
			xs_transaction_t t = xs_transaction_start(xs);

			ck_assert(t != XBT_NULL);
			ck_assert(write_dir(xs, t, fp, fperm, fkv) &&
				  write_dir(xs, t, bp, bperm, bkv));
			if (xs_transaction_end(xs, t, false))
				break;
			ck_assert_int_eq(errno, EAGAIN);
		}
	}
	snprintf(state, sizeof(state), "%s/state", bp);
	wait_value(xs, state, "2");
	xs_close(xs);
}

static uint32_t driver_domain(const char *name)
{
	uint32_t id = 0;
	int r = simhost_domain_create_kind(&fx_host, name, 0,
					   SIMHOST_DOM_DRIVER, &id);

	ck_assert_msg(r == 0, "driver domain %s: %s", name, fx_host.err);
	return id;
}

static unsigned long long in_domain_arg; /* for in_domain()'s checks */

/* Run CHECK in a child that entered DOMID (0 < CHECK's result: the step
 * that failed, told on stderr).  Returns the child's exit status. */
static int in_domain(uint32_t domid, int (*check)(uint32_t domid))
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL); /* not Check's group handler */
		if (simhost_domain_enter(&fx_host, domid)) {
			fprintf(stderr, "enter %u: %s\n", domid, fx_host.err);
			_exit(100);
		}
		_exit(check(domid));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

static int link_is_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), up;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 &&
	     (ifr.ifr_flags & IFF_UP);
	if (fd >= 0)
		close(fd);
	return up;
}

static int step(int n, const char *what)
{
	fprintf(stderr, "inside: step %d failed: %s (%s)\n", n, what,
		strerror(errno));
	return n;
}

/* Inside the driver domain: its identity, its store connection, its
 * namespace with lo and the tap of in_domain_arg's vif. */
static int check_inside_driver(uint32_t domid)
{
	char num[16], vif[IFNAMSIZ], *v;
	struct xs_handle *xs;

	snprintf(num, sizeof(num), "%u", domid);
	snprintf(vif, sizeof(vif), "vif%llu.0", in_domain_arg);
	if (!getenv("XDEV_DOMID") || strcmp(getenv("XDEV_DOMID"), num))
		return step(1, "XDEV_DOMID");
	if (getenv("LD_PRELOAD"))
		return step(2, "LD_PRELOAD is set");
	if (!link_is_up("lo") || !if_nametoindex(vif))
		return step(3, "lo up and the tap");
	if (!(xs = xs_open(0)))
		return step(4, "xs_open");
	v = xs_read(xs, XBT_NULL, "domid", NULL); /* relative: our home */
	if (!v || strcmp(v, num))
		return step(5, "domid");
	free(v);
	v = xs_read(xs, XBT_NULL, "/local/domain/0/backend/probe", NULL);
	if (v || errno != EACCES)
		return step(6, "dom0's backend directory is readable");
	xs_close(xs);
	return 0;
}

static int check_no_tap(uint32_t domid)
{
	char vif[IFNAMSIZ];

	(void)domid;
	snprintf(vif, sizeof(vif), "vif%llu.0", in_domain_arg);
	return if_nametoindex(vif) ? step(1, "the tap is in dom0") : 0;
}

START_TEST(driver_domain_tap_is_in_its_own_namespace)
{
	struct xs_handle *xs = fx_xs();
	uint32_t b = driver_domain("netdom"), g = fx_domain("fe");
	char vif[IFNAMSIZ];

	vif_at_initwait(b, g);
	xwrite(xs, "/local/domain/0/backend/probe", "1");
	in_domain_arg = g;
	ck_assert_int_eq(in_domain(b, check_inside_driver), 0);
	ck_assert_int_eq(in_domain(0, check_no_tap), 0); /* the host's */
	snprintf(vif, sizeof(vif), "vif%u.0", g);
	ck_assert_uint_eq(if_nametoindex(vif), 0); /* nor the machine's */
	xs_close(xs);
}
END_TEST

static ino_t netns_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	return st.st_ino;
}

/* The driver process recorded in $dir/kernels/<domid>. */
static pid_t kernel_pid(uint32_t domid)
{
	char name[32];
	int pid;

	snprintf(name, sizeof(name), "kernels/%u", domid);
	pid = read_pid(fx_host.dir, name);
	ck_assert_int_gt(pid, 0);
	return pid;
}

/* A child living in domain DOMID until killed; returns once it is in. */
static pid_t resident(uint32_t domid)
{
	int p[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves none */
		close(p[0]);
		if (simhost_domain_enter(&fx_host, domid) ||
		    write(p[1], "R", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void expect_killed(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "status %#x", status);
}

START_TEST(driver_domain_namespace_dies_with_the_domain)
{
	uint32_t b = driver_domain("netdom");
	pid_t kpid = kernel_pid(b), inside;
	ino_t ns = netns_of(kpid);

	ck_assert(ns != netns_of(fx_host.supervisor));
	inside = resident(b);
	ck_assert(netns_of(inside) == ns);
	ck_assert_msg(simhost_domain_destroy(&fx_host, b, 0) == 0, "%s",
		      fx_host.err);
	/* nothing of a destroyed domain keeps running */
	expect_killed(inside);
	ck_assert_msg(!pid_alive(kpid), "kernel %d still alive", kpid);
	ck_assert_msg(!netns_in_use(ns), "the namespace outlived the domain");
	ck_assert_int_eq(simhost_domain_enter(&fx_host, b), -ESRCH);
	ck_assert_msg(strstr(fx_host.err, "no domain") != NULL, "%s",
		      fx_host.err);
}
END_TEST

START_TEST(host_stop_ends_programs_in_driver_domains)
{
	uint32_t b = driver_domain("netdom");
	ino_t ns = netns_of(kernel_pid(b));
	pid_t inside = resident(b);

	ck_assert_msg(simhost_stop(&fx_host) == 0, "%s", fx_host.err);
	expect_killed(inside);
	ck_assert_msg(!netns_in_use(ns), "the namespace outlived the host");
}
END_TEST

static void expect_refused(uint32_t domid, int err, const char *msg)
{
	const char *path = getenv("XENSTORED_PATH");
	char before[300];

	snprintf(before, sizeof(before), "%s", path ? path : "");
	ck_assert_int_eq(simhost_domain_enter(&fx_host, domid), err);
	ck_assert_msg(strstr(fx_host.err, msg) != NULL, "'%s' lacks '%s'",
		      fx_host.err, msg);
	/* refused, it changed nothing */
	ck_assert_str_eq(getenv("XENSTORED_PATH"), before);
	ck_assert_ptr_null(getenv("XDEV_DOMID"));
}

START_TEST(enter_refuses_domains_that_run_nothing)
{
	uint32_t g, bare, b = driver_domain("netdom");
	int r = simhost_domain_create_kind(&fx_host, "guest", 0,
					   SIMHOST_DOM_GUEST, &g);

	ck_assert_msg(r == 0, "%s", fx_host.err);
	bare = fx_domain("bare");
	expect_refused(4242, -ESRCH, "no domain 4242");
	expect_refused(g, -EOPNOTSUPP, "is a guest");
	expect_refused(bare, -EOPNOTSUPP, "is bare");
	ck_assert_msg(simhost_domain_shutdown(&fx_host, b, 0, 0) == 0, "%s",
		      fx_host.err);
	expect_refused(b, -ESRCH, "not running: shut down");
}
END_TEST

static int check_shares_namespace(uint32_t domid)
{
	char num[16], *v;
	struct xs_handle *xs = xs_open(0);

	snprintf(num, sizeof(num), "%u", domid);
	if (netns_of(getpid()) != in_domain_arg)
		return step(1, "not in the caller's namespace");
	v = xs ? xs_read(xs, XBT_NULL, "domid", NULL) : NULL;
	if (!v || strcmp(v, num))
		return step(2, "domid");
	free(v);
	xs_close(xs);
	return 0;
}

/* A host without its own namespace gives none to its driver domains
 * either: entering changes the store connection only. */
START_TEST(enter_without_host_netns_keeps_the_namespace)
{
	uint32_t b = driver_domain("netdom");

	ck_assert(!fx_host.has_netns);
	ck_assert(netns_of(kernel_pid(b)) == netns_of(getpid()));
	in_domain_arg = netns_of(getpid());
	ck_assert_int_eq(in_domain(b, check_shares_namespace), 0);
}
END_TEST

/* ---- scale ---------------------------------------------------------- */

/* How many inotify instances PID holds. */
static int inotify_instances(pid_t pid)
{
	char path[64], fd[330], target[64];
	struct dirent *e;
	DIR *d;
	ssize_t n;
	int count = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		snprintf(fd, sizeof(fd), "%s/%s", path, e->d_name);
		n = readlink(fd, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			count += !strcmp(target, "anon_inode:inotify");
		}
	}
	if (d)
		closedir(d);
	return count;
}

/* The supervisor's children (the daemon and every domain's kernel
 * processes) into PIDS; returns how many. */
static int host_children(pid_t *pids, int max)
{
	char path[300], line[256];
	struct dirent *e;
	DIR *d = opendir("/proc");
	FILE *f;
	int n = 0, ppid;

	while (d && (e = readdir(d)) && n < max) {
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
		    !(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "PPid: %d", &ppid) == 1) {
				if (ppid == fx_host.supervisor)
					pids[n++] = atoi(e->d_name);
				break;
			}
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* A domain's kernel costs no inotify instance: those count against the
 * per-user fs.inotify.max_user_instances (128 by default, shared with
 * every other process of the user), which capped a host at about 126
 * guests when each driver process watched the faults directory.  Faults
 * now reach the drivers as a signal from the supervisor. */
START_TEST(kernels_hold_no_inotify_instance)
{
	uint32_t g, b = driver_domain("netdom"), bare = fx_domain("bare");
	pid_t pids[16];
	int n, i;

	ck_assert_msg(simhost_domain_create_kind(&fx_host, "guest", 0,
						 SIMHOST_DOM_GUEST, &g) == 0,
		      "%s", fx_host.err);
	/* the signal path: a domain that runs nothing has no one to tell */
	ck_assert_msg(simhost_fault_set(&fx_host, bare, "*", "slow=1") == 0,
		      "%s", fx_host.err);
	ck_assert_msg(simhost_fault_set(&fx_host, g, "*", "slow=1") == 0,
		      "%s", fx_host.err);
	ck_assert_msg(simhost_fault_clear(&fx_host, b) == 0, "%s",
		      fx_host.err);
	n = host_children(pids, 16);
	/* the daemon, dom0's drivers, two kernels of two processes each */
	ck_assert_int_ge(n, 6);
	for (i = 0; i < n; i++)
		ck_assert_msg(inotify_instances(pids[i]) == 0,
			      "process %d holds an inotify instance", pids[i]);
}
END_TEST

static void fx_start_netns_c(void) { fx_start(SIMHOST_CXENSTORED, 1); }
static void fx_start_netns_o(void) { fx_start(SIMHOST_OXENSTORED, 1); }

/* Driver domains with their own namespace: root only. */
static TCase *netns_case(const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, fx_stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, driver_domain_tap_is_in_its_own_namespace);
	tcase_add_test(tc, driver_domain_namespace_dies_with_the_domain);
	tcase_add_test(tc, host_stop_ends_programs_in_driver_domains);
	return tc;
}


static TCase *daemon_case(const char *name, void (*setup)(void),
			  const TTest *extra)
{
	TCase *tc = tcase_create(name);
	const TTest *const per_daemon[] = {
		store_write_read_directory_rm,
		store_permissions_round_trip,
		store_watch_fires_on_write,
		store_transaction_conflict_returns_eagain,
		store_introduce_fires_introduce_domain,
		guest_writes_under_own_domain,
		guest_denied_dom0_backend_and_other_domains,
		guest_watch_sees_dom0_write,
		guest_many_requests_lose_no_notification,
		destroy_fires_release_and_removes_owned_nodes,
		destroy_removes_toolstack_nodes,
		shutdown_fires_release_and_keeps_domain,
		crash_fires_release_and_keeps_domain,
		enter_refuses_domains_that_run_nothing,
		enter_without_host_netns_keeps_the_namespace,
		kernels_hold_no_inotify_instance,
	};
	size_t i;

	tcase_add_checked_fixture(tc, setup, fx_stop);
	tcase_set_timeout(tc, 60);
	for (i = 0; i < sizeof(per_daemon) / sizeof(per_daemon[0]); i++)
		tcase_add_test(tc, per_daemon[i]);
	tcase_add_test(tc, extra);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *life = tcase_create("host");
	SRunner *sr;
	int failed;

	suite_add_tcase(s, daemon_case("xenstored", fx_start_c,
				       reconnect_unsupported_on_c_xenstored));
	suite_add_tcase(s, daemon_case("oxenstored", fx_start_o,
				       reconnect_resets_ring_on_oxenstored));
	if (geteuid() == 0) {
		suite_add_tcase(s, netns_case("netns-xenstored",
					      fx_start_netns_c));
		suite_add_tcase(s, netns_case("netns-oxenstored",
					      fx_start_netns_o));
	}
	tcase_set_timeout(life, 60);
	tcase_add_test(life, stop_leaves_nothing_c);
	tcase_add_test(life, stop_leaves_nothing_o);
	tcase_add_test(life, two_hosts_are_isolated);
	tcase_add_test(life, start_reports_missing_daemon);
	suite_add_tcase(s, life);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
