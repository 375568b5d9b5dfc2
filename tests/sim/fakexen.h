/*
 * fakexen: the simulated hypervisor of xdev's test host.
 *
 * libfakexen.so is LD_PRELOADed into the real xenstored/oxenstored and into
 * every process of a simulated host.  It defines the libxenctrl,
 * libxenevtchn and libxengnttab entry points those programs call, and keeps
 * the "hypervisor" state in two files of the host directory ($XDEV_SIM_DIR)
 * that every process maps shared:
 *
 *   domains   the domain registry: one record per domid (flags, name, uuid,
 *             the port of the domain's xenstore event channel)
 *   evtchn    the event-channel table: one record per port, global to the host
 *
 * plus rings/<domid> (each domain's 4096-byte xenstore ring page) and
 * ev/<endpoint> (one FIFO per open xenevtchn handle: the single fd that
 * xenevtchn_fd() returns; a notify writes the 4-byte port number into the
 * receiver's FIFO once per pending edge, so delivery is O(1) and never
 * touches the file system after the first use).
 *
 * The functions below are the simulator's own interface, used by xdev-sim and
 * by the simulated guests; they return 0 or a negative errno.
 */
#ifndef XDEV_FAKEXEN_H
#define XDEV_FAKEXEN_H

#include <stdint.h>
#include <xenevtchn.h>

#define FAKEXEN_ENV_DIR "XDEV_SIM_DIR"

/* Highest usable domid + 1 (DOMID_FIRST_RESERVED). */
#define FAKEXEN_NR_DOMIDS 0x7FF0
#define FAKEXEN_NR_PORTS 16384
#define FAKEXEN_NAME_MAX 64

/* Domain flags, as the hypervisor reports them in xc_dominfo_t. */
#define FAKEXEN_DOM_EXISTS   0x01u
#define FAKEXEN_DOM_DYING    0x02u
#define FAKEXEN_DOM_SHUTDOWN 0x04u
#define FAKEXEN_DOM_CRASHED  0x08u
#define FAKEXEN_DOM_PAUSED   0x10u

struct fakexen_dominfo {
	uint32_t domid;
	uint32_t flags;
	uint32_t shutdown_reason;
	uint32_t xs_port;          /* guest side of the xenstore event channel */
	char name[FAKEXEN_NAME_MAX];
	uint8_t uuid[16];
};

/* Map the host state of DIR (NULL: $XDEV_SIM_DIR, or the current one).
 * Attaching to another directory switches hosts: event-channel handles
 * opened on the previous one must have been closed. */
int fakexen_attach(const char *dir);
/* The directory attached to, or NULL. */
const char *fakexen_dir(void);

/* Create the host state in an empty directory DIR: the registry with dom0,
 * the event-channel table, dom0's xenstore port and the xsd_port/xsd_kva
 * files xenstored opens.  Then attaches to it. */
int fakexen_host_init(const char *dir);

/* Create a domain.  DOMID 0 picks the lowest free id >= 1.  Creates the
 * ring page and an unbound xenstore event channel (dominfo.xs_port). */
int fakexen_domain_create(uint32_t domid, const char *name,
			  const uint8_t uuid[16], uint32_t *ret_domid);
int fakexen_domain_get(uint32_t domid, struct fakexen_dominfo *ret);
/* Set and clear flags, then raise VIRQ_DOM_EXC as Xen does on every change
 * of a domain's state. */
int fakexen_domain_update(uint32_t domid, uint32_t set, uint32_t clear,
			  uint32_t shutdown_reason);
/* The domain is gone: its record, ring page and ports are released, and
 * VIRQ_DOM_EXC is raised. */
int fakexen_domain_remove(uint32_t domid);
/* Fill up to MAX domids of existing domains, ascending; returns the count. */
int fakexen_domain_list(uint32_t *domids, int max);

/* Map / unmap DOMID's xenstore ring page (struct xenstore_domain_interface). */
void *fakexen_ring_map(uint32_t domid);
void fakexen_ring_unmap(void *ring);

/* Guest side: take delivery of DOMID's xenstore event channel on handle H
 * (opened with xenevtchn_open()).  Afterwards xenevtchn_notify(h, port)
 * signals xenstored and xenevtchn_pending(h) returns PORT when xenstored
 * signals the guest. */
int fakexen_guest_bind_xs_port(xenevtchn_handle *h, uint32_t domid,
			       evtchn_port_t *ret_port);

/* Event-channel traffic since the host started, for benchmarks: every
 * notify, and the wake-ups (FIFO writes) that were not coalesced. */
struct fakexen_stats {
	uint64_t notifies;
	uint64_t wakeups;
};
int fakexen_stats(struct fakexen_stats *ret);

/* Raise VIRQ_DOM_EXC on every port bound to it. */
void fakexen_raise_dom_exc(void);

#endif
