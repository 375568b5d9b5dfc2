/*
 * simhost: start, drive and stop a simulated Xen host.
 *
 * A host is a private directory holding fakexen's state, a supervisor
 * process, the real xenstored (C or OCaml) running under libfakexen.so, and,
 * when run as root, a private network namespace owned by the supervisor
 * (and one per driver domain, owned by its driver process).
 * Stopping the host ends the supervisor, which ends the daemon and removes
 * the directory; the namespace dies with the last process in it.
 *
 * Used by xdev-sim (the command line) and directly by the C tests.  All
 * functions return 0 or a negative errno, with a message in *ret_err where
 * one is taken (static storage of the struct simhost or a caller buffer).
 */
#ifndef XDEV_SIMHOST_H
#define XDEV_SIMHOST_H

#include <stdint.h>
#include <sys/types.h>

enum simhost_daemon {
	SIMHOST_CXENSTORED,
	SIMHOST_OXENSTORED,
};

struct simhost_opts {
	const char *dir;        /* must not exist; NULL: a fresh temporary one */
	enum simhost_daemon daemon;
	int netns;              /* -1: when root, 0: never, 1: always */
	const char *trace_file; /* xenstored -T (C xenstored only) */
	int stop_with_starter;  /* stop the host when the starting process ends
				   (tests: nothing outlives a crashed test) */
	int no_drivers;         /* no simulated backend drivers in dom0 */
};

/* What runs inside a domain (docs/simulated-host.md, "Drivers"). */
enum simhost_dom_kind {
	SIMHOST_DOM_BARE,   /* nothing: tests speak its ring themselves */
	SIMHOST_DOM_GUEST,  /* a kernel with frontend drivers */
	SIMHOST_DOM_DRIVER, /* a driver domain: a kernel with backend drivers */
};

struct simhost {
	char dir[256];
	char socket[300];
	char preload[4096];     /* absolute path of libfakexen.so */
	enum simhost_daemon daemon;
	pid_t supervisor;
	int has_netns;
	char err[512];          /* message of the last failure */
};

/* Default daemon: $XDEV_SIM_XENSTORED ("c" or "o"), else C xenstored. */
enum simhost_daemon simhost_default_daemon(void);

int simhost_start(const struct simhost_opts *opts, struct simhost *ret);
/* Find the running host of DIR (NULL: $XDEV_SIM_DIR). */
int simhost_open(const char *dir, struct simhost *ret);
/* Stop the host: every process it started ends and DIR is removed.
 * Waits for the supervisor to exit. */
int simhost_stop(struct simhost *h);

/* Put this process into the host's environment (and its network namespace
 * with ENTER_NETNS): $XDEV_SIM_DIR, $XENSTORED_PATH, $XDEV_SIM_PRELOAD.
 * LD_PRELOAD is set only with PRELOAD. */
int simhost_setenv(const struct simhost *h, int preload, int enter_netns);

/* Domains.  Create writes /local/domain/<id> (name, domid, vm and the usual
 * subdirectories, with libxl's permissions), /vm/<uuid>, and introduces the
 * domain to xenstored, which fires @introduceDomain. */
int simhost_domain_create(struct simhost *h, const char *name, uint32_t want,
			  uint32_t *ret_domid);
/* The same, with KIND's kernel started once the domain is introduced: its
 * xenbus socket ($dir/xenbus/<id>) and drivers are ready on return. */
int simhost_domain_create_kind(struct simhost *h, const char *name,
			       uint32_t want, enum simhost_dom_kind kind,
			       uint32_t *ret_domid);
/* A guest kexec: its frontends close and reconnect (drv-frontend.c). */
int simhost_domain_kexec(struct simhost *h, uint32_t domid);
/* Faults (drv-fault.c): replace DOMID's rule for SCOPE ("*", "vbd/51712",
 * "vbd/51712@3") with WORDS (space-separated; NULL or "" removes it). */
int simhost_fault_set(struct simhost *h, uint32_t domid, const char *scope,
		      const char *words);
/* Remove every fault of DOMID. */
int simhost_fault_clear(struct simhost *h, uint32_t domid);
/* Destroy: the domain's kernel is killed, the domain marked dying (VIRQ_DOM_EXC), xenstored releases it
 * (@releaseDomain, its nodes deleted); then it is gone from the hypervisor
 * and, unless KEEP_STORE, the toolstack's nodes (/local/domain/<id>,
 * /vm/<uuid>) are removed as `xl destroy` does. */
int simhost_domain_destroy(struct simhost *h, uint32_t domid, int keep_store);
/* Shutdown (reason: SHUTDOWN_poweroff, ...) or crash: @releaseDomain fires,
 * the domain stays. */
int simhost_domain_shutdown(struct simhost *h, uint32_t domid, int crash,
			    unsigned reason);
/* Become a program inside domain DOMID, in this process (meant for a forked
 * child before exec): XENSTORED_PATH is the domain's own unprivileged
 * xenstore connection ($dir/xenbus/<domid>), XDEV_DOMID its id, LD_PRELOAD
 * is unset (a domU has no hypervisor access), and, for a driver domain on a
 * host with its own network namespace, the process joins the domain's
 * namespace.  Domain 0 is the host: simhost_setenv(h, 1, 1) and
 * XDEV_DOMID=0.  Refused, changing nothing: -ESRCH for an unknown domain or
 * one not running (dying, shut down, crashed, its kernel gone);
 * -EOPNOTSUPP for a bare domain or a guest. */
int simhost_domain_enter(struct simhost *h, uint32_t domid);
/* Look a domain up by id or by name. */
int simhost_domain_find(struct simhost *h, const char *id_or_name,
			uint32_t *ret_domid);

#endif
