/*
 * op: what every asynchronous operation shares: its life (new, start,
 * step, complete, callback, free), its deadline, cancellation and the
 * synchronous mode.
 *
 * An operation is a struct with an explicit state (op-add.c, op-remove.c)
 * and one step function that switches on it; every event that may concern
 * it - a watch on its device, a domain's death, its deadline, a cancel -
 * just steps it again, and the step re-reads what it needs.  Completion is
 * deferred: the callback runs from the loop, never inside the call that
 * started the operation (style guide, lessons 5, 9 and 21).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool op__how_valid(const xdev_op_how *how)
{
	return !how ||
	       (how->timeout_init_ms >= 0 && how->timeout_hotplug_ms >= 0 &&
		how->timeout_connect_ms >= 0 && how->timeout_remove_ms >= 0 &&
		util__all_zero(how->reserved, sizeof(how->reserved)));
}

static int or_default(int ms, int def)
{
	return ms ? ms : def;
}

struct xdev_op *op__new(struct xdev_ctx *ctx, enum op_kind kind,
			const xdev_op_how *how)
{
	static const xdev_op_how defaults;
	struct xdev_op *op;

	/* room in the heap for every operation that exists: placing one
	 * there later cannot fail (deadline.c) */
	if (deadline__reserve(ctx, ctx->n_alive + 1) < 0 ||
	    !(op = calloc(1, sizeof(*op))))
		return NULL;
	ctx->n_alive++;
	if (!how)
		how = &defaults;
	op->ctx = ctx;
	op->kind = kind;
	op->state = kind == OP_ADD ? OP_ADD_WRITE : OP_RM_START;
	op->how = *how;
	op->sync = !how->cb;
	op->timeout_init_ms = or_default(how->timeout_init_ms,
					 ctx->opts.timeout_init_ms);
	op->timeout_hotplug_ms = or_default(how->timeout_hotplug_ms,
					    ctx->opts.timeout_hotplug_ms);
	op->timeout_connect_ms = or_default(how->timeout_connect_ms,
					    ctx->opts.timeout_connect_ms);
	op->timeout_remove_ms = or_default(how->timeout_remove_ms,
					   ctx->opts.timeout_remove_ms);
	return op;
}

struct xdev_op *op__new_internal(struct xdev_ctx *ctx, enum op_kind kind)
{
	struct xdev_op *op = op__new(ctx, kind, NULL);

	if (op) {
		op->sync = false;
		op->internal = true;
	}
	return op;
}

void op__free(struct xdev_op *op)
{
	if (!op)
		return;
	op->ctx->n_alive--;
	hotplug__native_drop(op);
	xdev_desc_free(op->desc);
	free(op);
}

/* ctx->ops is doubly linked: a storm's completions each unlink in O(1). */
static void pending_link(struct xdev_ctx *ctx, struct xdev_op *op)
{
	op->prev = NULL;
	op->next = ctx->ops;
	if (ctx->ops)
		ctx->ops->prev = op;
	ctx->ops = op;
	ctx->n_ops++;
}

static void pending_unlink(struct xdev_ctx *ctx, struct xdev_op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		ctx->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->next = op->prev = NULL;
	ctx->n_ops--;
}

/* ctx->done is a FIFO: callbacks run in the order operations completed. */
static void done_append(struct xdev_ctx *ctx, struct xdev_op *op)
{
	op->next = NULL;
	if (ctx->done_tail)
		ctx->done_tail->next = op;
	else
		ctx->done = op;
	ctx->done_tail = op;
}

static void done_unlink(struct xdev_ctx *ctx, struct xdev_op *op)
{
	struct xdev_op **p, *prev = NULL;

	for (p = &ctx->done; *p; prev = *p, p = &(*p)->next)
		if (*p == op) {
			*p = op->next;
			if (ctx->done_tail == op)
				ctx->done_tail = prev;
			op->next = NULL;
			return;
		}
}

/* ---- admission: at most max_ops_per_backend begun per backend domain ----
 *
 * A backend's drivers (Linux: one xenwatch thread per kernel) work through
 * a storm one event at a time.  With every operation of a storm begun at
 * once, the last devices' Closing waits behind every other device's events
 * and their timeouts run out in that queue: at N = 2000 on the simulated
 * host, a third of the AUTO removals were forced.  Queued before their
 * first step instead, they have written nothing and their timeouts have
 * not started; the backend is kept busy all the same. */
struct backend_load {
	struct backend_load *next;
	uint32_t domid;
	int begun;                /* its operations begun, not completed */
};

static struct backend_load **load_find(struct xdev_ctx *ctx, uint32_t domid)
{
	struct backend_load **p = &ctx->loads;

	while (*p && (*p)->domid != domid)
		p = &(*p)->next;
	return p;
}

bool op__may_begin(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	const struct backend_load *l;

	if (op->begun || op->cancelled || op->internal || op->sync)
		return true;
	l = *load_find(ctx, op->id.backend_domid);
	if (!l || l->begun < ctx->opts.max_ops_per_backend)
		return true;
	/* written once only: every scan of the queue asks, and after each
	 * fork() of a script's watcher a write costs a copy-on-write fault */
	if (!op->queue_logged) {
		ctx__log(ctx, XDEV_LOG_DEBUG, "op %p: waits for one of %d "
			 "operation slots of backend domain %u", (void *)op,
			 ctx->opts.max_ops_per_backend, op->id.backend_domid);
		op->queue_logged = true;
	}
	return false;
}

/* Uncounted if out of memory: the operation then just does not wait. */
static void load_take(struct xdev_op *op)
{
	struct backend_load **p = load_find(op->ctx, op->id.backend_domid);

	if (!*p && (*p = calloc(1, sizeof(**p))))
		(*p)->domid = op->id.backend_domid;
	if (!*p)
		return;
	(*p)->begun++;
	op->load_held = true;
	op->load_domid = op->id.backend_domid;
}

/* The slot queue (ctx->slot_head): the operations that may not begin,
 * oldest first, out of the heap: a storm's queued adds cost nothing per
 * event while they wait. */
static void slot_unqueue(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;

	if (!op->slot_waiting)
		return;
	if (op->slot_prev)
		op->slot_prev->slot_next = op->slot_next;
	else
		ctx->slot_head = op->slot_next;
	if (op->slot_next)
		op->slot_next->slot_prev = op->slot_prev;
	else
		ctx->slot_tail = op->slot_prev;
	op->slot_prev = op->slot_next = NULL;
	op->slot_waiting = false;
}

void op__slot_wait(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	struct xdev_op *after = ctx->slot_tail;

	if (op->slot_waiting)
		return;
	/* in the order they were started: one let go and beaten to its slot
	 * goes back to where it was */
	while (after && after->seq > op->seq)
		after = after->slot_prev;
	op->slot_prev = after;
	op->slot_next = after ? after->slot_next : ctx->slot_head;
	if (op->slot_next)
		op->slot_next->slot_prev = op;
	else
		ctx->slot_tail = op;
	if (after)
		after->slot_next = op;
	else
		ctx->slot_head = op;
	op->slot_waiting = true;
	deadline__update(op);
}

/* A slot of DOMID's freed: the oldest operation waiting for one is due. */
static void slot_freed(struct xdev_ctx *ctx, uint32_t domid)
{
	struct xdev_op *op;

	for (op = ctx->slot_head; op; op = op->slot_next)
		if (op->id.backend_domid == domid) {
			slot_unqueue(op);
			deadline__update(op);
			return;
		}
}

static void load_release(struct xdev_op *op)
{
	struct backend_load **p = load_find(op->ctx, op->load_domid), *l = *p;

	if (!op->load_held || !l)
		return;
	op->load_held = false;
	slot_freed(op->ctx, op->load_domid);
	if (--l->begun > 0)
		return;
	*p = l->next;
	free(l);
}

void op__loads_free(struct xdev_ctx *ctx)
{
	while (ctx->loads) {
		struct backend_load *l = ctx->loads;

		ctx->loads = l->next;
		free(l);
	}
}

/* ---- the operation's life, continued ------------------------------------ */

static void done_event(struct xdev_op *op)
{
	xdev_event ev = { .type = XDEV_EVENT_OP_DONE };

	ev.device = op->id;
	ev.result = op->result;
	ev.op = op;
	ctx__event(op->ctx, &ev);
}

int op__start(struct xdev_op *op, struct xdev_op **ret_op)
{
	struct xdev_ctx *ctx = op->ctx;
	int r;

	op->seq = ++ctx->op_seq;
	pending_link(ctx, op);
	if (op->sync) {
		ctx__enter(ctx);
		op__step(op);
		r = ctx__run_until_done(ctx, op);
		if (op->state != OP_DONE)
			op__complete(op, r); /* the poll itself failed */
		done_unlink(ctx, op);
		done_event(op);
		snprintf(ctx->last_message, sizeof(ctx->last_message), "%s",
			 op->message);
		r = op->result;
		op__free(op);
		ctx__leave(ctx);
		return r;
	}
	/* The first step runs from the loop: a deadline of "now". */
	op__set_deadline_at(op, ctx__now_ms());
	if (ret_op)
		*ret_op = op;
	ctx__rearm(ctx);
	return 0;
}

static const char *const state_names[] = {
	[OP_ADD_WRITE] = "write", [OP_ADD_BACKOFF] = "backoff",
	[OP_ADD_WAIT_INITWAIT] = "wait-initwait",
	[OP_ADD_WAIT_HOTPLUG] = "wait-hotplug",
	[OP_ADD_WAIT_CONNECTED] = "wait-connected",
	[OP_RM_START] = "start", [OP_RM_WAIT_CLOSED] = "wait-closed",
	[OP_RM_FORCE_WAIT] = "force-wait", [OP_RM_WAIT_DAEMON] = "wait-daemon",
	[OP_SCRIPT_QUEUED] = "script-queued",
	[OP_SCRIPT_RUNNING] = "script-running",
	[OP_SCRIPT_TERMED] = "script-sigtermed",
	[OP_SCRIPT_KILLED] = "script-sigkilled",
	[OP_SCRIPT_EXITED] = "script-exited",
	[OP_SCRIPT_TIMED_OUT] = "script-timed-out",
	[OP_SCRIPT_NOT_STARTED] = "script-not-started",
	[OP_NATIVE_WAITING] = "native-waiting",
	[OP_NATIVE_DONE] = "native-done",
	[OP_DONE] = "done",
};

const char *op__state_name(enum op_state state)
{
	return (unsigned)state < sizeof(state_names) / sizeof(*state_names) &&
			       state_names[state]
		       ? state_names[state]
		       : "?";
}

static const char *kind_name(const struct xdev_op *op)
{
	if (op->kind == OP_REMOVE)
		return "remove";
	return op->undoing ? "add (undo)" : "add";
}

void op__set_state(struct xdev_op *op, enum op_state state)
{
	bool script = state >= OP_SCRIPT_QUEUED &&
		      state <= OP_SCRIPT_NOT_STARTED;
	bool native = state == OP_NATIVE_WAITING || state == OP_NATIVE_DONE;

	ctx__log(op->ctx, XDEV_LOG_DEBUG, "%s: %s %s -> %s%s",
		 op->track ? op->track->be : "?", kind_name(op),
		 op__state_name(op->state), op__state_name(state),
		 native ? (op->script_adding ? " (native add)"
					     : " (native remove)")
		 : !script ? ""
		 : op->script_adding ? " (add script)" : " (remove script)");
	if (op->state == OP_SCRIPT_QUEUED && state != OP_SCRIPT_QUEUED)
		hotplug__queue_leave(op);
	else if (state == OP_SCRIPT_QUEUED && op->state != OP_SCRIPT_QUEUED)
		hotplug__queue_enter(op);
	op->state = state;
}

void op__set_deadline_at(struct xdev_op *op, int64_t at)
{
	op->deadline = at;
	deadline__update(op);
}

void op__set_deadline(struct xdev_op *op, int ms)
{
	op__set_deadline_at(op, ms > 0 ? ctx__now_ms() + ms : 0);
}

void op__wake(struct xdev_op *op)
{
	op->woken = true;
	slot_unqueue(op); /* a cancel: it never waits for a slot */
	deadline__update(op);
	ctx__rearm(op->ctx);
}

void op__complete(struct xdev_op *op, int result)
{
	struct xdev_ctx *ctx = op->ctx;

	if (op->state == OP_DONE)
		return;
	op__set_state(op, OP_DONE);
	op->result = result;
	if (result == XDEV_E_XENSTORE && !op->message[0])
		snprintf(op->message, sizeof(op->message), "the store failed "
			 "a request: %s", strerror(ctx->store_errno ?
						   ctx->store_errno : EIO));
	op->deadline = 0;
	slot_unqueue(op);
	deadline__remove(op);
	load_release(op);
	if (op->track && op->track->op == op)
		op->track->op = NULL;
	pending_unlink(ctx, op);
	done_append(ctx, op);
	ctx__log(ctx, result ? XDEV_LOG_INFO : XDEV_LOG_DEBUG,
		 "%s: %s done: %s%s%s", op->track ? op->track->be : "?",
		 op->kind == OP_ADD ? "add" : "remove", xdev_strerror(result),
		 op->message[0] ? ": " : "", op->message);
}

void op__again(struct xdev_op *op)
{
	op->again = true;
}

/* One step function per kind, run until no transition asks for another
 * look (op__again): a loop, not steps calling themselves. */
void op__step(struct xdev_op *op)
{
	if (op->state == OP_DONE)
		return;
	if (!op->begun)
		load_take(op);
	op->begun = true;
	op->woken = false;
	do {
		op->again = false;
		if (op->kind == OP_ADD && !op->undoing)
			add__step(op);
		else
			remove__step(op);
	} while (op->again && op->state != OP_DONE);
	deadline__update(op); /* no longer woken */
}

/* Callbacks of completed operations, oldest first.  A callback may start
 * or cancel others; each op is unlinked before its callback and freed
 * after it. */
void op__run_completions(struct xdev_ctx *ctx)
{
	struct xdev_op *op;

	for (;;) {
		/* synchronous ops are collected by their caller, not here */
		for (op = ctx->done; op && op->sync; op = op->next)
			;
		if (!op)
			return;
		done_unlink(ctx, op);
		if (!op->internal)
			done_event(op);
		if (op->how.cb)
			op->how.cb(op, op->result, op->how.user);
		op__free(op);
	}
}

XDEV_PUBLIC int xdev_op_cancel(xdev_op *op)
{
	assert_return(op, -EINVAL);
	if (op->state == OP_DONE || op->cancelled)
		return -EALREADY;
	op->cancelled = true;
	ctx__log(op->ctx, XDEV_LOG_DEBUG, "%s: %s cancelled in %s",
		 op->track ? op->track->be : "?", kind_name(op),
		 op__state_name(op->state));
	/* Step it from the loop, like any event. */
	op__wake(op);
	return 0;
}

XDEV_PUBLIC const xdev_device_id *xdev_op_device(const xdev_op *op)
{
	return op ? &op->id : NULL;
}

XDEV_PUBLIC const char *xdev_op_message(const xdev_op *op)
{
	return op ? op->message : "";
}
