/*
 * Private layout of fakexen's shared state.  Every process of a simulated
 * host maps the same two files, so the structures here are an ABI between
 * them: fixed-size fields only, no pointers.
 */
#ifndef XDEV_FAKEXEN_INTERNAL_H
#define XDEV_FAKEXEN_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "fakexen.h"

#define FX_PAGE_SIZE 4096
#define FX_VIRQ_DOM_EXC 3

/* One record per domid.  `flags` is read without a lock (atomically); all
 * writers hold the registry flock. */
struct fx_dom {
	uint32_t flags;
	uint32_t shutdown_reason;
	uint32_t xs_port;
	uint32_t pad;
	char name[FAKEXEN_NAME_MAX];
	uint8_t uuid[16];
};

struct fx_domains {
	uint32_t magic;
	uint32_t pad;
	struct fx_dom dom[FAKEXEN_NR_DOMIDS];
};

enum fx_port_state {
	FX_PORT_FREE = 0,
	FX_PORT_RESERVED,    /* being set up by the allocating process */
	FX_PORT_UNBOUND,     /* allocated by `dom`, waiting for `remote_dom` */
	FX_PORT_INTERDOMAIN, /* connected to `remote_port` */
	FX_PORT_VIRQ,
};

/* Ports are numbered host-wide rather than per domain: a subset of what Xen
 * allows, and enough for every program that treats them as opaque. */
struct fx_port {
	uint32_t state;
	uint32_t dom;         /* domain the port belongs to */
	uint32_t remote_dom;
	uint32_t remote_port;
	uint32_t endpoint;    /* handle that receives notifications; 0: none */
	uint32_t pending;     /* 1 while a notification is queued */
	uint32_t virq;
	uint32_t pad;
};

struct fx_evtchn {
	uint32_t magic;
	uint32_t next_endpoint;
	uint64_t notifies;    /* xenevtchn_notify calls, host-wide */
	uint64_t wakeups;     /* FIFO writes: notifies that were not coalesced */
	struct fx_port port[FAKEXEN_NR_PORTS];
};

struct fx_domains *fx__domains(void);
struct fx_evtchn *fx__evtchn(void);
int fx__ensure_attached(void);
int fx__path(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int fx__sender_fd(uint32_t endpoint);
void fx__sender_forget(uint32_t endpoint);

/* fakexen-evtchn.c */
int fx__port_alloc(enum fx_port_state state, uint32_t dom,
		   uint32_t remote_dom, uint32_t endpoint);
void fx__port_deliver(uint32_t port);
void fx__ports_release_domain(uint32_t domid);
uint32_t fx__self_domid(void);

/* fakexen-calls.c: libc's open(), bypassing the redirection. */
int fx__real_open(const char *path, int flags, int mode);

#endif
