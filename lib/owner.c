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
 *   /xdev/<fe>/<type>/<devid>/remove-script  "started", then "done"
 *
 * An actor is "<boot id>/<pid>/<start time>/<context>": the kernel's boot
 * id and the process's start time (in clock ticks since boot, field 22 of
 * /proc/<pid>/stat) make the pid an identity that survives pid reuse and
 * a reboot; <context> tells two contexts of one process apart.  An actor
 * is alive while a process with that pid and start time runs in this
 * boot (a context of ours: while it is this one).
 *
 * The add's transaction writes its owner with the record; an add that
 * succeeds lets go.  A removal claims the device in a transaction: held
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

#include "internal.h"

/* Field 22 of /proc/<pid>/stat; 0 if there is no such process.  The
 * command name (field 2) may hold spaces and parentheses: fields are
 * counted after its last ')'. */
static unsigned long long start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

static int boot_id(char buf[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, 39);
	close(fd);
	if (n < 36)
		return -EIO;
	buf[36] = 0;
	return 0;
}

int owner__init(struct xdev_ctx *ctx)
{
	uint32_t token;
	char boot[40];
	int r = boot_id(boot);

	if (r)
		return r;
	if (getrandom(&token, sizeof(token), 0) != sizeof(token))
		token = (uint32_t)(uintptr_t)ctx ^ (uint32_t)ctx__now_ms();
	snprintf(ctx->self, sizeof(ctx->self), "%s/%d/%llu/%08" PRIx32, boot,
		 (int)getpid(), start_time(getpid()), token);
	return 0;
}

/* ACTOR's parts: boot id, pid, start time, context; false if malformed
 * (a record is dom0's, but another toolstack could write anything). */
static bool parse_actor(const char *actor, char boot[40], pid_t *pid,
			unsigned long long *start, const char **context)
{
	const char *p = strchr(actor, '/');
	char *end;
	long v;

	if (!p || p - actor != 36)
		return false;
	memcpy(boot, actor, 36);
	boot[36] = 0;
	v = strtol(p + 1, &end, 10);
	if (end == p + 1 || *end != '/' || v <= 0 || v > 0x3fffffff)
		return false;
	*pid = (pid_t)v;
	*start = strtoull(end + 1, &end, 10);
	if (*end != '/')
		return false;
	*context = end + 1;
	return true;
}

bool owner__alive(struct xdev_ctx *ctx, const char *actor)
{
	char boot[40], mine[40];
	const char *context;
	unsigned long long start;
	pid_t pid;

	if (!strcmp(actor, ctx->self))
		return true;
	if (!parse_actor(actor, boot, &pid, &start, &context) ||
	    boot_id(mine) || strcmp(boot, mine))
		return false; /* another boot's: dom0 restarted since */
	if (pid == getpid())
		/* another context of this process: alive while freeing
		 * it cannot leave an operation behind, so it is alive if
		 * it still holds the device */
		return start == start_time(pid);
	return start_time(pid) == start;
}

pid_t owner__pid(const char *actor)
{
	char boot[40];
	const char *context;
	unsigned long long start;
	pid_t pid;

	return parse_actor(actor, boot, &pid, &start, &context) ? pid : 0;
}

/* "<op> <actor>" */
int owner__parse(const char *v, char op[8], const char **actor)
{
	size_t n = strcspn(v, " ");

	if ((n != 3 && n != 6) || v[n] != ' ')
		return -EINVAL;
	memcpy(op, v, n);
	op[n] = 0;
	if (strcmp(op, "add") && strcmp(op, "remove"))
		return -EINVAL;
	*actor = v + n + 1;
	return 0;
}

void owner__read(struct xdev_ctx *ctx, const char *rec, xs_transaction_t tx,
		 struct owner_info *info)
{
	char path[PATH_LEN + 32], *v;
	const char *actor;

	memset(info, 0, sizeof(*info));
	snprintf(path, sizeof(path), "%s/owner", rec);
	v = xs_read(ctx->xs, tx, path, NULL);
	if (v && owner__parse(v, info->op, &actor) == 0 &&
	    strlen(actor) < sizeof(info->actor)) {
		strcpy(info->actor, actor);
		info->mine = !strcmp(actor, ctx->self);
		info->alive = owner__alive(ctx, actor);
		info->pid = owner__pid(actor);
	} else if (v) {
		snprintf(info->op, sizeof(info->op), "?");
	}
	free(v);
	snprintf(path, sizeof(path), "%s/add-script", rec);
	v = xs_read(ctx->xs, tx, path, NULL);
	info->add_script_started = v != NULL;
	free(v);
	snprintf(path, sizeof(path), "%s/remove-script", rec);
	v = xs_read(ctx->xs, tx, path, NULL);
	info->remove_script = !v ? 0 : !strcmp(v, "done") ? 2 : 1;
	free(v);
}

struct claim {
	struct track *t;
	const char *op;
	struct owner_info *was;
};

static int claim_in(struct xdev_ctx *ctx, xs_transaction_t tx, void *arg)
{
	struct claim *c = arg;
	char path[PATH_LEN + 32], v[sizeof(ctx->self) + 16];
	char *rec = xs_read(ctx->xs, tx, c->t->rec, NULL);

	if (!rec)
		return errno == ENOENT ? -ENOENT : -EAGAIN;
	free(rec);
	owner__read(ctx, c->t->rec, tx, c->was);
	if (c->was->op[0] && c->was->alive && !c->was->mine)
		return -EBUSY;
	snprintf(path, sizeof(path), "%s/owner", c->t->rec);
	snprintf(v, sizeof(v), "%s %s", c->op, ctx->self);
	return xs_write(ctx->xs, tx, path, v, strlen(v)) ? 0 : -EAGAIN;
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
