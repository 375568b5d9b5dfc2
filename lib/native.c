/*
 * native: the parts of a hotplug job that vbds and vifs share - the
 * lock, the result nodes, the failure report (native.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native.h"

#define WRITE_TRIES 8

void native_job_init(struct native_job *job)
{
	job->phase = NATIVE_START;
	job->lock_fd = -1;
	if (!job->lock_dir[0])
		snprintf(job->lock_dir, sizeof(job->lock_dir), "%s",
			 NATIVE_LOCK_DIR);
	if (job->release_wait_ms <= 0)
		job->release_wait_ms = NATIVE_RELEASE_WAIT_MS;
	if (job->lock_wait_ms <= 0)
		job->lock_wait_ms = NATIVE_LOCK_WAIT_MS;
	job->message[0] = 0;
}

enum native_status native_job_step(struct native_job *job, int64_t now,
				   int *retry_ms)
{
	enum native_status s;

	*retry_ms = 0;
	if (job->phase == NATIVE_ENDED)
		return job->message[0] ? NATIVE_FAILED : NATIVE_DONE;
	if (job->kind == NATIVE_VBD)
		s = native__vbd_step(job, now, retry_ms);
	else
		s = native__vif_step(job, now, retry_ms);
	if (s != NATIVE_RETRY) {
		job->phase = NATIVE_ENDED;
		native__unlock(job);
	}
	return s;
}

void native_job_release(struct native_job *job)
{
	native__unlock(job);
}

/* One transaction: the backend directory still there (a write to a
 * deleted one would make it again), then every node. */
static int write_once(struct native_job *job, const char *const *kv)
{
	xs_transaction_t tx = xs_transaction_start(job->xs);
	char path[512];
	unsigned n;
	void *v;
	int e;

	job->requests++;
	if (tx == XBT_NULL)
		return -errno;
	v = xs_read(job->xs, tx, job->be, &n);
	job->requests++;
	if (!v) {
		e = errno;
		xs_transaction_end(job->xs, tx, true);
		return -e;
	}
	free(v);
	for (; kv[0]; kv += 2) {
		snprintf(path, sizeof(path), "%s/%s", job->be, kv[0]);
		job->requests++;
		if (!xs_write(job->xs, tx, path, kv[1], strlen(kv[1]))) {
			e = errno;
			xs_transaction_end(job->xs, tx, true);
			return -e;
		}
	}
	job->requests++;
	return xs_transaction_end(job->xs, tx, false) ? 0 : -errno;
}

int native__write(struct native_job *job, const char *const *kv)
{
	int r = -EAGAIN, i;

	for (i = 0; i < WRITE_TRIES && r == -EAGAIN; i++)
		r = write_once(job, kv);
	return r;
}

/* A message is one line of printable text: it goes to the store and to
 * the log as it is, so nothing in it (a path) may be read as control. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

enum native_status native__fail(struct native_job *job, const char *fmt, ...)
{
	const char *kv[5] = { "hotplug-error", job->message, NULL };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(job->message, sizeof(job->message), fmt, ap);
	va_end(ap);
	one_line(job->message);
	if (job->adding) {
		kv[2] = "hotplug-status";
		kv[3] = "error";
		kv[4] = NULL;
	}
	/* best effort: the message also reaches the caller */
	native__write(job, kv);
	return NATIVE_FAILED;
}

/* mkdir -p, as the script does. */
static int mkdir_p(const char *dir)
{
	char buf[320], *p;

	snprintf(buf, sizeof(buf), "%s", dir);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int native__lock(struct native_job *job)
{
	char path[sizeof(job->lock_dir) + 16];

	if (job->lock_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/block", job->lock_dir);
	if (mkdir_p(path) < 0) {
		native__fail(job, "cannot create the lock directory %s",
			     job->lock_dir);
		return -EIO;
	}
	snprintf(path, sizeof(path), "%s/block.lock", job->lock_dir);
	job->lock_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			    0644);
	if (job->lock_fd < 0) {
		native__fail(job, "cannot open the lock file %s", path);
		return -EIO;
	}
	if (flock(job->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	close(job->lock_fd);
	job->lock_fd = -1;
	if (errno == EWOULDBLOCK)
		return -EWOULDBLOCK;
	native__fail(job, "cannot lock %s: %s", path, strerror(errno));
	return -EIO;
}

void native__unlock(struct native_job *job)
{
	if (job->lock_fd >= 0)
		close(job->lock_fd);
	job->lock_fd = -1;
}
