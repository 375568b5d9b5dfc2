/*
 * owner: one actor acts on a device at a time, across processes, and a
 * crashed actor's operation is found and finished.
 *
 * The device's record (record.c; dom0's alone) holds who acts and what
 * has been done:
 *
 *   /xdev/<fe>/<type>/<devid>/owner          "<op> <actor>": the operation
 *                                            in progress (add, remove) and
 *                                            who runs it; absent: none
 *   /xdev/<fe>/<type>/<devid>/add-script     "started": the add script has
 *                                            been started (its remove
 *                                            script must undo it)
 *   /xdev/<fe>/<type>/<devid>/remove-script  "done": the remove script
 *                                            succeeded (its start is not
 *                                            recorded: unless done, a
 *                                            recovery runs it again)
 *
 * An actor (lib/actor.h) is a process and a context in it, named so that
 * the name survives pid reuse and a reboot.
 *
 * The add's transaction writes its owner with the record; an add that
 * succeeds lets go.  A removal claims the device in a transaction (the
 * one that writes its Closing, op-remove.c, when it can): held
 * by a live actor, it is -EBUSY; held by a dead one, the removal takes
 * over and finishes it, forced (an interrupted add is rolled back, an
 * interrupted removal finished).  The marks are plain writes: while an
 * actor holds the device nobody else deletes the record.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "actor.h"
#include "internal.h"

int owner__init(struct xdev_ctx *ctx)
{
	uint32_t token;

	if (getrandom(&token, sizeof(token), 0) != sizeof(token))
		token = (uint32_t)(uintptr_t)ctx ^ (uint32_t)ctx__now_ms();
	return actor_self(ctx->self, token);
}

void owner__read(struct xdev_ctx *ctx, const char *rec, xs_transaction_t tx,
		 struct owner_info *info)
{
	char path[PATH_LEN + 32], *v;
	const char *actor;

	memset(info, 0, sizeof(*info));
	snprintf(path, sizeof(path), "%s/owner", rec);
	v = xs_read(ctx->xs, tx, path, NULL);
	if (v && actor_owner_parse(v, info->op, &actor) == 0 &&
	    strlen(actor) < sizeof(info->actor)) {
		strcpy(info->actor, actor);
		info->mine = !strcmp(actor, ctx->self);
		/* another context of this process is alive while it holds
		 * the device: freeing it ends its operations */
		info->alive = info->mine || actor_alive(actor);
		info->pid = actor_pid(actor);
	} else if (v) {
		snprintf(info->op, sizeof(info->op), "?");
	}
	free(v);
	/* what its scripts did matters only to whoever finishes an
	 * operation left half done: two reads less otherwise */
	if (!info->op[0] || (info->alive && !info->mine))
		return;
	snprintf(path, sizeof(path), "%s/add-script", rec);
	v = xs_read(ctx->xs, tx, path, NULL);
	info->add_script_started = v != NULL;
	free(v);
	snprintf(path, sizeof(path), "%s/remove-script", rec);
	v = xs_read(ctx->xs, tx, path, NULL);
	info->remove_script = !v ? 0 : !strcmp(v, "done") ? 2 : 1;
	free(v);
}

/* Whether REC's directory (read in TX) lists KEY: the listing answers for
 * every key at once, so an unowned device's claim reads no owner. */
static bool lists(char **names, unsigned n, const char *key)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], key))
			return true;
	return false;
}

int owner__claim_in(struct xdev_ctx *ctx, xs_transaction_t tx,
		    struct track *t, const char *op, struct owner_info *was)
{
	char path[PATH_LEN + 32], v[sizeof(ctx->self) + 16];
	unsigned n;
	char **names = xs_directory(ctx->xs, tx, t->rec, &n);
	bool owned;

	if (!names)
		return errno == ENOENT ? -ENOENT : -EAGAIN;
	owned = lists(names, n, "owner");
	free(names);
	memset(was, 0, sizeof(*was));
	if (owned)
		owner__read(ctx, t->rec, tx, was);
	if (was->op[0] && was->alive && !was->mine)
		return -EBUSY;
	snprintf(path, sizeof(path), "%s/owner", t->rec);
	snprintf(v, sizeof(v), "%s %s", op, ctx->self);
	return xs_write(ctx->xs, tx, path, v, strlen(v)) ? 0 : -EAGAIN;
}

struct claim {
	struct track *t;
	const char *op;
	struct owner_info *was;
};

static int claim_in(struct xdev_ctx *ctx, xs_transaction_t tx, void *arg)
{
	struct claim *c = arg;

	return owner__claim_in(ctx, tx, c->t, c->op, c->was);
}

int owner__claim(struct xdev_ctx *ctx, struct track *t, const char *op,
		 struct owner_info *was)
{
	struct claim c = { t, op, was };
	int r = store__transact(ctx, claim_in, &c, 12, 6);

	return r == -EAGAIN ? store__failed(ctx, EAGAIN) : r;
}

int owner__mark(struct xdev_ctx *ctx, const struct track *t, const char *key,
		const char *value)
{
	char path[PATH_LEN + 32];

	snprintf(path, sizeof(path), "%s/%s", t->rec, key);
	if (!xs_write(ctx->xs, XBT_NULL, path, value, strlen(value)))
		return store__failed(ctx, errno);
	ctx__log(ctx, XDEV_LOG_DEBUG, "%s: %s %s", t->be, key, value);
	return 0;
}

void owner__release(struct xdev_ctx *ctx, const struct track *t)
{
	char path[PATH_LEN + 32];

	snprintf(path, sizeof(path), "%s/owner", t->rec);
	if (!xs_rm(ctx->xs, XBT_NULL, path) && !store__rm_absent(errno))
		ctx__log(ctx, XDEV_LOG_WARNING, "%s: letting go: %s", t->rec,
			 strerror(errno));
}
