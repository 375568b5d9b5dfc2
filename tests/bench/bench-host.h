/*
 * The bench programs' shared part (bench-host.c): the simulated host,
 * xenstored's trace, small statistics.  Functions that fail call die(),
 * which stops the host first: a bench never outlives its host's cleanup.
 */
#ifndef XDEV_BENCH_HOST_H
#define XDEV_BENCH_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "simhost.h"

struct xs_handle;

extern const char *bench_name;       /* prefix of messages, tmpdir's name */
extern void (*bench_on_stop)(void);  /* run before the host stops, if set */
extern const char *srcdir;           /* the source tree (hotplug scripts) */
extern struct simhost host;
extern bool host_up;
extern struct xs_handle *bxs;        /* the bench's own connection */
extern char loopdev[64];
extern char tmpdir[256];             /* traces, callgrind files */

void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
					      noreturn));
double now(void);
double cpu_self(void);
long faults_self(void);
int daemon_pid(void);
double cpu_of(int pid);
double host_busy(void);
long peak_rss_kb(void);
int cmp_double(const void *a, const void *b);
double pct(double *v, int n, double q);
void print_stats(const char *name, double *wall, double *cpu, int n,
		 bool last);

/* The open-loop workload (`openloop --rate R --n N`, both programs):
 * operation k of a phase is due at t0 + k / R, issued then whether or
 * not earlier ones completed; its latency runs from that due time to its
 * completion. */
struct open_phase {
	int n;              /* operations issued */
	double rate;        /* asked for, per second */
	double t0;          /* the first one's due time */
	double issued_last; /* when the last one's issue began */
	double lag_max;     /* the most one was issued after it was due, s */
	double done_last;   /* the last completion */
	double *lat;        /* [n], s from due time to completion */
	int failed;
	char errors[256];
};
void sleep_until(double t);
void print_open_phase(const char *name, struct open_phase *p, bool last);

void host_start(const char *trace);
void host_stop(void);
uint32_t domain(const char *name, enum simhost_dom_kind kind);
void make_image(const char *path, off_t size);
void loop_attach(void);
void marker(const char *label);
int read_state(const char *dir);
/* Until DIR's state reads WANT (0: gone), through a watch; at most MS. */
bool wait_state(const char *dir, int want, int ms);
/* After a vif's removal, outside the timing, so that the sequential
 * latency measures each operation on an idle host: wait (rtnetlink link
 * events, at most MS) until the host has no interface
 * vif<FRONTEND>.<DEVID>, then VIF_SETTLE_PAUSE_MS more.  netback removes
 * the interface after writing Closed, as Linux's does, and the kernel's
 * unregistering goes on after the name has gone (RCU grace periods, about
 * 20 ms here) with the driver blocked in it, as Linux's xenwatch thread
 * is; nothing announces its end, hence the pause. */
#define VIF_SETTLE_PAUSE_MS 60
void vif_settle(uint32_t frontend, uint32_t devid, int ms);

/* C xenstored's -T lines: "IN 0x55.. 20261122 03:54:18 READ (/path )",
 * "OUT 0x55.. ... ERROR (EAGAIN )", "DESTROY connection 0x55..". */

#define MAXTYPES 32

/* Who sends the requests: told apart by the first watch a connection sets
 * (the simulated drivers watch <domain>/backend or <domain>/device); the
 * rest are the hotplug scripts' xenstore-* clients and the host's setup. */
enum client { CL_LIBRARY, CL_BACKENDS, CL_FRONTENDS, CL_OTHER, CLIENTS };
extern const char *const client_name[CLIENTS];

struct counts {
	char label[64];
	char type[MAXTYPES][24];
	unsigned n[MAXTYPES];
	unsigned total;       /* the library's requests */
	unsigned all;         /* every connection's requests */
	unsigned eagain;      /* the library's transaction ends refused */
	unsigned by_client[CLIENTS]; /* every request, by kind of client */
};

struct trace {
	struct counts *seg;
	int nseg;
	unsigned long long lib;
	int lib_watches, lib_watches_peak;
	int all_watches, all_watches_peak;
};

void trace_parse(const char *file, const char *lib_type, const char *lib_args,
		 struct trace *t);
struct counts *seg_find(struct trace *t, const char *label);
void print_counts(const char *name, struct counts **c, int n, bool last);
void tmpdir_make(void);
void tmpdir_remove(void);
struct bench_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
};
/* Both programs' main (bench_name set first): root, libfakexen.so
 * preloaded, then [--srcdir DIR] COMMAND [OPTIONS] run by the entry of
 * CMDS (ended by a NULL name) of that name; USAGE and 2 without one. */
int bench_main(int argc, char **argv, const struct bench_cmd *cmds,
	       void (*usage)(void));

#endif
