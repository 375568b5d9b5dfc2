/*
 * op-remove: removing a device; the three cases of libxl's commit 9eaaedf
 * ("do not fail device removal if backend domain is gone": both ends
 * alive; unresponsive, then forced; backend gone) and the gap it left.
 *
 *   START: backend already gone (no state node, or its domain dead; or
 *          only the record is left): clean the frontend and the record,
 *          succeed, DEVICE_GONE.  FORCE: delete all.
 *     │    Otherwise one transaction: online=0, state=Closing.
 *     v
 *   WAIT_CLOSED ──Closed──> delete everything, succeed
 *     │ the backend back below Closing (its connect() overwrote ours):
 *     │   write Closing again (at most CLOSING_ASKS_MAX times)
 *     │ its domain dies: clean up, succeed, DEVICE_GONE
 *     │ the directory vanishes (backend_vanished): with a daemon, its
 *     │   normal end; else DEVICE_GONE, and the remove script still runs
 *     │ timeout: SAFE restores online and the previous state, fails;
 *     v          AUTO forces:
 *   FORCE_WAIT: frontend deleted (a vanished frontend reads as Closed to
 *               every backend); Closed again, or the timeout: delete all
 *
 * An add's undo (remove__undo) is a forced removal that waits in
 * FORCE_WAIT, at most UNDO_CLOSED_MS, for the backend to say Closed: its
 * add script has just published the device, and a backend deleted while
 * in its connect() writes its directory back.
 *
 * Every write to the backend checks in its transaction that the directory
 * is still there, so a removal never brings back what its owner deleted.
 *
 * "Delete all" is, with a daemon in the backend's domain (xdevd: a driver
 * domain, or hotplug mode DAEMON), WAIT_DAEMON: the daemon runs the remove
 * script and deletes the backend directory; the library waits for that,
 * then deletes the frontend.  On the forced paths the library first
 * declares the backend Closed (state=6 with online=0, what the daemon acts
 * on) and deletes the frontend.  Past the hotplug timeout the library
 * deletes the nodes itself and warns: the device is gone from the guest
 * either way, and the daemon still releases what the add acquired when it
 * sees the directory vanish.
 *
 * Nothing a removal starts is left behind: every path ends with the nodes
 * deleted, or with the device restored as it was (SAFE, cancel).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CLOSING_ASKS_MAX 3
/* How long a forced removal (FORCE, an add's undo, a dead actor's device
 * taken over) waits for the backend domain's xdevd to run the remove
 * script and delete the backend: FORCE says "do not wait", and a daemon
 * that does not answer must not hold it for the hotplug timeout.  The
 * library then deletes the backend; a daemon that comes back runs the
 * remove script for it (xdevd's state directory). */
#define FORCE_DAEMON_MS 2000
/* How long an add's undo waits for the backend to say Closed once its
 * frontend is deleted (remove__undo): a live backend answers in
 * milliseconds, a silent one must not hold the failed add long. */
#define UNDO_CLOSED_MS 2000
/* The claim-and-Closing transaction's tries, all without a pause: past
 * them the steps one at a time have their own tries and pauses. */
#define CLAIM_CLOSE_TRIES 6

static void set_state(struct xdev_op *op, enum op_state s, int ms)
{
	op__set_state(op, s);
	op__set_deadline(op, ms);
}

static void undo_finish(struct xdev_op *op, int r);

static void finish(struct xdev_op *op, int result)
{
	struct track *t = op->track;

	if (op->undoing) {
		undo_finish(op, result);
		return;
	}
	if (op->claimed && result != 0)
		owner__release(op->ctx, t); /* kept, or restored: let go */
	if (op->cancelled && result == 0 && !op->message[0])
		snprintf(op->message, sizeof(op->message), "cancelled too "
			 "late: the removal was past its point of no return");
	op__complete(op, result);
	op->track = NULL;
	if (result == 0 || !t->monitored)
		track__drop(op->ctx, t);
	else
		t->op = NULL;
}

static void delete_nodes(struct xdev_op *op)
{
	struct track *t = op->track;
	int r = prune__delete_device(op->ctx, t);

	if (r)
		snprintf(op->message, sizeof(op->message),
			 "deleting %s: the store failed", t->be);
	finish(op, r);
}

static int daemon_wait_ms(const struct xdev_op *op)
{
	return op->mode == XDEV_REMOVE_FORCE &&
			       op->timeout_hotplug_ms > FORCE_DAEMON_MS
		       ? FORCE_DAEMON_MS
		       : op->timeout_hotplug_ms;
}

/* Hand the backend to its domain's daemon: Closed with online=0 is its
 * signal (written by us when the backend did not get there itself). */
static void daemon_wait_start(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	const char *fe[] = { op->track->fe, NULL };
	char *online = store__read(ctx, op->track->be, "online");
	/* what the daemon acts on: Closed with online=0.  A backend that
	 * closed on its own (its guest destroyed) is Closed with online=1:
	 * the daemon would never run the remove script, and the removal
	 * would wait the hotplug timeout for nothing */
	bool closed = store__read_state(ctx, op->track->be) == XB_CLOSED &&
		      online && !strcmp(online, "0");
	int r;

	free(online);
	if (!closed) {
		ctx__log(ctx, XDEV_LOG_WARNING, "%s: declaring it Closed for "
			 "the backend domain's xdevd", op->track->be);
		r = store__write_online_state(ctx, op->track->be, "0",
					      XB_CLOSED);
		if (r == -ENOENT) { /* the daemon was quicker */
			delete_nodes(op);
			return;
		}
		if (r == -EAGAIN)
			ctx__log(ctx, XDEV_LOG_WARNING, "%s: the backend domain "
				 "keeps rewriting its nodes; not declared "
				 "Closed", op->track->be);
		if (r == 0 || r == -EAGAIN)
			store__rm_each(ctx, fe);
	}
	set_state(op, OP_RM_WAIT_DAEMON, daemon_wait_ms(op));
}

static void step_daemon(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;

	if (!store__exists(ctx, op->track->be)) {
		delete_nodes(op);
		return;
	}
	if (ctx__now_ms() < op->deadline)
		return;
	ctx__log(ctx, XDEV_LOG_WARNING, "%s: not removed by the backend "
		 "domain's xdevd within %d ms; deleting it (is xdevd running "
		 "there?)", op->track->be, daemon_wait_ms(op));
	delete_nodes(op);
}

/* The remove script failed, timed out or could not run (the message says
 * which): what the add acquired (a loop device) may still be held, and
 * only that script knows how to release it.  The guest's end goes; the
 * backend directory and the record stay, so that the next removal of the
 * device runs the script again. */
static void keep_for_cleanup(struct xdev_op *op)
{
	struct track *t = op->track;
	const char *fe[] = { t->fe, NULL };
	char why[sizeof(op->message)];
	int n;

	memcpy(why, op->message, sizeof(why));
	store__rm_each(op->ctx, fe);
	if (op->undoing)
		owner__release(op->ctx, t); /* the add's: kept for a removal */
	n = snprintf(op->message, sizeof(op->message), "remove script: "
		     "%.200s; ", why);
	if (n > 0 && (size_t)n < sizeof(op->message))
		snprintf(op->message + n, sizeof(op->message) - (size_t)n,
			 "kept: %s and %s, for the next removal to finish",
			 t->be, t->rec);
	finish(op, XDEV_E_CLEANUP_FAILED);
}

/* The remove script.  Its start is not recorded: a recovery after a
 * crash runs it again unless it is recorded as done, started or not (it
 * cannot know whether a started one finished). */
static int remove_script_start(struct xdev_op *op)
{
	return hotplug__start(op, false, op->timeout_hotplug_ms);
}

/* The end of every removal that finds the backend: in library mode the
 * remove script runs first, and the nodes go only once it has ended (a
 * script that finds its backend deleted cannot read what to release) - on
 * the forced paths too, so that what the add script
 * acquired is released.  With a daemon in the backend's domain, it does
 * both, and the library waits for it. */
static void delete_all(struct xdev_op *op, bool be_exists)
{
	struct xdev_ctx *ctx = op->ctx;

	if (hotplug__daemon_cleans_up(ctx, &op->id) &&
	    (be_exists || store__exists(ctx, op->track->be))) {
		daemon_wait_start(op);
		return;
	}
	if (hotplug__in_library(ctx, &op->id) && hotplug__has_script(op) &&
	    (be_exists || store__exists(ctx, op->track->be))) {
		if (remove_script_start(op))
			keep_for_cleanup(op);
		return;
	}
	delete_nodes(op);
}

/* The remove script's phases: queued, running (never stopped by a
 * cancel), signalled past its timeout, ended. */
static void step_script(struct xdev_op *op)
{
	if (!op__script_ended(op)) {
		if (op->state != OP_SCRIPT_QUEUED &&
		    ctx__now_ms() >= op->deadline)
			hotplug__tick(op);
		return;
	}
	if (hotplug__result(op, false)) {
		ctx__log(op->ctx, XDEV_LOG_WARNING, "%s: %s", op->track->be,
			 op->message);
		if (!op->backend_vanished) {
			keep_for_cleanup(op);
			return;
		}
		/* nothing left to keep: the backend deleted its directory */
		if (prune__delete_device(op->ctx, op->track))
			ctx__log(op->ctx, XDEV_LOG_WARNING, "%s: cleaning up "
				 "failed", op->track->fe);
		snprintf(op->message + strlen(op->message),
			 sizeof(op->message) - strlen(op->message),
			 " (the backend had deleted its directory)");
		finish(op, op->internal ? 0 : XDEV_E_CLEANUP_FAILED);
		return;
	}
	op->message[0] = 0;
	if (op->claimed || op->undoing)
		owner__mark(op->ctx, op->track, "remove-script", "done");
	if (op->backend_vanished) {
		/* its nodes went before the script; the directories above
		 * them once more: a device of the same guest removed while
		 * the script ran saw this one's track and left them */
		if (prune__delete_device(op->ctx, op->track))
			ctx__log(op->ctx, XDEV_LOG_WARNING, "%s: cleaning up "
				 "failed", op->track->fe);
		snprintf(op->message, sizeof(op->message), "backend gone");
		finish(op, 0);
		return;
	}
	delete_nodes(op);
}

/* The backend is gone (9eaaedf's third case, and the gap: also during the
 * wait): success, the frontend cleaned up, and the application told. */
static void backend_gone(struct xdev_op *op)
{
	struct track *t = op->track;

	if (op->undoing) { /* an add's: the add's result says it */
		delete_nodes(op);
		return;
	}
	snprintf(op->message, sizeof(op->message), "backend gone");
	track__gone(op->ctx, t);
	finish(op, 0);
}

/* The backend directory vanished during the removal, its domain alive.
 * With a daemon there, that is the daemon's normal end: it deletes the
 * directory once Closed, and the library may see Closed only as the
 * deletion; the removal just finishes.  Otherwise something else deleted
 * it (a backend that deletes its own on close): the device is gone
 * (DEVICE_GONE), and in library mode its remove script still runs, for
 * what the add acquired (a loop device). */
static void backend_vanished(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;

	if (hotplug__daemon_cleans_up(ctx, &op->id)) {
		delete_nodes(op);
		return;
	}
	if (!hotplug__in_library(ctx, &op->id) || !hotplug__has_script(op)) {
		backend_gone(op);
		return;
	}
	if (!op->undoing)
		track__gone(ctx, op->track);
	op->backend_vanished = true;
	if (remove_script_start(op) == 0)
		return;
	ctx__log(ctx, XDEV_LOG_WARNING, "%s: %s", op->track->be, op->message);
	if (!op->internal) {
		snprintf(op->message + strlen(op->message),
			 sizeof(op->message) - strlen(op->message),
			 " (the backend had deleted its directory)");
		finish(op, XDEV_E_CLEANUP_FAILED);
		return;
	}
	snprintf(op->message, sizeof(op->message), "backend gone");
	finish(op, 0);
}


/* The device's identity is dom0's word, never a guest's: its record says
 * which backend domain it has (a guest can write any backend-id into its
 * frontend; a removal acting on that domain would delete the record and
 * orphan the real backend), and which script its add ran.  A device the
 * context added knows both already.  False if the op finished. */
static bool identity_checked(struct xdev_op *op)
{
	struct track *t = op->track;
	uint32_t b;
	int r;

	if (t->recorded)
		return true;
	r = record__read(op->ctx, &op->id, &b, t->script, sizeof(t->script));
	if (r == -ENOENT) {
		t->script[0] = 0; /* another toolstack's, or an older xdev's */
		return true;
	}
	if (r && r != -ENODATA) {
		finish(op, r);
		return false;
	}
	if (b != op->id.backend_domid) {
		snprintf(op->message, sizeof(op->message), "no device with "
			 "backend domain %u: xdev's record %s names backend "
			 "domain %u", op->id.backend_domid, t->rec, b);
		finish(op, XDEV_E_NO_DEVICE);
		return false;
	}
	t->recorded = true;
	t->script_known = r == 0; /* "": the add ran none */
	return true;
}

/* One actor at a time (owner.c): a device another live actor (a process,
 * or another context) adds or removes is -EBUSY; one whose actor died
 * half-way is taken over and finished, forced: an interrupted add rolled
 * back, an interrupted removal finished.  Its scripts run as the record
 * says: no remove script for an add that never started its add script,
 * nor again once it is done.  False if the op finished. */
static bool claim_taken(struct xdev_op *op, int r,
			const struct owner_info *was)
{
	struct track *t = op->track;

	if (r == -ENOENT)
		return true; /* no record: another toolstack's device */
	if (r == -EBUSY) {
		snprintf(op->message, sizeof(op->message), "%s: being %s by "
			 "another xdev actor (process %d)", t->be,
			 was->op[0] == 'a' ? "added" : "removed",
			 (int)was->pid);
		finish(op, -EBUSY);
		return false;
	}
	if (r) {
		finish(op, r);
		return false;
	}
	op->claimed = true;
	if (was->op[0] && !was->mine) {
		ctx__log(op->ctx, XDEV_LOG_WARNING, "%s: its %s by process %d "
			 "was interrupted (the process is gone); finishing it, "
			 "forced", t->be, was->op[0] == 'a' ? "add" : "removal",
			 (int)was->pid);
		op->took_over = true;
		op->mode = XDEV_REMOVE_FORCE;
	}
	if ((was->op[0] == 'a' && !was->add_script_started) ||
	    was->remove_script == 2) {
		t->script[0] = 0; /* nothing to undo, or undone already */
		t->script_known = true;
	}
	return true;
}

static bool ownership_claimed(struct xdev_op *op)
{
	struct owner_info was;

	if (op->undoing || op->claimed)
		return true;
	return claim_taken(op, owner__claim(op->ctx, op->track, "remove",
					    &was), &was);
}

/* Remove without the backend's consent: the frontend goes first, and the
 * backend closes on its own once it sees it vanish (Linux's backends
 * switch to Closed, and with online=0 unregister the device, releasing
 * what they hold: blkback its loop device).  The remove script then
 * finds the device released instead of waiting for a backend that still
 * holds it (the block script fails past its wait, and the backend and the
 * record were then kept for nothing). */
static void force_now(struct xdev_op *op)
{
	const char *fe[] = { op->track->fe, NULL };

	store__rm_each(op->ctx, fe);
	delete_all(op, true);
}

/* Closing could not be written: the backend's domain rewrote its nodes
 * through every try.  FORCE does not need the backend's consent; AUTO
 * would force past its timeout anyway; SAFE changes nothing. */
static void closing_conflicted(struct xdev_op *op)
{
	if (op->mode == XDEV_REMOVE_SAFE) {
		snprintf(op->message, sizeof(op->message), "%s: the backend's "
			 "nodes kept changing while Closing was written (its "
			 "domain rewrites them); nothing was changed",
			 op->track->be);
		finish(op, -EBUSY);
		return;
	}
	ctx__log(op->ctx, XDEV_LOG_WARNING, "%s: the backend's nodes keep "
		 "changing (its domain rewrites them): Closing could not be "
		 "written; forcing", op->track->be);
	force_now(op);
}

/* Closing is written (online=0 with it): FORCE goes on without the
 * backend's consent, the others wait for Closed. */
static void closing_asked(struct xdev_op *op)
{
	track__state_seen(op->ctx, op->track, XB_CLOSING);
	if (op->mode == XDEV_REMOVE_FORCE) {
		force_now(op);
		return;
	}
	/* the removal timeout bounds the whole wait for Closed: AUTO asks for
	 * three quarters of it, and waits the rest once it has deleted the
	 * frontend (on_timeout) */
	op->remove_end = ctx__now_ms() + op->timeout_remove_ms;
	set_state(op, OP_RM_WAIT_CLOSED, op->mode == XDEV_REMOVE_AUTO
		  ? op->timeout_remove_ms - op->timeout_remove_ms / 4
		  : op->timeout_remove_ms);
	op__again(op);
}

/* The common removal's first requests, in one transaction: the claim,
 * the backend's state, and online=0 with Closing, each of which was a
 * round of its own.  Only for a backend domain alive and a backend
 * between Initialising and Closing: anything else (no such backend,
 * Closed, a state that is no state, a transaction that keeps
 * conflicting) is left to the steps one at a time (step_start), as is a
 * claim refused or failed.  True if the op went on or finished. */
struct claim_close {
	struct xdev_op *op;
	struct owner_info was;
	int claim;        /* the claim's answer */
	int st;           /* the backend's state, read in the transaction */
	bool closing;     /* Closing written with it */
};

static int claim_close_in(struct xdev_ctx *ctx, xs_transaction_t tx,
			  void *arg)
{
	struct claim_close *c = arg;
	struct track *t = c->op->track;

	c->closing = false;
	c->claim = owner__claim_in(ctx, tx, t, "remove", &c->was);
	if (c->claim && c->claim != -ENOENT)
		return c->claim == -EAGAIN ? -EAGAIN : 0;
	c->st = store__read_state_in(ctx, tx, t->be);
	if (c->st < 0 && c->st != -ENOENT)
		return c->st; /* a conflict (-EAGAIN: again), or the store */
	if (c->st < XB_INITIALISING || c->st > XB_CLOSING)
		return 0; /* -ENOENT, not a state, Closed or past it */
	c->closing = true;
	return store__online_state_put(ctx, tx, t->be, "0", XB_CLOSING);
}

static bool claimed_and_closing(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	struct claim_close c = { .op = op };
	int r;

	if (op->undoing || op->claimed ||
	    !store__domain_alive(ctx, op->id.backend_domid))
		return false;
	/* the remove script is known before the backend can vanish */
	if (hotplug__in_library(ctx, &op->id))
		hotplug__resolve_script(op);
	r = store__transact(ctx, claim_close_in, &c, CLAIM_CLOSE_TRIES,
			    CLAIM_CLOSE_TRIES);
	if (r == -EAGAIN)
		return false; /* nothing written: step by step */
	if (r) {
		finish(op, r);
		return true;
	}
	if (!claim_taken(op, c.claim, &c.was))
		return true; /* refused (a live actor holds it), or failed */
	if (!c.closing)
		return false; /* the rest step by step */
	/* online is 1 on a device in use: restoring writes 1 */
	op->prev_state = c.st;
	op->prev_online = 1;
	closing_asked(op);
	return true;
}

static void step_start(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	struct track *t = op->track;
	int st, r;

	if (op->cancelled) {
		finish(op, -ECANCELED);
		return;
	}
	if (!identity_checked(op) || claimed_and_closing(op) ||
	    !ownership_claimed(op))
		return;
	st = store__read_state(ctx, t->be);
	/* a record alone (its frontend and backend deleted by others) is
	 * cleaned up below as a device whose backend is gone */
	if (st == 0 && !store__exists(ctx, t->fe) && !store__exists(ctx, t->be) &&
	    !store__exists(ctx, t->rec)) {
		snprintf(op->message, sizeof(op->message), "no device at %s",
			 t->fe);
		finish(op, XDEV_E_NO_DEVICE);
		return;
	}
	if ((st == 0 && !store__exists(ctx, t->be)) ||
	    !store__domain_alive(ctx, op->id.backend_domid)) {
		backend_gone(op);
		return;
	}
	/* online is 1 on a device in use: restoring writes 1 (one read less
	 * per removal) */
	op->prev_state = st;
	op->prev_online = 1;
	/* the remove script is known before the backend can vanish */
	if (hotplug__in_library(ctx, &op->id))
		hotplug__resolve_script(op);
	/* closed already (a removal whose script failed, kept for this one):
	 * nothing to ask the backend */
	if (st == XB_CLOSED && !store__exists(ctx, t->fe)) {
		delete_all(op, true);
		return;
	}
	r = store__write_online_state(ctx, t->be, "0", XB_CLOSING);
	if (r == -ENOENT) {
		backend_vanished(op);
		return;
	}
	if (r == -EAGAIN) {
		closing_conflicted(op);
		return;
	}
	if (r) {
		finish(op, r);
		return;
	}
	closing_asked(op);
}

/* SAFE past the timeout, or a cancel: put the device back as it was. */
static void restore(struct xdev_op *op, int result)
{
	char online[4];
	int r;

	snprintf(online, sizeof(online), "%d", op->prev_online);
	r = store__write_online_state(op->ctx, op->track->be, online,
				      op->prev_state);
	if (r == -ENOENT) { /* vanished meanwhile: nothing to restore */
		backend_vanished(op);
		return;
	}
	if (r == -EAGAIN) {
		snprintf(op->message, sizeof(op->message), "%s: not restored: "
			 "the backend's nodes kept changing (its domain "
			 "rewrites them)", op->track->be);
		r = -EBUSY;
	}
	finish(op, r ? r : result);
}

/* The backend went back below Closing after every ask (closing_ask_again):
 * no driver does that, a domain rewriting its backend's state does. */
static bool rewritten(const struct xdev_op *op)
{
	return op->closing_asks >= CLOSING_ASKS_MAX;
}

static void restore_rewritten(struct xdev_op *op)
{
	snprintf(op->message, sizeof(op->message), "%s: not Closed within %d "
		 "ms: the backend's state kept changing back from Closing (its "
		 "domain rewrote it %d times); restored", op->track->be,
		 op->timeout_remove_ms, op->closing_asks + 1);
	restore(op, -EBUSY);
}

/* The frontend's own refusal (blkfront while mounted). */
static bool frontend_refused(struct xdev_op *op)
{
	char path[PATH_LEN + 32], *v;
	const char *rel = op->track->fe + strlen("/local/domain/");

	rel = strchr(rel, '/');
	snprintf(path, sizeof(path), "/local/domain/%u/error%s/error",
		 op->id.frontend_domid, rel ? rel : "");
	v = store__read_text(op->ctx, path, NULL);
	if (!v)
		return false;
	snprintf(op->message, sizeof(op->message), "the frontend refused: %s",
		 v);
	free(v);
	return true;
}

static void on_timeout(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	const char *paths[] = { op->track->fe, NULL };
	bool refused = frontend_refused(op);

	if (op->state == OP_RM_FORCE_WAIT) {
		delete_all(op, false);
		return;
	}
	if (op->mode == XDEV_REMOVE_SAFE) {
		if (refused)
			restore(op, XDEV_E_FRONTEND_REFUSED);
		else if (rewritten(op))
			restore_rewritten(op);
		else {
			snprintf(op->message, sizeof(op->message),
				 "%s: not Closed within %d ms; restored",
				 op->track->be, op->timeout_remove_ms);
			restore(op, -ETIMEDOUT);
		}
		return;
	}
	/* AUTO: force.  Without its frontend every backend closes. */
	ctx__log(ctx, XDEV_LOG_WARNING, "%s: no answer%s; forcing",
		 op->track->be, rewritten(op) ? " (its domain keeps rewriting "
		 "its state over Closing)" : "");
	store__rm_all(ctx, paths);
	op__set_deadline_at(op, op->remove_end > ctx__now_ms()
					? op->remove_end
					: ctx__now_ms());
	op__set_state(op, OP_RM_FORCE_WAIT);
	op__again(op);
}

/* The backend went back below Closing after we asked for it.  blkback's
 * connect() overwrites a Closing written while it worked
 * (xenbus_switch_state() does not look), and a frontend that read the
 * state only afterwards connects instead of closing: nobody heads for
 * Closed any more.  Ask again; a backend that keeps going back is left to
 * the timeout.  False if the backend vanished meanwhile (handled). */
static bool closing_ask_again(struct xdev_op *op, int st)
{
	struct xdev_ctx *ctx = op->ctx;
	int r;

	if (op->closing_asks >= CLOSING_ASKS_MAX)
		return true;
	op->closing_asks++;
	ctx__log(ctx, XDEV_LOG_INFO, "%s: %s after Closing was written; "
		 "writing Closing again", op->track->be, xenbus_state_name(st));
	r = store__write_online_state(ctx, op->track->be, "0", XB_CLOSING);
	if (r == -ENOENT) {
		backend_vanished(op);
		return false;
	}
	if (r == 0)
		track__state_seen(ctx, op->track, XB_CLOSING);
	return true;
}

void remove__step(struct xdev_op *op)
{
	struct xdev_ctx *ctx = op->ctx;
	struct track *t = op->track;
	int st;

	if (op->state == OP_RM_START) {
		step_start(op);
		return;
	}
	if (op__in_script(op)) {
		step_script(op);
		return;
	}
	if (!store__domain_alive(ctx, op->id.backend_domid)) {
		backend_gone(op);
		return;
	}
	if (op->state == OP_RM_WAIT_DAEMON) {
		step_daemon(op);
		return;
	}
	if (op->cancelled && op->state == OP_RM_WAIT_CLOSED) {
		restore(op, -ECANCELED);
		return;
	}
	st = store__read_state(ctx, t->be);
	if (st == 0 && !store__exists(ctx, t->be)) {
		backend_vanished(op);
		return;
	}
	track__state_seen(ctx, t, st);
	if (op->state == OP_RM_WAIT_CLOSED && st > 0 && st < XB_CLOSING &&
	    !closing_ask_again(op, st))
		return;
	if (st == XB_CLOSED || !store__domain_alive(ctx, op->id.frontend_domid))
		delete_all(op, true); /* st was just read: it exists */
	else if (ctx__now_ms() >= op->deadline)
		on_timeout(op);
}

void remove__vanished_unattended(struct xdev_ctx *ctx, struct track *t)
{
	struct owner_info was;
	struct xdev_op *op;
	int r;

	/* Its remove script is this context's to run only if nobody removed
	 * it: an xdev removal elsewhere (another process, another context)
	 * deletes the record with the nodes, or holds it while it runs the
	 * script itself; a second run would be a second iSCSI logout. */
	if (!hotplug__in_library(ctx, &t->id) || !t->script[0]) {
		track__gone(ctx, t);
		track__drop(ctx, t);
		return;
	}
	r = owner__claim(ctx, t, "remove", &was);
	if (r == -EBUSY) {
		/* another actor removes it: its nodes are that actor's to
		 * delete (with the record it holds); only the event here */
		track__gone_event(ctx, t);
		track__drop(ctx, t);
		return;
	}
	if (r || !(op = op__new_internal(ctx, OP_REMOVE))) {
		/* no record (removed by another xdev actor, which ran the
		 * script), or the store failed: no script from here */
		track__gone(ctx, t);
		track__drop(ctx, t);
		return;
	}
	op->id = t->id;
	op->track = t;
	op->claimed = true;
	t->op = op;
	if (was.remove_script == 2)
		t->script[0] = 0; /* run already, and done */
	op__start(op, NULL);
	backend_vanished(op);
}

XDEV_PUBLIC int xdev_device_remove(xdev_ctx *ctx, const xdev_device_id *id,
				   enum xdev_remove_mode mode,
				   const xdev_op_how *how, xdev_op **ret_op)
{
	struct xdev_op *op;
	struct track *t;

	assert_return(ctx && id, -EINVAL);
	assert_return(id->type == XDEV_VBD || id->type == XDEV_VIF, -EINVAL);
	assert_return(mode == XDEV_REMOVE_AUTO || mode == XDEV_REMOVE_SAFE ||
		      mode == XDEV_REMOVE_FORCE, -EINVAL);
	assert_return(op__how_valid(how), -EINVAL);
	assert_return(id->backend_domid < 0x7ff0 && id->frontend_domid < 0x7ff0,
		      -EINVAL);
	if (ctx->closing)
		return -ESHUTDOWN;
	t = track__find(ctx, id);
	if (t && t->op)
		return -EBUSY; /* an operation on it is pending */
	op = op__new(ctx, OP_REMOVE, how);
	t = op ? track__get(ctx, id) : NULL;
	if (!t) {
		op__free(op);
		return -ENOMEM;
	}
	op->id = *id;
	op->mode = mode;
	op->track = t;
	t->op = op;
	return op__start(op, ret_op);
}

/* ---- a failed add's undo --------------------------------------------------
 *
 * The teardown of a forced removal, entered where the add stopped: the
 * backend is told to let go (online=0, Closing) and the frontend goes, so
 * that the backend releases what it holds before the remove script runs;
 * then the remove script (only if the add script started: a script that
 * never ran acquired nothing), or the backend domain's xdevd (only if its
 * add script reported), then the nodes.  The result is the add's. */

/* The backend domain's xdevd ran the add script (it reported): its remove
 * script must release what that acquired. */
static bool daemon_script_reported(struct xdev_op *op)
{
	char *hs = store__read(op->ctx, op->track->be, "hotplug-status");
	bool reported = hs && *hs;

	free(hs);
	return reported;
}

void remove__undo(struct xdev_op *op, int result)
{
	struct xdev_ctx *ctx = op->ctx;
	struct track *t = op->track;
	bool script;
	int r;

	op->undoing = true;
	op->undo_result = result;
	snprintf(op->undo_why, sizeof(op->undo_why), "%.255s", op->message);
	op->mode = XDEV_REMOVE_FORCE;
	if (!store__domain_alive(ctx, op->id.backend_domid) ||
	    !store__exists(ctx, t->be)) {
		delete_nodes(op);
		return;
	}
	script = hotplug__daemon_cleans_up(ctx, &op->id)
			 ? daemon_script_reported(op)
			 : op->add_script_started;
	if (!script) {
		delete_nodes(op);
		return;
	}
	r = store__write_online_state(ctx, t->be, "0", XB_CLOSING);
	if (r == -ENOENT) {
		backend_vanished(op);
		return;
	}
	if (r == 0)
		track__state_seen(ctx, t, XB_CLOSING);
	/* -EAGAIN (the backend's domain rewriting its nodes): forced
	 * anyway, as a FORCE removal does, but the backend is given a moment
	 * to say Closed.  The add script has just published the device, so
	 * the backend may be in its connect(): blkback writes sectors, info
	 * and its features there without looking whether the directory still
	 * exists (xenstored creates missing parents), so a backend deleted
	 * meanwhile comes back as a stale directory.  A backend that says
	 * Closed after its frontend vanished has left connect() (the xenbus
	 * watch thread runs one handler at a time), and has released what
	 * the remove script will detach. */
	store__rm_each(ctx, (const char *[]){ t->fe, NULL });
	set_state(op, OP_RM_FORCE_WAIT, op->timeout_remove_ms < UNDO_CLOSED_MS
		  ? op->timeout_remove_ms : UNDO_CLOSED_MS);
	op__again(op);
}

static void undo_finish(struct xdev_op *op, int r)
{
	struct track *t = op->track;
	char undo[sizeof(op->message)];
	int result = r == XDEV_E_CLEANUP_FAILED ? r : op->undo_result;

	memcpy(undo, op->message, sizeof(undo));
	if (r)
		snprintf(op->message, sizeof(op->message), "%.240s; undoing "
			 "the add: %.240s", op->undo_why, undo);
	else
		snprintf(op->message, sizeof(op->message), "%s",
			 op->undo_why);
	op__complete(op, result);
	op->track = NULL;
	if (!t->monitored)
		track__drop(op->ctx, t);
	else
		t->op = NULL;
}
