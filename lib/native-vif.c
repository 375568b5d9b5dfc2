/*
 * native-vif: netback's hotplug without the vif-bridge script - the vif
 * netback made (vif<domid>.<handle>) joins its bridge, through rtnetlink.
 *
 * online: the bridge must exist and be a bridge; the vif gets the MTU
 * asked for, the address fe:ff:ff:ff:ff:ff (Xen's scripts give every vif
 * that address: the guest's MAC is the frontend's, and a bridge never
 * takes a port's fe:ff:... address as its own), the bridge as master,
 * and goes up; then hotplug-status=connected.  offline: the vif, if it
 * is still there (netback deletes it with the device), leaves its bridge
 * and goes down.  The messages are hotplug/vif-bridge's.
 *
 * Each request is one message on a NETLINK_ROUTE socket of the caller's
 * network namespace, answered at once by the kernel.  The one wait:
 * Linux's netback switches to InitWait before it registers the vif
 * (netback_probe, then backend_create_xenvif), so online may come first;
 * it is tried again, without blocking, until release_wait_ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "native.h"

#define MSG_ROOM 1024
#define NAP_MAX_MS 50

struct link_req {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
	char attrs[256];
};

static void put_attr(struct link_req *r, unsigned short type,
		     const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)r +
					     NLMSG_ALIGN(r->nh.nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static void req_init(struct link_req *r, unsigned short type, int index)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_len = NLMSG_LENGTH(sizeof(r->ifi));
	r->nh.nlmsg_type = type;
	r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	r->ifi.ifi_family = AF_UNSPEC;
	r->ifi.ifi_index = index;
}

/* The kind (IFLA_INFO_KIND) in a link's IFLA_LINKINFO, if any. */
static void link_kind(struct rtattr *a, int len, char *kind, size_t n)
{
	struct rtattr *i;
	int ilen;

	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != IFLA_LINKINFO)
			continue;
		ilen = (int)RTA_PAYLOAD(a);
		for (i = RTA_DATA(a); RTA_OK(i, ilen); i = RTA_NEXT(i, ilen))
			if (i->rta_type == IFLA_INFO_KIND)
				snprintf(kind, n, "%.*s", (int)RTA_PAYLOAD(i),
					 (char *)RTA_DATA(i));
	}
}

/* Send R; read the answer.  0, or -errno from the kernel's error; for a
 * RTM_GETLINK, the link's index and kind. */
static int rtnl_talk(int fd, struct link_req *r, int *index, char *kind,
		     size_t kind_n)
{
	char buf[MSG_ROOM * 8];
	struct nlmsghdr *h;
	ssize_t n;
	int len;

	if (send(fd, r, r->nh.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return errno == EINTR ? -EAGAIN : -errno;
		len = (int)n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			if (h->nlmsg_type == RTM_NEWLINK && index) {
				struct ifinfomsg *ifi = NLMSG_DATA(h);

				*index = ifi->ifi_index;
				kind[0] = 0;
				link_kind(IFLA_RTA(ifi), (int)IFLA_PAYLOAD(h),
					  kind, kind_n);
				/* the ack follows (NLM_F_ACK) */
			}
		}
	}
}

/* The index (and kind) of link NAME: -ENODEV if there is none. */
static int link_get(int fd, const char *name, int *index, char *kind,
		    size_t kind_n)
{
	struct link_req r;
	int e;

	req_init(&r, RTM_GETLINK, 0);
	put_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	e = rtnl_talk(fd, &r, index, kind, kind_n);
	return e == -ENOENT ? -ENODEV : e;
}

static int link_set_u32(int fd, int index, unsigned short attr, unsigned v)
{
	struct link_req r;

	req_init(&r, RTM_NEWLINK, index);
	put_attr(&r, attr, &v, sizeof(v));
	return rtnl_talk(fd, &r, NULL, NULL, 0);
}

static int link_set_address(int fd, int index, const unsigned char mac[6])
{
	struct link_req r;

	req_init(&r, RTM_NEWLINK, index);
	put_attr(&r, IFLA_ADDRESS, mac, 6);
	return rtnl_talk(fd, &r, NULL, NULL, 0);
}

static int link_set_up(int fd, int index, bool up)
{
	struct link_req r;

	req_init(&r, RTM_NEWLINK, index);
	r.ifi.ifi_change = IFF_UP;
	r.ifi.ifi_flags = up ? IFF_UP : 0;
	return rtnl_talk(fd, &r, NULL, NULL, 0);
}

static int rtnl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* The vif not there yet: RETRY until release_end, then FAILED. */
static enum native_status link_wait(struct native_job *job, int64_t now,
				    int *retry_ms)
{
	if (job->phase != NATIVE_LINK_WAIT) {
		job->phase = NATIVE_LINK_WAIT;
		job->release_end = now + job->release_wait_ms;
		job->nap_ms = 1;
	}
	if (now >= job->release_end)
		return native__fail(job, "interface %s does not exist",
				    job->ifname);
	*retry_ms = job->nap_ms;
	if (job->nap_ms < NAP_MAX_MS)
		job->nap_ms *= 2;
	return NATIVE_RETRY;
}

static enum native_status vif_online(struct native_job *job, int fd,
				     int64_t now, int *retry_ms)
{
	static const unsigned char host_mac[6] = { 0xfe, 0xff, 0xff,
						   0xff, 0xff, 0xff };
	const char *const kv[] = { "hotplug-status", "connected", NULL };
	const char *dev = job->ifname, *br = job->bridge;
	char kind[32];
	int vif, bridge, e;

	if (link_get(fd, dev, &vif, kind, sizeof(kind)))
		return link_wait(job, now, retry_ms);
	if (link_get(fd, br, &bridge, kind, sizeof(kind)))
		return native__fail(job, "bridge %s does not exist", br);
	if (strcmp(kind, "bridge"))
		return native__fail(job, "%s, the bridge for interface %s, is "
				    "not a bridge", br, dev);
	if (job->mtu && (e = link_set_u32(fd, vif, IFLA_MTU, job->mtu)))
		return native__fail(job, "cannot set mtu %u on interface %s: "
				    "%s", job->mtu, dev, strerror(-e));
	if ((e = link_set_address(fd, vif, host_mac)))
		return native__fail(job, "cannot set address "
				    "fe:ff:ff:ff:ff:ff on interface %s: %s",
				    dev, strerror(-e));
	if ((e = link_set_u32(fd, vif, IFLA_MASTER, (unsigned)bridge)))
		return native__fail(job, "cannot add interface %s to bridge "
				    "%s: %s", dev, br, strerror(-e));
	if ((e = link_set_up(fd, vif, true)))
		return native__fail(job, "cannot bring interface %s up: %s",
				    dev, strerror(-e));
	if (native__write(job, kv))
		return native__fail(job, "cannot write hotplug-status for "
				    "interface %s", dev);
	return NATIVE_DONE;
}

/* A failure that is only the vif vanishing meanwhile is success. */
static bool gone(int fd, const char *dev, int e)
{
	char kind[32];
	int index;

	return e == -ENODEV || link_get(fd, dev, &index, kind,
					sizeof(kind)) == -ENODEV;
}

static enum native_status vif_offline(struct native_job *job, int fd)
{
	const char *dev = job->ifname;
	char kind[32];
	int vif, e;

	if (link_get(fd, dev, &vif, kind, sizeof(kind)) == -ENODEV)
		return NATIVE_DONE;
	e = link_set_u32(fd, vif, IFLA_MASTER, 0);
	if (e && !gone(fd, dev, e))
		return native__fail(job, "cannot detach interface %s from its "
				    "bridge: %s", dev, strerror(-e));
	e = link_set_up(fd, vif, false);
	if (e && !gone(fd, dev, e))
		return native__fail(job, "cannot bring interface %s down: %s",
				    dev, strerror(-e));
	return NATIVE_DONE;
}

enum native_status native__vif_step(struct native_job *job, int64_t now,
				    int *retry_ms)
{
	enum native_status s;
	int fd = rtnl_open();

	if (fd < 0)
		return native__fail(job, "cannot open a netlink socket for "
				    "interface %s: %s", job->ifname,
				    strerror(-fd));
	s = job->adding ? vif_online(job, fd, now, retry_ms) :
			  vif_offline(job, fd);
	close(fd);
	return s;
}
