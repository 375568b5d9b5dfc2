/*
 * Test fixture for the simulated host (simfixture.h).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <stdbool.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dlfcn.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include "fakexen.h"
#include "simfixture.h"

struct simhost fx_host;
static pid_t agent = -1;

void fx_start(enum simhost_daemon daemon, int netns)
{
	struct simhost_opts o = { .daemon = daemon, .netns = netns,
				  .stop_with_starter = 1 };
	int r = simhost_start(&o, &fx_host);

	ck_assert_msg(r == 0, "host start: %s", fx_host.err);
	ck_assert_int_eq(simhost_setenv(&fx_host, 0, 0), 0);
}

void fx_start_c(void) { fx_start(SIMHOST_CXENSTORED, 0); }
void fx_start_o(void) { fx_start(SIMHOST_OXENSTORED, 0); }

void fx_hotplug_agent_stop(void)
{
	if (agent > 0) {
		kill(agent, SIGTERM);
		waitpid(agent, NULL, 0);
		agent = -1;
	}
}

void fx_stop(void)
{
	fx_hotplug_agent_stop();
	if (fx_host.supervisor > 0)
		ck_assert_msg(simhost_stop(&fx_host) == 0, "host stop: %s",
			      fx_host.err);
}

struct xs_handle *fx_xs(void)
{
	struct xs_handle *xs = xs_open(0);

	ck_assert_msg(xs != NULL, "xs_open: %s", strerror(errno));
	return xs;
}

uint32_t fx_domain(const char *name)
{
	uint32_t id = 0;
	int r = simhost_domain_create(&fx_host, name, 0, &id);

	ck_assert_msg(r == 0, "domain-create %s: %s", name, fx_host.err);
	return id;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int fx_next_event(struct xs_handle *xs, int timeout_ms, char **ret_path)
{
	long long deadline = now_ms() + timeout_ms;
	struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };
	char **ev;

	for (;;) {
		ev = xs_check_watch(xs);
		if (ev) {
			if (ret_path)
				*ret_path = strdup(ev[XS_WATCH_PATH]);
			free(ev);
			return 0;
		}
		ck_assert_int_eq(errno, EAGAIN);
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		poll(&p, 1, (int)(deadline - now_ms()));
	}
}

void fx_watch(struct xs_handle *xs, const char *path, const char *token)
{
	ck_assert_msg(xs_watch(xs, path, token), "watch %s: %s", path,
		      strerror(errno));
	ck_assert_int_eq(fx_next_event(xs, 5000, NULL), 0);
}

int fx_loop_attach(const char *image, char *dev, size_t devlen)
{
	struct loop_info64 info = { .lo_flags = LO_FLAGS_AUTOCLEAR };
	int ifd = open(image, O_RDWR | O_CLOEXEC), tries, n, fd = -1;

	ck_assert_int_ge(ifd, 0);
	/* Another test may take the free device between the two calls (as
	 * losetup does: EBUSY means try the next free one). */
	for (tries = 0; tries < 50; tries++) {
		int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

		ck_assert_int_ge(ctl, 0);
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		close(ctl);
		ck_assert_int_ge(n, 0);
		snprintf(dev, devlen, "/dev/loop%d", n);
		fd = open(dev, O_RDWR | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		if (ioctl(fd, LOOP_SET_FD, ifd) == 0)
			break;
		ck_assert_msg(errno == EBUSY, "LOOP_SET_FD: %s",
			      strerror(errno));
		close(fd);
		fd = -1;
	}
	ck_assert_msg(fd >= 0, "LOOP_SET_FD: busy %d times", tries);
	close(ifd);
	ck_assert_msg(ioctl(fd, LOOP_SET_STATUS64, &info) == 0,
		      "LOOP_SET_STATUS64: %s", strerror(errno));
	return fd;
}

/* Write DIR/KEY only while DIR still has its state node, in one
 * transaction: a toolstack may delete the device at any moment (a
 * cancelled add), and a plain write would bring its directory back. */
static void agent_write(struct xs_handle *xs, const char *dir,
			const char *key, const char *val)
{
	char path[300], state[300], *st;
	int tries;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	snprintf(state, sizeof(state), "%s/state", dir);
	for (tries = 0; tries < 100; tries++) {
		xs_transaction_t tx = xs_transaction_start(xs);

		if (tx == XBT_NULL)
			return;
		st = xs_read(xs, tx, state, NULL);
		if (st)
			xs_write(xs, tx, path, val, strlen(val));
		free(st);
		if (xs_transaction_end(xs, tx, false) || errno != EAGAIN)
			return;
	}
}

/* One backend device at DIR reached InitWait: play its hotplug script. */
static void agent_hotplug(struct xs_handle *xs, const char *dir, bool vbd)
{
	char *hs, *params, val[32], path[300];
	struct stat st;

	snprintf(path, sizeof(path), "%s/hotplug-status", dir);
	hs = xs_read(xs, XBT_NULL, path, NULL);
	if (hs && *hs) {
		free(hs);
		return; /* done already */
	}
	free(hs);
	snprintf(path, sizeof(path), "%s/params", dir);
	params = vbd ? xs_read(xs, XBT_NULL, path, NULL) : NULL;
	if (vbd && params && !strcmp(params, "/fail")) {
		agent_write(xs, dir, "hotplug-error", "simulated failure: /fail");
		agent_write(xs, dir, "hotplug-status", "error");
	} else if (vbd && params && stat(params, &st) == 0 &&
		   S_ISBLK(st.st_mode)) {
		snprintf(val, sizeof(val), "%x:%x", major(st.st_rdev),
			 minor(st.st_rdev));
		agent_write(xs, dir, "physical-device", val);
		agent_write(xs, dir, "hotplug-status", "connected");
	} else if (!vbd) {
		agent_write(xs, dir, "hotplug-status", "connected");
	}
	free(params);
}

static void agent_run(int ready)
{
	struct xs_handle *xs = xs_open(0);
	char **ev;

	if (!xs || !xs_watch(xs, "/local/domain", "agent"))
		_exit(1);
	/* watching: no backend can reach InitWait unseen from now on */
	if (write(ready, "1", 1) != 1)
		_exit(1);
	close(ready);
	for (;;) {
		unsigned n;

		ev = xs_read_watch(xs, &n);
		if (!ev)
			_exit(1);
		{
			const char *p = ev[XS_WATCH_PATH];
			unsigned be, fe, id;
			char type[8], dir[200], *v;
			int k = 0;

			if (sscanf(p, "/local/domain/%u/backend/%7[a-z]/%u/%u/state%n",
				   &be, type, &fe, &id, &k) == 4 && k &&
			    !p[k]) {
				snprintf(dir, sizeof(dir),
					 "/local/domain/%u/backend/%s/%u/%u", be,
					 type, fe, id);
				v = xs_read(xs, XBT_NULL, p, NULL);
				if (v && !strcmp(v, "2"))
					agent_hotplug(xs, dir,
						      !strcmp(type, "vbd"));
				free(v);
			}
		}
		free(ev);
	}
}

/* Returns once the agent watches: a device added right after must not
 * reach InitWait before it looks (the add would wait for its hotplug
 * timeout). */
void fx_hotplug_agent_start(void)
{
	int ready[2];
	pid_t pid;
	char c;

	if (agent > 0)
		return;
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* not Check's handler, which signals the whole group */
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		agent_run(ready[1]);
	}
	agent = pid;
	close(ready[1]);
	ck_assert_msg(read(ready[0], &c, 1) == 1,
		      "the hotplug agent did not start watching");
	close(ready[0]);
}

/* In this process's namespace: 0 once NAME exists (PRESENT) or is gone,
 * 1 past the deadline, 2 on a netlink error.  Subscribed before the
 * first look, so a change between the look and the wait is not missed. */
static int link_wait_here(const char *name, bool present, int timeout_ms)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = RTMGRP_LINK };
	long long deadline = now_ms() + timeout_ms;
	char buf[8192];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 2;
	while ((if_nametoindex(name) != 0) != present) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 1;
		/* ENOBUFS: events were lost; the next look tells */
		if (recv(fd, buf, sizeof(buf), 0) < 0 && errno != ENOBUFS)
			return 2;
	}
	close(fd);
	return 0;
}

/* The wait runs in a child that enters the domain's network namespace.
 * It reports through a pipe and ends by SIGKILL, not exit(): under
 * valgrind a forked child's exit runs the leak check over the heap it
 * copied from the test, whose live objects it cannot see as such, and
 * turns the status into valgrind's error code. */
static bool link_wait(uint32_t domid, const char *name, bool present,
		      int timeout_ms)
{
	int p[2], st = 0;
	char r = 9;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		r = 3;
		if (simhost_domain_enter(&fx_host, domid) < 0)
			dprintf(2, "entering domain %u: %s\n", domid, fx_host.err);
		else
			r = (char)link_wait_here(name, present, timeout_ms);
		if (write(p[1], &r, 1) != 1)
			_exit(4);
		kill(getpid(), SIGKILL);
	}
	close(p[1]);
	if (read(p[0], &r, 1) != 1)
		r = 9;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(r <= 1, "waiting for %s failed (%d)", name, r);
	return r == 0;
}

bool fx_link_wait_gone(uint32_t domid, const char *name, int timeout_ms)
{
	return link_wait(domid, name, false, timeout_ms);
}

bool fx_link_wait_present(uint32_t domid, const char *name, int timeout_ms)
{
	return link_wait(domid, name, true, timeout_ms);
}

int fx_loops_backing(const char *image)
{
	char path[300], buf[400];
	int n = 0, i;

	for (i = 0; i < 256; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file",
			 i);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) &&
		    !strncmp(buf, image, strlen(image)) &&
		    buf[strlen(image)] == '\n')
			n++;
		fclose(f);
	}
	return n;
}

void fx_ensure_preloaded(char **argv)
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
