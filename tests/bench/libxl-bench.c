/*
 * libxl-bench: xdev-bench's workloads driven through Debian's libxl 4.17
 * (libxenlight) on the same simulated host, for the side-by-side figures
 * of docs/performance.md.  Each subcommand starts its own host, measures
 * one thing and prints one JSON object on stdout, in xdev-bench's shape;
 * tests/bench/run-bench.py runs both programs in the same run.
 *
 *   requests [--cycles N]     libxl's xenstore requests per operation
 *   latency [--type vbd|vif] [--count N] [--beside]
 *                             sequential synchronous adds and removes;
 *                             --beside: the guest keeps another disk and
 *                             NIC
 *   scale --n N [--trace]     N vbds over N/10 guests, all at once
 *   openloop --rate R [--n N] the same vbds arriving R per second
 *
 * libxl runs unmodified: the process runs with libfakexen.so preloaded,
 * which answers the hypervisor queries libxl makes (version, physinfo,
 * the domain list).  What `xl create` would have left for a domain is
 * written here: /libxl/<domid>/type = pv, /libxl/<domid>/dm-version =
 * qemu_xen, and the domain's configuration in libxl's userdata file
 * /var/lib/xen/userdata-d.<domid>.<uuid>.libxl-json (c_info with type pv,
 * name, uuid and run_hotplug_scripts, b_info for pv), which libxl reads
 * and rewrites on every device add.  Those files are removed before the
 * host stops: another host may reuse the domid.
 *
 * What libxl waits for: its add returns after the backend reached
 * InitWait and the hotplug script exited (as xdev's default add); its
 * removal writes Closing, waits for Closed, runs the remove script and
 * deletes the nodes (as xdev's).  The removal uses the device record kept
 * from the add: `xl block-detach` would first look the device up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <xenstore.h>

#include "bench-host.h"

/* The node libxl's connection reads once, before the first marker, so
 * that its connection can be told apart in the trace (libxl_domid_to_name
 * of a domain that does not exist). */
#define TAG_DOMID 30000
#define LIB_TAG "READ", "/local/domain/30000/name"

#define XB_CONNECTED 4
#define DIRS 3
/* libxl's userdata files: userdata-d.<domid>.<uuid>.<key> for data,
 * userdata-l.<domid>.<uuid>.<key> for the lock libxl holds while it
 * rewrites them (it unlinks the lock when it lets go; a bench killed in
 * the middle of an add leaves it). */
#define UD_FMT "/var/lib/xen/userdata-%c.%u.%s"

static libxl_ctx *lctx;
static xentoollog_logger_stdiostream *logger;
/* The bench has children of its own (the host's supervisor): libxl
 * reaps only its own, the scripts. */
static const libxl_childproc_hooks chld_hooks = {
	.chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
};

/* What `xl create` would have made for each guest, removed with the host:
 * the configuration, and the lock file libxl makes beside it. */
#define MAX_GUESTS 1024
struct guest {
	uint32_t domid;
	char uuid[40];
	char json[128];
	char lock[128];
};
static struct guest guests[MAX_GUESTS];
static volatile sig_atomic_t nguests; /* entries complete before counted */
static const char *const xen_dirs[DIRS] = { "/var/lib/xen", "/var/run/xen",
					    "/var/log/xen" };
static bool made_dir[DIRS];

/* ---- libxl's state on the host ------------------------------------------ */

/* Before the host stops (bench_on_stop, also from die()): the userdata
 * files of this host's guests (the configuration, and libxl's lock file
 * if it is left), and the directories this run made. */
static void libxl_state_remove(void)
{
	char pat[200];
	glob_t g;
	size_t k;
	int i;

	for (i = 0; i < nguests; i++) {
		snprintf(pat, sizeof(pat), UD_FMT ".*", '?', guests[i].domid,
			 guests[i].uuid);
		if (glob(pat, 0, NULL, &g))
			continue;
		for (k = 0; k < g.gl_pathc; k++)
			if (unlink(g.gl_pathv[k]))
				msg("%s: %s", g.gl_pathv[k], strerror(errno));
		globfree(&g);
	}
	nguests = 0;
	for (i = DIRS - 1; i >= 0; i--)
		if (made_dir[i] && rmdir(xen_dirs[i]) == 0)
			made_dir[i] = false;
}

/* Interrupted (make bench stopped by ^C): the host stops by itself
 * (stop_with_starter); the files go here, with unlink() and rmdir() alone
 * (async-signal-safe), then the signal does what it would have done. */
static void on_signal(int sig)
{
	int i;

	for (i = 0; i < nguests; i++) {
		unlink(guests[i].json);
		unlink(guests[i].lock);
	}
	for (i = DIRS - 1; i >= 0; i--)
		if (made_dir[i])
			rmdir(xen_dirs[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void dirs_make(void)
{
	int i;

	for (i = 0; i < DIRS; i++)
		if (mkdir(xen_dirs[i], 0755) == 0)
			made_dir[i] = true;
		else if (errno != EEXIST)
			die("%s: %s", xen_dirs[i], strerror(errno));
}

static void ctx_open(void)
{
	const char *v = getenv("XDEV_BENCH_VERBOSE");
	char *name;

	logger = xtl_createlogger_stdiostream(stderr, v && atoi(v) >= 2
					      ? XTL_DEBUG : XTL_ERROR, 0);
	if (!logger)
		die("xtl_createlogger_stdiostream failed");
	if (libxl_ctx_alloc(&lctx, LIBXL_VERSION, 0,
			    (xentoollog_logger *)logger))
		die("libxl_ctx_alloc failed");
	libxl_childproc_setmode(lctx, &chld_hooks, NULL);
	bench_on_stop = libxl_state_remove;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	dirs_make();
	/* the tag in the trace: see LIB_TAG */
	name = libxl_domid_to_name(lctx, TAG_DOMID);
	free(name);
}

static void ctx_close(void)
{
	libxl_ctx_free(lctx);
	lctx = NULL;
	xtl_logger_destroy((xentoollog_logger *)logger);
	logger = NULL;
}

static void xs_put(const char *path, const char *value)
{
	if (!xs_write(bxs, XBT_NULL, path, value, strlen(value)))
		die("write %s: %s", path, strerror(errno));
}

/* The domain's configuration as libxl itself writes it. */
static void userdata_write(const struct guest *g, const char *name)
{
	libxl_domain_config cfg;
	char *json;
	FILE *f;

	libxl_domain_config_init(&cfg);
	cfg.c_info.type = LIBXL_DOMAIN_TYPE_PV;
	cfg.c_info.name = strdup(name);
	if (libxl_uuid_from_string(&cfg.c_info.uuid, g->uuid))
		die("uuid %s", g->uuid);
	libxl_defbool_set(&cfg.c_info.run_hotplug_scripts, true);
	libxl_domain_build_info_init_type(&cfg.b_info, LIBXL_DOMAIN_TYPE_PV);
	json = libxl_domain_config_to_json(lctx, &cfg);
	libxl_domain_config_dispose(&cfg);
	if (!json)
		die("libxl_domain_config_to_json failed");
	f = fopen(g->json, "we");
	if (!f || fputs(json, f) < 0 || fclose(f))
		die("%s: %s", g->json, strerror(errno));
	free(json);
}

/* A guest with frontend drivers, and what `xl create` leaves for libxl. */
static uint32_t guest(const char *name)
{
	struct guest *g;
	char path[100], *vm;

	if (nguests == MAX_GUESTS)
		die("more than %d guests", MAX_GUESTS);
	g = &guests[nguests];
	g->domid = domain(name, SIMHOST_DOM_GUEST);
	snprintf(path, sizeof(path), "/local/domain/%u/vm", g->domid);
	vm = xs_read(bxs, XBT_NULL, path, NULL);
	if (!vm || strncmp(vm, "/vm/", 4) || strlen(vm + 4) >= sizeof(g->uuid))
		die("%s: %s", path, vm ? vm : strerror(errno));
	snprintf(g->uuid, sizeof(g->uuid), "%s", vm + 4);
	snprintf(g->json, sizeof(g->json), UD_FMT ".libxl-json", 'd', g->domid,
		 vm + 4);
	snprintf(g->lock, sizeof(g->lock), UD_FMT ".domain-userdata-lock",
		 'l', g->domid, vm + 4);
	free(vm);
	nguests++; /* from here on, removed with the host */
	snprintf(path, sizeof(path), "/libxl/%u/type", g->domid);
	xs_put(path, "pv");
	snprintf(path, sizeof(path), "/libxl/%u/dm-version", g->domid);
	xs_put(path, "qemu_xen");
	userdata_write(g, name);
	return g->domid;
}

/* ---- devices ------------------------------------------------------------- */

/* tests/bench/hotplug/trivial, by absolute path (libxl runs a relative
 * one from /etc/xen/scripts). */
static const char *trivial(void)
{
	static char path[300];

	snprintf(path, sizeof(path), "%s/tests/bench/hotplug/trivial", srcdir);
	return path;
}

/* xvd<a+I> on the loop device. */
static void disk_init(libxl_device_disk *d, int i)
{
	char vdev[16];

	libxl_device_disk_init(d);
	snprintf(vdev, sizeof(vdev), "xvd%c", 'a' + i);
	d->vdev = strdup(vdev);
	d->pdev_path = strdup(loopdev);
	d->backend = LIBXL_DISK_BACKEND_PHY;
	d->format = LIBXL_DISK_FORMAT_RAW;
	d->script = strdup(trivial());
	d->readwrite = 1;
}

/* The devid of xvd<a+I>, as libxl and xdev number it: disks 0 to 15 in
 * major 202's minors, the others in the extended scheme. */
static int disk_devid(int i)
{
	return i < 16 ? 202 << 8 | i << 4 : 1 << 28 | i << 8;
}

static void nic_init(libxl_device_nic *n, int devid)
{
	libxl_device_nic_init(n);
	n->devid = devid;
	n->script = strdup(trivial());
}

static void be_path(char *buf, size_t n, const char *type, uint32_t domid,
		    int devid)
{
	snprintf(buf, n, "/local/domain/0/backend/%s/%u/%d", type, domid,
		 devid);
}

static void vbd_add(uint32_t domid, libxl_device_disk *d, const char *what)
{
	int r = libxl_device_disk_add(lctx, domid, d, NULL);

	if (r)
		die("%s: libxl_device_disk_add: %s", what,
		    libxl_error_to_string(r));
}

static void vif_add(uint32_t domid, libxl_device_nic *n, const char *what)
{
	int r = libxl_device_nic_add(lctx, domid, n, NULL);

	if (r)
		die("%s: libxl_device_nic_add: %s", what,
		    libxl_error_to_string(r));
}

/* ---- requests ------------------------------------------------------------ */

/* One add and one removal of KIND (0: vbd, 1: vif) on guest G, synchronous,
 * between markers AN.KIND.{add,add-settle,remove,remove-settle}.I; the
 * settle segments are what happens while the bench waits for Connected
 * (libxl runs nothing then: no loop is running). */
static void requests_cycle(uint32_t g, int an, int kind, int i)
{
	const char *kinds[] = { "vbd", "vif" };
	char label[64], be[200];
	libxl_device_disk d;
	libxl_device_nic n;
	int r;

	snprintf(label, sizeof(label), "%d.%s.add.%d", an, kinds[kind], i);
	marker(label);
	if (kind == 0) {
		disk_init(&d, 0);
		vbd_add(g, &d, "add");
		be_path(be, sizeof(be), "vbd", g, disk_devid(0));
	} else {
		nic_init(&n, 0);
		vif_add(g, &n, "add");
		be_path(be, sizeof(be), "vif", g, 0);
	}
	snprintf(label, sizeof(label), "%d.%s.add-settle.%d", an, kinds[kind],
		 i);
	marker(label);
	if (!wait_state(be, XB_CONNECTED, 5000))
		msg("%s not Connected", be);
	snprintf(label, sizeof(label), "%d.%s.remove.%d", an, kinds[kind], i);
	marker(label);
	r = kind == 0 ? libxl_device_disk_remove(lctx, g, &d, NULL)
		      : libxl_device_nic_remove(lctx, g, &n, NULL);
	if (r)
		die("%s remove: %s", kinds[kind], libxl_error_to_string(r));
	snprintf(label, sizeof(label), "%d.%s.remove-settle.%d", an,
		 kinds[kind], i);
	marker(label);
	if (kind == 0)
		libxl_device_disk_dispose(&d);
	else
		libxl_device_nic_dispose(&n);
}

static void requests_print(struct trace *t, int cycles)
{
	const char *kinds[] = { "vbd", "vif" };
	const char *ph[4] = { "add", "add-settle", "remove", "remove-settle" };
	const char *out[4] = { "add", "add_after", "remove", "remove_after" };
	struct counts *seg[8];
	char label[64], name[64];
	int an, k, p, i;

	printf("{\n");
	for (an = 1; an >= 0; an--) {
		printf("  \"%s\": {\n", an ? "steady" : "alone");
		for (k = 0; k < 2; k++)
			for (p = 0; p < 4; p++) {
				for (i = 0; i < cycles; i++) {
					snprintf(label, sizeof(label),
						 "%d.%s.%s.%d", an, kinds[k],
						 ph[p], i);
					seg[i] = seg_find(t, label);
					if (!seg[i])
						die("marker %s missing", label);
				}
				snprintf(name, sizeof(name), "%s_%s", kinds[k],
					 out[p]);
				print_counts(name, seg, cycles,
					     k == 1 && p == 3);
			}
		printf("  }%s\n", an ? "," : "");
	}
	printf("}\n");
}

/* Requests per operation on libxl's connection, as xdev-bench requests
 * counts xdev's: first each device alone on its guest, then with a vbd and
 * a vif already present (steady). */
static int cmd_requests(int argc, char **argv)
{
	int cycles = 5, an, k, i;
	char trace[300], be[200];
	libxl_device_disk anchor;
	libxl_device_nic anchor_vif;
	struct trace t;
	uint32_t g;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--cycles") && i + 1 < argc)
			cycles = atoi(argv[++i]);
	if (cycles < 1 || cycles > 8)
		cycles = 5;
	tmpdir_make();
	snprintf(trace, sizeof(trace), "%s/trace", tmpdir);
	host_start(trace);
	loop_attach();
	ctx_open();
	g = guest("guest");
	for (an = 0; an < 2; an++) {
		if (an) {
			marker("anchors"); /* not in the last cycle's count */
			disk_init(&anchor, 25); /* xvdz */
			vbd_add(g, &anchor, "anchor");
			be_path(be, sizeof(be), "vbd", g, disk_devid(25));
			wait_state(be, XB_CONNECTED, 5000);
			nic_init(&anchor_vif, 9);
			vif_add(g, &anchor_vif, "anchor");
			be_path(be, sizeof(be), "vif", g, 9);
			wait_state(be, XB_CONNECTED, 5000);
		}
		for (k = 0; k < 2; k++)
			for (i = 0; i < cycles; i++)
				requests_cycle(g, an, k, i);
	}
	marker("end");
	if ((i = libxl_device_disk_remove(lctx, g, &anchor, NULL)))
		msg("anchor remove: %s", libxl_error_to_string(i));
	if ((i = libxl_device_nic_remove(lctx, g, &anchor_vif, NULL)))
		msg("anchor remove: %s", libxl_error_to_string(i));
	libxl_device_disk_dispose(&anchor);
	libxl_device_nic_dispose(&anchor_vif);
	ctx_close();
	host_stop();
	trace_parse(trace, LIB_TAG, &t);
	tmpdir_remove();
	if (!t.lib)
		die("libxl's connection is not in the trace");
	requests_print(&t, cycles);
	free(t.seg);
	return 0;
}

/* ---- latency ------------------------------------------------------------- */

/* One synchronous add (I >= 0: timed into AW/AC) and removal (RW/RC) of a
 * vbd or a vif; the backend Connected in between, outside the timing. */
static int latency_cycle(uint32_t g, bool vif, int i, double *aw, double *ac,
			 double *rw, double *rc)
{
	libxl_device_disk d;
	libxl_device_nic n;
	double t0, c0;
	char be[200];
	int r, failed = 0;

	if (vif)
		nic_init(&n, 0);
	else
		disk_init(&d, 0);
	t0 = now();
	c0 = cpu_self();
	r = vif ? libxl_device_nic_add(lctx, g, &n, NULL)
		: libxl_device_disk_add(lctx, g, &d, NULL);
	if (i >= 0) {
		aw[i] = (now() - t0) * 1000;
		ac[i] = (cpu_self() - c0) * 1000;
	}
	if (r) {
		msg("add: %s", libxl_error_to_string(r));
		failed++;
		goto out;
	}
	be_path(be, sizeof(be), vif ? "vif" : "vbd", g,
		vif ? 0 : disk_devid(0));
	wait_state(be, XB_CONNECTED, 5000);
	t0 = now();
	c0 = cpu_self();
	r = vif ? libxl_device_nic_remove(lctx, g, &n, NULL)
		: libxl_device_disk_remove(lctx, g, &d, NULL);
	if (i >= 0) {
		rw[i] = (now() - t0) * 1000;
		rc[i] = (cpu_self() - c0) * 1000;
	}
	if (r) {
		msg("remove: %s", libxl_error_to_string(r));
		failed++;
	} else if (vif) {
		vif_settle(g, n.devid, 5000);
	}
out:
	if (vif)
		libxl_device_nic_dispose(&n);
	else
		libxl_device_disk_dispose(&d);
	return failed;
}

/* latency --beside: the guest keeps a disk (xvdz) and a NIC (devid 1)
 * through the cycles, as xdev-bench's --beside does: no removal is the
 * guest's last device of its kind (libxl__xs_path_cleanup then deletes
 * the directories left empty). */
static void others_add(uint32_t g, libxl_device_disk *d, libxl_device_nic *n)
{
	char be[200];
	int r;

	disk_init(d, 25);
	vbd_add(g, d, "the guest's other disk");
	be_path(be, sizeof(be), "vbd", g, disk_devid(25));
	if (!wait_state(be, XB_CONNECTED, 5000))
		die("the guest's other disk: not Connected");
	nic_init(n, 1);
	if ((r = libxl_device_nic_add(lctx, g, n, NULL)))
		die("the guest's other NIC: libxl_device_nic_add: %s",
		    libxl_error_to_string(r));
	be_path(be, sizeof(be), "vif", g, 1);
	if (!wait_state(be, XB_CONNECTED, 5000))
		die("the guest's other NIC: not Connected");
}

static void others_remove(uint32_t g, libxl_device_disk *d,
			  libxl_device_nic *n)
{
	int r;

	if ((r = libxl_device_disk_remove(lctx, g, d, NULL)))
		msg("removing the guest's other disk: %s",
		    libxl_error_to_string(r));
	if ((r = libxl_device_nic_remove(lctx, g, n, NULL)))
		msg("removing the guest's other NIC: %s",
		    libxl_error_to_string(r));
	libxl_device_disk_dispose(d);
	libxl_device_nic_dispose(n);
}

static int cmd_latency(int argc, char **argv)
{
	const char *type = "vbd";
	int count = 50, i, failed = 0;
	double *aw, *ac, *rw, *rc;
	libxl_device_disk od;
	libxl_device_nic on;
	bool vif, beside = false;
	uint32_t g;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--type") && i + 1 < argc)
			type = argv[++i];
		else if (!strcmp(argv[i], "--beside"))
			beside = true;
	}
	vif = !strcmp(type, "vif");
	if (count < 1)
		count = 50;
	aw = calloc(4 * count, sizeof(double));
	ac = aw + count;
	rw = ac + count;
	rc = rw + count;
	host_start(NULL);
	if (!vif || beside)
		loop_attach();
	ctx_open();
	g = guest("guest");
	if (beside)
		others_add(g, &od, &on);
	/* one warm-up cycle, not counted */
	for (i = -1; i < count; i++)
		failed += latency_cycle(g, vif, i, aw, ac, rw, rc);
	if (beside)
		others_remove(g, &od, &on);
	ctx_close();
	printf("{\n  \"script\": \"trivial\", \"type\": \"%s\", "
	       "\"beside\": %s, \"failed\": %d,\n", vif ? "vif" : "vbd",
	       beside ? "true" : "false", failed);
	print_stats("add", aw, ac, count, false);
	print_stats("remove", rw, rc, count, true);
	printf("}\n");
	host_stop();
	free(aw);
	return 0;
}

/* ---- scale --------------------------------------------------------------- */

struct phase {
	double wall, p50, p99, max, cpu_lib, cpu_daemon, cpu_host;
	int failed;
	char errors[200];
};

static void phase_error(struct phase *ph, int rc)
{
	size_t k = strlen(ph->errors);

	ph->failed++;
	snprintf(ph->errors + k, sizeof(ph->errors) - k, "%s%s",
		 k ? " " : "", libxl_error_to_string(rc));
}

/* Run libxl's own loop (libxl_event_wait) until ISSUED operations have
 * reported their completion; LAT gets each one's latency from T_ISSUE,
 * FAILED[i] whether operation i failed.  Returns when the last came. */
static double storm_wait(const double *t_issue, double *lat, int issued,
			 bool *failed, struct phase *ph)
{
	double last = now();
	int done = 0;

	while (done < issued) {
		libxl_event *ev;
		int r = libxl_event_wait(lctx, &ev, LIBXL_EVENTMASK_ALL, NULL,
					 NULL);
		int k, rc;

		if (r)
			die("libxl_event_wait: %s", libxl_error_to_string(r));
		if (ev->type == LIBXL_EVENT_TYPE_OPERATION_COMPLETE) {
			k = (int)ev->for_user;
			rc = ev->u.operation_complete.rc;
			last = now();
			lat[done++] = last - t_issue[k];
			failed[k] = rc != 0;
			if (rc)
				phase_error(ph, rc);
		}
		libxl_event_free(lctx, ev);
	}
	return last;
}

/* Issue every operation (ADD: disk_add, else disk_remove) of the devices
 * not in SKIP at once, each completion reported as a libxl event (the
 * ao_how's for_event: a callback would need a loop of the application's
 * own to run in), then wait for them all. */
static void storm(libxl_device_disk *disks, const uint32_t *doms, int n,
		  bool add, const bool *skip, bool *failed, struct phase *ph)
{
	double *t_issue = calloc(n, sizeof(double));
	double *lat = calloc(n, sizeof(double));
	double t0 = now(), c0 = cpu_self(), h0 = host_busy();
	int dpid = daemon_pid(), i, issued = 0;
	double d0 = cpu_of(dpid);

	memset(ph, 0, sizeof(*ph));
	for (i = 0; i < n; i++) {
		libxl_asyncop_how how = { .u.for_event = i };
		uint32_t g = doms[i / 10];
		int r;

		if (skip && skip[i])
			continue;
		t_issue[i] = now();
		r = add ? libxl_device_disk_add(lctx, g, &disks[i], &how)
			: libxl_device_disk_remove(lctx, g, &disks[i], &how);
		if (r)
			die("%s %d: %s", add ? "add" : "remove", i,
			    libxl_error_to_string(r));
		issued++;
	}
	ph->wall = storm_wait(t_issue, lat, issued, failed, ph) - t0;
	ph->cpu_lib = cpu_self() - c0;
	ph->cpu_daemon = cpu_of(dpid) - d0;
	ph->cpu_host = host_busy() - h0;
	ph->p50 = pct(lat, issued, 0.5);
	ph->p99 = pct(lat, issued, 0.99);
	ph->max = pct(lat, issued, 1);
	free(t_issue);
	free(lat);
}

static void print_phase(const char *name, const struct phase *p)
{
	printf("  \"%s\": {\"wall_s\": %.3f, \"latency_p50_s\": %.3f, "
	       "\"latency_p99_s\": %.3f, \"latency_max_s\": %.3f, "
	       "\"failed\": %d, \"errors\": \"%.60s\", \"lib_cpu_s\": %.3f, "
	       "\"xenstored_cpu_s\": %.3f, \"host_cpu_s\": %.3f},\n", name,
	       p->wall, p->p50, p->p99, p->max, p->failed, p->errors,
	       p->cpu_lib, p->cpu_daemon, p->cpu_host);
}

static int cmd_scale(int argc, char **argv)
{
	int n = 100, i, left = 0;
	bool trace_on = false, *failed_add, *failed_rm;
	char trace[300], name[32], be[200];
	libxl_device_disk *disks;
	struct phase add, rm;
	struct rlimit rl;
	struct trace t;
	uint32_t *doms;
	double t0, tdom;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--trace"))
			trace_on = true;
	}
	if (n < 10)
		n = 10;
	n -= n % 10;
	/* libxl holds fds for every script it runs at once */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	disks = calloc(n, sizeof(*disks));
	doms = calloc(n / 10, sizeof(*doms));
	failed_add = calloc(n, sizeof(bool));
	failed_rm = calloc(n, sizeof(bool));
	if (trace_on) {
		tmpdir_make();
		snprintf(trace, sizeof(trace), "%s/trace", tmpdir);
	}
	host_start(trace_on ? trace : NULL);
	loop_attach();
	ctx_open();
	t0 = now();
	for (i = 0; i < n / 10; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		doms[i] = guest(name);
	}
	tdom = now() - t0;
	msg("N=%d: %d guests in %.1f s", n, n / 10, tdom);
	for (i = 0; i < n; i++)
		disk_init(&disks[i], i % 10);

	marker("add");
	storm(disks, doms, n, true, NULL, failed_add, &add);
	msg("N=%d: added in %.2f s (%d failed)", n, add.wall, add.failed);
	marker("add-settle");
	for (i = 0; i < n; i++) {
		be_path(be, sizeof(be), "vbd", doms[i / 10],
			disk_devid(i % 10));
		if (!failed_add[i] && !wait_state(be, XB_CONNECTED, 120000))
			left++;
	}
	if (left)
		msg("N=%d: %d devices not Connected", n, left);
	marker("remove");
	storm(disks, doms, n, false, failed_add, failed_rm, &rm);
	msg("N=%d: removed in %.2f s (%d failed)", n, rm.wall, rm.failed);
	marker("end");
	for (i = 0; i < n; i++)
		libxl_device_disk_dispose(&disks[i]);
	ctx_close();
	host_stop();

	printf("{\n  \"n\": %d, \"domains\": %d, \"domain_create_s\": %.2f,\n",
	       n, n / 10, tdom);
	print_phase("add", &add);
	print_phase("remove", &rm);
	if (trace_on) {
		trace_parse(trace, LIB_TAG, &t);
		tmpdir_remove();
		printf("  \"watches\": %d, \"watches_all_clients\": %d,\n",
		       t.lib_watches_peak, t.all_watches_peak);
		free(t.seg);
	}
	printf("  \"wall_s\": %.3f, \"peak_rss_kb\": %ld\n}\n",
	       add.wall + rm.wall, peak_rss_kb());
	free(disks);
	free(doms);
	free(failed_add);
	free(failed_rm);
	return 0;
}

/* ---- the open loop ------------------------------------------------------- */

/* Arrivals at set times need libxl's loop to give control back when the
 * next one is due.  libxl_event_wait cannot (it has no timeout), so the
 * bench runs libxl's loop itself, as an application with a poll() loop of
 * its own does: libxl_osevent_beforepoll (libxl's fds and its next
 * timeout), poll() for at most the time to the next arrival,
 * libxl_osevent_afterpoll, then libxl_event_check for the completions.
 * One thread, as xdev's side (xdev_ctx_run with the same timeout): a
 * second, issuing thread would also work (the ctx is thread-safe) but
 * would give libxl a thread xdev's side does not have, and make the
 * completions' bookkeeping shared between threads. */
static struct pollfd *lx_fds;
static int lx_nfds;

/* One iteration of libxl's loop, waiting at most TIMEOUT_MS (-1: until
 * something happens); each completion's time and result go to T_DONE and
 * RC (for_user: the operation's index); returns how many came. */
static int lx_run(int timeout_ms, double *t_done, int *rc, bool *done)
{
	struct timeval tv;
	libxl_event *ev;
	int nfds, r, got = 0, i;

	for (;;) {
		nfds = lx_nfds;
		gettimeofday(&tv, NULL);
		r = libxl_osevent_beforepoll(lctx, &nfds, lx_fds, &timeout_ms,
					     tv);
		if (r != ERROR_BUFFERFULL)
			break;
		lx_fds = realloc(lx_fds, nfds * sizeof(*lx_fds));
		if (!lx_fds)
			die("out of memory");
		lx_nfds = nfds;
	}
	if (r)
		die("libxl_osevent_beforepoll: %s", libxl_error_to_string(r));
	if (poll(lx_fds, nfds, timeout_ms) < 0) {
		if (errno != EINTR) /* libxl's SIGCHLD */
			die("poll: %s", strerror(errno));
		for (i = 0; i < nfds; i++)
			lx_fds[i].revents = 0;
	}
	gettimeofday(&tv, NULL);
	libxl_osevent_afterpoll(lctx, nfds, lx_fds, tv);
	while ((r = libxl_event_check(lctx, &ev, LIBXL_EVENTMASK_ALL, NULL,
				      NULL)) == 0) {
		if (ev->type == LIBXL_EVENT_TYPE_OPERATION_COMPLETE) {
			int k = (int)ev->for_user;

			t_done[k] = now();
			rc[k] = ev->u.operation_complete.rc;
			done[k] = true;
			got++;
		}
		libxl_event_free(lctx, ev);
	}
	if (r != ERROR_NOT_READY)
		die("libxl_event_check: %s", libxl_error_to_string(r));
	return got;
}

/* One open-loop phase: the K-th of the disks not in SKIP is added (ADD)
 * or removed at P->t0 + K / P->rate, whether or not the earlier ones have
 * completed, each completion a libxl event (for_event = K); between
 * issues libxl's loop runs until the next one is due (lx_run with the
 * milliseconds left, the last one slept); then until every operation has
 * completed.  FAILED[i]: disk i's operation failed. */
static void openloop_phase(libxl_device_disk *disks, const uint32_t *doms,
			   int n, bool add, const bool *skip, bool *failed,
			   struct open_phase *p)
{
	double *t_done = calloc(n, sizeof(double));
	int *rc = calloc(n, sizeof(int)), *which = calloc(n, sizeof(int));
	bool *done = calloc(n, sizeof(bool));
	int i, k, ndone = 0;

	p->failed = 0;
	p->errors[0] = 0;
	p->lag_max = 0;
	p->t0 = now();
	for (i = 0, k = 0; i < n; i++) {
		libxl_asyncop_how how = { .u.for_event = k };
		double due = p->t0 + k / p->rate, left;
		uint32_t g = doms[i / 10];
		int r;

		if (skip && skip[i])
			continue;
		while ((left = due - now()) >= 0.001)
			ndone += lx_run((int)(left * 1000), t_done, rc, done);
		sleep_until(due);
		p->issued_last = now();
		if (p->issued_last - due > p->lag_max)
			p->lag_max = p->issued_last - due;
		which[k] = i;
		r = add ? libxl_device_disk_add(lctx, g, &disks[i], &how)
			: libxl_device_disk_remove(lctx, g, &disks[i], &how);
		if (r)
			die("%s %d: %s", add ? "add" : "remove", i,
			    libxl_error_to_string(r));
		k++;
	}
	p->n = k;
	while (ndone < k && now() - p->t0 < 900)
		ndone += lx_run(1000, t_done, rc, done);
	if (ndone < k)
		die("%s: not done after 900 s", add ? "adds" : "removes");
	p->done_last = p->t0;
	for (k = 0; k < p->n; k++) {
		p->lat[k] = t_done[k] - (p->t0 + k / p->rate);
		if (t_done[k] > p->done_last)
			p->done_last = t_done[k];
		failed[which[k]] = rc[k] != 0;
		if (rc[k]) {
			size_t m = strlen(p->errors);

			p->failed++;
			snprintf(p->errors + m, sizeof(p->errors) - m, "%s%s",
				 m ? " " : "", libxl_error_to_string(rc[k]));
		}
	}
	free(t_done);
	free(rc);
	free(which);
	free(done);
}

/* scale's N vbds over N/10 guests, arriving at RATE per second: the adds,
 * then, once all are Connected, the removals. */
static int cmd_openloop(int argc, char **argv)
{
	int n = 100, i, left = 0;
	double rate = 0, t0, tdom;
	bool *failed_add, *failed_rm;
	char name[32], be[200];
	libxl_device_disk *disks;
	struct open_phase add = { 0 }, rm = { 0 };
	struct rlimit rl;
	uint32_t *doms;

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
	disks = calloc(n, sizeof(*disks));
	doms = calloc(n / 10, sizeof(*doms));
	failed_add = calloc(n, sizeof(bool));
	failed_rm = calloc(n, sizeof(bool));
	add.lat = calloc(n, sizeof(double));
	rm.lat = calloc(n, sizeof(double));
	add.rate = rm.rate = rate;
	host_start(NULL);
	loop_attach();
	ctx_open();
	t0 = now();
	for (i = 0; i < n / 10; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		doms[i] = guest(name);
	}
	tdom = now() - t0;
	msg("N=%d: %d guests in %.1f s", n, n / 10, tdom);
	for (i = 0; i < n; i++)
		disk_init(&disks[i], i % 10);

	openloop_phase(disks, doms, n, true, NULL, failed_add, &add);
	msg("N=%d at %.1f/s: added in %.2f s (%d failed)", n, rate,
	    add.done_last - add.t0, add.failed);
	for (i = 0; i < n; i++) {
		be_path(be, sizeof(be), "vbd", doms[i / 10],
			disk_devid(i % 10));
		if (!failed_add[i] && !wait_state(be, XB_CONNECTED, 120000))
			left++;
	}
	if (left)
		msg("N=%d: %d devices not Connected", n, left);
	openloop_phase(disks, doms, n, false, failed_add, failed_rm, &rm);
	msg("N=%d at %.1f/s: removed in %.2f s (%d failed)", n, rate,
	    rm.done_last - rm.t0, rm.failed);
	for (i = 0; i < n; i++)
		libxl_device_disk_dispose(&disks[i]);
	ctx_close();
	host_stop();
	free(lx_fds);
	lx_fds = NULL;
	lx_nfds = 0;

	printf("{\n  \"n\": %d, \"domains\": %d, \"rate\": %.3f, "
	       "\"domain_create_s\": %.2f,\n", n, n / 10, rate, tdom);
	print_open_phase("add", &add, false);
	print_open_phase("remove", &rm, false);
	printf("  \"wall_s\": %.3f\n}\n",
	       (add.done_last - add.t0) + (rm.done_last - rm.t0));
	free(add.lat);
	free(rm.lat);
	free(disks);
	free(doms);
	free(failed_add);
	free(failed_rm);
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: libxl-bench [--srcdir DIR] COMMAND [OPTIONS]\n"
		"  requests [--cycles N]\n"
		"  latency [--type vbd|vif] [--count N] [--beside]\n"
		"  scale --n N [--trace]\n"
		"  openloop --rate R [--n N]\n");
}

int main(int argc, char **argv)
{
	static const struct bench_cmd cmds[] = {
		{ "requests", cmd_requests },
		{ "latency", cmd_latency },
		{ "scale", cmd_scale },
		{ "openloop", cmd_openloop },
		{ NULL, NULL },
	};

	bench_name = "libxl-bench";
	return bench_main(argc, argv, cmds, usage);
}
