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
	struct xdev_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
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
	xdev_desc_free(op->desc);
	free(op);
}

static void unlink_from(struct xdev_op **list, struct xdev_op *op)
{
	for (; *list; list = &(*list)->next)
		if (*list == op) {
			*list = op->next;
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

static void load_release(struct xdev_op *op)
{
	struct backend_load **p = load_find(op->ctx, op->load_domid), *l = *p;

	if (!op->load_held || !l)
		return;
	op->load_held = false;
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

	op->next = ctx->ops;
	ctx->ops = op;
	if (op->sync) {
		ctx__enter(ctx);
		op__step(op);
		r = ctx__run_until_done(ctx, op);
		if (op->state != OP_DONE)
			op__complete(op, r); /* the poll itself failed */
		unlink_from(&ctx->done, op);
		done_event(op);
		snprintf(ctx->last_message, sizeof(ctx->last_message), "%s",
			 op->message);
		r = op->result;
		op__free(op);
		ctx__leave(ctx);
		return r;
	}
	/* The first step runs from the loop: a deadline of "now". */
	op->deadline = ctx__now_ms();
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

	ctx__log(op->ctx, XDEV_LOG_DEBUG, "%s: %s %s -> %s%s",
		 op->track ? op->track->be : "?", kind_name(op),
		 op__state_name(op->state), op__state_name(state),
		 !script ? "" : op->script_adding ? " (add script)"
						  : " (remove script)");
	op->state = state;
}

void op__set_deadline(struct xdev_op *op, int ms)
{
	op->deadline = ms > 0 ? ctx__now_ms() + ms : 0;
}

void op__wake(struct xdev_op *op)
{
	op->woken = true;
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
	load_release(op);
	if (op->track && op->track->op == op)
		op->track->op = NULL;
	unlink_from(&ctx->ops, op);
	op->next = ctx->done;
	ctx->done = op;
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
}

/* Callbacks of completed operations, oldest first.  A callback may start
 * or cancel others; each op is unlinked before its callback and freed
 * after it. */
void op__run_completions(struct xdev_ctx *ctx)
{
	struct xdev_op **p, *op;

	for (;;) {
		struct xdev_op **oldest = NULL;

		/* ctx->done is newest first; synchronous ops are collected by
		 * their caller, not here */
		for (p = &ctx->done; *p; p = &(*p)->next)
			if (!(*p)->sync)
				oldest = p;
		if (!oldest)
			return;
		op = *oldest;
		*oldest = op->next;
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
