/*
 * op-add: adding a vbd or vif.
 *
 *   WRITE ──EAGAIN──> BACKOFF ──deadline──> WRITE
 *     │ one transaction: record, frontend, backend (permissions set on
 *     v each directory once; keys inherit them)
 *   WAIT_INITWAIT ──> RUN_SCRIPT (library mode) ──> [WAIT_CONNECTED] ──> done
 *                 └─> WAIT_HOTPLUG (external mode) ─┘
 *
 * Every wait has its own runtime timeout and ends at once, with its own
 * result, when the backend directory vanishes or either domain dies.  The
 * add script's phases are states of the op (SCRIPT_QUEUED ... EXITED).
 * Any failure after WRITE is undone by the teardown of a forced removal
 * (remove__undo, op-remove.c): once the add script has started, the
 * backend is given up to 2 s to say Closed (it may be in its connect()),
 * then its remove script runs, so that what it acquired (a loop device) is
 * released; with
 * a daemon in the backend's domain (xdevd) whose add script has reported,
 * the daemon's remove script does it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

#define WRITE_TRIES 8
#define BACKOFF_BASE_MS 2
#define BACKOFF_CAP_MS 200

static void set_state(struct xdev_op *op, enum op_state s, int timeout_ms)
{
	op__set_state(op, s);
	op__set_deadline(op, timeout_ms);
}

/* A native add waiting for block.lock: it holds nothing yet, and a
 * cancel stops it as it stops a queued script. */
static bool add_native_waits(const struct xdev_op *op)
{
	return op->state == OP_NATIVE_WAITING;
}

/* Fail, removing whatever the transaction wrote. */
static void fail(struct xdev_op *op, int result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct xdev_op *op, int result, const char *fmt, ...)
{
	struct track *t = op->track;
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(op->message, sizeof(op->message), fmt, ap);
		va_end(ap);
	}
	if (op__script_alive(op))
		child__stop(op->ctx, &op->child); /* killed and reaped */
	if (op->state == OP_SCRIPT_QUEUED || add_native_waits(op)) {
		hotplug__native_drop(op);
		op->add_script_started = false; /* it never ran */
	}
	if (add__wrote(op)) {
		remove__undo(op, result);
		return;
	}
	op__complete(op, result);
	op->track = NULL;
	if (!t->monitored)
		track__drop(op->ctx, t);
	else
		t->op = NULL;
}

static bool write_dir(struct xs_handle *xs, xs_transaction_t tx,
		      const char *dir, struct xs_permissions *perms,
		      const struct dev_kv *kv, int n)
{
	char path[PATH_LEN + 64];
	int i;

	if (!xs_mkdir(xs, tx, dir) || !xs_set_permissions(xs, tx, dir, perms, 2))
		return false;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, kv[i].key);
		if (!xs_write(xs, tx, path, kv[i].value, strlen(kv[i].value)))
			return false;
	}
	return true;
}

static int write_tx(struct xdev_op *op, xs_transaction_t tx,
		    struct xs_permissions *fperm, struct xs_permissions *bperm,
		    const struct dev_kv *fkv, int nf, const struct dev_kv *bkv,
		    int nb);

/* The transaction; 0, -EAGAIN to retry, or the failure. */
static int write_nodes(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	struct track *t = op->track;
	const xdev_device_id *id = &op->id;
	struct xs_permissions fperm[2] = { { id->frontend_domid, XS_PERM_NONE },
					   { id->backend_domid, XS_PERM_READ } };
	struct xs_permissions bperm[2] = { { id->backend_domid, XS_PERM_NONE },
					   { id->frontend_domid, XS_PERM_READ } };
	/* the values can be long (a vbd target): off the stack */
	struct dev_kv *fkv = calloc(2 * DEV_MAX_NODES, sizeof(*fkv));
	struct dev_kv *bkv = fkv ? fkv + DEV_MAX_NODES : NULL;
	int nf, nb, r;
	xs_transaction_t tx;

	if (!fkv)
		return -ENOMEM;
	/* recorded with the device: its removal runs the same script,
	 * whatever hotplug directory the remover's context has */
	if (hotplug__in_library(ctx, id))
		hotplug__resolve_script(op);
	t->script_known = true; /* "" if none: the record says so */
	nf = dev__frontend_nodes(op->desc, id->backend_domid, id->devid, t->be,
				 fkv);
	nb = dev__backend_nodes(op->desc, id->frontend_domid, id->devid, t->fe,
				bkv);
	if (nf < 0 || nb < 0) {
		free(fkv);
		return nf < 0 ? nf : nb;
	}
	tx = xs_transaction_start(ctx->xs);
	r = tx == XBT_NULL ? store__failed(ctx, errno)
		: write_tx(op, tx, fperm, bperm, fkv, nf, bkv, nb);
	free(fkv);
	return r;
}

/* The device is there: say whether an xdev actor holds it, or left it
 * half done when it died. */
static void exists_why(struct xdev_op *op)
{
	struct owner_info o;

	owner__read(op->ctx, op->track->rec, XBT_NULL, &o);
	if (!o.op[0])
		return;
	if (o.alive)
		snprintf(op->message, sizeof(op->message), "%s: being %s by "
			 "another xdev actor (process %d)", op->track->be,
			 o.op[0] == 'a' ? "added" : "removed", (int)o.pid);
	else
		snprintf(op->message, sizeof(op->message), "%s: left half %s "
			 "by process %d, which died: xdev_ctx_recover() (`xdev "
			 "recover --apply`) finishes it", op->track->be,
			 o.op[0] == 'a' ? "added" : "removed", (int)o.pid);
}

static int write_tx(struct xdev_op *op, xs_transaction_t tx,
		    struct xs_permissions *fperm, struct xs_permissions *bperm,
		    const struct dev_kv *fkv, int nf, const struct dev_kv *bkv,
		    int nb)
{
	struct xdev_ctx *ctx = op->ctx;
	struct track *t = op->track;
	char *existing;
	bool ok;

	/* its frontend, or xdev's record of it: a removal may have deleted
	 * the frontend already and still hold the record */
	existing = xs_read(ctx->xs, tx, t->fe, NULL);
	if (!existing)
		existing = xs_read(ctx->xs, tx, t->rec, NULL);
	if (existing) {
		free(existing);
		xs_transaction_end(ctx->xs, tx, true);
		exists_why(op);
		return XDEV_E_DEVICE_EXISTS;
	}
	ok = record__write(ctx, tx, t, dev__desc_get(op->desc,
			   op->id.type == XDEV_VBD ? "vdev" : "mac")) &&
	     write_dir(ctx->xs, tx, t->fe, fperm, fkv, nf) &&
	     write_dir(ctx->xs, tx, t->be, bperm, bkv, nb);
	if (!ok) {
		int e = errno;

		xs_transaction_end(ctx->xs, tx, true);
		snprintf(op->message, sizeof(op->message), "writing %s: %s",
			 t->be, strerror(e));
		return store__failed(ctx, e);
	}
	if (xs_transaction_end(ctx->xs, tx, false))
		return 0;
	return errno == EAGAIN ? -EAGAIN : store__failed(ctx, errno);
}

/* Jittered exponential backoff: conflicts come in bursts from concurrent
 * adds (xenopsd serialises to avoid livelock; we spread instead). */
static int backoff_ms(int tries)
{
	unsigned r = 0;
	int base = BACKOFF_BASE_MS << (tries < 7 ? tries : 7);

	if (base > BACKOFF_CAP_MS)
		base = BACKOFF_CAP_MS;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (unsigned)ctx__now_ms();
	return base / 2 + (int)(r % (unsigned)(base + 1));
}

static void step_write(struct xdev_op *op)
{
	int r = write_nodes(op);

	if (r == -EAGAIN && ++op->tries < WRITE_TRIES) {
		set_state(op, OP_ADD_BACKOFF, backoff_ms(op->tries));
		return;
	}
	if (r) {
		if (r == -EAGAIN)
			snprintf(op->message, sizeof(op->message),
				 "the transaction kept conflicting");
		fail(op, r == -EAGAIN ? XDEV_E_XENSTORE : r, NULL);
		return;
	}
	op->track->recorded = true;
	/* No look now: the transaction's own watch events step the op, and
	 * by then the backend may have moved (one read less per add). */
	set_state(op, OP_ADD_WAIT_INITWAIT, op->timeout_init_ms);
}

static bool backend_state(struct xdev_op *op, int *ret);

/* Both ends once more before the add reports success: a guest may delete
 * its frontend directory at any moment (it owns it), and the backend
 * learns of it only later; a device without its frontend is no device,
 * and what the add did is undone. */
static void succeed(struct xdev_op *op, bool backend_read)
{
	struct track *t = op->track;
	int st;

	if (!store__exists(op->ctx, t->fe)) {
		fail(op, XDEV_E_FRONTEND_GONE, "the frontend directory %s "
		     "vanished (deleted by the guest?)", t->fe);
		return;
	}
	if (!backend_read && !backend_state(op, &st))
		return;
	owner__release(op->ctx, t); /* done: nobody acts on it now */
	t->monitored = true;
	op__complete(op, 0);
}

/* After InitWait or hotplug: the next wait, or done. */
static void advance(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;

	if (op->state == OP_ADD_WAIT_INITWAIT &&
	    hotplug__in_library(ctx, &op->id)) {
		/* started, it may acquire something before it fails: undone
		 * by its remove script - also by a recovery, once this
		 * process is gone (recorded first) */
		op->add_script_started = true;
		if (owner__mark(ctx, op->track, "add-script", "started")) {
			op->add_script_started = false;
			fail(op, XDEV_E_XENSTORE, NULL);
			return;
		}
		if (hotplug__start(op, true, op->timeout_hotplug_ms)) {
			op->add_script_started = false;
			fail(op, XDEV_E_HOTPLUG_FAILED, NULL);
		}
	} else if (op->state == OP_ADD_WAIT_INITWAIT &&
		   ctx->opts.hotplug != XDEV_HOTPLUG_NONE) {
		/* external mode, or a driver domain's xdevd */
		set_state(op, OP_ADD_WAIT_HOTPLUG, op->timeout_hotplug_ms);
		op__again(op);
	} else if (op->state != OP_ADD_WAIT_CONNECTED &&
		   (op->flags & XDEV_ADD_WAIT_CONNECTED)) {
		set_state(op, OP_ADD_WAIT_CONNECTED, op->timeout_connect_ms);
		op__again(op);
	} else {
		succeed(op, false);
	}
}

/* What ends any wait early; true if it did. */
static bool wait_interrupted(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;

	if (op->cancelled) {
		fail(op, -ECANCELED, "cancelled");
		return true;
	}
	if (!store__domain_alive(ctx, op->id.backend_domid)) {
		fail(op, XDEV_E_BACKEND_GONE, "backend domain %u died",
		     op->id.backend_domid);
		return true;
	}
	if (!store__domain_alive(ctx, op->id.frontend_domid)) {
		fail(op, XDEV_E_FRONTEND_GONE, "frontend domain %u died",
		     op->id.frontend_domid);
		return true;
	}
	return false;
}

static void timed_out(struct xdev_op *op, const char *what, int ms)
{
	fail(op, -ETIMEDOUT, "%s: %s not reached within %d ms",
	     op->track->be, what, ms);
}

static bool backend_still_closed(struct xdev_ctx *ctx, const char *be)
{
	int st = store__read_state(ctx, be);

	return st == XB_CLOSING || st == XB_CLOSED;
}

/* The backend closed during the add.  Its frontend gone: the guest died
 * (the backend may see that before @releaseDomain reaches us).  The
 * frontend closing or starting over: a guest kexec or driver reload
 * (Closing, then Initialising again), after which both ends connect
 * again, so the add keeps waiting, within its deadline.  Otherwise the backend gave up: -EIO with
 * its error node, if it wrote one.  False if the op failed. */
static bool backend_closed(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	struct track *t = op->track;
	const char *rel = strchr(t->be + strlen("/local/domain/"), '/');
	char path[PATH_LEN + 48], *err;
	int fst = store__read_state(ctx, t->fe);

	if (!store__domain_alive(ctx, op->id.frontend_domid)) {
		fail(op, XDEV_E_FRONTEND_GONE, "frontend domain %u died",
		     op->id.frontend_domid);
		return false;
	}
	if (fst == 0 && !store__exists(ctx, t->fe)) {
		fail(op, XDEV_E_FRONTEND_GONE, "the frontend directory %s "
		     "vanished (deleted by the guest?)", t->fe);
		return false;
	}
	snprintf(path, sizeof(path), "/local/domain/%u/error%s/error",
		 op->id.backend_domid, rel ? rel : "");
	err = store__read_text(ctx, path, NULL);
	if (!err && (fst == XB_INITIALISING || fst == XB_CLOSING ||
		     fst == XB_CLOSED)) {
		ctx__log(ctx, XDEV_LOG_DEBUG, "%s: the frontend is starting "
			 "over (%s); waiting for it", t->be,
			 xenbus_state_name(fst));
		return true;
	}
	/* The two reads are not one: both ends may have been through a whole
	 * reconnect between the backend's Closed and the frontend's state
	 * (a kexec: the frontend Initialised again, the backend back in
	 * InitWait).  A backend no longer closed has not given up; its
	 * state's event steps the add again. */
	if (!err && !backend_still_closed(ctx, t->be)) {
		ctx__log(ctx, XDEV_LOG_DEBUG, "%s: connecting again; waiting",
			 t->be);
		return true;
	}
	fail(op, -EIO, "%s: the backend closed the device%s%s", t->be,
	     err ? ": " : "", err ? err : "");
	free(err);
	return false;
}

/* The backend's state, or false (and the op failed) if it is gone or
 * closed for good. */
static bool backend_state(struct xdev_op *op, int *ret)
{
	int st = store__read_state(op->ctx, op->track->be);

	if (st == 0 && !store__exists(op->ctx, op->track->be)) {
		fail(op, XDEV_E_BACKEND_GONE, "%s vanished", op->track->be);
		return false;
	}
	track__state_seen(op->ctx, op->track, st);
	if ((st == XB_CLOSING || st == XB_CLOSED) && !backend_closed(op))
		return false;
	*ret = st;
	return true;
}

static void step_hotplug(struct xdev_op *op)
{
	char *hs = store__read(op->ctx, op->track->be, "hotplug-status");
	char *err;
	int st;

	if (hs && !strcmp(hs, "connected")) {
		free(hs);
		advance(op);
		return;
	}
	if (hs && !strcmp(hs, "error")) {
		free(hs);
		err = store__read_text(op->ctx, op->track->be,
				       "hotplug-error");
		fail(op, XDEV_E_HOTPLUG_FAILED, "%s",
		     err ? err : "hotplug-status=error, no hotplug-error");
		free(err);
		return;
	}
	free(hs);
	if (!backend_state(op, &st))
		return;
	if (ctx__now_ms() >= op->deadline)
		timed_out(op, "hotplug-status=connected",
			  op->timeout_hotplug_ms);
}

/* The add script ran to its end.  Its exit status is the verdict, as for
 * libxl: Xen's scripts write hotplug-status=error and exit non-zero on
 * failure (one read less per add than checking the node). */
static void script_finished(struct xdev_op *op)
{
	int r = hotplug__result(op, true);

	if (r) {
		fail(op, r, NULL);
		return;
	}
	if (op->cancelled) {
		/* let finish, not killed: a script stopped halfway (block
		 * between losetup and recording it) cannot be undone */
		fail(op, -ECANCELED, "cancelled while its add script ran; "
		     "undone by the remove script");
		return;
	}
	advance(op);
}

/* The add script's phases: queued, running (a cancel waits for its end),
 * signalled past its timeout, ended. */
static void step_script(struct xdev_op *op)
{
	if (op__script_ended(op)) {
		script_finished(op);
		return;
	}
	if ((op->state == OP_SCRIPT_QUEUED || add_native_waits(op) ||
	     !op->cancelled) && wait_interrupted(op))
		return;
	if (op->state != OP_SCRIPT_QUEUED && ctx__now_ms() >= op->deadline)
		hotplug__tick(op);
}

bool add__wrote(const struct xdev_op *op)
{
	return op->state != OP_ADD_WRITE && op->state != OP_ADD_BACKOFF;
}

void add__step(struct xdev_op *op)
{
	int st;

	if (op__in_script(op)) {
		step_script(op);
		return;
	}
	if (op->state == OP_ADD_WRITE || op->state == OP_ADD_BACKOFF) {
		if (op->cancelled)
			fail(op, -ECANCELED, "cancelled");
		else if (op->state == OP_ADD_WRITE ||
			 ctx__now_ms() >= op->deadline)
			step_write(op);
		return;
	}
	if (wait_interrupted(op))
		return;
	if (op->state == OP_ADD_WAIT_HOTPLUG) {
		step_hotplug(op);
		return;
	}
	if (!backend_state(op, &st))
		return;
	if (op->state == OP_ADD_WAIT_INITWAIT && st >= XB_INITWAIT &&
	    st <= XB_CONNECTED)
		advance(op);
	else if (op->state == OP_ADD_WAIT_CONNECTED && st == XB_CONNECTED)
		succeed(op, true);
	else if (ctx__now_ms() >= op->deadline)
		timed_out(op, op->state == OP_ADD_WAIT_INITWAIT ? "InitWait"
			  : "Connected", op->state == OP_ADD_WAIT_INITWAIT
			  ? op->timeout_init_ms
			  : op->timeout_connect_ms);
}

/* ---- starting ------------------------------------------------------------ */

/* The lowest free vif handle of DOMID: not in the store, not being added. */
static int pick_vif_devid(struct xdev_ctx *ctx, uint32_t domid, uint32_t *ret)
{
	char dir[64], **ids;
	unsigned n, i;
	uint32_t id;
	struct track *t;

	snprintf(dir, sizeof(dir), "/local/domain/%u/device/vif", domid);
	ids = xs_directory(ctx->xs, XBT_NULL, dir, &n);
	for (id = 0; id < 65536; id++) {
		bool used = false;

		for (i = 0; ids && i < n && !used; i++)
			used = strtoul(ids[i], NULL, 10) == id;
		for (t = ctx->tracks; t && !used; t = t->next)
			used = t->id.type == XDEV_VIF &&
			       t->id.frontend_domid == domid && t->id.devid == id;
		if (!used)
			break;
	}
	free(ids);
	if (id >= 65536)
		return -ENOSPC;
	*ret = id;
	return 0;
}

static int device_id(struct xdev_ctx *ctx, uint32_t domid,
		     const xdev_desc *desc, xdev_device_id *id)
{
	const char *be = dev__desc_get(desc, "backend");
	const char *s;
	int r;

	id->type = dev__desc_type(desc);
	id->frontend_domid = domid;
	if (!store__domain_alive(ctx, domid))
		return XDEV_E_DOMAIN_NOT_FOUND;
	id->backend_domid = 0;
	if (be && (r = store__domain_resolve(ctx, be, &id->backend_domid)))
		return r;
	if (id->type == XDEV_VBD)
		return dev__vdev_to_devid(dev__desc_get(desc, "vdev"),
					  &id->devid);
	s = dev__desc_get(desc, "devid");
	if (s) {
		id->devid = (uint32_t)strtoul(s, NULL, 10);
		return 0;
	}
	return pick_vif_devid(ctx, domid, &id->devid);
}

static int add(xdev_ctx *ctx, enum xdev_device_type type, uint32_t domid,
	       const xdev_desc *desc, unsigned flags, const xdev_op_how *how,
	       xdev_device_id *ret_id, xdev_op **ret_op)
{
	struct xdev_op *op;
	struct track *t;
	int r;

	assert_return(ctx && desc && dev__desc_type(desc) == type, -EINVAL);
	assert_return(op__how_valid(how), -EINVAL);
	assert_return(!(flags & ~XDEV_ADD_WAIT_CONNECTED), -EINVAL);
	if (ctx->closing)
		return -ESHUTDOWN;
	op = op__new(ctx, OP_ADD, how);
	if (!op)
		return -ENOMEM;
	op->flags = flags;
	op->desc = dev__desc_dup(desc);
	if (!op->desc) {
		op__free(op);
		return -ENOMEM;
	}
	r = dev__desc_complete(op->desc, ctx->last_message,
			       sizeof(ctx->last_message));
	if (!r)
		r = device_id(ctx, domid, op->desc, &op->id);
	if (!r) {
		t = track__find(ctx, &op->id);
		if (t && t->op)
			r = -EBUSY; /* being added or removed: as a removal says */
		else if (!(t = track__get(ctx, &op->id)))
			r = -ENOMEM;
	}
	if (r) {
		op__free(op);
		return r;
	}
	op->track = t;
	t->op = op;
	if (ret_id)
		*ret_id = op->id;
	return op__start(op, ret_op);
}

XDEV_PUBLIC int xdev_vbd_add(xdev_ctx *ctx, uint32_t domid,
			     const xdev_desc *desc, unsigned flags,
			     const xdev_op_how *how, xdev_device_id *ret_id,
			     xdev_op **ret_op)
{
	return add(ctx, XDEV_VBD, domid, desc, flags, how, ret_id, ret_op);
}

XDEV_PUBLIC int xdev_vif_add(xdev_ctx *ctx, uint32_t domid,
			     const xdev_desc *desc, unsigned flags,
			     const xdev_op_how *how, xdev_device_id *ret_id,
			     xdev_op **ret_op)
{
	return add(ctx, XDEV_VIF, domid, desc, flags, how, ret_id, ret_op);
}
