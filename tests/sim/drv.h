/*
 * drv: the simulated kernel drivers of a domain (docs/simulated-host.md,
 * "Drivers").  One process per domain plays the domain's xenbus drivers:
 * the backend role (blkback, netback) for dom0 and driver domains, the
 * frontend role (blkfront, netfront) for guests.  It is an ordinary xenstore
 * client: dom0's connects to xenstored's socket, every other domain's to its
 * kernel's xenbus socket (xenbus-mux.c), so xenstored enforces the domain's
 * permissions exactly as on a real host.
 *
 * The drivers follow the xenbus protocol the way Linux does, and misbehave
 * on demand: faults are read from $XDEV_SIM_DIR/faults/<domid> (drv-fault.c)
 * and take effect at once (the supervisor signals the drivers: not inotify,
 * whose 128 instances per user stopped a host at 127 guests).
 */
#ifndef XDEV_DRV_H
#define XDEV_DRV_H

#include <signal.h>

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

enum drv_role { DRV_BACKEND, DRV_FRONTEND };

/* xenbus states (lib/xenbus.h, shared with the library and xdevd); 0
 * also stands for "node missing". */
#include "xenbus.h"

/* Faults (drv-fault.c).  Domain-wide and per device; a device's own rule
 * wins over the domain's for the fields it sets. */
struct drv_faults {
	bool frontend_unresponsive;  /* never answers backend Closing */
	bool frontend_refuse_close;  /* "Device in use": error node, stays */
	bool backend_unresponsive;   /* never reaches InitWait, never closes */
	bool backend_delete_on_close;/* removes its own directory instead */
	int slow_ms;                 /* delay before every transition */
	int connect_delay_ms;        /* backend: connect() takes this long
					between deciding and writing Connected */
	int destroy_at;              /* destroy own domain before entering */
	int vif_late_ms;             /* netback: the vif registered this long
					after InitWait, as Linux's does it
					after the switch */
};

struct drv;
struct drv_dev;

/* Run the drivers of DOMID in ROLE until SIGTERM; signals READY_FD once
 * the watches are in place.  Returns the process exit status. */
int sim_driver_run(uint32_t domid, enum drv_role role, int ready_fd);

/* ---- shared by drv-*.c ------------------------------------------------- */

struct drv_dev {
	struct drv_dev *next;
	char type[8];            /* "vbd" or "vif" */
	uint32_t other_domid;    /* frontend domid (backend) or backend's */
	uint32_t devid;
	char path[160];          /* my directory */
	char other[160];         /* the other end's directory */
	char watch_token[192];   /* watch on the other end's state */
	int64_t due_ms;          /* pending transition allowed at; 0: none */
	int state_written;       /* the last state I switched to; 0: none */
	bool gone;               /* torn down; removed after the event */
	/* backend */
	bool physdev_ok;
	unsigned phys_major, phys_minor;
	int tap_fd;
	/* frontend kexec reset (drv-frontend.c), 0 when none */
	int reset_phase;
	int64_t reset_deadline;
};

struct drv {
	uint32_t domid;
	enum drv_role role;
	struct xs_handle *xs;
	char base[48];           /* /local/domain/<domid> */
	struct drv_dev *devs;
	int fault_fd;            /* signalfd of DRV_FAULT_SIGNAL */
	char fault_file[4200];
	char *fault_text;        /* content of fault_file, re-read on change */
	bool dying;              /* asked to be destroyed: do nothing more */
};

int64_t drv_now_ms(void);
char *drv_read(struct drv *d, const char *dir, const char *key);
int drv_read_int(struct drv *d, const char *dir, const char *key, int dflt);
bool drv_event_wanted(struct drv *d, const struct drv_dev *dev,
		      const char *path, const char *const leaves[]);
bool drv_write(struct drv *d, const char *dir, const char *key,
	       const char *val);
/* Write <dir>/state, logging the transition. */
/* Run BODY in a transaction, again on a conflict (EAGAIN) as Linux's
 * xenbus callers do; BODY's false aborts it.  True once committed. */
bool drv_in_transaction(struct drv *d,
			bool (*body)(struct drv *d, xs_transaction_t t,
				     void *arg),
			void *arg);
bool drv_set_state(struct drv *d, struct drv_dev *dev, int state);
/* xenbus_dev_fatal/_error: write error/<path-below-domain>/error. */
void drv_report_error(struct drv *d, struct drv_dev *dev, int err,
		      const char *msg);
void drv_log(struct drv *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Wait for the device's slow fault before a transition: true if the
 * transition may happen now, false if it was scheduled for later. */
bool drv_may_transition(struct drv *d, struct drv_dev *dev);
/* The device is about to enter STATE: true if a destroy-at fault fired
 * (the domain is being destroyed; do nothing more). */
bool drv_destroy_point(struct drv *d, struct drv_dev *dev, int state);

void drv_faults_get(struct drv *d, const struct drv_dev *dev,
		    struct drv_faults *ret);
/* "The fault file changed": sent by the supervisor to a domain's driver
 * process on behalf of simhost_fault_set(). */
#define DRV_FAULT_SIGNAL SIGUSR2
int drv_faults_init(struct drv *d);
void drv_faults_reload(struct drv *d);
void drv_faults_check(struct drv *d);

/* Role entry points. */
int drv_backend_watch(struct drv *d);
void drv_backend_event(struct drv *d, const char *path);
void drv_backend_step(struct drv *d, struct drv_dev *dev);
void drv_backend_free(struct drv_dev *dev);
int drv_frontend_watch(struct drv *d);
void drv_frontend_event(struct drv *d, const char *path);
void drv_frontend_step(struct drv *d, struct drv_dev *dev);
void drv_frontend_kexec(struct drv *d);
/* The device waits for its backend during a kexec reset (bounded). */
bool drv_reset_waiting(const struct drv_dev *dev);

/* Device list helpers. */
struct drv_dev *drv_dev_find(struct drv *d, const char *type,
			     uint32_t other_domid, uint32_t devid);
/* A device at DIR whose other end is at OTHER: listed, and its other
 * end's state watched. */
struct drv_dev *drv_dev_add(struct drv *d, const char *type,
			    uint32_t other_domid, uint32_t devid,
			    const char *dir, const char *other);
void drv_dev_remove(struct drv *d, struct drv_dev *dev);
void drv_step(struct drv *d, struct drv_dev *dev);

/* Ask the host's supervisor (control socket) to destroy DOMID. */
int drv_request_destroy(uint32_t domid);

#endif
