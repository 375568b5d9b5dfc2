/*
 * deadline: the pending operations ordered by when each is next due.
 *
 * An operation is due when an input woke it (a cancel, its script's end:
 * first of all), or when its deadline passes (its timeout, or "now" for
 * its first step).  The loop asks for the earliest one after every event
 * (next_timeout, step_expired in ctx.c).  A scan of every pending
 * operation there made each event cost O(N): a storm of N devices cost
 * O(N^2) of the library's CPU.  A binary min-heap makes it O(log N).
 *
 * Ties go to the oldest operation (its seq), as before: a storm's devices
 * are stepped in the order they were asked for.
 *
 * Two kinds of operations are kept out of the heap although they have a
 * deadline:
 * - one waiting for one of its backend domain's slots (admission, op.c):
 *   it is in the context's slot queue until a slot frees;
 * - one stepped in the current pass of step_expired: it goes back into
 *   the heap when the pass ends, so that one operation due again at once
 *   cannot take the whole pass (deadline__pass_end).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* 1 for a woken operation: before every deadline (a clock in ms since
 * boot is far past 1). */
static int64_t key_of(const struct xdev_op *op)
{
	if (op->state == OP_DONE)
		return 0;
	return op->woken ? 1 : op->deadline;
}

static bool before(const struct xdev_op *a, const struct xdev_op *b)
{
	return a->heap_key < b->heap_key ||
	       (a->heap_key == b->heap_key && a->seq < b->seq);
}

static void place(struct xdev_ctx *ctx, size_t i, struct xdev_op *op)
{
	ctx->heap[i] = op;
	op->heap_idx = i + 1;
}

static void sift_up(struct xdev_ctx *ctx, size_t i)
{
	struct xdev_op *op = ctx->heap[i];

	while (i > 0 && before(op, ctx->heap[(i - 1) / 2])) {
		place(ctx, i, ctx->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(ctx, i, op);
}

static void sift_down(struct xdev_ctx *ctx, size_t i)
{
	struct xdev_op *op = ctx->heap[i];
	size_t n = ctx->heap_n, c;

	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && before(ctx->heap[c + 1], ctx->heap[c]))
			c++;
		if (!before(ctx->heap[c], op))
			break;
		place(ctx, i, ctx->heap[c]);
		i = c;
	}
	place(ctx, i, op);
}

static void heap_remove(struct xdev_ctx *ctx, struct xdev_op *op)
{
	size_t i = op->heap_idx - 1;
	struct xdev_op *last;

	op->heap_idx = 0;
	last = ctx->heap[--ctx->heap_n];
	if (last == op)
		return;
	place(ctx, i, last);
	sift_down(ctx, i);
	sift_up(ctx, last->heap_idx - 1);
}

int deadline__reserve(struct xdev_ctx *ctx, size_t n)
{
	size_t cap = ctx->heap_cap ? ctx->heap_cap : 64;
	struct xdev_op **h;

	while (cap < n)
		cap *= 2;
	if (cap == ctx->heap_cap)
		return 0;
	h = realloc(ctx->heap, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	ctx->heap = h;
	ctx->heap_cap = cap;
	return 0;
}

static void deferred_remove(struct xdev_ctx *ctx, struct xdev_op *op)
{
	struct xdev_op **p;

	for (p = &ctx->deferred; *p; p = &(*p)->deferred_next)
		if (*p == op) {
			*p = op->deferred_next;
			break;
		}
	op->deferred = false;
	op->deferred_next = NULL;
}

void deadline__remove(struct xdev_op *op)
{
	if (op->heap_idx)
		heap_remove(op->ctx, op);
	if (op->deferred)
		deferred_remove(op->ctx, op);
}

void deadline__update(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	int64_t key = key_of(op);
	bool defer = key && !op->slot_waiting && ctx->stepping &&
		     op->stepped_pass == ctx->pass;

	if (!key || op->slot_waiting || defer) {
		if (op->heap_idx)
			heap_remove(ctx, op);
		if (defer && !op->deferred) {
			op->deferred = true;
			op->deferred_next = ctx->deferred;
			ctx->deferred = op;
		} else if (!defer && op->deferred) {
			deferred_remove(ctx, op);
		}
		return;
	}
	if (op->deferred)
		deferred_remove(ctx, op);
	op->heap_key = key;
	if (!op->heap_idx) /* room: deadline__reserve, when it started */
		place(ctx, ctx->heap_n++, op);
	sift_up(ctx, op->heap_idx - 1);
	sift_down(ctx, op->heap_idx - 1);
}

struct xdev_op *deadline__first(struct xdev_ctx *ctx)
{
	return ctx->heap_n ? ctx->heap[0] : NULL;
}

void deadline__pass_end(struct xdev_ctx *ctx)
{
	struct xdev_op *list = ctx->deferred, *op;

	ctx->stepping = false;
	ctx->deferred = NULL;
	while ((op = list)) {
		list = op->deferred_next;
		op->deferred = false;
		op->deferred_next = NULL;
		deadline__update(op);
	}
}

void deadline__free(struct xdev_ctx *ctx)
{
	free(ctx->heap);
	ctx->heap = NULL;
	ctx->heap_n = ctx->heap_cap = 0;
}
