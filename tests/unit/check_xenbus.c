/*
 * The simulated guest kernel's xenbus (tests/sim/xenbus-mux.h): many
 * programs of one domain share its ring through the kernel's socket, each
 * with its own view (replies, watch events, transactions), through guest-xs
 * (xsg_*), libxenstore, the xenstore-* tools and raw sockets; and what the
 * kernel does itself (clean-up of a client that goes, the ring reset).
 *
 * Every test runs once against C xenstored and once against oxenstored (two
 * TCases over the same list).  The fixture starts a host, creates a domain
 * and runs sim_xenbus_run() for it in a child process, which must end
 * cleanly (status 0, socket removed) on SIGTERM.
 *
 * "No event arrived" is never a timeout: the client also watches a marker
 * node that dom0 writes last, and events reach a client in order.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xen/io/xs_wire.h>

#include "guest-xs.h"
#include "simfixture.h"
#include "xenbus-mux.h"
#include "xs-ring.h"

#define WAIT_MS 5000
#define BULK_WAIT_MS 60000

static pid_t kern_pid;
static uint32_t kern_dom;
static char kern_sock[512];

/* ---- fixture: a host, a domain, its kernel --------------------------- */

static void kernel_child(int ready_fd, pid_t parent)
{
	/* Nothing may outlive a crashed test. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	_exit(sim_xenbus_run(kern_dom, kern_sock, ready_fd) ? 1 : 0);
}

static void kernel_start(void)
{
	char dir[400], c;
	pid_t parent = getpid();
	struct pollfd p;
	struct stat st;
	int ready[2];

	kern_dom = fx_domain("kern");
	snprintf(dir, sizeof(dir), "%s/xenbus", fx_host.dir);
	ck_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
	snprintf(kern_sock, sizeof(kern_sock), "%s/%u", dir, kern_dom);
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	kern_pid = fork();
	ck_assert_int_ge(kern_pid, 0);
	if (kern_pid == 0) {
		close(ready[0]);
		kernel_child(ready[1], parent);
	}
	close(ready[1]);
	p = (struct pollfd){ .fd = ready[0], .events = POLLIN };
	ck_assert_msg(poll(&p, 1, WAIT_MS) == 1 && read(ready[0], &c, 1) == 1,
		      "the kernel did not start");
	close(ready[0]);
	ck_assert_int_eq(stat(kern_sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
}

static void setup_c(void)
{
	fx_start_c();
	kernel_start();
}

static void setup_o(void)
{
	fx_start_o();
	kernel_start();
}

static void teardown(void)
{
	int st = 0;
	pid_t pid = kern_pid;

	kern_pid = 0;
	if (pid > 0) {
		kill(pid, SIGTERM);
		if (waitpid(pid, &st, 0) != pid)
			st = -1;
	}
	fx_stop();
	ck_assert_msg(st == 0, "the kernel ended with status %#x", st);
	ck_assert_msg(pid <= 0 || access(kern_sock, F_OK) < 0,
		      "%s left behind", kern_sock);
}

/* ---- helpers --------------------------------------------------------- */

static int is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* A program of the domain, through the kernel. */
static struct xsg *client(void)
{
	struct xsg *x = NULL;
	int r = xsg_open(kern_dom, &x);

	ck_assert_msg(r == 0, "xsg_open: %s", strerror(-r));
	ck_assert_msg(is_socket(xsg_fd(x)), "not through the kernel");
	return x;
}

static void dom_path(char *buf, size_t size, uint32_t d, const char *rel)
{
	snprintf(buf, size, "/local/domain/%u/%s", d, rel);
}

/* Dom0 writes REL of the kernel's domain. */
static void dom0_write(const char *rel, const char *v)
{
	struct xs_handle *xs = fx_xs();
	char path[128];

	dom_path(path, sizeof(path), kern_dom, rel);
	ck_assert_msg(xs_write(xs, XBT_NULL, path, v, strlen(v)),
		      "write %s: %s", path, strerror(errno));
	xs_close(xs);
}

static void expect_event(struct xsg *x, const char *path, const char *token)
{
	char *p = NULL, *t = NULL;
	int r = xsg_read_watch(x, WAIT_MS, &p, &t);

	ck_assert_msg(r == 0, "no event for %s: %s", path, strerror(-r));
	ck_assert_str_eq(p, path);
	ck_assert_str_eq(t, token);
	free(p);
	free(t);
}

static void watch(struct xsg *x, const char *path, const char *token)
{
	int r = xsg_watch(x, path, token);

	ck_assert_msg(r == 0, "watch %s: %s", path, strerror(-r));
	expect_event(x, path, token);   /* the initial one */
}

static void write_ok(struct xsg *x, uint32_t tx, const char *path,
		     const char *v)
{
	int r = xsg_write(x, tx, path, v, strlen(v));

	ck_assert_msg(r == 0, "write %s: %s", path, strerror(-r));
}

static void read_is(struct xsg *x, uint32_t tx, const char *path,
		    const char *want)
{
	char *v = NULL;
	int r = xsg_read(x, tx, path, &v, NULL);

	ck_assert_msg(r == 0, "read %s: %s", path, strerror(-r));
	ck_assert_str_eq(v, want);
	free(v);
}

/* A raw connection to the kernel, for what xsg would not send. */
static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sa.sun_path, kern_sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static void raw_send(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			ck_assert_int_eq(poll(&pf, 1, WAIT_MS), 1);
			continue;
		}
		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Receive one message: 1, or 0 when the kernel closed the connection. */
static int raw_recv(int fd, struct xs_rx *rx, struct xs_msg *m)
{
	int64_t deadline = xs_deadline_in(WAIT_MS);

	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = xs_rx_fill(rx, xs_sock_take, &fd, m);

		if (r == 1)
			return 1;
		if (r == -ECONNRESET)
			return 0;
		ck_assert_int_eq(r, 0);
		ck_assert_msg(poll(&pf, 1, xs_poll_ms(deadline)) == 1,
			      "no reply");
	}
}

static void raw_request(int fd, uint32_t type, uint32_t req_id,
			const char *payload, size_t len)
{
	struct xsd_sockmsg h = { .type = type, .req_id = req_id,
				 .len = (uint32_t)len };

	raw_send(fd, &h, sizeof(h));
	raw_send(fd, payload, len);
}

/* Send a request and expect an XS_ERROR NAME back with its req_id. */
static void raw_expect_error(int fd, uint32_t type, const char *payload,
			     size_t len, const char *name)
{
	struct xs_rx rx = { 0 };
	struct xs_msg m;

	raw_request(fd, type, 77, payload, len);
	ck_assert_int_eq(raw_recv(fd, &rx, &m), 1);
	ck_assert_int_eq(m.hdr.type, XS_ERROR);
	ck_assert_int_eq(m.hdr.req_id, 77);
	ck_assert_str_eq(m.body, name);
	free(m.body);
}

/* ---- two programs at once -------------------------------------------- */

START_TEST(two_clients_get_only_their_own_events)
{
	struct xsg *a = client(), *b = client();

	/* The same token in both: the kernel tells them apart. */
	watch(a, "data/w", "tok");
	watch(b, "data/v", "tok");
	watch(a, "data/marker", "m");
	watch(b, "data/marker", "m");
	dom0_write("data/w", "1");
	dom0_write("data/marker", "1");
	expect_event(a, "data/w", "tok");
	expect_event(a, "data/marker", "m");
	expect_event(b, "data/marker", "m");  /* and nothing before it */
	dom0_write("data/v", "1");
	dom0_write("data/marker", "2");
	expect_event(b, "data/v", "tok");
	expect_event(b, "data/marker", "m");
	expect_event(a, "data/marker", "m");
	/* Interleaved requests see each other's writes. */
	write_ok(a, 0, "data/a1", "from-a");
	write_ok(b, 0, "data/b1", "from-b");
	read_is(a, 0, "data/b1", "from-b");
	read_is(b, 0, "data/a1", "from-a");
	ck_assert_int_eq(xsg_unwatch(a, "data/w", "tok"), 0);
	xsg_close(a);
	xsg_close(b);
}
END_TEST

START_TEST(domain_without_kernel_uses_its_ring)
{
	uint32_t d = fx_domain("bare");
	struct xsg *g = NULL;

	ck_assert_int_eq(xsg_open(d, &g), 0);
	ck_assert(!is_socket(xsg_fd(g)));
	write_ok(g, 0, "data/x", "1");
	xsg_close(g);
	ck_assert_int_eq(xsg_open_ring(d, &g), 0);
	read_is(g, 0, "data/x", "1");
	xsg_close(g);
}
END_TEST

/* ---- libxenstore and the tools --------------------------------------- */

static struct xs_handle *xs_through_kernel(void)
{
	struct xs_handle *xs;

	setenv("XENSTORED_PATH", kern_sock, 1);
	xs = xs_open(0);
	setenv("XENSTORED_PATH", fx_host.socket, 1);
	ck_assert_msg(xs != NULL, "xs_open: %s", strerror(errno));
	return xs;
}

static void tool_prints(const char *cmd, const char *want)
{
	char line[256] = "", full[600];
	FILE *f;

	snprintf(full, sizeof(full), "export XENSTORED_PATH='%s'; %s 2>&1",
		 kern_sock, cmd);
	f = popen(full, "r");
	ck_assert_ptr_nonnull(f);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_str_eq(line, want);
}

START_TEST(libxenstore_has_the_domain_rights)
{
	uint32_t other = fx_domain("other");
	struct xs_handle *xs = xs_through_kernel();
	char path[128], cmd[300], *v, *ev = NULL;
	unsigned len;

	dom_path(path, sizeof(path), kern_dom, "data/lx");
	ck_assert(xs_write(xs, XBT_NULL, path, "v1", 2));
	v = xs_read(xs, XBT_NULL, "data/lx", &len);     /* relative */
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "v1");
	free(v);
	dom_path(path, sizeof(path), other, "name");
	ck_assert_ptr_null(xs_read(xs, XBT_NULL, path, &len));
	ck_assert_int_eq(errno, EACCES);
	dom_path(path, sizeof(path), other, "data/x");
	ck_assert(!xs_write(xs, XBT_NULL, path, "1", 1));
	ck_assert_int_eq(errno, EACCES);
	snprintf(path, sizeof(path), "/local/domain/0/backend/vbd/%u/51712/state",
		 kern_dom);
	ck_assert(!xs_write(xs, XBT_NULL, path, "4", 1));
	ck_assert_int_eq(errno, EACCES);
	/* Watches through libxenstore's reader thread. */
	fx_watch(xs, "data/lw", "lt");
	dom0_write("data/lw", "x");
	ck_assert_int_eq(fx_next_event(xs, WAIT_MS, &ev), 0);
	ck_assert_str_eq(ev, "data/lw");
	free(ev);
	xs_close(xs);
	snprintf(cmd, sizeof(cmd), "xenstore-read /local/domain/%u/name",
		 kern_dom);
	tool_prints(cmd, "kern\n");
	tool_prints("xenstore-write data/tool t && xenstore-read data/tool",
		    "t\n");
}
END_TEST

/* ---- a client that goes ---------------------------------------------- */

/* More watches than the domain's quota (C 128, O 100) in total: only
 * possible if each client's are removed when it goes. */
START_TEST(disconnect_removes_watches)
{
	struct xsg *b = client(), *a, *c;
	char path[32];
	int round, i;

	watch(b, "data/marker", "m");
	for (round = 0; round < 4; round++) {
		a = client();
		for (i = 0; i < 60; i++) {
			snprintf(path, sizeof(path), "data/q%d", i);
			ck_assert_int_eq(xsg_watch(a, path, "q"), 0);
		}
		xsg_close(a);
	}
	a = client();
	watch(a, "data/gone", "t");
	xsg_close(a);
	c = client();
	watch(c, "data/gone", "t");     /* the same path and token */
	xsg_close(c);
	dom0_write("data/gone", "1");
	dom0_write("data/marker", "1");
	expect_event(b, "data/marker", "m");
	xsg_close(b);
}
END_TEST

/* More transactions than the quota (10): only possible if each client's
 * are ended when it goes. */
START_TEST(disconnect_ends_transactions)
{
	uint32_t tx;
	int round, i;

	for (round = 0; round < 4; round++) {
		struct xsg *a = client();

		for (i = 0; i < 6; i++) {
			int r = xsg_transaction_start(a, &tx);

			ck_assert_msg(r == 0, "round %d tx %d: %s", round, i,
				      strerror(-r));
			write_ok(a, tx, "data/txq", "never");
		}
		xsg_close(a);
	}
}
END_TEST

/* A client that starts a transaction and goes before the reply: the
 * kernel ends it when the reply comes, or the quota (10) would run out. */
START_TEST(orphaned_transactions_are_ended)
{
	struct xsg *good = client();
	char v[16];
	uint32_t tx;
	int i;

	for (i = 0; i < 12; i++) {
		int fd = raw_connect();

		raw_request(fd, XS_TRANSACTION_START, 1, "", 1);
		close(fd);
		snprintf(v, sizeof(v), "%d", i);
		write_ok(good, 0, "data/o", v);
	}
	ck_assert_int_eq(xsg_transaction_start(good, &tx), 0);
	ck_assert_int_eq(xsg_transaction_end(good, tx, 0), 0);
	xsg_close(good);
}
END_TEST

/* ---- transactions of two clients ------------------------------------- */

START_TEST(transactions_interleave)
{
	struct xsg *a = client(), *b = client();
	uint32_t ta, tb;
	char *v = NULL;

	/* Existing nodes: creating one would change the parent, which C
	 * xenstored counts as a conflict between the two. */
	write_ok(a, 0, "data/ta", "0");
	write_ok(b, 0, "data/tb", "0");
	ck_assert_int_eq(xsg_transaction_start(a, &ta), 0);
	ck_assert_int_eq(xsg_transaction_start(b, &tb), 0);
	ck_assert_uint_ne(ta, tb);
	write_ok(a, ta, "data/ta", "a");
	write_ok(b, tb, "data/tb", "b");
	read_is(a, ta, "data/tb", "0");
	/* One client cannot use another's transaction. */
	ck_assert_int_eq(xsg_write(b, ta, "data/tc", "x", 1), -ENOENT);
	ck_assert_int_eq(xsg_transaction_end(a, ta, 1), 0);
	ck_assert_int_eq(xsg_transaction_end(b, tb, 1), 0);
	read_is(a, 0, "data/tb", "b");
	read_is(b, 0, "data/ta", "a");
	ck_assert_int_eq(xsg_read(a, 0, "data/tc", &v, NULL), -ENOENT);
	/* A conflict is the loser's alone. */
	write_ok(a, 0, "data/c", "0");
	ck_assert_int_eq(xsg_transaction_start(a, &ta), 0);
	ck_assert_int_eq(xsg_transaction_start(b, &tb), 0);
	read_is(a, ta, "data/c", "0");
	read_is(b, tb, "data/c", "0");
	write_ok(a, ta, "data/c", "a");
	write_ok(b, tb, "data/c", "b");
	ck_assert_int_eq(xsg_transaction_end(a, ta, 1), 0);
	ck_assert_int_eq(xsg_transaction_end(b, tb, 1), -EAGAIN);
	read_is(b, 0, "data/c", "a");
	xsg_close(a);
	xsg_close(b);
}
END_TEST

/* ---- many requests in flight ----------------------------------------- */

#define NCLIENTS 4
#define NREQ 250
#define NKEYS 25

/* One pipelining client: all its requests written at once, replies read
 * as they come; the same req_ids as the others, so a reply routed to the
 * wrong client would be noticed. */
struct bulk {
	int fd;
	char *out;
	size_t out_len, out_off;
	struct xs_rx rx;
	unsigned got;
};

static size_t bulk_put(char *buf, uint32_t type, uint32_t id,
		       const char *a, const char *b)
{
	struct xsd_sockmsg h = { .type = type, .req_id = id };
	size_t alen = strlen(a) + 1, blen = b ? strlen(b) : 0;

	h.len = (uint32_t)(alen + blen);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), a, alen);
	if (b)
		memcpy(buf + sizeof(h) + alen, b, blen);
	return sizeof(h) + alen + blen;
}

/* Even ids write key (i/2 % NKEYS) = "<client>-<i>", odd ids read it. */
static void bulk_init(struct bulk *k, int c)
{
	char key[32], val[32];
	unsigned i;

	memset(k, 0, sizeof(*k));
	k->fd = raw_connect();
	k->out = malloc(NREQ * 128);
	ck_assert_ptr_nonnull(k->out);
	for (i = 0; i < NREQ; i++) {
		snprintf(key, sizeof(key), "data/f%d/k%u", c, (i / 2) % NKEYS);
		snprintf(val, sizeof(val), "%d-%u", c, i & ~1u);
		k->out_len += bulk_put(k->out + k->out_len,
				       i % 2 ? XS_READ : XS_WRITE, i, key,
				       i % 2 ? NULL : val);
	}
}

static void bulk_check(struct bulk *k, int c, const struct xs_msg *m)
{
	char want[32];
	unsigned i = k->got++;

	ck_assert_uint_eq(m->hdr.req_id, i);
	ck_assert_uint_eq(m->hdr.type, i % 2 ? XS_READ : XS_WRITE);
	snprintf(want, sizeof(want), "%d-%u", c, i & ~1u);
	ck_assert_str_eq(m->body, i % 2 ? want : "OK");
}

static void bulk_io(struct bulk *k, int c, short revents)
{
	struct xs_msg m;
	ssize_t n;
	int r;

	if ((revents & POLLOUT) && k->out_off < k->out_len) {
		n = send(k->fd, k->out + k->out_off, k->out_len - k->out_off,
			 MSG_NOSIGNAL);
		ck_assert(n > 0 || errno == EAGAIN);
		if (n > 0)
			k->out_off += (size_t)n;
	}
	while ((r = xs_rx_fill(&k->rx, xs_sock_take, &k->fd, &m)) == 1) {
		bulk_check(k, c, &m);
		free(m.body);
	}
	ck_assert_int_eq(r, 0);
}

START_TEST(many_requests_in_flight)
{
	struct bulk k[NCLIENTS];
	struct pollfd p[NCLIENTS];
	int64_t deadline = xs_deadline_in(BULK_WAIT_MS);
	unsigned done = 0;
	int c;

	for (c = 0; c < NCLIENTS; c++)
		bulk_init(&k[c], c);
	while (done < NCLIENTS) {
		for (c = 0; c < NCLIENTS; c++)
			p[c] = (struct pollfd){ .fd = k[c].fd, .events =
				POLLIN | (k[c].out_off < k[c].out_len ?
					  POLLOUT : 0) };
		ck_assert_msg(poll(p, NCLIENTS, xs_poll_ms(deadline)) > 0,
			      "stuck");
		for (c = 0, done = 0; c < NCLIENTS; c++) {
			bulk_io(&k[c], c, p[c].revents);
			done += k[c].got == NREQ;
		}
	}
	for (c = 0; c < NCLIENTS; c++) {
		close(k[c].fd);
		free(k[c].out);
	}
}
END_TEST

/* ---- misbehaving clients --------------------------------------------- */

START_TEST(misbehaving_clients_are_contained)
{
	struct xsg *good = client();
	struct xsd_sockmsg huge = { .type = XS_READ,
				    .len = XENSTORE_PAYLOAD_MAX + 1 };
	struct xs_rx rx = { 0 };
	struct xs_msg m;
	int fd = raw_connect();

	watch(good, "data/marker", "m");
	/* Would remove every client's watches. */
	raw_expect_error(fd, XS_RESET_WATCHES, NULL, 0, "EINVAL");
	raw_expect_error(fd, 999, "x", 2, "EINVAL");
	raw_expect_error(fd, XS_WATCH, "no-token", 8, "EINVAL");
	/* The daemon answers these itself. */
	raw_request(fd, XS_TRANSACTION_END, 5, "T", 2);
	ck_assert_int_eq(raw_recv(fd, &rx, &m), 1);
	ck_assert_int_eq(m.hdr.type, XS_ERROR);
	free(m.body);
	/* A frame nobody may send: the connection ends. */
	raw_send(fd, &huge, sizeof(huge));
	ck_assert_int_eq(raw_recv(fd, &rx, &m), 0);
	close(fd);
	write_ok(good, 0, "data/still", "fine");
	dom0_write("data/marker", "1");
	expect_event(good, "data/marker", "m");
	xsg_close(good);
}
END_TEST

/* ---- the ring reset -------------------------------------------------- */

START_TEST(reconnect_keeps_watches_on_oxenstored)
{
	struct xsg *a = client(), *b = client();
	uint32_t tx;

	ck_assert_int_eq(xsg_server_features(a) &
			 XENSTORE_SERVER_FEATURE_RECONNECTION,
			 XENSTORE_SERVER_FEATURE_RECONNECTION);
	watch(a, "data/r", "ra");
	watch(b, "data/r", "rb");
	write_ok(a, 0, "data/before", "1");
	ck_assert_int_eq(xsg_transaction_start(b, &tx), 0);
	ck_assert_int_eq(xsg_reconnect(a, WAIT_MS), 0);
	/* Registered again, so fired again, as Linux does. */
	expect_event(a, "data/r", "ra");
	expect_event(b, "data/r", "rb");
	dom0_write("data/r", "after");
	expect_event(a, "data/r", "ra");
	expect_event(b, "data/r", "rb");
	read_is(a, 0, "data/before", "1");
	/* The daemon forgot the transaction. */
	ck_assert_int_eq(xsg_write(b, tx, "data/x", "1", 1), -ENOENT);
	ck_assert_int_eq(xsg_unwatch(a, "data/r", "ra"), 0);
	xsg_close(a);
	xsg_close(b);
}
END_TEST

/* Requests in flight during a reset: each gets exactly one reply, in
 * order, its own or EIO. */
START_TEST(reconnect_fails_only_requests_in_flight)
{
	struct xsg *a = client();
	struct bulk k;
	struct xs_msg m;
	unsigned i;

	bulk_init(&k, 0);
	raw_send(k.fd, k.out, k.out_len);
	ck_assert_int_eq(xsg_reconnect(a, WAIT_MS), 0);
	for (i = 0; i < NREQ; i++) {
		ck_assert_int_eq(raw_recv(k.fd, &k.rx, &m), 1);
		ck_assert_uint_eq(m.hdr.req_id, i);
		if (m.hdr.type == XS_ERROR) {
			ck_assert_str_eq(m.body, "EIO");
			k.got++;
		} else {
			bulk_check(&k, 0, &m);
		}
		free(m.body);
	}
	close(k.fd);
	free(k.out);
	read_is(a, 0, "name", "kern");
	xsg_close(a);
}
END_TEST

START_TEST(reconnect_unsupported_on_c_xenstored)
{
	struct xsg *a = client();

	ck_assert_int_eq(xsg_server_features(a) &
			 XENSTORE_SERVER_FEATURE_RECONNECTION, 0);
	watch(a, "data/r", "ra");
	ck_assert_int_eq(xsg_reconnect(a, WAIT_MS), -EOPNOTSUPP);
	write_ok(a, 0, "data/after", "1");
	dom0_write("data/r", "x");
	expect_event(a, "data/r", "ra");
	xsg_close(a);
}
END_TEST

/* EXTRA: the daemon's own tests, NULL-terminated. */
static TCase *daemon_case(const char *name, void (*setup)(void),
			  const TTest *const *extra)
{
	TCase *tc = tcase_create(name);
	const TTest *const per_daemon[] = {
		two_clients_get_only_their_own_events,
		domain_without_kernel_uses_its_ring,
		libxenstore_has_the_domain_rights,
		disconnect_removes_watches,
		disconnect_ends_transactions,
		transactions_interleave,
		many_requests_in_flight,
		misbehaving_clients_are_contained,
		orphaned_transactions_are_ended,
	};
	size_t i;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	for (i = 0; i < sizeof(per_daemon) / sizeof(per_daemon[0]); i++)
		tcase_add_test(tc, per_daemon[i]);
	for (i = 0; extra[i]; i++)
		tcase_add_test(tc, extra[i]);
	return tc;
}

int main(void)
{
	const TTest *const c_only[] = { reconnect_unsupported_on_c_xenstored,
					NULL };
	const TTest *const o_only[] = { reconnect_keeps_watches_on_oxenstored,
					reconnect_fails_only_requests_in_flight,
					NULL };
	Suite *s = suite_create("xenbus");
	SRunner *sr;
	int failed;

	suite_add_tcase(s, daemon_case("xenstored", setup_c, c_only));
	suite_add_tcase(s, daemon_case("oxenstored", setup_o, o_only));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
