/*
 * hotplug-native: an operation's hotplug done by the library itself
 * (lib/native.h), where a script would run: the same place in the
 * operation's state machine, the same verdict, no process.
 *
 * Chosen at the add: a description that names no script gets it (unless
 * the context says XDEV_NATIVE_NEVER); the record's script says
 * "native", so the removal - by this context, another process, the CLI
 * or a recovery - does it the same way.  The job's own waits (block.lock
 * held by a script, a loop device still open) are OP_NATIVE_WAITING with
 * a deadline at the job's next try; they are bounded by the op's hotplug
 * timeout as a script is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "native.h"

bool hotplug__native_applies(struct xdev_ctx *ctx, const xdev_desc *desc)
{
	return ctx->opts.native == XDEV_NATIVE_AUTO && desc &&
	       !dev__desc_get(desc, "script");
}

static int min_ms(int a, int b)
{
	return a > 0 && a < b ? a : b;
}

/* The job's inputs: dom0's own - the description of the add, else the
 * device's identity (a removal needs no more: the record file names the
 * loop device, the vif's name is its identity's). */
static void job_inputs(struct xdev_op *op, struct native_job *job)
{
	const xdev_desc *d = op->desc;
	const char *v;

	job->kind = op->id.type == XDEV_VBD ? NATIVE_VBD : NATIVE_VIF;
	job->adding = op->script_adding;
	job->xs = op->ctx->xs;
	snprintf(job->be, sizeof(job->be), "%s", op->track->be);
	snprintf(job->lock_dir, sizeof(job->lock_dir), "%s",
		 op->ctx->opts.hotplug_state_dir);
	job->release_wait_ms = min_ms(op->script_timeout_ms,
				      op->ctx->release_wait_ms);
	job->lock_wait_ms = min_ms(op->script_timeout_ms, NATIVE_LOCK_WAIT_MS);
	snprintf(job->ifname, sizeof(job->ifname), "vif%u.%u",
		 op->id.frontend_domid, op->id.devid);
	if (!d)
		return;
	if ((v = dev__desc_get(d, "target")))
		snprintf(job->target, sizeof(job->target), "%s", v);
	/* the backend's mode node, as device.c writes it */
	v = dev__desc_get(d, "access");
	if (!v) {
		const char *dt = dev__desc_get(d, "devtype");

		v = dt && !strcmp(dt, "cdrom") ? "r" : "w";
	}
	job->writable = strchr(v, 'w') != NULL;
	snprintf(job->bridge, sizeof(job->bridge), "%s",
		 (v = dev__desc_get(d, "bridge")) ? v : "xenbr0");
	if ((v = dev__desc_get(d, "mtu")))
		job->mtu = (unsigned)strtoul(v, NULL, 10);
}

static void job_step(struct xdev_op *op)
{
	struct native_job *job = op->native;
	enum native_status s;
	int retry_ms;

	s = native_job_step(job, ctx__now_ms(), &retry_ms);
	if (s == NATIVE_RETRY) {
		if (op->state != OP_NATIVE_WAITING)
			ctx__log(op->ctx, XDEV_LOG_DEBUG, "%s: native %s waits "
				 "for %s", op->track->be,
				 job->adding ? "add" : "remove",
				 job->phase == NATIVE_LOCK_WAIT
					 ? "block.lock"
				 : job->phase == NATIVE_LINK_WAIT
					 ? "netback's vif"
					 : "the kernel to release the loop "
					   "device");
		if (op->state != OP_NATIVE_WAITING)
			op__set_state(op, OP_NATIVE_WAITING);
		op__set_deadline(op, retry_ms);
		return;
	}
	op->native_result = s == NATIVE_DONE ? 0 : XDEV_E_HOTPLUG_FAILED;
	if (s == NATIVE_DONE)
		ctx__log(op->ctx, XDEV_LOG_DEBUG, "%s: native %s done%s%s",
			 op->track->be, job->adding ? "add" : "remove",
			 job->loop[0] ? ": " : "", job->loop);
	else
		snprintf(op->message, sizeof(op->message), "%s", job->message);
	hotplug__native_drop(op);
	op__set_state(op, OP_NATIVE_DONE);
	op__wake(op);
}

void hotplug__native_start(struct xdev_op *op)
{
	struct native_job *job = calloc(1, sizeof(*job));

	if (!job) {
		snprintf(op->message, sizeof(op->message),
			 "native hotplug: out of memory");
		op->native_result = -ENOMEM;
		op__set_state(op, OP_NATIVE_DONE);
		op__wake(op);
		return;
	}
	op->native = job;
	job_inputs(op, job);
	native_job_init(job);
	ctx__log(op->ctx, XDEV_LOG_DEBUG, "%s: native %s (no script)",
		 op->track->be, job->adding ? "add" : "remove");
	job_step(op);
}

void hotplug__native_tick(struct xdev_op *op)
{
	if (op->state == OP_NATIVE_WAITING && op->native)
		job_step(op);
}

void hotplug__native_drop(struct xdev_op *op)
{
	if (!op->native)
		return;
	native_job_release(op->native);
	free(op->native);
	op->native = NULL;
}
