/*
 * fakexen entry points: the libxenctrl and libxengnttab calls that
 * xenstored, oxenstored, xdev and libxl make, libxencall's calls answering
 * ENOSYS for anything else, and the few libc calls of the daemons that name
 * hypervisor files or fixed system paths.
 *
 * These definitions are unversioned; the dynamic linker binds the daemons'
 * versioned imports (xc_interface_open@VERS_4.17.0, ...) to them because
 * libfakexen.so is preloaded.  libc is reached through dlsym(RTLD_NEXT).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <stdio.h>
#include <xenctrl.h>
#include <xencall.h>
#include <xengnttab.h>
#include <xen/io/protocols.h>
#include <xen/version.h>

#include "fakexen-internal.h"

/* ---- libc redirection ------------------------------------------------ */

static void *real(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

int fx__real_open(const char *path, int flags, int mode)
{
	static int (*fn)(const char *, int, ...);

	if (!fn)
		fn = (int (*)(const char *, int, ...))real("open");
	return fn(path, flags, mode);
}

/* Map a fixed system path of the real daemons into the host directory:
 * the files the dom0 kernel provides, and oxenstored's hard-coded socket
 * directory.  Returns PATH itself when there is nothing to redirect. */
static const char *redirect(const char *path, char *buf, size_t size)
{
	static const char *const dirs[] = { "/var/run/xenstored",
					    "/run/xenstored" };
	size_t i;

	if (!path || !getenv(FAKEXEN_ENV_DIR))
		return path;
	if (!strcmp(path, "/proc/xen/xsd_port") ||
	    !strcmp(path, "/proc/xen/xsd_kva")) {
		snprintf(buf, size, "%s/%s", getenv(FAKEXEN_ENV_DIR), path + 10);
		return buf;
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		size_t n = strlen(dirs[i]);

		if (!strncmp(path, dirs[i], n) &&
		    (path[n] == '/' || path[n] == 0)) {
			snprintf(buf, size, "%s%s", getenv(FAKEXEN_ENV_DIR),
				 path + n);
			return buf;
		}
	}
	return path;
}

static int open_common(const char *fname, int dirfd, const char *path,
		       int flags, va_list ap)
{
	char buf[PATH_MAX];
	int mode = 0;

	if (flags & (O_CREAT | __O_TMPFILE))
		mode = va_arg(ap, int);
	path = redirect(path, buf, sizeof(buf));
	if (dirfd == AT_FDCWD && fname[4] != 'a') {
		int (*fn)(const char *, int, ...) =
			(int (*)(const char *, int, ...))real(fname);
		return fn(path, flags, mode);
	} else {
		int (*fn)(int, const char *, int, ...) =
			(int (*)(int, const char *, int, ...))real(fname);
		return fn(dirfd, path, flags, mode);
	}
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	int r;

	va_start(ap, flags);
	r = open_common("open", AT_FDCWD, path, flags, ap);
	va_end(ap);
	return r;
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	int r;

	va_start(ap, flags);
	r = open_common("open64", AT_FDCWD, path, flags, ap);
	va_end(ap);
	return r;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	int r;

	va_start(ap, flags);
	r = open_common("openat", dirfd, path, flags, ap);
	va_end(ap);
	return r;
}

int unlink(const char *path)
{
	static int (*fn)(const char *);
	char buf[PATH_MAX];

	if (!fn)
		fn = (int (*)(const char *))real("unlink");
	return fn(redirect(path, buf, sizeof(buf)));
}

int mkdir(const char *path, mode_t mode)
{
	static int (*fn)(const char *, mode_t);
	char buf[PATH_MAX];

	if (!fn)
		fn = (int (*)(const char *, mode_t))real("mkdir");
	return fn(redirect(path, buf, sizeof(buf)), mode);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*fn)(int, const struct sockaddr *, socklen_t);
	const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
	struct sockaddr_un moved;
	char buf[PATH_MAX];
	const char *p;

	if (!fn)
		fn = (int (*)(int, const struct sockaddr *, socklen_t))real("bind");
	if (addr->sa_family != AF_UNIX || len <= offsetof(struct sockaddr_un,
							   sun_path) ||
	    !un->sun_path[0])
		return fn(fd, addr, len);
	p = redirect(un->sun_path, buf, sizeof(buf));
	if (p == un->sun_path)
		return fn(fd, addr, len);
	if (strlen(p) >= sizeof(moved.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&moved, 0, sizeof(moved));
	moved.sun_family = AF_UNIX;
	strcpy(moved.sun_path, p);
	return fn(fd, (struct sockaddr *)&moved, sizeof(moved));
}

/* oxenstored raises RLIMIT_NOFILE to fs.nr_open and dies if that is
 * refused; unprivileged, settle for the hard limit. */
int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
	static int (*fn)(__rlimit_resource_t, const struct rlimit *);
	struct rlimit cur, clamped;

	if (!fn)
		fn = (int (*)(__rlimit_resource_t, const struct rlimit *))
			real("setrlimit");
	if (fn(res, rl) == 0)
		return 0;
	if (errno != EPERM || res != RLIMIT_NOFILE || getrlimit(res, &cur) < 0)
		return -1;
	clamped.rlim_cur = rl->rlim_cur < cur.rlim_max ? rl->rlim_cur
						       : cur.rlim_max;
	clamped.rlim_max = rl->rlim_max < cur.rlim_max ? rl->rlim_max
						       : cur.rlim_max;
	return fn(res, &clamped);
}

/* ---- libxenctrl ------------------------------------------------------ */

/* Larger than libxenctrl's own struct (about 1.5 KiB in 4.17), all zero:
 * should a real xc_* function that this file does not define run with our
 * handle, it finds no xencall handle and no logger rather than reading past
 * the allocation, and its hypercall reaches the ENOSYS below. */
struct xc_interface_core {
	char zero[8192];
};

xc_interface *xc_interface_open(xentoollog_logger *logger,
				xentoollog_logger *dombuild_logger,
				unsigned open_flags)
{
	int r = fx__ensure_attached();

	(void)logger;
	(void)dombuild_logger;
	(void)open_flags;
	if (r) {
		errno = -r;
		return NULL;
	}
	return calloc(1, sizeof(struct xc_interface_core));
}

int xc_interface_close(xc_interface *xch)
{
	free(xch);
	return 0;
}

const xc_error *xc_get_last_error(xc_interface *xch)
{
	static const xc_error none = { .code = XC_ERROR_NONE };

	(void)xch;
	return &none;
}

static void fill_dominfo(xc_dominfo_t *info, const struct fakexen_dominfo *d)
{
	memset(info, 0, sizeof(*info));
	info->domid = d->domid;
	info->dying = !!(d->flags & FAKEXEN_DOM_DYING);
	info->crashed = !!(d->flags & FAKEXEN_DOM_CRASHED);
	info->shutdown = !!(d->flags & (FAKEXEN_DOM_SHUTDOWN |
					FAKEXEN_DOM_CRASHED));
	info->shutdown_reason = d->flags & FAKEXEN_DOM_CRASHED
		? SHUTDOWN_crash : d->shutdown_reason;
	info->paused = !!(d->flags & FAKEXEN_DOM_PAUSED);
	info->running = !info->paused && !info->shutdown && !info->dying;
	info->blocked = !info->running;
	info->nr_pages = 65536;
	info->max_memkb = 262144;
	info->nr_online_vcpus = 1;
	memcpy(info->handle, d->uuid, sizeof(info->handle));
}

int xc_domain_getinfo(xc_interface *xch, uint32_t first, unsigned int max,
		      xc_dominfo_t *info)
{
	struct fakexen_dominfo d;
	unsigned n = 0;
	uint32_t id;

	(void)xch;
	for (id = first; id < FAKEXEN_NR_DOMIDS && n < max; id++)
		if (fakexen_domain_get(id, &d) == 0)
			fill_dominfo(&info[n++], &d);
	return (int)n;
}

int xc_domain_getinfolist(xc_interface *xch, uint32_t first, unsigned int max,
			  xc_domaininfo_t *info)
{
	xc_dominfo_t di;
	struct fakexen_dominfo d;
	unsigned n = 0;
	uint32_t id;

	(void)xch;
	for (id = first; id < FAKEXEN_NR_DOMIDS && n < max; id++) {
		xc_domaininfo_t *o = &info[n];

		if (fakexen_domain_get(id, &d))
			continue;
		fill_dominfo(&di, &d);
		memset(o, 0, sizeof(*o));
		o->domain = id;
		o->flags = (di.dying ? XEN_DOMINF_dying : 0) |
			   (di.shutdown ? XEN_DOMINF_shutdown : 0) |
			   (di.paused ? XEN_DOMINF_paused : 0) |
			   (di.running ? XEN_DOMINF_running : 0) |
			   (di.blocked ? XEN_DOMINF_blocked : 0) |
			   ((di.shutdown_reason & XEN_DOMINF_shutdownmask)
			    << XEN_DOMINF_shutdownshift);
		o->tot_pages = di.nr_pages;
		o->max_pages = di.nr_pages;
		o->nr_online_vcpus = 1;
		memcpy(o->handle, d.uuid, sizeof(o->handle));
		n++;
	}
	return (int)n;
}

/* ---- what libxl asks of the hypervisor ------------------------------ */

/* libxl (4.17) reads the version, the host's shape and a guest's ABI when
 * it opens a context and adds a device; a Xen 4.17 on this machine's CPUs,
 * one NUMA node, without XSM, answers so. */

static unsigned host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

int xc_version(xc_interface *xch, int cmd, void *arg)
{
	(void)xch;
	switch (cmd) {
	case XENVER_version:
		return 4 << 16 | 17;
	case XENVER_extraversion:
		snprintf(arg, sizeof(xen_extraversion_t), ".0");
		return 0;
	case XENVER_capabilities:
		snprintf(arg, sizeof(xen_capabilities_info_t),
			 "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p "
			 "hvm-3.0-x86_64");
		return 0;
	case XENVER_compile_info:
		memset(arg, 0, sizeof(xen_compile_info_t));
		return 0;
	case XENVER_changeset:
		snprintf(arg, sizeof(xen_changeset_info_t), "simulated");
		return 0;
	case XENVER_commandline:
		memset(arg, 0, sizeof(xen_commandline_t));
		return 0;
	case XENVER_pagesize:
		return FX_PAGE_SIZE;
	}
	errno = ENOSYS;
	return -1;
}

int xc_physinfo(xc_interface *xch, xc_physinfo_t *info)
{
	unsigned n = host_cpus();

	(void)xch;
	memset(info, 0, sizeof(*info));
	info->threads_per_core = 1;
	info->cores_per_socket = n;
	info->nr_cpus = n;
	info->max_cpu_id = n - 1;
	info->nr_nodes = 1;
	info->max_node_id = 0;
	info->cpu_khz = 2000000;
	info->capabilities = XEN_SYSCTL_PHYSCAP_pv | XEN_SYSCTL_PHYSCAP_hvm;
	info->total_pages = 1 << 20; /* 4 GiB */
	info->free_pages = 1 << 19;
	info->max_mfn = (1 << 20) - 1;
	return 0;
}

int xc_get_max_cpus(xc_interface *xch)
{
	(void)xch;
	return (int)host_cpus();
}

int xc_get_online_cpus(xc_interface *xch)
{
	(void)xch;
	return (int)host_cpus();
}

int xc_get_max_nodes(xc_interface *xch)
{
	(void)xch;
	return 1;
}

/* Every simulated domain is a 64-bit PV guest. */
const char *xc_domain_get_native_protocol(xc_interface *xch, uint32_t domid)
{
	(void)xch;
	(void)domid;
	return XEN_IO_PROTO_ABI_X86_64;
}

/* A Xen without XSM refuses the FLASK operations. */
int xc_flask_sid_to_context(xc_interface *xc_handle, int sid, char *buf,
			    uint32_t size)
{
	(void)xc_handle;
	(void)sid;
	(void)buf;
	(void)size;
	errno = ENOSYS;
	return -1;
}

/* ---- libxencall: the safety net ---------------------------------------- */

/* A libxenctrl call this file does not simulate goes on to libxencall.
 * Its buffers are ordinary memory, and the hypercall itself fails with
 * ENOSYS, as on a hypervisor without that operation: the caller gets an
 * error instead of a crash.  Each hypercall number is reported once per
 * process, so that a new caller shows what else it needs. */

static int no_hypercall(unsigned int op)
{
	static uint64_t seen;

	if (op >= 64 || !(__atomic_fetch_or(&seen, 1ull << op,
					    __ATOMIC_RELAXED) & (1ull << op)))
		fprintf(stderr, "fakexen: hypercall %u not simulated "
			"(ENOSYS)\n", op);
	errno = ENOSYS;
	return -1;
}

void *xencall_alloc_buffer_pages(xencall_handle *xcall, size_t nr_pages)
{
	void *p;

	(void)xcall;
	p = mmap(NULL, nr_pages * FX_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void xencall_free_buffer_pages(xencall_handle *xcall, void *p,
			       size_t nr_pages)
{
	(void)xcall;
	if (p)
		munmap(p, nr_pages * FX_PAGE_SIZE);
}

void *xencall_alloc_buffer(xencall_handle *xcall, size_t size)
{
	(void)xcall;
	return calloc(1, size ? size : 1);
}

void xencall_free_buffer(xencall_handle *xcall, void *p)
{
	(void)xcall;
	free(p);
}

int xencall0(xencall_handle *xcall, unsigned int op)
{
	(void)xcall;
	return no_hypercall(op);
}

int xencall1(xencall_handle *xcall, unsigned int op, uint64_t arg1)
{
	(void)xcall;
	(void)arg1;
	return no_hypercall(op);
}

int xencall2(xencall_handle *xcall, unsigned int op, uint64_t arg1,
	     uint64_t arg2)
{
	(void)xcall;
	(void)arg1;
	(void)arg2;
	return no_hypercall(op);
}

long xencall2L(xencall_handle *xcall, unsigned int op, uint64_t arg1,
	       uint64_t arg2)
{
	(void)xcall;
	(void)arg1;
	(void)arg2;
	return no_hypercall(op);
}

int xencall3(xencall_handle *xcall, unsigned int op, uint64_t arg1,
	     uint64_t arg2, uint64_t arg3)
{
	(void)xcall;
	(void)arg1;
	(void)arg2;
	(void)arg3;
	return no_hypercall(op);
}

int xencall4(xencall_handle *xcall, unsigned int op, uint64_t arg1,
	     uint64_t arg2, uint64_t arg3, uint64_t arg4)
{
	(void)xcall;
	(void)arg1;
	(void)arg2;
	(void)arg3;
	(void)arg4;
	return no_hypercall(op);
}

int xencall5(xencall_handle *xcall, unsigned int op, uint64_t arg1,
	     uint64_t arg2, uint64_t arg3, uint64_t arg4, uint64_t arg5)
{
	(void)xcall;
	(void)arg1;
	(void)arg2;
	(void)arg3;
	(void)arg4;
	(void)arg5;
	return no_hypercall(op);
}

/* oxenstored maps guest rings this way rather than through gnttab. */
void *xc_map_foreign_range(xc_interface *xch, uint32_t dom, int size, int prot,
			   unsigned long mfn)
{
	(void)xch;
	(void)prot;
	(void)mfn;
	if (size != FX_PAGE_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	return fakexen_ring_map(dom);
}

/* ---- libxengnttab ---------------------------------------------------- */

struct xengntdev_handle {
	int unused;
};

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
				 unsigned open_flags)
{
	int r = fx__ensure_attached();

	(void)logger;
	(void)open_flags;
	if (r) {
		errno = -r;
		return NULL;
	}
	return calloc(1, sizeof(struct xengntdev_handle));
}

int xengnttab_close(xengnttab_handle *xgt)
{
	free(xgt);
	return 0;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	(void)xgt;
	(void)nr_grants;
	return 0;
}

/* The only grant the simulator knows is the one every domain reserves for
 * its xenstore ring (GNTTAB_RESERVED_XENSTORE). */
void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
			      uint32_t ref, int prot)
{
	(void)xgt;
	(void)prot;
	if (ref != 1) {
		errno = EINVAL;
		return NULL;
	}
	return fakexen_ring_map(domid);
}

int xengnttab_unmap(xengnttab_handle *xgt, void *addr, uint32_t count)
{
	(void)xgt;
	return munmap(addr, (size_t)count * FX_PAGE_SIZE);
}

/* ---- readiness ------------------------------------------------------- */

/* The simulator learns that a daemon accepts connections from the daemon
 * itself: when it listens on the host's "socket", the shim writes one byte
 * into the pipe named by $XDEV_SIM_READY_FD.  No polling of the socket. */
int listen(int fd, int backlog)
{
	static int (*fn)(int, int);
	struct sockaddr_un un;
	socklen_t len = sizeof(un);
	const char *rfd = getenv("XDEV_SIM_READY_FD");
	const char *dir = getenv(FAKEXEN_ENV_DIR);
	char want[PATH_MAX];
	int r;

	if (!fn)
		fn = (int (*)(int, int))real("listen");
	r = fn(fd, backlog);
	if (r < 0 || !rfd || !dir)
		return r;
	snprintf(want, sizeof(want), "%s/socket", dir);
	if (getsockname(fd, (struct sockaddr *)&un, &len) == 0 &&
	    un.sun_family == AF_UNIX && !strcmp(un.sun_path, want)) {
		int wfd = atoi(rfd);

		if (write(wfd, "R", 1) == 1)
			close(wfd);
		unsetenv("XDEV_SIM_READY_FD");
	}
	return r;
}
