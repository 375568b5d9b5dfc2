/*
 * hotplug: running a device's hotplug script from the library ("library"
 * mode), with Xen's calling convention (lib/hotplug-call.h, shared with
 * xdevd), so that Xen's own scripts work with xdev and xdev's with libxl;
 * XENBUS_PATH is backend/<type>/<fe>/<devid>, relative to the caller's
 * domain, as libxl passes it.
 *
 * The script's timeout is the operation's: past it the script gets
 * SIGTERM, then SIGKILL two seconds later (hotplug__tick), and is always
 * reaped.  Its output goes to the library's log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hotplug-call.h"
#include "internal.h"

#define KILL_GRACE_MS 2000

/* The script's path: absolute as given, else in the hotplug directory. */
static void script_path(struct xdev_op *op, char *buf, size_t n)
{
	const char *s = op->desc ? dev__desc_get(op->desc, "script") : NULL;
	char *node = NULL, cwd[PATH_LEN];

	/* known since the add or from the record: no read of the node */
	if (!s && op->track->script_known) {
		snprintf(buf, n, "%s", op->track->script);
		return;
	}
	/* an add that names no script: the library does it */
	if (!s && op->kind == OP_ADD && !op->undoing &&
	    hotplug__native_applies(op->ctx, op->desc)) {
		snprintf(buf, n, "%s", HOTPLUG_NATIVE);
		snprintf(op->track->script, sizeof(op->track->script), "%s",
			 HOTPLUG_NATIVE);
		op->track->script_known = true;
		return;
	}
	if (!s) {
		node = store__read(op->ctx, op->track->be, "script");
		s = node;
	}
	if (!s)
		s = op->id.type == XDEV_VBD ? "block" : "vif-bridge";
	if (s[0] == '/')
		snprintf(buf, n, "%s", s);
	else if (op->ctx->opts.hotplug_dir[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		snprintf(buf, n, "%s/%s", op->ctx->opts.hotplug_dir, s);
	else /* recorded: absolute, for a remover in another directory */
		snprintf(buf, n, "%s/%s/%s", cwd, op->ctx->opts.hotplug_dir, s);
	free(node);
	snprintf(op->track->script, sizeof(op->track->script), "%s", buf);
	op->track->script_known = true;
}

static void script_done(struct child *c, int status, void *user)
{
	struct xdev_op *op = user;

	(void)c;
	op->script_status = status;
	op__set_state(op, op->state == OP_SCRIPT_RUNNING ? OP_SCRIPT_EXITED
							  : OP_SCRIPT_TIMED_OUT);
	op__wake(op);
}

bool hotplug__in_library(struct xdev_ctx *ctx, const xdev_device_id *id)
{
	/* The caller's own backends only: a driver domain runs its own
	 * scripts (xdevd) and the library waits for its hotplug-status. */
	return ctx->opts.hotplug == XDEV_HOTPLUG_LIBRARY &&
	       id->backend_domid == 0;
}

/* The backend's domain runs xdevd, which deletes a removed backend's
 * directory after its remove script: the library waits for that instead of
 * deleting it (libxl's rule too: a driver domain cleans its backend path). */
bool hotplug__daemon_cleans_up(struct xdev_ctx *ctx, const xdev_device_id *id)
{
	return ctx->opts.hotplug == XDEV_HOTPLUG_DAEMON ||
	       (ctx->opts.hotplug == XDEV_HOTPLUG_LIBRARY &&
		id->backend_domid != 0);
}

void hotplug__resolve_script(struct xdev_op *op)
{
	char path[SCRIPT_LEN];

	if (!op->track->script_known)
		script_path(op, path, sizeof(path));
}

bool hotplug__has_script(struct xdev_op *op)
{
	hotplug__resolve_script(op);
	return op->track->script[0] != 0;
}

static int script_run(struct xdev_op *op)
{
	char path[SCRIPT_LEN], xenbus_path[PATH_LEN], store[PATH_LEN + 32];
	char state_dir[PATH_MAX + 32];
	struct hotplug_call call = {
		.script = path,
		.vif = op->id.type == XDEV_VIF,
		.adding = op->script_adding,
		/* relative to the caller's domain, as libxl passes it */
		.xenbus_path = xenbus_path,
		.base_path = "backend",
		.frontend = op->id.frontend_domid,
		.devid = op->id.devid,
	};
	int r;

	script_path(op, path, sizeof(path));
	snprintf(xenbus_path, sizeof(xenbus_path), "backend/%s/%u/%u",
		 dev__type_name(op->id.type), op->id.frontend_domid,
		 op->id.devid);
	/* the store the context uses, when it names one: not set in the
	 * process's environment, which is the application's */
	snprintf(state_dir, sizeof(state_dir), "XDEV_HOTPLUG_LOCK_DIR=%s",
		 op->ctx->opts.hotplug_state_dir);
	call.extra[0] = state_dir;
	if (op->ctx->opts.xenstore_path) {
		snprintf(store, sizeof(store), "XENSTORED_PATH=%s",
			 op->ctx->opts.xenstore_path);
		call.extra[1] = store;
	}
	if (hotplug_call_prepare(&call))
		return -ENOMEM;
	op->child.done = script_done;
	op->child.user = op;
	ctx__log(op->ctx, XDEV_LOG_DEBUG, "running %s %s for %s", path,
		 call.argv[1], op->track->be);
	r = child__start(op->ctx, &op->child, path, call.argv, call.envp);
	hotplug_call_release(&call);
	if (r) {
		snprintf(op->message, sizeof(op->message), "cannot run %s: %s",
			 path, strerror(-r));
		return r;
	}
	op__set_state(op, OP_SCRIPT_RUNNING);
	op__set_deadline(op, op->script_timeout_ms);
	return 0;
}

/* The queue of scripts waiting for one of max_scripts (ctx->script_head,
 * oldest first), kept by op__set_state as ops enter and leave
 * SCRIPT_QUEUED: a storm's waiting scripts cost nothing per event. */
void hotplug__queue_enter(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;

	op->script_next = NULL;
	op->script_prev = ctx->script_tail;
	if (ctx->script_tail)
		ctx->script_tail->script_next = op;
	else
		ctx->script_head = op;
	ctx->script_tail = op;
}

void hotplug__queue_leave(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;

	if (op->script_prev)
		op->script_prev->script_next = op->script_next;
	else
		ctx->script_head = op->script_next;
	if (op->script_next)
		op->script_next->script_prev = op->script_prev;
	else
		ctx->script_tail = op->script_prev;
	op->script_prev = op->script_next = NULL;
}

/* A storm's scripts share the CPUs: run all at once, they all end
 * together, at the end of the storm, and hold two fds each.  At most
 * max_scripts run; the others wait their turn. */
int hotplug__start(struct xdev_op *op, bool adding, int timeout_ms)
{
	op->script_adding = adding;
	op->script_timeout_ms = timeout_ms;
	hotplug__resolve_script(op);
	if (hotplug__is_native(op->track)) {
		hotplug__native_start(op); /* no process: no slot */
		return 0;
	}
	if (op->ctx->children_active < op->ctx->opts.max_scripts &&
	    !op->ctx->script_head)
		return script_run(op);
	op__set_state(op, OP_SCRIPT_QUEUED);
	op->script_seq = ++op->ctx->script_seq;
	op__set_deadline_at(op, 0); /* its end, or a slot, steps it */
	ctx__log(op->ctx, XDEV_LOG_DEBUG, "%s: its script waits for one of %d slots",
		 op->track->be, op->ctx->opts.max_scripts);
	return 0;
}

void hotplug__run_queued(struct xdev_ctx *ctx)
{
	struct xdev_op *op;

	while (ctx->children_active < ctx->opts.max_scripts &&
	       (op = ctx->script_head)) {
		if (script_run(op) == 0)
			continue;
		/* as a script that failed: its op's step says so */
		op__set_state(op, OP_SCRIPT_NOT_STARTED);
		op->script_status = -1;
		op__wake(op);
	}
}

/* Called when the op's deadline passes while its script runs. */
void hotplug__tick(struct xdev_op *op)
{
	if (op->state == OP_NATIVE_WAITING) {
		hotplug__native_tick(op);
	} else if (op->state == OP_SCRIPT_RUNNING) {
		ctx__log(op->ctx, XDEV_LOG_WARNING, "%s: timed out; SIGTERM",
			 op->child.name);
		child__signal(&op->child, false);
		op__set_state(op, OP_SCRIPT_TERMED);
		op__set_deadline(op, KILL_GRACE_MS);
	} else if (op->state == OP_SCRIPT_TERMED) {
		ctx__log(op->ctx, XDEV_LOG_WARNING, "%s: SIGKILL",
			 op->child.name);
		child__signal(&op->child, true);
		op__set_state(op, OP_SCRIPT_KILLED);
		op__set_deadline(op, KILL_GRACE_MS);
	}
}

/* The script's verdict: 0, or a failure with a message in op->message. */
int hotplug__result(struct xdev_op *op, bool adding)
{
	int st = op->script_status;
	char *err;

	if (op->state == OP_NATIVE_DONE)
		return op->native_result; /* the message says why */
	if (op->state == OP_SCRIPT_NOT_STARTED)
		return XDEV_E_HOTPLUG_FAILED; /* the message says why */
	if (op->state == OP_SCRIPT_TIMED_OUT) {
		snprintf(op->message, sizeof(op->message),
			 "%s timed out after %d ms", op->child.name,
			 op->script_timeout_ms);
		return -ETIMEDOUT;
	}
	if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	err = adding ? store__read_text(op->ctx, op->track->be,
					"hotplug-error") : NULL;
	if (err && *err)
		snprintf(op->message, sizeof(op->message), "%s", err);
	else if (st >= 0 && WIFSIGNALED(st))
		snprintf(op->message, sizeof(op->message), "%s killed by %s",
			 op->child.name, strsignal(WTERMSIG(st)));
	else
		snprintf(op->message, sizeof(op->message),
			 "%s exited with status %d", op->child.name,
			 st >= 0 ? WEXITSTATUS(st) : st);
	free(err);
	return XDEV_E_HOTPLUG_FAILED;
}
