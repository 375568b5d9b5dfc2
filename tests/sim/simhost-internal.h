/*
 * Private helpers shared by simhost's files.
 */
#ifndef XDEV_SIMHOST_INTERNAL_H
#define XDEV_SIMHOST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <xenstore.h>
#include "simhost.h"

/* simhost.c */
int sim__pidfd_open(pid_t pid);
void sim__rm_tree(const char *dir);
/* Bring up lo in this process's network namespace. */
void sim__loopback_up(void);

/* simhost-daemon.c */
const char *sim__daemon_name(enum simhost_daemon d);
/* Start the daemon with READY_FD as its readiness pipe; -1 and h->err on
 * failure. */
pid_t sim__daemon_spawn(struct simhost *h, const struct simhost_opts *o,
			int ready_fd);
enum simhost_daemon sim__daemon_of(const char *dir);
void sim__redirect_stdio(const char *dir, const char *log);
int sim__is_supervisor(pid_t pid, const char *dir);
int sim__has_own_netns(pid_t pid);
int sim__enter_netns(pid_t pid);

/* simhost-kernel.c: the supervisor's side */
int sim__control_listen(const char *dir);
void sim__control_serve(const char *dir, int lfd);
int sim__kernel_start_dom0(const char *dir);
void sim__kernel_reap(void);
void sim__kernel_stop_all(void);
/* Driver domains get their own network namespace (the host has one). */
void sim__kernel_use_netns(void);
/* A client's side: send one control request line; 0 if answered OK. */
int sim__control(const char *dir, const char *request);

/* simhost-enter.c.  In a domain's new driver process: its own network
 * namespace with NETNS, and the record $dir/kernels/<domid>. */
int sim__kernel_record(const char *dir, uint32_t domid, bool backend,
		       bool netns);
void sim__kernel_unrecord(const char *dir, uint32_t domid);
/* The supervisor's side: hold PID's network namespace open (-1 if PID
 * shares ours), then, once PID is dead, kill whatever still runs in it. */
int sim__netns_hold(pid_t pid);
void sim__netns_sweep(int nsfd);

/* simhost-domain.c */
struct xs_handle *sim__xs_open(struct simhost *h);
/* What xen-init-dom0 writes at boot: /local/domain/0/{name,domid}. */
int sim__dom0_nodes(struct simhost *h);

#endif
