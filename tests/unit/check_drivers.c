/*
 * The simulated kernel drivers, driven by hand as a toolstack would: the
 * device nodes are written the way libxl writes them (one transaction,
 * permissions per directory), a stand-in hotplug step writes
 * physical-device / hotplug-status, and every observation is a read of the
 * real store, waited for through watches.
 *
 * Needs root (loop devices, tap interfaces in the host's namespace); runs
 * against both daemons.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakexen.h"
#include "guest-xs.h"
#include "simfixture.h"

#define WAIT_MS 10000
#define VDEV 51712 /* xvda */

static struct xs_handle *xs;
static char image[300], loopdev[64];
static int loop_fd = -1;

/* ---- fixture ------------------------------------------------------------- */

static void setup(enum simhost_daemon daemon)
{
	int fd;

	fx_start(daemon, 1);
	xs = fx_xs();
	snprintf(image, sizeof(image), "%s/disk.img", fx_host.dir);
	fd = open(image, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 8 << 20), 0);
	close(fd);
	loop_fd = fx_loop_attach(image, loopdev, sizeof(loopdev));
}

static void setup_c(void) { setup(SIMHOST_CXENSTORED); }
static void setup_o(void) { setup(SIMHOST_OXENSTORED); }

static void teardown(void)
{
	if (loop_fd >= 0)
		close(loop_fd); /* autoclear: the device is detached */
	loop_fd = -1;
	if (xs)
		xs_close(xs);
	xs = NULL;
	fx_stop();
}

/* ---- the toolstack's side, by hand --------------------------------------- */

static uint32_t domain(const char *name, enum simhost_dom_kind kind)
{
	uint32_t id = 0;
	int r = simhost_domain_create_kind(&fx_host, name, 0, kind, &id);

	ck_assert_msg(r == 0, "domain %s: %s", name, fx_host.err);
	return id;
}

static void be_path(char *buf, size_t n, const char *type, uint32_t be,
		    uint32_t fe, unsigned devid)
{
	snprintf(buf, n, "/local/domain/%u/backend/%s/%u/%u", be, type, fe,
		 devid);
}

static void fe_path(char *buf, size_t n, const char *type, uint32_t fe,
		    unsigned devid)
{
	snprintf(buf, n, "/local/domain/%u/device/%s/%u", fe, type, devid);
}

struct kv { const char *k, *v; };

static bool write_dir(xs_transaction_t t, const char *dir,
		      struct xs_permissions *perms, const struct kv *kv)
{
	char path[256];

	if (!xs_mkdir(xs, t, dir) || !xs_set_permissions(xs, t, dir, perms, 2))
		return false;
	for (; kv->k; kv++) {
		snprintf(path, sizeof(path), "%s/%s", dir, kv->k);
		if (!xs_write(xs, t, path, kv->v, strlen(kv->v)))
			return false;
	}
	return true;
}

/* What libxl writes for a device, in one transaction. */
static void device_add(const char *type, uint32_t be, uint32_t fe,
		       unsigned devid)
{
	char bp[128], fp[128], fes[16], bes[16], id[16];
	struct xs_permissions bperm[2] = { { be, XS_PERM_NONE },
					   { fe, XS_PERM_READ } };
	struct xs_permissions fperm[2] = { { fe, XS_PERM_NONE },
					   { be, XS_PERM_READ } };
	bool vbd = !strcmp(type, "vbd");

	be_path(bp, sizeof(bp), type, be, fe, devid);
	fe_path(fp, sizeof(fp), type, fe, devid);
	snprintf(fes, sizeof(fes), "%u", fe);
	snprintf(bes, sizeof(bes), "%u", be);
	snprintf(id, sizeof(id), "%u", devid);
	{
		const struct kv fkv[] = {
			{ "backend", bp }, { "backend-id", bes }, { "state", "1" },
			{ vbd ? "virtual-device" : "handle", id },
			{ vbd ? "device-type" : "mac",
			  vbd ? "disk" : "00:16:3e:00:00:01" },
			{ NULL, NULL } };
		const struct kv bvbd[] = {
			{ "frontend", fp }, { "frontend-id", fes },
			{ "online", "1" }, { "state", "1" },
			{ "params", loopdev }, { "script", "block" },
			{ "mode", "w" }, { "type", "phy" }, { "dev", "xvda" },
			{ "device-type", "disk" }, { "removable", "0" },
			{ NULL, NULL } };
		const struct kv bvif[] = {
			{ "frontend", fp }, { "frontend-id", fes },
			{ "online", "1" }, { "state", "1" },
			{ "script", "vif-bridge" }, { "mac", "00:16:3e:00:00:01" },
			{ "bridge", "xenbr0" }, { "handle", id },
			{ "type", "vif" }, { "hotplug-status", "" },
			{ NULL, NULL } };
		int tries;

		for (tries = 0; tries < 20; tries++) {
			xs_transaction_t t = xs_transaction_start(xs);

			ck_assert(t != XBT_NULL);
			ck_assert_msg(write_dir(t, fp, fperm, fkv) &&
				      write_dir(t, bp, bperm, vbd ? bvbd : bvif),
				      "writing %s: %s", bp, strerror(errno));
			if (xs_transaction_end(xs, t, false))
				return;
			ck_assert_int_eq(errno, EAGAIN);
		}
		ck_abort_msg("transaction kept conflicting");
	}
}

/* libxl's remove, case 1: online=0 and Closing in one transaction. */
static void device_close(const char *type, uint32_t be, uint32_t fe,
			 unsigned devid)
{
	char bp[128], path[160];
	xs_transaction_t t;

	be_path(bp, sizeof(bp), type, be, fe, devid);
	do {
		t = xs_transaction_start(xs);
		snprintf(path, sizeof(path), "%s/online", bp);
		ck_assert(xs_write(xs, t, path, "0", 1));
		snprintf(path, sizeof(path), "%s/state", bp);
		ck_assert(xs_write(xs, t, path, "5", 1));
	} while (!xs_transaction_end(xs, t, false) && errno == EAGAIN);
}

static void device_rm(const char *type, uint32_t be, uint32_t fe,
		      unsigned devid)
{
	char p[128];

	be_path(p, sizeof(p), type, be, fe, devid);
	xs_rm(xs, XBT_NULL, p);
	fe_path(p, sizeof(p), type, fe, devid);
	xs_rm(xs, XBT_NULL, p);
}

/* The stand-in hotplug step of the block script. */
static void hotplug_vbd(uint32_t be, uint32_t fe)
{
	char bp[128], path[160], val[32];
	struct stat st;

	ck_assert_int_eq(stat(loopdev, &st), 0);
	be_path(bp, sizeof(bp), "vbd", be, fe, VDEV);
	snprintf(path, sizeof(path), "%s/physical-device", bp);
	snprintf(val, sizeof(val), "%x:%x", major(st.st_rdev),
		 minor(st.st_rdev));
	ck_assert(xs_write(xs, XBT_NULL, path, val, strlen(val)));
}

static char *xread(const char *path)
{
	return xs_read(xs, XBT_NULL, path, NULL);
}

static int state_of(const char *dir)
{
	char path[200], *v;
	int s;

	snprintf(path, sizeof(path), "%s/state", dir);
	v = xread(path);
	s = v ? atoi(v) : 0;
	free(v);
	return s;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait, through a watch, until PATH reads WANT (NULL: until it is gone).
 * Returns 0 or -ETIMEDOUT. */
static int wait_value(const char *path, const char *want, int ms)
{
	long long deadline = now_ms() + ms;
	int r = -ETIMEDOUT;
	char *v;

	ck_assert(xs_watch(xs, path, "wait"));
	for (;;) {
		v = xread(path);
		if (want ? (v && !strcmp(v, want)) : !v) {
			free(v);
			r = 0;
			break;
		}
		free(v);
		if (fx_next_event(xs, (int)(deadline - now_ms()), NULL))
			break;
	}
	xs_unwatch(xs, path, "wait");
	while (fx_next_event(xs, 0, NULL) == 0)
		; /* drop what is left of this watch */
	return r;
}

static void expect_state(const char *dir, int want)
{
	char path[200], w[4];

	snprintf(path, sizeof(path), "%s/state", dir);
	snprintf(w, sizeof(w), "%d", want);
	ck_assert_msg(wait_value(path, w, WAIT_MS) == 0,
		      "%s: state %d, expected %d", dir, state_of(dir), want);
}

/* Nothing may happen: the state stays put over an observation window.
 * (Asserting an absence needs a window; it is not a wait for success.) */
static void expect_state_holds(const char *dir, int want)
{
	char path[200], w[4];

	snprintf(path, sizeof(path), "%s/state", dir);
	snprintf(w, sizeof(w), "%d", want);
	ck_assert_int_eq(state_of(dir), want);
	ck_assert_msg(wait_value(path, NULL, 300) == -ETIMEDOUT &&
		      state_of(dir) == want, "%s left state %d", dir, want);
}

/* A connected vbd from backend BE to guest FE. */
static void vbd_connect(uint32_t be, uint32_t fe, char *bp, char *fp)
{
	be_path(bp, 128, "vbd", be, fe, VDEV);
	fe_path(fp, 128, "vbd", fe, VDEV);
	device_add("vbd", be, fe, VDEV);
	expect_state(bp, 2);
	hotplug_vbd(be, fe);
	expect_state(bp, 4);
	expect_state(fp, 4);
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(vbd_connects_publishes_and_closes)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128], path[200], *v;

	vbd_connect(0, g, bp, fp);
	snprintf(path, sizeof(path), "%s/sectors", bp);
	v = xread(path);
	ck_assert_str_eq(v, "16384"); /* 8 MiB in 512-byte sectors */
	free(v);
	snprintf(path, sizeof(path), "%s/info", bp);
	v = xread(path);
	ck_assert_str_eq(v, "0");
	free(v);
	snprintf(path, sizeof(path), "%s/ring-ref", fp);
	v = xread(path);
	ck_assert_ptr_nonnull(v);
	free(v);
	device_close("vbd", 0, g, VDEV);
	expect_state(fp, 6);
	expect_state(bp, 6);
	device_rm("vbd", 0, g, VDEV);
	snprintf(path, sizeof(path), "/local/domain/%u/device/vbd", g);
	v = xread(path);
	ck_assert_str_eq(v ? v : "", "");
	free(v);
}
END_TEST

START_TEST(vbd_bad_physical_device_is_fatal)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], path[200], *v;

	be_path(bp, sizeof(bp), "vbd", 0, g, VDEV);
	device_add("vbd", 0, g, VDEV);
	expect_state(bp, 2);
	snprintf(path, sizeof(path), "%s/physical-device", bp);
	ck_assert(xs_write(xs, XBT_NULL, path, "fff:fff", 7));
	expect_state(bp, 5);
	snprintf(path, sizeof(path),
		 "/local/domain/0/error/backend/vbd/%u/%u/error", g, VDEV);
	v = xread(path);
	ck_assert_ptr_nonnull(v);
	ck_assert(strstr(v, "physical-device") != NULL);
	free(v);
	xs_rm(xs, XBT_NULL, "/local/domain/0/error/backend");
	device_rm("vbd", 0, g, VDEV);
}
END_TEST

START_TEST(vif_interface_lives_with_the_device)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128], ifname[32], path[200];

	be_path(bp, sizeof(bp), "vif", 0, g, 0);
	fe_path(fp, sizeof(fp), "vif", g, 0);
	snprintf(ifname, sizeof(ifname), "vif%u.0", g);
	device_add("vif", 0, g, 0);
	expect_state(bp, 2);
	/* registered just after InitWait, as Linux's netback_probe() does */
	ck_assert_msg(fx_link_wait_present(0, ifname, 10000), "no %s", ifname);
	expect_state(fp, 4);
	/* netback holds Connected until the hotplug script says so */
	expect_state_holds(bp, 2);
	snprintf(path, sizeof(path), "%s/hotplug-status", bp);
	ck_assert(xs_write(xs, XBT_NULL, path, "connected", 9));
	expect_state(bp, 4);
	device_close("vif", 0, g, 0);
	expect_state(fp, 6);
	expect_state(bp, 6);
	/* torn down after Closed, as Linux's netback does */
	ck_assert_msg(fx_link_wait_gone(0, ifname, 10000), "%s left", ifname);
	device_rm("vif", 0, g, 0);
}
END_TEST

START_TEST(kexec_reconnects_without_destroying_the_device)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128], path[200];
	int seen[8] = { 0 }, last = 4;
	long long deadline;

	vbd_connect(0, g, bp, fp);
	/* Each step persists 100 ms, so the watcher sees every state. */
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*", "slow=100"), 0);
	snprintf(path, sizeof(path), "%s/state", fp);
	ck_assert(xs_watch(xs, path, "fe"));
	ck_assert_msg(simhost_domain_kexec(&fx_host, g) == 0, "%s", fx_host.err);
	deadline = now_ms() + 30000;
	while (now_ms() < deadline) {
		int s = state_of(fp);

		if (s != last) {
			seen[s & 7] = 1;
			last = s;
		}
		if (seen[1] && s == 4)
			break;
		fx_next_event(xs, (int)(deadline - now_ms()), NULL);
	}
	xs_unwatch(xs, path, "fe");
	ck_assert_msg(seen[5] && seen[6] && seen[1],
		      "frontend went through %s%s%s", seen[5] ? "5 " : "",
		      seen[6] ? "6 " : "", seen[1] ? "1" : "");
	expect_state(fp, 4);
	expect_state(bp, 4);
}
END_TEST

START_TEST(frontend_unresponsive_never_answers_closing)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128];

	vbd_connect(0, g, bp, fp);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "vbd/51712",
					   "frontend-unresponsive"), 0);
	device_close("vbd", 0, g, VDEV);
	expect_state_holds(fp, 4);
	ck_assert_int_eq(state_of(bp), 5);
	ck_assert_int_eq(simhost_fault_clear(&fx_host, g), 0);
	expect_state(fp, 6);
	expect_state(bp, 6);
	device_rm("vbd", 0, g, VDEV);
}
END_TEST

START_TEST(frontend_refuses_to_close_with_an_error_node)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128], path[200], *v;

	vbd_connect(0, g, bp, fp);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-refuse-close"), 0);
	device_close("vbd", 0, g, VDEV);
	snprintf(path, sizeof(path),
		 "/local/domain/%u/error/device/vbd/%u/error", g, VDEV);
	ck_assert_int_eq(wait_value(path, "-16 Device in use; refusing to close",
				    WAIT_MS), 0);
	expect_state(fp, 5);
	expect_state_holds(fp, 5);
	ck_assert_int_eq(state_of(bp), 5);
	v = NULL;
	free(v);
}
END_TEST

START_TEST(backend_unresponsive_never_reaches_initwait)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128];

	be_path(bp, sizeof(bp), "vbd", 0, g, VDEV);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	device_add("vbd", 0, g, VDEV);
	expect_state_holds(bp, 1);
	ck_assert_int_eq(simhost_fault_clear(&fx_host, 0), 0);
	expect_state(bp, 2);
	device_rm("vbd", 0, g, VDEV);
}
END_TEST

START_TEST(backend_unresponsive_never_leaves_closing)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128];

	vbd_connect(0, g, bp, fp);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "backend-unresponsive"), 0);
	device_close("vbd", 0, g, VDEV);
	expect_state(fp, 6); /* the frontend did its part */
	expect_state_holds(bp, 5);
	ck_assert_int_eq(simhost_fault_clear(&fx_host, 0), 0);
	expect_state(bp, 6);
	device_rm("vbd", 0, g, VDEV);
}
END_TEST

START_TEST(backend_deletes_its_directory_when_asked_to_close)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128];

	vbd_connect(0, g, bp, fp);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "vbd/51712",
					   "backend-delete-on-close"), 0);
	device_close("vbd", 0, g, VDEV);
	ck_assert_int_eq(wait_value(bp, NULL, WAIT_MS), 0);
	device_rm("vbd", 0, g, VDEV);
}
END_TEST

START_TEST(slow_delays_every_transition)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128];
	long long t0;

	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*", "slow=300"), 0);
	be_path(bp, sizeof(bp), "vbd", 0, g, VDEV);
	fe_path(fp, sizeof(fp), "vbd", g, VDEV);
	t0 = now_ms();
	device_add("vbd", 0, g, VDEV);
	expect_state(bp, 2);
	ck_assert_int_ge(now_ms() - t0, 300);
	t0 = now_ms();
	hotplug_vbd(0, g);
	expect_state(bp, 4);
	ck_assert_int_ge(now_ms() - t0, 300);
	expect_state(fp, 4);
}
END_TEST

static void wait_released(uint32_t dom)
{
	long long deadline = now_ms() + WAIT_MS;

	fx_watch(xs, "@releaseDomain", "rel");
	while (xs_is_domain_introduced(xs, dom) && now_ms() < deadline)
		fx_next_event(xs, (int)(deadline - now_ms()), NULL);
	xs_unwatch(xs, "@releaseDomain", "rel");
	ck_assert(!xs_is_domain_introduced(xs, dom));
}

/* connect-delay: the disk is published, then Connected is written without
 * a look at the state, as blkback's connect() does; a Closing written in
 * between is lost. */
START_TEST(connect_delay_overwrites_a_closing_written_meanwhile)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128], path[200];

	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*",
					   "connect-delay=1000"), 0);
	/* a frontend that would answer the Closing would take the backend
	 * on to Closed at once: the overwrite is seen on a stable state */
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "frontend-unresponsive"), 0);
	be_path(bp, sizeof(bp), "vbd", 0, g, VDEV);
	fe_path(fp, sizeof(fp), "vbd", g, VDEV);
	device_add("vbd", 0, g, VDEV);
	expect_state(bp, 2);
	hotplug_vbd(0, g);
	snprintf(path, sizeof(path), "%s/info", bp);
	ck_assert_int_eq(wait_value(path, "0", WAIT_MS), 0);
	ck_assert_int_eq(state_of(bp), 2); /* inside connect() */
	device_close("vbd", 0, g, VDEV);
	expect_state(bp, 4);
	expect_state(fp, 4);
	device_rm("vbd", 0, g, VDEV);
}
END_TEST

START_TEST(backend_domain_destroyed_at_connect)
{
	uint32_t b = domain("netdom", SIMHOST_DOM_DRIVER);
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128];
	struct fakexen_dominfo info;

	be_path(bp, sizeof(bp), "vbd", b, g, VDEV);
	fe_path(fp, sizeof(fp), "vbd", g, VDEV);
	ck_assert_int_eq(simhost_fault_set(&fx_host, b, "*",
					   "destroy-at=connected"), 0);
	device_add("vbd", b, g, VDEV);
	expect_state(bp, 2);
	hotplug_vbd(b, g);
	/* the backend domain dies instead of connecting: xenstored deletes
	 * what it owned, the frontend follows its vanished backend */
	ck_assert_int_eq(wait_value(bp, NULL, WAIT_MS), 0);
	wait_released(b);
	/* dying or already gone from the hypervisor */
	ck_assert(fakexen_domain_get(b, &info) != 0 ||
		  (info.flags & FAKEXEN_DOM_DYING));
	ck_assert_int_ne(state_of(fp), 4);
	device_rm("vbd", b, g, VDEV);
}
END_TEST

START_TEST(frontend_domain_destroyed_at_closing)
{
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128];

	vbd_connect(0, g, bp, fp);
	ck_assert_int_eq(simhost_fault_set(&fx_host, g, "*",
					   "destroy-at=closing"), 0);
	device_close("vbd", 0, g, VDEV);
	wait_released(g);
	ck_assert_int_eq(wait_value(fp, NULL, WAIT_MS), 0);
	/* Whether the backend hears of it depends on the daemon (see
	 * docs/simulated-host.md): it is Closing, or Closed if told. */
	ck_assert_int_ge(state_of(bp), 5);
	device_rm("vbd", 0, g, VDEV);
}
END_TEST

START_TEST(driver_domain_backend_serves_a_guest)
{
	uint32_t b = domain("netdom", SIMHOST_DOM_DRIVER);
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128];

	vbd_connect(b, g, bp, fp);
	device_close("vbd", b, g, VDEV);
	expect_state(fp, 6);
	expect_state(bp, 6);
	device_rm("vbd", b, g, VDEV);
}
END_TEST

START_TEST(driver_domain_and_guest_cannot_write_each_other)
{
	uint32_t b = domain("netdom", SIMHOST_DOM_DRIVER);
	uint32_t g = domain("guest", SIMHOST_DOM_GUEST);
	char bp[128], fp[128], path[200];
	struct xsg *gb = NULL, *gg = NULL;

	vbd_connect(b, g, bp, fp);
	ck_assert_int_eq(xsg_open(b, &gb), 0);
	ck_assert_int_eq(xsg_open(g, &gg), 0);
	snprintf(path, sizeof(path), "%s/state", fp);
	ck_assert_int_eq(xsg_write(gb, 0, path, "6", 1), -EACCES);
	snprintf(path, sizeof(path), "%s/state", bp);
	ck_assert_int_eq(xsg_write(gg, 0, path, "6", 1), -EACCES);
	snprintf(path, sizeof(path), "%s/sectors", bp);
	ck_assert_int_eq(xsg_write(gg, 0, path, "1", 1), -EACCES);
	xsg_close(gb);
	xsg_close(gg);
	ck_assert_int_eq(state_of(fp), 4);
	ck_assert_int_eq(state_of(bp), 4);
}
END_TEST

static TCase *daemon_case(const char *name, void (*setup_fn)(void))
{
	TCase *tc = tcase_create(name);
	const TTest *const tests[] = {
		vbd_connects_publishes_and_closes,
		vbd_bad_physical_device_is_fatal,
		vif_interface_lives_with_the_device,
		kexec_reconnects_without_destroying_the_device,
		frontend_unresponsive_never_answers_closing,
		frontend_refuses_to_close_with_an_error_node,
		backend_unresponsive_never_reaches_initwait,
		backend_unresponsive_never_leaves_closing,
		backend_deletes_its_directory_when_asked_to_close,
		slow_delays_every_transition,
		backend_domain_destroyed_at_connect,
		connect_delay_overwrites_a_closing_written_meanwhile,
		frontend_domain_destroyed_at_closing,
		driver_domain_backend_serves_a_guest,
		driver_domain_and_guest_cannot_write_each_other,
	};
	size_t i;

	tcase_add_checked_fixture(tc, setup_fn, teardown);
	tcase_set_timeout(tc, 90);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		tcase_add_test(tc, tests[i]);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("drivers");
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		/* loop devices and tap interfaces need root */
		fprintf(stderr, "check_drivers: needs root; not run\n");
		return 77;
	}
	suite_add_tcase(s, daemon_case("xenstored", setup_c));
	suite_add_tcase(s, daemon_case("oxenstored", setup_o));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
