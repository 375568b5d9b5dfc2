/*
 * hotplug-call: Xen's hotplug calling convention, one definition for the
 * library (library mode, lib/hotplug.c) and xdevd (a driver domain's
 * daemon), so that Xen's scripts work with both and both with libxl:
 *
 *   vbd:  <script> add|remove
 *   vif:  <script> online|offline type_if=vif
 *   env:  XENBUS_PATH, XENBUS_TYPE, XENBUS_BASE_PATH, script, and
 *         vif=vif<fe>.<devid> for a vif, plus the caller's extra names
 *         (XENSTORED_PATH, XDEV_DOMID); the rest of the caller's own
 *         environment is kept, without any of those names.
 *
 * The script runs in its own process group (so that a signal reaches what
 * it started: losetup, ip), with its signals at their defaults, stdin
 * from /dev/null and its output into the caller's pipe.
 */
#ifndef XDEV_HOTPLUG_CALL_H
#define XDEV_HOTPLUG_CALL_H

#include <stdbool.h>
#include <stdint.h>

struct hotplug_call {
	/* in */
	const char *script;       /* its absolute path */
	bool vif;                 /* a vif (else a vbd) */
	bool adding;              /* add/online, or remove/offline */
	const char *xenbus_path;  /* XENBUS_PATH */
	const char *base_path;    /* XENBUS_BASE_PATH */
	uint32_t frontend, devid;
	const char *extra[3];     /* "NAME=value", NULL-terminated */
	/* out (hotplug_call_prepare) */
	char *argv[4];
	char **envp;
};

/* The action word: add, remove, online or offline. */
const char *hotplug_call_action(const struct hotplug_call *c);
/* C's argv and envp (from the process's environment): 0 or -ENOMEM. */
int hotplug_call_prepare(struct hotplug_call *c);
void hotplug_call_release(struct hotplug_call *c);
/* Every signal's disposition back to its default: in a process forked
 * from an application, whose handlers must not run there. */
void hotplug_signals_default(void);
/* In the forked child: its own process group, default signals and mask,
 * stdin /dev/null, OUT_FD as stdout and stderr, then PATH with ARGV and
 * ENVP (a hotplug_call's, or a test's).  Never returns (126: no /dev/null
 * or dup2; 127: execve failed, said on OUT_FD). */
void hotplug_exec(const char *path, char *const argv[], char *const envp[],
		  int out_fd) __attribute__((noreturn));

#endif
