/*
 * xdev-bench: measurements of libxdev on the simulated host, with the real
 * C xenstored (docs/performance.md has the method and the figures).
 *
 * Each subcommand starts its own host (stop_with_starter: nothing outlives
 * a crash), measures one thing and prints one JSON object on stdout;
 * progress goes to stderr.  tests/bench/run-bench.py runs them all, prints
 * the table and writes bench-results.json.  It reports; it never asserts a
 * timing.
 *
 *   requests                  requests per op from the library's connection
 *                             (C xenstored's -T trace, between markers)
 *   latency --script S [--count N] [--type vbd|vif] [--beside]
 *           (S: trivial, block, native, native-file, none; floor-trivial,
 *           floor-native: vbd only)
 *                             sequential ops: wall, own CPU, waiting;
 *                             --beside: the guest keeps another disk and
 *                             NIC (trivial, native, none)
 *   scale --n N [--hotplug library|none] [--trace] [--no-floor]
 *                             N adds then N removes at once over N/10
 *                             guests, then the protocol floor: the same
 *                             storm through a minimal reference client
 *                             (floor-client.c)
 *   openloop --rate R [--n N] the same N adds, then N removes, arriving
 *                             R per second (open loop): latency from
 *                             each one's due time
 *   failure [--count N]       backend death to done; an unresponsive
 *                             backend under each removal mode
 *   callgrind [--valgrind V]  instructions per add and remove
 *
 * The process runs with libfakexen.so preloaded (main() re-executes itself
 * so), as an application on the simulated host does, so the library's
 * libxenctrl calls reach the simulated hypervisor.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS
#endif

#include "internal.h" /* first: xenctrl.h before any other xen header */
#include "fakexen.h"
#include "simhost.h"
#include "xdev.h"
#include "bench-host.h"
#include "floor-client.h"

/* xdev's connection is the one that watches @releaseDomain so. */
#define LIB_TAG "WATCH", "@releaseDomain xdev/release"
/* the floor client's (floor-client.c), so */
#define FLOOR_TAG "WATCH", "/local/domain/0/backend/vbd floor"

/* Loop devices whose backing file is IMAGE; with DETACH, detach them
 * (cleanup after a failed remove script). */
static int loops_backing(const char *image, bool detach)
{
	char path[300], buf[400];
	int n = 0, i;

	for (i = 0; i < 1024; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file",
			 i);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) &&
		    !strncmp(buf, image, strlen(image)) &&
		    buf[strlen(image)] == '\n') {
			n++;
			if (detach) {
				int fd;

				snprintf(path, sizeof(path), "/dev/loop%d", i);
				fd = open(path, O_RDWR | O_CLOEXEC);
				if (fd >= 0) {
					if (ioctl(fd, LOOP_CLR_FD, 0))
						msg("detaching %s: %s", path,
						    strerror(errno));
					close(fd);
				}
			}
		}
		fclose(f);
	}
	return n;
}
static void be_dir(const xdev_device_id *id, char *buf, size_t n)
{
	snprintf(buf, n, "/local/domain/%u/backend/%s/%u/%u", id->backend_domid,
		 id->type == XDEV_VBD ? "vbd" : "vif", id->frontend_domid,
		 id->devid);
}

/* ---- the library ------------------------------------------------------- */

/* tests/bench/hotplug/trivial: a script's minimum (one bash and two
 * xenstore clients per vbd add, one bash per removal) */
#define TRIVIAL "trivial"

static unsigned forced; /* AUTO removals that had to force */

static void on_log(void *user, enum xdev_log_level level, const char *m)
{
	(void)user;
	if (strstr(m, "forcing"))
		forced++;
	const char *v = getenv("XDEV_BENCH_VERBOSE");

	/* 1: the library's warnings; 2: everything, timed */
	if (v && (level <= XDEV_LOG_WARNING || atoi(v) >= 2))
		msg("lib: %.3f %s", now(), m);
}

static xdev_ctx *ctx_open(enum xdev_hotplug_mode mode, const char *dir,
			  int timeout_ms)
{
	/* the options keep a pointer to the directory: static storage */
	static char hdir[4][300];
	static int k;
	const char *v = getenv("XDEV_BENCH_VERBOSE");
	xdev_ctx_opts o = { .hotplug = mode, .log_cb = on_log,
			    .log_level = v && atoi(v) >= 2 ? XDEV_LOG_DEBUG
							   : XDEV_LOG_WARNING };
	xdev_ctx *ctx;
	int r;

	if (getenv("XDEV_BENCH_MAX_SCRIPTS")) /* the library's default else */
		o.max_scripts = atoi(getenv("XDEV_BENCH_MAX_SCRIPTS"));
	if (getenv("XDEV_BENCH_MAX_OPS"))
		o.max_ops_per_backend = atoi(getenv("XDEV_BENCH_MAX_OPS"));
	k = (k + 1) % 4;
	snprintf(hdir[k], sizeof(hdir[k]), "%s/%s", srcdir,
		 dir ? dir : "tests/bench/hotplug");
	o.hotplug_dir = hdir[k];
	if (timeout_ms > 0)
		o.timeout_init_ms = o.timeout_hotplug_ms =
			o.timeout_connect_ms = o.timeout_remove_ms = timeout_ms;
	r = xdev_ctx_new(&o, &ctx);
	if (r)
		die("xdev_ctx_new: %s", xdev_strerror(r));
	return ctx;
}

static xdev_desc *desc_vbd(const char *vdev, const char *target,
			   const char *script, const char *backend)
{
	xdev_desc *d = NULL;

	if (xdev_desc_new(XDEV_VBD, &d) || xdev_desc_set(d, "vdev", vdev) ||
	    xdev_desc_set(d, "target", target) ||
	    (script && xdev_desc_set(d, "script", script)) ||
	    (backend && xdev_desc_set(d, "backend", backend)))
		die("vbd description: %s", d ? xdev_desc_error(d) : "ENOMEM");
	return d;
}

static xdev_desc *desc_vif(const char *script)
{
	xdev_desc *d = NULL;

	if (xdev_desc_new(XDEV_VIF, &d) ||
	    (script && xdev_desc_set(d, "script", script)))
		die("vif description: %s", d ? xdev_desc_error(d) : "ENOMEM");
	return d;
}

/* Run CTX's loop for MS milliseconds (drain what is due). */
static void run_for(xdev_ctx *ctx, int ms)
{
	double end = now() + ms / 1000.0;

	while (now() < end)
		xdev_ctx_run(ctx, (int)((end - now()) * 1000) + 1);
}

/* Wait (running CTX's loop) until the backend at DIR reads WANT (0: gone)
 * or MS pass; true if it did. */
static bool settle(xdev_ctx *ctx, const char *dir, int want, int ms)
{
	double end = now() + ms / 1000.0;

	while (now() < end) {
		if (read_state(dir) == want)
			return true;
		xdev_ctx_run(ctx, 10);
	}
	return read_state(dir) == want;
}

struct res {
	bool done;
	int r;
	double t_issue, t_done;
};

static unsigned n_done;

static void on_done(xdev_op *op, int r, void *user)
{
	struct res *res = user;

	(void)op;
	res->done = true;
	res->r = r;
	res->t_done = now();
	n_done++;
}

/* ---- requests ----------------------------------------------------------- */

/* Requests per operation: CYCLES of each kind, first for a device alone
 * in the context (its add sets up the context's watch on the backend
 * domain, its removal takes it down), then with another device of the
 * same backend present (the watch is held: the steady state). */
static int cmd_requests(int argc, char **argv)
{
	int cycles = 5, i, k, an;
	const char *script = TRIVIAL;
	char trace[300], label[64], be[300];
	/* kinds: vbd add/remove, vbd add waiting for Connected, vif */
	const char *kinds[] = { "vbd", "vbd_connected", "vif" };
	const char *ph[2][2] = { { "add", "add-settle" },
				 { "remove", "remove-settle" } };
	struct counts *seg[2][3][2][2][8]; /* anchor, kind, add/rm, op/settle */
	xdev_device_id anchor, anchor_vif;
	struct trace t;
	xdev_ctx *ctx;
	uint32_t g;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--cycles") && i + 1 < argc)
			cycles = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--native"))
			script = NULL; /* native hotplug: no script named */
	if (cycles < 1 || cycles > 8)
		cycles = 5;
	tmpdir_make();
	snprintf(trace, sizeof(trace), "%s/trace", tmpdir);
	host_start(trace);
	loop_attach();
	g = domain("guest", SIMHOST_DOM_GUEST);
	/* native vifs join a bridge in the host's namespace (dies with it) */
	if (!script && (simhost_setenv(&host, 0, 1) ||
			system("ip link add xenbr0 type bridge && "
			       "ip link set xenbr0 up")))
		die("cannot make bridge xenbr0 in the host's namespace");
	ctx = ctx_open(XDEV_HOTPLUG_LIBRARY, NULL, 0);
	for (an = 0; an < 2; an++) {
		if (an) {
			xdev_desc *d = desc_vbd("xvdz", loopdev, script, NULL);
			int r = xdev_vbd_add(ctx, g, d, 0, NULL, &anchor, NULL);

			xdev_desc_free(d);
			if (r)
				die("anchor add: %s", xdev_strerror(r));
			be_dir(&anchor, be, sizeof(be));
			settle(ctx, be, XB_CONNECTED, 5000);
			/* and a vif: steady means another device of the same
			 * kind on the same guest */
			d = desc_vif(script);
			r = xdev_vif_add(ctx, g, d, 0, NULL, &anchor_vif, NULL);
			xdev_desc_free(d);
			if (r)
				die("anchor add: %s", xdev_strerror(r));
			be_dir(&anchor_vif, be, sizeof(be));
			settle(ctx, be, XB_CONNECTED, 5000);
			run_for(ctx, 200);
		}
		for (k = 0; k < 3; k++)
			for (i = 0; i < cycles; i++) {
				xdev_desc *d = k == 2 ? desc_vif(script)
					: desc_vbd("xvda", loopdev, script, NULL);
				xdev_device_id id;
				int r;

				snprintf(label, sizeof(label), "%d.%s.add.%d",
					 an, kinds[k], i);
				marker(label);
				r = k == 2 ? xdev_vif_add(ctx, g, d, 0, NULL,
							  &id, NULL)
				    : xdev_vbd_add(ctx, g, d, k == 1
						   ? XDEV_ADD_WAIT_CONNECTED : 0,
						   NULL, &id, NULL);
				xdev_desc_free(d);
				if (r)
					die("%s add: %s: %s", kinds[k],
					    xdev_strerror(r),
					    xdev_ctx_last_message(ctx));
				snprintf(label, sizeof(label),
					 "%d.%s.add-settle.%d", an, kinds[k], i);
				marker(label);
				be_dir(&id, be, sizeof(be));
				settle(ctx, be, XB_CONNECTED, 5000);
				run_for(ctx, 200);
				snprintf(label, sizeof(label), "%d.%s.remove.%d",
					 an, kinds[k], i);
				marker(label);
				r = xdev_device_remove(ctx, &id,
						       XDEV_REMOVE_AUTO, NULL,
						       NULL);
				if (r)
					die("%s remove: %s", kinds[k],
					    xdev_strerror(r));
				snprintf(label, sizeof(label),
					 "%d.%s.remove-settle.%d", an, kinds[k],
					 i);
				marker(label);
				run_for(ctx, 200);
			}
	}
	marker("end");
	if ((i = xdev_device_remove(ctx, &anchor, XDEV_REMOVE_AUTO, NULL,
				    NULL)))
		msg("anchor remove: %s", xdev_strerror(i));
	if ((i = xdev_device_remove(ctx, &anchor_vif, XDEV_REMOVE_AUTO, NULL,
				    NULL)))
		msg("anchor remove: %s", xdev_strerror(i));
	xdev_ctx_free(ctx);
	host_stop();
	trace_parse(trace, LIB_TAG, &t);
	tmpdir_remove();
	if (!t.lib)
		die("the library's connection is not in the trace");
	for (an = 0; an < 2; an++)
		for (k = 0; k < 3; k++)
			for (i = 0; i < cycles; i++) {
				int a, s;

				for (a = 0; a < 2; a++)
					for (s = 0; s < 2; s++) {
						snprintf(label, sizeof(label),
							 "%d.%s.%s.%d", an,
							 kinds[k], ph[a][s], i);
						seg[an][k][a][s][i] =
							seg_find(&t, label);
						if (!seg[an][k][a][s][i])
							die("marker %s missing",
							    label);
					}
			}
	printf("{\n");
	for (an = 1; an >= 0; an--) {
		printf("  \"%s\": {\n", an ? "steady" : "alone");
		for (k = 0; k < 3; k++) {
			char name[64];

			snprintf(name, sizeof(name), "%s_add", kinds[k]);
			print_counts(name, seg[an][k][0][0], cycles, false);
			snprintf(name, sizeof(name), "%s_add_after", kinds[k]);
			print_counts(name, seg[an][k][0][1], cycles, false);
			snprintf(name, sizeof(name), "%s_remove", kinds[k]);
			print_counts(name, seg[an][k][1][0], cycles, false);
			snprintf(name, sizeof(name), "%s_remove_after",
				 kinds[k]);
			print_counts(name, seg[an][k][1][1], cycles, k == 2);
		}
		printf("  }%s\n", an ? "," : "");
	}
	printf("}\n");
	free(t.seg);
	return 0;
}

/* ---- latency ----------------------------------------------------------- */

/* The nodes a hotplug script writes for the device at backend BE (a vbd
 * on loopdev, or a vif), through the bench's own connection. */
static void hotplug_by_hand(const char *be, bool vif)
{
	char path[400], dev[32];
	struct stat st;

	if (!vif) {
		if (stat(loopdev, &st) < 0)
			die("%s: %s", loopdev, strerror(errno));
		snprintf(dev, sizeof(dev), "%x:%x", major(st.st_rdev),
			 minor(st.st_rdev));
		snprintf(path, sizeof(path), "%s/physical-device", be);
		if (!xs_write(bxs, XBT_NULL, path, dev, strlen(dev)))
			die("writing %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/hotplug-status", be);
	if (!xs_write(bxs, XBT_NULL, path, "connected", 9))
		die("writing %s: %s", path, strerror(errno));
}

/* latency --script floor-trivial|floor-native: the same cycles by the
 * protocol floor's minimal client (floor-client.h), one vbd at a time:
 * what any toolstack must write and wait for, with the trivial script or
 * with in-process hotplug (as native), and nothing else. */
static int latency_floor(bool with_script, int count)
{
	/* the client's CPU is not measured: zeros */
	double *aw = calloc(3 * count, sizeof(double)), *rw = aw + count,
	       *zero = rw + count;
	struct floor_result fr;
	struct floor_client *fc;
	char script[400], be[300];
	int i, failed = 0;
	uint32_t g;

	if (!aw)
		die("out of memory");
	host_start(NULL);
	g = domain("guest", SIMHOST_DOM_GUEST);
	loop_attach();
	snprintf(script, sizeof(script), "%s/tests/bench/hotplug/%s", srcdir,
		 TRIVIAL);
	fc = floor_new(1, loopdev, with_script ? script : NULL, TRIVIAL);
	floor_set(fc, 0, g, 51712, "xvda");
	snprintf(be, sizeof(be), "/local/domain/0/backend/vbd/%u/51712", g);
	/* one warm-up cycle, not counted */
	for (i = -1; i < count; i++) {
		floor_add(fc, &fr);
		failed += fr.failed;
		if (i >= 0)
			aw[i] = fr.p50_s * 1000;
		if (!wait_state(be, XB_CONNECTED, 5000))
			failed++;
		floor_remove(fc, &fr);
		failed += fr.failed;
		if (i >= 0)
			rw[i] = fr.p50_s * 1000;
		wait_state(be, 0, 5000);
	}
	floor_free(fc);
	printf("{\n  \"script\": \"floor-%s\", \"type\": \"vbd\", "
	       "\"failed\": %d,\n", with_script ? TRIVIAL : "native", failed);
	print_stats("add", aw, zero, count, false);
	print_stats("remove", rw, zero, count, true);
	printf("}\n");
	host_stop();
	free(aw);
	return 0;
}

/* latency --beside: the guest keeps a disk (xvdz) and a NIC through the
 * cycles, as a running guest keeps its root disk and its network while a
 * disk or a NIC is hot-plugged: no removal is then the guest's last
 * device of its kind, whose removal also deletes the directories it
 * leaves empty (lib/prune.c; libxl's libxl__xs_path_cleanup the same).
 * With the trivial script, or none (NONE: what a script would write,
 * written here). */
static void others_add(xdev_ctx *ctx, uint32_t g, bool none,
		       xdev_device_id *ids)
{
	char be[300];
	int k, r;

	for (k = 0; k < 2; k++) {
		xdev_desc *d = k ? desc_vif(none ? NULL : TRIVIAL)
			: desc_vbd("xvdz", loopdev, none ? NULL : TRIVIAL,
				   NULL);

		r = k ? xdev_vif_add(ctx, g, d, 0, NULL, &ids[k], NULL)
		      : xdev_vbd_add(ctx, g, d, 0, NULL, &ids[k], NULL);
		xdev_desc_free(d);
		if (r)
			die("the guest's other %s: %s: %s", k ? "NIC" : "disk",
			    xdev_strerror(r), xdev_ctx_last_message(ctx));
		be_dir(&ids[k], be, sizeof(be));
		if (none)
			hotplug_by_hand(be, k == 1);
		if (!settle(ctx, be, XB_CONNECTED, 5000))
			die("the guest's other %s: not Connected",
			    k ? "NIC" : "disk");
	}
}

static void others_remove(xdev_ctx *ctx, xdev_device_id *ids)
{
	int k, r;

	for (k = 0; k < 2; k++)
		if ((r = xdev_device_remove(ctx, &ids[k], XDEV_REMOVE_AUTO,
					    NULL, NULL)))
			msg("removing the guest's other %s: %s",
			    k ? "NIC" : "disk", xdev_strerror(r));
}

static int cmd_latency(int argc, char **argv)
{
	const char *script = TRIVIAL, *type = "vbd";
	int count = 50, i, failed = 0;
	char image[300], lockdir[300], be[300];
	double *aw, *ac, *rw, *rc;
	bool block, vif, native, none, beside = false;
	xdev_device_id others[2];
	xdev_ctx *ctx;
	uint32_t g;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--script") && i + 1 < argc)
			script = argv[++i];
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--type") && i + 1 < argc)
			type = argv[++i];
		else if (!strcmp(argv[i], "--beside"))
			beside = true;
	}
	/* native: no script named, the library's own hotplug; native-file:
	 * the same for an image file (as block); none: no hotplug at all
	 * (XDEV_HOTPLUG_NONE: the add ends at InitWait, the removal at Closed
	 * and the nodes deleted), what is left when hotplug costs nothing */
	if (!strcmp(script, "floor-trivial") || !strcmp(script, "floor-native")) {
		if (strcmp(type, "vbd"))
			die("--script %s: --type vbd only", script);
		return latency_floor(!strcmp(script, "floor-trivial"),
				     count < 1 ? 50 : count);
	}
	native = !strncmp(script, "native", 6);
	block = !strcmp(script, "block") || !strcmp(script, "native-file");
	none = !strcmp(script, "none");
	if (!block && !none && strcmp(script, TRIVIAL) &&
	    strcmp(script, "native"))
		die("--script: trivial, block, native, native-file or none, "
		    "not '%s'", script);
	vif = !strcmp(type, "vif");
	if (vif && block)
		die("--type vif: --script trivial, native or none");
	if (beside && block)
		die("--beside: --script trivial, native or none");
	if (count < 1)
		count = 50;
	aw = calloc(4 * count, sizeof(double));
	ac = aw + count;
	rw = ac + count;
	rc = rw + count;
	host_start(NULL);
	g = domain("guest", SIMHOST_DOM_GUEST);
	if (block) {
		snprintf(lockdir, sizeof(lockdir), "%s/hotplug-lock", host.dir);
		setenv("XDEV_HOTPLUG_LOCK_DIR", lockdir, 1);
		snprintf(image, sizeof(image), "%s/file.img", host.dir);
		make_image(image, 2 << 20);
	} else if (!vif) {
		loop_attach();
	} else if (native) {
		/* the vif joins a bridge in the host's network namespace (its
		 * taps are there); both die with the namespace */
		if (simhost_setenv(&host, 0, 1) ||
		    system("ip link add xenbr0 type bridge && "
			   "ip link set xenbr0 up"))
			die("cannot make bridge xenbr0 in the host's namespace");
	}
	ctx = ctx_open(none ? XDEV_HOTPLUG_NONE : XDEV_HOTPLUG_LIBRARY,
		       block ? "hotplug" : NULL, 0);
	if (beside && vif)
		loop_attach(); /* the other disk's */
	if (beside)
		others_add(ctx, g, none, others);
	/* one warm-up cycle, not counted */
	for (i = -1; i < count; i++) {
		const char *named = native || none ? NULL : script;
		xdev_desc *d = vif ? desc_vif(named)
			: desc_vbd("xvda", block ? image : loopdev, named, NULL);
		xdev_device_id id;
		double t0, c0, t1, c1;
		int r;

		t0 = now();
		c0 = cpu_self();
		r = vif ? xdev_vif_add(ctx, g, d, 0, NULL, &id, NULL)
			: xdev_vbd_add(ctx, g, d, 0, NULL, &id, NULL);
		t1 = now();
		c1 = cpu_self();
		xdev_desc_free(d);
		if (r) {
			msg("add: %s: %s", xdev_strerror(r),
			    xdev_ctx_last_message(ctx));
			failed++;
			continue;
		}
		if (i >= 0) {
			aw[i] = (t1 - t0) * 1000;
			ac[i] = (c1 - c0) * 1000;
		}
		be_dir(&id, be, sizeof(be));
		if (none) /* outside the timing: what hotplug would write */
			hotplug_by_hand(be, vif);
		settle(ctx, be, XB_CONNECTED, 5000);
		t0 = now();
		c0 = cpu_self();
		r = xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL, NULL);
		t1 = now();
		c1 = cpu_self();
		if (r) {
			msg("remove: %s", xdev_strerror(r));
			failed++;
		}
		if (i >= 0) {
			rw[i] = (t1 - t0) * 1000;
			rc[i] = (c1 - c0) * 1000;
		}
		if (vif)
			vif_settle(g, id.devid, 5000);
	}
	if (beside)
		others_remove(ctx, others);
	xdev_ctx_free(ctx);
	printf("{\n  \"script\": \"%s\", \"type\": \"%s\", \"beside\": %s, "
	       "\"failed\": %d,\n", script, type, beside ? "true" : "false",
	       failed);
	if (block) {
		int left = loops_backing(image, true);

		printf("  \"loops_left\": %d,\n", left);
		unsetenv("XDEV_HOTPLUG_LOCK_DIR");
	}
	print_stats("add", aw, ac, count, false);
	print_stats("remove", rw, rc, count, true);
	printf("}\n");
	host_stop();
	free(aw);
	return 0;
}

/* ---- scaling and the floor ---------------------------------------------- */

/* Wait until every backend of IDS reads WANT (0: gone), running CTX (if
 * any); at most MS.  Returns how many did not. */
static int settle_all(xdev_ctx *ctx, const xdev_device_id *ids, int n,
		      const bool *skip, int want, int ms)
{
	double end = now() + ms / 1000.0;
	char be[300];
	int i = 0;

	while (i < n && now() < end) {
		if (skip && skip[i]) {
			i++;
			continue;
		}
		be_dir(&ids[i], be, sizeof(be));
		if (read_state(be) == want) {
			i++;
			continue;
		}
		if (ctx)
			xdev_ctx_run(ctx, 20);
		else
			usleep(20000);
	}
	return n - i;
}

static void vdev_name(int i, char *buf, size_t n)
{
	snprintf(buf, n, "xvd%c", 'a' + i % 10);
}

struct phase {
	double wall, first, p50, p99, max, cpu_lib, cpu_daemon, cpu_host;
	long faults_lib;
	int failed;
	char errors[256];   /* "Connection timed out: 3, ..." */
};

static void tally(char *buf, size_t len, const char *what)
{
	char *p = strstr(buf, what);
	size_t k = strlen(what);

	if (p && p[k] == ':') {
		int c = atoi(p + k + 2) + 1;
		char rest[256];
		char *e = strchr(p + k + 2, ';');

		snprintf(rest, sizeof(rest), "%s", e ? e : "");
		snprintf(p, len - (p - buf), "%s: %d%s", what, c, rest);
		return;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), "%s%s: 1",
		 buf[0] ? "; " : "", what);
}

static void phase_stats(struct res *res, int n, double t0, double cpu0,
			double dcpu0, double hcpu0, long f0, int dpid,
			struct phase *ph)
{
	double *lat = calloc(n, sizeof(double)), last = t0;
	int i;

	ph->failed = 0;
	ph->errors[0] = 0;
	for (i = 0; i < n; i++) {
		lat[i] = res[i].t_done - res[i].t_issue;
		if (res[i].t_done > last)
			last = res[i].t_done;
		if (res[i].r) {
			ph->failed++;
			tally(ph->errors, sizeof(ph->errors),
			      xdev_strerror(res[i].r));
		}
	}
	ph->wall = last - t0;
	ph->first = n ? lat[0] : 0; /* the first issued (pct() sorts) */
	ph->cpu_lib = cpu_self() - cpu0;
	ph->cpu_daemon = cpu_of(dpid) - dcpu0;
	ph->cpu_host = host_busy() - hcpu0;
	ph->faults_lib = faults_self() - f0;
	ph->p50 = pct(lat, n, 0.5);
	ph->p99 = pct(lat, n, 0.99);
	ph->max = pct(lat, n, 1);
	free(lat);
}

static void print_phase(const char *name, const struct phase *p,
			const struct counts *c, int n)
{
	printf("  \"%s\": {\"wall_s\": %.3f, \"latency_first_s\": %.3f, "
	       "\"latency_p50_s\": %.3f, "
	       "\"latency_p99_s\": %.3f, \"latency_max_s\": %.3f, "
	       "\"failed\": %d, \"errors\": \"%s\", \"lib_cpu_s\": %.3f, "
	       "\"xenstored_cpu_s\": %.3f, \"host_cpu_s\": %.3f, "
	       "\"lib_page_faults\": %ld", name, p->wall, p->first, p->p50,
	       p->p99, p->max, p->failed, p->errors, p->cpu_lib, p->cpu_daemon,
	       p->cpu_host, p->faults_lib);
	if (c) {
		int k;

		printf(", \"requests_per_device\": %.1f, \"eagain\": %u, "
		       "\"all_requests_per_device\": %.1f, "
		       "\"requests_per_device_by_client\": {",
		       (double)c->total / n, c->eagain, (double)c->all / n);
		for (k = 0; k < CLIENTS; k++)
			printf("%s\"%s\": %.1f", k ? ", " : "", client_name[k],
			       (double)c->by_client[k] / n);
		printf("}");
	}
	printf("},\n");
}

static int cmd_scale(int argc, char **argv)
{
	int n = 100, i, left, dpid, n_rm;
	bool *failed_add;
	bool trace_on = false, do_floor = true, native = false;
	enum xdev_hotplug_mode mode = XDEV_HOTPLUG_LIBRARY;
	char trace[300], name[32], vdev[16];
	struct phase add, rm;
	struct floor_result fadd, frm;
	double fadd_cpu_daemon = 0, fadd_cpu_host = 0, frm_cpu_daemon = 0,
	       frm_cpu_host = 0;
	struct res *res;
	xdev_device_id *ids;
	uint32_t *doms;
	xdev_op_how how = { .cb = on_done };
	double t0, c0, d0, h0, tdom;
	long f0;
	long peak_kb;
	struct rlimit rl;
	struct trace t;
	xdev_ctx *ctx;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--trace"))
			trace_on = true;
		else if (!strcmp(argv[i], "--no-floor"))
			do_floor = false;
		else if (!strcmp(argv[i], "--hotplug") && i + 1 < argc)
			mode = !strcmp(argv[++i], "none") ? XDEV_HOTPLUG_NONE
				: XDEV_HOTPLUG_LIBRARY;
		else if (!strcmp(argv[i], "--native"))
			native = true; /* no script named: native hotplug */
	}
	if (n < 10)
		n = 10;
	/* an application running N scripts at once needs the fds: 2 per
	 * script, held by the library */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	res = calloc(n, sizeof(*res));
	ids = calloc(n, sizeof(*ids));
	failed_add = calloc(n, sizeof(*failed_add));
	doms = calloc(n / 10, sizeof(*doms));
	if (trace_on) {
		tmpdir_make();
		snprintf(trace, sizeof(trace), "%s/trace", tmpdir);
	}
	host_start(trace_on ? trace : NULL);
	loop_attach();
	dpid = daemon_pid();
	t0 = now();
	for (i = 0; i < n / 10; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		doms[i] = domain(name, SIMHOST_DOM_GUEST);
	}
	tdom = now() - t0;
	msg("N=%d: %d guests in %.1f s", n, n / 10, tdom);
	ctx = ctx_open(mode, NULL, 0);

	/* the storm of adds: all issued, then the loop runs */
	marker("add");
	n_done = 0;
	t0 = now();
	c0 = cpu_self();
	d0 = cpu_of(dpid);
	h0 = host_busy();
	f0 = faults_self();
	for (i = 0; i < n; i++) {
		xdev_desc *d;
		int r;

		vdev_name(i, vdev, sizeof(vdev));
		d = desc_vbd(vdev, loopdev, native ? NULL : TRIVIAL, NULL);
		how.user = &res[i];
		res[i].t_issue = now();
		r = xdev_vbd_add(ctx, doms[i / 10], d, 0, &how, &ids[i], NULL);
		xdev_desc_free(d);
		if (r)
			die("add %d: %s", i, xdev_strerror(r));
	}
	while (n_done < (unsigned)n && now() - t0 < 900)
		xdev_ctx_run(ctx, 1000);
	if (n_done < (unsigned)n)
		die("adds not done after 900 s");
	phase_stats(res, n, t0, c0, d0, h0, f0, dpid, &add);
	msg("N=%d: added in %.2f s (%d failed%s%s)", n, add.wall, add.failed,
	    add.failed ? ": " : "", add.errors);
	for (i = 0; i < n; i++)
		failed_add[i] = res[i].r != 0;

	/* everything Connected (or given up on) before the removals */
	marker("add-settle");
	left = settle_all(ctx, ids, n, failed_add, mode == XDEV_HOTPLUG_NONE
			  ? XB_INITWAIT : XB_CONNECTED, 120000);
	if (left)
		msg("N=%d: %d devices not settled", n, left);
	run_for(ctx, 300);

	marker("remove");
	memset(res, 0, n * sizeof(*res));
	n_done = 0;
	forced = 0;
	t0 = now();
	c0 = cpu_self();
	d0 = cpu_of(dpid);
	h0 = host_busy();
	f0 = faults_self();
	for (i = 0, n_rm = 0; i < n; i++) {
		int r;

		if (failed_add[i])
			continue;
		how.user = &res[n_rm];
		res[n_rm++].t_issue = now();
		r = xdev_device_remove(ctx, &ids[i], XDEV_REMOVE_AUTO, &how,
				       NULL);
		if (r)
			die("remove %d: %s", i, xdev_strerror(r));
	}
	while (n_done < (unsigned)n_rm && now() - t0 < 900)
		xdev_ctx_run(ctx, 1000);
	if (n_done < (unsigned)n_rm)
		die("removes not done after 900 s");
	phase_stats(res, n_rm, t0, c0, d0, h0, f0, dpid, &rm);
	msg("N=%d: removed in %.2f s (%d failed, %u forced)", n, rm.wall,
	    rm.failed, forced);
	marker("remove-done");
	xdev_ctx_free(ctx);
	peak_kb = peak_rss_kb();

	memset(&fadd, 0, sizeof(fadd));
	memset(&frm, 0, sizeof(frm));
	if (do_floor) {
		char script[400];
		struct floor_client *fc;

		snprintf(script, sizeof(script), "%s/tests/bench/hotplug/%s",
			 srcdir, TRIVIAL);
		fc = floor_new(n, loopdev, script, TRIVIAL);
		for (i = 0; i < n; i++) {
			vdev_name(i, vdev, sizeof(vdev));
			floor_set(fc, i, ids[i].frontend_domid, ids[i].devid,
				  vdev);
		}
		/* the drivers must have finished with the removed devices */
		settle_all(NULL, ids, n, NULL, 0, 60000);
		usleep(300000);
		marker("floor-add");
		d0 = cpu_of(dpid);
		h0 = host_busy();
		floor_add(fc, &fadd);
		fadd_cpu_daemon = cpu_of(dpid) - d0;
		fadd_cpu_host = host_busy() - h0;
		marker("floor-add-done");
		/* as after the library's adds: Connected before the removals */
		left = settle_all(NULL, ids, n, NULL, XB_CONNECTED, 120000);
		if (left)
			msg("N=%d: floor: %d devices not settled", n, left);
		usleep(300000);
		marker("floor-remove");
		d0 = cpu_of(dpid);
		h0 = host_busy();
		floor_remove(fc, &frm);
		frm_cpu_daemon = cpu_of(dpid) - d0;
		frm_cpu_host = host_busy() - h0;
		marker("floor-remove-done");
		settle_all(NULL, ids, n, NULL, 0, 60000);
		floor_free(fc);
		msg("N=%d: floor %.2f s + %.2f s (%d + %d failed)", n,
		    fadd.wall_s, frm.wall_s, fadd.failed, frm.failed);
	}
	marker("end");
	host_stop();

	printf("{\n  \"n\": %d, \"domains\": %d, \"hotplug\": \"%s\", "
	       "\"domain_create_s\": %.2f,\n", n, n / 10,
	       mode == XDEV_HOTPLUG_NONE ? "none" : "library", tdom);
	if (trace_on) {
		struct trace ft = { 0 };

		trace_parse(trace, LIB_TAG, &t);
		if (do_floor)
			trace_parse(trace, FLOOR_TAG, &ft);
		tmpdir_remove();
		print_phase("add", &add, seg_find(&t, "add"), n);
		print_phase("remove", &rm, seg_find(&t, "remove"), n);
		printf("  \"watches\": %d, \"watches_all_clients\": %d, "
		       "\"eagain\": %u,\n", t.lib_watches_peak,
		       t.all_watches_peak,
		       seg_find(&t, "add")->eagain +
		       seg_find(&t, "remove")->eagain);
		if (do_floor) {
			struct counts *fa = seg_find(&ft, "floor-add"),
				      *fr = seg_find(&ft, "floor-remove");
			int k;

			if (!fa || !fr || !ft.lib)
				die("the floor's segments are not in the "
				    "trace");
			printf("  \"floor_requests_per_device\": %.1f, "
			       "\"floor_all_requests_per_device\": %.1f, "
			       "\"floor_eagain\": %u,\n  "
			       "\"floor_requests_per_device_by_client\": {",
			       (double)(fa->total + fr->total) / n,
			       (double)(fa->all + fr->all) / n,
			       fa->eagain + fr->eagain);
			/* "library": the floor client's own connection */
			for (k = 0; k < CLIENTS; k++)
				printf("%s\"%s\": %.1f", k ? ", " : "",
				       k == CL_LIBRARY ? "floor"
						       : client_name[k],
				       (double)(fa->by_client[k] +
						fr->by_client[k]) / n);
			printf("},\n");
			free(ft.seg);
		}
		free(t.seg);
	} else {
		print_phase("add", &add, NULL, n);
		print_phase("remove", &rm, NULL, n);
	}
	printf("  \"wall_s\": %.3f, \"forced\": %u, \"peak_rss_kb\": %ld,\n",
	       add.wall + rm.wall, forced, peak_kb);
	printf("  \"floor\": {\"add_s\": %.3f, \"remove_s\": %.3f, "
	       "\"wall_s\": %.3f, \"add_reaped_s\": %.3f, "
	       "\"add_p50_s\": %.3f, \"remove_p50_s\": %.3f, "
	       "\"xenstored_cpu_s\": %.3f, \"host_cpu_s\": %.3f, "
	       "\"retries\": %d, \"failed\": %d}\n}\n",
	       fadd.wall_s, frm.wall_s, fadd.wall_s + frm.wall_s,
	       fadd.reaped_s, fadd.p50_s, frm.p50_s,
	       fadd_cpu_daemon + frm_cpu_daemon, fadd_cpu_host + frm_cpu_host,
	       fadd.retries + frm.retries, fadd.failed + frm.failed);
	free(res);
	free(ids);
	free(failed_add);
	free(doms);
	return 0;
}

/* ---- the open loop ------------------------------------------------------ */

/* One open-loop phase: the K-th of the devices not in SKIP is added (ADD)
 * or removed at P->t0 + K / P->rate, whether or not the earlier ones have
 * completed; between issues the library's loop runs until the next one is
 * due (xdev_ctx_run with the milliseconds left, the last one slept); then
 * it runs until every operation has called back. */
static void openloop_phase(xdev_ctx *ctx, bool add, const uint32_t *doms,
			   int n, xdev_device_id *ids, const bool *skip,
			   struct res *res, struct open_phase *p)
{
	xdev_op_how how = { .cb = on_done };
	char vdev[16];
	int i, k;

	memset(res, 0, n * sizeof(*res));
	n_done = 0;
	p->n = 0;
	p->failed = 0;
	p->errors[0] = 0;
	p->lag_max = 0;
	p->t0 = now();
	for (i = 0, k = 0; i < n; i++) {
		double due = p->t0 + k / p->rate, left;
		int r;

		if (skip && skip[i])
			continue;
		while ((left = due - now()) >= 0.001)
			xdev_ctx_run(ctx, (int)(left * 1000));
		sleep_until(due);
		p->issued_last = now();
		if (p->issued_last - due > p->lag_max)
			p->lag_max = p->issued_last - due;
		how.user = &res[k];
		res[k].t_issue = due;
		if (add) {
			xdev_desc *d;

			vdev_name(i, vdev, sizeof(vdev));
			d = desc_vbd(vdev, loopdev, TRIVIAL, NULL);
			r = xdev_vbd_add(ctx, doms[i / 10], d, 0, &how, &ids[i],
					 NULL);
			xdev_desc_free(d);
		} else {
			r = xdev_device_remove(ctx, &ids[i], XDEV_REMOVE_AUTO,
					       &how, NULL);
		}
		if (r)
			die("%s %d: %s", add ? "add" : "remove", i,
			    xdev_strerror(r));
		k++;
	}
	p->n = k;
	while (n_done < (unsigned)k && now() - p->t0 < 900)
		xdev_ctx_run(ctx, 1000);
	if (n_done < (unsigned)k)
		die("%s: not done after 900 s", add ? "adds" : "removes");
	p->done_last = p->t0;
	for (i = 0; i < k; i++) {
		p->lat[i] = res[i].t_done - res[i].t_issue;
		if (res[i].t_done > p->done_last)
			p->done_last = res[i].t_done;
		if (res[i].r) {
			p->failed++;
			tally(p->errors, sizeof(p->errors),
			      xdev_strerror(res[i].r));
		}
	}
}

/* N vbd adds over N/10 guests arriving at RATE per second (as scale's
 * storm, but spread out), then, once all are Connected, the N removals at
 * the same rate. */
static int cmd_openloop(int argc, char **argv)
{
	int n = 100, i, left;
	double rate = 0, t0, tdom;
	bool *failed_add;
	char name[32];
	struct open_phase add = { 0 }, rm = { 0 };
	struct res *res;
	xdev_device_id *ids;
	uint32_t *doms;
	struct rlimit rl;
	xdev_ctx *ctx;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = atof(argv[++i]);
	}
	if (!(rate > 0))
		die("openloop: --rate R (operations per second) needed");
	if (n < 10)
		n = 10;
	n -= n % 10;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	res = calloc(n, sizeof(*res));
	ids = calloc(n, sizeof(*ids));
	failed_add = calloc(n, sizeof(*failed_add));
	doms = calloc(n / 10, sizeof(*doms));
	add.lat = calloc(n, sizeof(double));
	rm.lat = calloc(n, sizeof(double));
	add.rate = rm.rate = rate;
	host_start(NULL);
	loop_attach();
	t0 = now();
	for (i = 0; i < n / 10; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		doms[i] = domain(name, SIMHOST_DOM_GUEST);
	}
	tdom = now() - t0;
	msg("N=%d: %d guests in %.1f s", n, n / 10, tdom);
	ctx = ctx_open(XDEV_HOTPLUG_LIBRARY, NULL, 0);

	openloop_phase(ctx, true, doms, n, ids, NULL, res, &add);
	for (i = 0; i < n; i++)
		failed_add[i] = res[i].r != 0;
	msg("N=%d at %.1f/s: added in %.2f s (%d failed)", n, rate,
	    add.done_last - add.t0, add.failed);
	left = settle_all(ctx, ids, n, failed_add, XB_CONNECTED, 120000);
	if (left)
		msg("N=%d: %d devices not settled", n, left);
	run_for(ctx, 300);
	openloop_phase(ctx, false, doms, n, ids, failed_add, res, &rm);
	msg("N=%d at %.1f/s: removed in %.2f s (%d failed, %u forced)", n,
	    rate, rm.done_last - rm.t0, rm.failed, forced);
	xdev_ctx_free(ctx);
	host_stop();

	printf("{\n  \"n\": %d, \"domains\": %d, \"rate\": %.3f, "
	       "\"domain_create_s\": %.2f,\n", n, n / 10, rate, tdom);
	print_open_phase("add", &add, false);
	print_open_phase("remove", &rm, false);
	printf("  \"wall_s\": %.3f, \"forced\": %u\n}\n",
	       (add.done_last - add.t0) + (rm.done_last - rm.t0), forced);
	free(add.lat);
	free(rm.lat);
	free(res);
	free(ids);
	free(failed_add);
	free(doms);
	return 0;
}

/* ---- failure paths ------------------------------------------------------ */

static int cmd_failure(int argc, char **argv)
{
	int count = 10, i, k;
	double *death, *death_call, *runs;
	xdev_op_how how = { .cb = on_done };
	const enum xdev_remove_mode modes[3] = { XDEV_REMOVE_SAFE,
						 XDEV_REMOVE_AUTO,
						 XDEV_REMOVE_FORCE };
	const char *mode_names[3] = { "safe", "auto", "force" };
	struct res mres[3];
	xdev_device_id mids[3];
	char be[300];
	xdev_ctx *ctx;
	uint32_t g;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atoi(argv[++i]);
	if (count < 1)
		count = 10;
	death = calloc(3 * count, sizeof(double));
	death_call = death + count;
	runs = death_call + count;
	host_start(NULL);
	loop_attach();
	g = domain("guest", SIMHOST_DOM_GUEST);

	/* 1. the backend domain dies while a removal waits for Closed (the
	 * frontend does not answer, so the removal would wait its timeout) */
	ctx = ctx_open(XDEV_HOTPLUG_NONE, NULL, 0);
	for (i = 0; i < count; i++) {
		char name[32], bs[16];
		struct res res = { 0 };
		xdev_device_id id;
		xdev_desc *d;
		int p[2], r;
		uint32_t b;
		double t_destroy[2] = { 0, 0 };
		pid_t pid;

		snprintf(name, sizeof(name), "dd%d", i);
		b = domain(name, SIMHOST_DOM_DRIVER);
		snprintf(bs, sizeof(bs), "%u", b);
		d = desc_vbd("xvda", loopdev, NULL, bs);
		r = xdev_vbd_add(ctx, g, d, 0, NULL, &id, NULL);
		xdev_desc_free(d);
		if (r)
			die("add on driver domain: %s", xdev_strerror(r));
		if (simhost_fault_set(&host, g, "*", "frontend-unresponsive"))
			die("fault: %s", host.err);
		how.user = &res;
		n_done = 0;
		if ((r = xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, &how,
					    NULL)))
			die("remove: %s", xdev_strerror(r));
		run_for(ctx, 100);
		if (res.done)
			die("the removal ended before the backend died");
		if (pipe2(p, O_CLOEXEC))
			die("pipe: %s", strerror(errno));
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			/* the destroyer, and a watcher of the registry that
			 * notes when the domain is marked dying */
			double t[2] = { now(), 0 };
			struct fakexen_dominfo di;
			pid_t d = fork();

			if (d == 0)
				_exit(simhost_domain_destroy(&host, b, 0) ? 1
									   : 0);
			while (!t[1] && now() - t[0] < 10) {
				if (fakexen_domain_get(b, &di) ||
				    (di.flags & FAKEXEN_DOM_DYING))
					t[1] = now();
				else
					usleep(100);
			}
			if (write(p[1], t, sizeof(t)) != sizeof(t))
				_exit(2);
			_exit(waitpid(d, &r, 0) == d && WIFEXITED(r)
			      ? WEXITSTATUS(r) : 3);
		}
		close(p[1]);
		if (read(p[0], t_destroy, sizeof(t_destroy)) !=
		    sizeof(t_destroy))
			die("destroy child");
		close(p[0]);
		while (!res.done && now() - t_destroy[0] < 30)
			xdev_ctx_run(ctx, 100);
		death[i] = (res.t_done - t_destroy[1]) * 1000;
		death_call[i] = (res.t_done - t_destroy[0]) * 1000;
		waitpid(pid, &r, 0);
		if (!res.done || res.r)
			msg("removal after the backend's death: %s",
			    res.done ? xdev_strerror(res.r) : "not done");
		if (simhost_fault_clear(&host, g))
			die("fault: %s", host.err);
	}
	xdev_ctx_free(ctx);

	/* 2. an unresponsive backend, default timeouts, the three modes at
	 * once on three devices of one guest */
	ctx = ctx_open(XDEV_HOTPLUG_LIBRARY, NULL, 0);
	for (k = 0; k < 3; k++) {
		char vdev[8];
		xdev_desc *d;
		int r;

		snprintf(vdev, sizeof(vdev), "xvd%c", 'b' + k);
		d = desc_vbd(vdev, loopdev, TRIVIAL, NULL);
		r = xdev_vbd_add(ctx, g, d, 0, NULL, &mids[k], NULL);
		xdev_desc_free(d);
		if (r)
			die("add: %s", xdev_strerror(r));
		be_dir(&mids[k], be, sizeof(be));
		settle(ctx, be, XB_CONNECTED, 5000);
	}
	if (simhost_fault_set(&host, 0, "*", "backend-unresponsive"))
		die("fault: %s", host.err);
	memset(mres, 0, sizeof(mres));
	n_done = 0;
	for (k = 0; k < 3; k++) {
		int r;

		how.user = &mres[k];
		mres[k].t_issue = now();
		if ((r = xdev_device_remove(ctx, &mids[k], modes[k], &how,
					    NULL)))
			die("remove: %s", xdev_strerror(r));
	}
	while (n_done < 3 && now() - mres[0].t_issue < 120)
		xdev_ctx_run(ctx, 1000);
	if (simhost_fault_clear(&host, 0))
		die("fault: %s", host.err);
	/* SAFE restored its device: remove it for good */
	if (mres[0].done && mres[0].r) {
		int r = xdev_device_remove(ctx, &mids[0], XDEV_REMOVE_AUTO,
					   NULL, NULL);

		if (r)
			msg("cleanup removal: %s", xdev_strerror(r));
	}
	xdev_ctx_free(ctx);
	host_stop();

	memcpy(runs, death, count * sizeof(double));
	printf("{\n  \"backend_death_to_done_ms\": {\"n\": %d, \"p50\": %.1f, "
	       "\"max\": %.1f, \"from_destroy_call_p50\": %.1f, "
	       "\"from_destroy_call_max\": %.1f, \"runs\": [", count,
	       pct(death, count, 0.5), pct(death, count, 1),
	       pct(death_call, count, 0.5), pct(death_call, count, 1));
	for (i = 0; i < count; i++)
		printf("%s%.1f", i ? ", " : "", runs[i]);
	printf("]},\n  \"unresponsive_backend\": {");
	for (k = 0; k < 3; k++)
		printf("%s\"%s\": {\"s\": %.2f, \"result\": \"%s\"}",
		       k ? ", " : "", mode_names[k],
		       mres[k].done ? mres[k].t_done - mres[k].t_issue : -1,
		       mres[k].done ? xdev_strerror(mres[k].r) : "not done");
	printf("}\n}\n");
	free(death);
	return 0;
}

/* ---- callgrind ------------------------------------------------------------ */

/* Under valgrind: CYCLES x (vbd add, remove), then CYCLES x (vif add,
 * remove), each op synchronous; callgrind dumps after each. */
static int cmd_callgrind_child(int argc, char **argv)
{
	int cycles = 3, i, k;
	uint32_t g = 0;
	const char *target = NULL;
	char be[300];
	xdev_ctx *ctx;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--guest") && i + 1 < argc)
			g = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--target") && i + 1 < argc)
			target = argv[++i];
		else if (!strcmp(argv[i], "--cycles") && i + 1 < argc)
			cycles = atoi(argv[++i]);
	}
	if (!g || !target)
		die("callgrind-child: --guest and --target needed");
	bxs = xs_open(0);
	if (!bxs)
		die("xs_open: %s", strerror(errno));
	ctx = ctx_open(XDEV_HOTPLUG_LIBRARY, NULL, 0);
	for (k = 0; k < 2; k++)
		for (i = 0; i < cycles; i++) {
			xdev_desc *d = k ? desc_vif(TRIVIAL)
				: desc_vbd("xvda", target, TRIVIAL, NULL);
			xdev_device_id id;
			int r;

			/* collected: exactly the call (the client requests
			 * cost a handful of instructions) */
			CALLGRIND_ZERO_STATS;
			CALLGRIND_TOGGLE_COLLECT;
			r = k ? xdev_vif_add(ctx, g, d, 0, NULL, &id, NULL)
			      : xdev_vbd_add(ctx, g, d, 0, NULL, &id, NULL);
			CALLGRIND_TOGGLE_COLLECT;
			CALLGRIND_DUMP_STATS;
			xdev_desc_free(d);
			if (r)
				die("add: %s", xdev_strerror(r));
			be_dir(&id, be, sizeof(be));
			settle(ctx, be, XB_CONNECTED, 20000);
			run_for(ctx, 200);
			CALLGRIND_ZERO_STATS;
			CALLGRIND_TOGGLE_COLLECT;
			r = xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					       NULL);
			CALLGRIND_TOGGLE_COLLECT;
			CALLGRIND_DUMP_STATS;
			if (r)
				die("remove: %s", xdev_strerror(r));
			run_for(ctx, 200);
		}
	xdev_ctx_free(ctx);
	xs_close(bxs);
	return 0;
}

/* The instruction count of callgrind dump FILE ("totals:" or
 * "summary:"), or -1. */
static double cg_total(const char *file)
{
	FILE *f = fopen(file, "re");
	char line[512];
	double v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "totals:", 7))
			v = atof(line + 7);
		else if (v < 0 && !strncmp(line, "summary:", 8))
			v = atof(line + 8);
	fclose(f);
	return v;
}

static int cmd_callgrind(int argc, char **argv)
{
	const char *valgrind = "valgrind";
	int cycles = 3, i, k, st;
	char gs[16], cs[16], out[300], file[340];
	double v[2][2][8];
	pid_t pid;
	uint32_t g;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--valgrind") && i + 1 < argc)
			valgrind = argv[++i];
		else if (!strcmp(argv[i], "--cycles") && i + 1 < argc)
			cycles = atoi(argv[++i]);
	}
	if (cycles < 1 || cycles > 8)
		cycles = 3;
#ifndef HAVE_CALLGRIND
	die("built without valgrind/callgrind.h");
#endif
	tmpdir_make();
	/* the host outside valgrind: only the library's process runs under
	 * it */
	host_start(NULL);
	loop_attach();
	g = domain("guest", SIMHOST_DOM_GUEST);
	snprintf(gs, sizeof(gs), "%u", g);
	snprintf(cs, sizeof(cs), "%d", cycles);
	snprintf(out, sizeof(out), "--callgrind-out-file=%s/cg.%%p", tmpdir);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char *args[] = {
			(char *)valgrind, "--tool=callgrind", "-q", out,
			"--collect-atstart=no", "/proc/self/exe",
			"callgrind-child", "--guest", gs, "--target", loopdev,
			"--cycles", cs, NULL };
		char exe[300];
		ssize_t m = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (m > 0) {
			exe[m] = 0;
			args[5] = exe;
		}
		dup2(2, 1); /* its stdout is not our JSON */
		execvp(valgrind, args);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("the callgrind run failed (status %d)", st);
	host_stop();
	/* dumps 1..4*cycles: add, remove, add, remove ... (vbd, then vif) */
	for (k = 0; k < 2; k++)
		for (i = 0; i < cycles; i++) {
			int n = 1 + 2 * (k * cycles + i);

			snprintf(file, sizeof(file), "%s/cg.%d.%d", tmpdir,
				 (int)pid, n);
			v[k][0][i] = cg_total(file);
			snprintf(file, sizeof(file), "%s/cg.%d.%d", tmpdir,
				 (int)pid, n + 1);
			v[k][1][i] = cg_total(file);
			if (v[k][0][i] < 0 || v[k][1][i] < 0)
				die("callgrind dump %d missing", n);
		}
	tmpdir_remove();
	printf("{\n");
	for (k = 0; k < 2; k++) {
		const char *t = k ? "vif" : "vbd";
		double first_a = v[k][0][0], first_r = v[k][1][0];

		printf("  \"%s_add\": %.0f, \"%s_remove\": %.0f, "
		       "\"%s_add_first\": %.0f, \"%s_remove_first\": %.0f%s\n",
		       t, pct(v[k][0], cycles, 0.5), t,
		       pct(v[k][1], cycles, 0.5), t, first_a, t, first_r,
		       k ? "" : ",");
	}
	printf("}\n");
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: xdev-bench [--srcdir DIR] [--watched] COMMAND [OPTIONS]\n"
		"  --watched: every script under a watcher process (a SIGCHLD\n"
		"             handler installed), not the library's own child\n"
		"  requests [--cycles N] [--native]\n"
		"  latency [--script trivial|block|native|native-file|none|\n"
		"                    floor-trivial|floor-native]\n"
		"          [--type vbd|vif] [--count N] [--beside]\n"
		"  scale --n N [--hotplug library|none] [--native] [--trace]\n"
		"        [--no-floor]\n"
		"  openloop --rate R [--n N]\n"
		"  failure [--count N]\n"
		"  callgrind [--valgrind PATH] [--cycles N]\n");
}

int main(int argc, char **argv)
{
	static const struct bench_cmd cmds[] = {
		{ "requests", cmd_requests },
		{ "latency", cmd_latency },
		{ "scale", cmd_scale },
		{ "openloop", cmd_openloop },
		{ "failure", cmd_failure },
		{ "callgrind", cmd_callgrind },
		{ "callgrind-child", cmd_callgrind_child },
		{ NULL, NULL },
	};

	bench_name = "xdev-bench";
	return bench_main(argc, argv, cmds, usage);
}
