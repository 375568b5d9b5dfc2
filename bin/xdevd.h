/*
 * xdevd: the backend half of device hotplug, run in the domain that hosts
 * the backends (a driver domain, or dom0 when the toolstack leaves scripts
 * to a daemon).  What libxl's `xl devd` does, with xdev's rules:
 *
 *   - one watch, on /local/domain/<self>/backend;
 *   - a device whose backend waits in InitWait with online=1 and no
 *     hotplug-status gets its add (vif: online) script;
 *   - a device that reaches Closed with online=0 gets its remove (offline)
 *     script, and only then is its backend directory deleted - the toolstack
 *     in dom0 waits for that deletion (so the remove script never finds
 *     its backend already deleted by the toolstack);
 *   - a backend directory deleted under a device whose add script ran still
 *     gets the remove script (forced removals release what add acquired);
 *   - at start-up everything found half done is completed, so a restart at
 *     any moment loses nothing (scripts are idempotent).
 *
 * Files: xdevd.c (options, log, signals, the watch), xdevd-device.c (the
 * per-device state machine), xdevd-script.c (running a script with a
 * timeout).
 */
#ifndef XDEVD_H
#define XDEVD_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <xenstore.h>

#define XDEVD_PATH_LEN 256

struct native_job;

enum xdevd_type { XDEVD_VBD, XDEVD_VIF };

struct xdevd;

/* A running script: one per device at most. */
struct script {
	struct xdevd *d;
	pid_t pid;                 /* 0 when none */
	int out_fd;                /* its stdout+stderr, logged by line */
	ev_io out_io;
	ev_child exit_watch;
	ev_timer timer;            /* timeout, then the SIGKILL grace */
	bool termed, killed, timed_out;
	char line[512];            /* partial output line */
	size_t line_len;
	char name[64];             /* for the log: "block add vbd/3/51712" */
	void (*done)(struct script *s, int status);
};

/* What the daemon knows of one backend device.  The state names follow
 * what the daemon is doing, not the xenbus state (that is read fresh). */
enum device_phase {
	DEV_IDLE,        /* nothing running */
	DEV_ADDING,      /* add script running */
	DEV_REMOVING,    /* remove script running */
};

struct device {
	struct device *next;
	enum xdevd_type type;
	uint32_t frontend, devid;
	char path[XDEVD_PATH_LEN];  /* the backend directory */
	enum device_phase phase;
	bool added;                 /* its add script ran (or it was found
				       with a hotplug-status) */
	bool remembered;            /* the state directory says its add
				       script started before this start:
				       its remove script is owed */
	bool recheck;               /* an event arrived while a script ran */
	char script_path[XDEVD_PATH_LEN + 64]; /* the add script, for a removal
				       that no longer finds the node;
				       "native": xdevd-native.c */
	struct script script;
	struct native_job *job;     /* native hotplug in progress */
	ev_timer job_timer;         /* its next try */
};

struct xdevd {
	struct ev_loop *loop;
	struct xs_handle *xs;
	uint32_t self;
	char backend[64];           /* /local/domain/<self>/backend */
	char hotplug_dir[XDEVD_PATH_LEN];
	char state_dir[XDEVD_PATH_LEN]; /* xdevd-device.c: what add scripts
					   acquired, across restarts */
	double timeout_s;           /* per script */
	bool native;                /* native hotplug for the default
				       scripts (--native auto) */
	bool syslog;
	bool verbose;                /* LOG_DEBUG too */
	bool stopping;
	int exit_code;
	struct device *devices;
	ev_io xs_io;
	ev_signal sig_term, sig_int, sig_hup;
};

void xdevd_log(struct xdevd *d, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* xdevd-device.c */
void device_changed(struct xdevd *d, const char *path);
void device_scan_all(struct xdevd *d);
/* The state directory's devices (made if missing): 0, or -1 (logged). */
int device_state_load(struct xdevd *d);
int device_running_scripts(struct xdevd *d);
void device_stop_all(struct xdevd *d);
void device_free_all(struct xdevd *d);

/* xdevd-native.c: native hotplug (lib/native.h) where the backend's
 * script is a default one (block, vif-bridge, or none named). */
#define XDEVD_NATIVE "native"
bool native_applies(struct xdevd *d, const struct device *dev,
		    const char *script_node);
/* Start DEV's native add or removal; its end calls hotplug_done(). */
void native_run(struct xdevd *d, struct device *dev, bool adding);
void native_drop(struct device *dev);

/* xdevd-device.c: a script's or a native job's end (WHY: a failure's
 * words, NULL for success). */
void hotplug_done(struct xdevd *d, struct device *dev, const char *name,
		  const char *why);

/* xdevd-script.c */
int script_start(struct script *s, const char *path, char *const argv[],
		 char *const envp[]);
void script_terminate(struct script *s);

#endif
