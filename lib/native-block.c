/*
 * native-block: blkback's hotplug without the block script - a block
 * device used as it is, an image file through a loop device.
 *
 * The same rules as hotplug/block, which stays interchangeable with it:
 *
 *  - block.lock in the lock directory is held (flock) from the sharing
 *    check to the record, and over a removal's wait for the kernel: the
 *    script takes the same lock, so two of either kind never both attach
 *    an image.
 *  - An image already attached read-write anywhere is refused; one
 *    attached read-only is shared only read-only.  What is attached is
 *    read from sysfs (/sys/block/loopN/loop/backing_file): no loop device
 *    is opened to look, which would hold up another's detach.
 *  - The record file <lock dir>/block/<backend path, '/' as '%'> holds the
 *    loop device, the image and its inode, written before the device is
 *    configured: a process killed at any point leaves a record that a
 *    later removal (a job or the script) follows.
 *  - A removal detaches only a loop device whose backing file is still
 *    the image (and the same inode), then waits until the kernel has let
 *    go of it: LOOP_CLR_FD on a device another has open only marks it for
 *    autoclear at the last close.
 *
 * The loop device is configured in one ioctl (LOOP_CONFIGURE, Linux 5.8),
 * read-only for mode r, with direct I/O where the image's file system
 * takes it (a guest's disk is cached by the guest; dom0's page cache
 * would hold a second copy), falling back to buffered I/O.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "native.h"

#define FREE_TRIES 16
#define NAP_MAX_MS 50

static bool valid_loop(const char *s)
{
	size_t n;

	if (strncmp(s, "/dev/loop", 9) || !s[9])
		return false;
	n = strspn(s + 9, "0123456789");
	return s[9 + n] == 0 && n <= 6;
}

/* The backing file of LOOP (without the " (deleted)" the kernel appends)
 * in BUF; false if LOOP is not attached. */
static bool loop_backing(const char *loop, char *buf, size_t n)
{
	char sys[96];
	ssize_t r;
	size_t len;
	int fd;

	snprintf(sys, sizeof(sys), "/sys/block/%s/loop/backing_file",
		 loop + 5);
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = 0;
	len = strcspn(buf, "\n");
	buf[len] = 0;
	if (len > 10 && !strcmp(buf + len - 10, " (deleted)"))
		buf[len - 10] = 0;
	return buf[0] != 0;
}

static bool loop_read_only(const char *name)
{
	char sys[320], c = '0';
	int fd;

	snprintf(sys, sizeof(sys), "/sys/block/%s/ro", name);
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = '0';
	close(fd);
	return c == '1';
}

/* ---- the record ---------------------------------------------------------- */

static void record_path(const struct native_job *job, char *buf, size_t n)
{
	size_t i, k = (size_t)snprintf(buf, n, "%s/block/", job->lock_dir);

	for (i = 0; job->be[i] && k + 1 < n; i++)
		buf[k++] = job->be[i] == '/' ? '%' : job->be[i];
	buf[k] = 0;
}

/* The record: line 1 the loop device, line 2 the image, line 3 its inode
 * (hotplug/block's format). */
static int record_write(const struct native_job *job, const char *loop,
			const char *image, ino_t ino)
{
	char path[NATIVE_PATH_LEN], tmp[NATIVE_PATH_LEN + 8];
	FILE *f;
	int r;

	record_path(job, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n%s\n%llu\n", loop, image, (unsigned long long)ino);
	r = fclose(f) ? -errno : 0;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

static void record_remove(const struct native_job *job)
{
	char path[NATIVE_PATH_LEN], tmp[NATIVE_PATH_LEN + 8];

	record_path(job, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(path);
	unlink(tmp);
}

/* The record's loop device in job->loop and image in job->image, its
 * inode in *INO (0: not known); false if there is none. */
static bool record_read(struct native_job *job, unsigned long long *ino)
{
	char path[NATIVE_PATH_LEN], line[32];
	FILE *f;

	record_path(job, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return false;
	*ino = 0;
	job->loop[0] = job->image[0] = 0;
	if (fgets(job->loop, sizeof(job->loop), f) &&
	    fgets(job->image, sizeof(job->image), f) &&
	    fgets(line, sizeof(line), f))
		*ino = strtoull(line, NULL, 10);
	fclose(f);
	job->loop[strcspn(job->loop, "\n")] = 0;
	job->image[strcspn(job->image, "\n")] = 0;
	return valid_loop(job->loop) && job->image[0] == '/';
}

/* ---- waiting without blocking -------------------------------------------- */

static enum native_status nap(struct native_job *job, int *retry_ms)
{
	*retry_ms = job->nap_ms;
	if (job->nap_ms < NAP_MAX_MS)
		job->nap_ms *= 2;
	return NATIVE_RETRY;
}

/* block.lock held (true), or *S says what to return: RETRY while another
 * holds it, FAILED past lock_wait_ms or on an error. */
static bool lock_or_wait(struct native_job *job, int64_t now, int *retry_ms,
			 enum native_status *s)
{
	int r = native__lock(job);

	if (r == 0) {
		job->phase = NATIVE_START;
		return true;
	}
	if (r != -EWOULDBLOCK) {
		*s = NATIVE_FAILED;
		return false;
	}
	if (job->phase != NATIVE_LOCK_WAIT) {
		job->phase = NATIVE_LOCK_WAIT;
		job->lock_end = now + job->lock_wait_ms;
		job->nap_ms = 1;
	}
	if (now >= job->lock_end)
		*s = native__fail(job, "timed out after %ds waiting for "
				  "%s/block.lock", job->lock_wait_ms / 1000,
				  job->lock_dir);
	else
		*s = nap(job, retry_ms);
	return false;
}

/* ---- add ----------------------------------------------------------------- */

static enum native_status write_physical(struct native_job *job, dev_t rdev,
					 const char *path, const char *loop)
{
	char mm[32];
	const char *kv[] = { "physical-device", mm,
			     "physical-device-path", path,
			     loop ? "xdev-loop" : "hotplug-status",
			     loop ? loop : "connected",
			     loop ? "hotplug-status" : NULL, "connected",
			     NULL };

	/* hex, as Xen's script writes it (stat -c %t:%T) */
	snprintf(mm, sizeof(mm), "%x:%x", major(rdev), minor(rdev));
	return native__write(job, kv) == 0 ? NATIVE_DONE : NATIVE_FAILED;
}

/* Is IMAGE (with ST) attached to a loop device already, in a way its mode
 * cannot share?  A refusal's message; NATIVE_DONE if it may go on. */
static enum native_status sharing_check(struct native_job *job,
					const char *image,
					const struct stat *st)
{
	char backing[NATIVE_PATH_LEN], loop[300];
	struct dirent *e;
	struct stat bst;
	DIR *d = opendir("/sys/block");
	enum native_status s = NATIVE_DONE;
	bool ro;

	if (!d)
		return native__fail(job, "cannot list the loop devices of "
				    "image '%s': %s", image, strerror(errno));
	while (s == NATIVE_DONE && (e = readdir(d))) {
		if (strncmp(e->d_name, "loop", 4))
			continue;
		snprintf(loop, sizeof(loop), "/dev/%s", e->d_name);
		if (!loop_backing(loop, backing, sizeof(backing)))
			continue;
		if (strcmp(backing, image) &&
		    (stat(backing, &bst) < 0 || bst.st_dev != st->st_dev ||
		     bst.st_ino != st->st_ino))
			continue;
		ro = loop_read_only(e->d_name);
		if (job->writable && ro)
			s = native__fail(job, "image '%s' is already attached "
					 "read-only to %s; refusing to attach "
					 "it read-write", image, loop);
		else if (job->writable)
			s = native__fail(job, "image '%s' is already attached "
					 "read-write to %s; refusing to attach "
					 "it again", image, loop);
		else if (!ro)
			s = native__fail(job, "image '%s' is attached "
					 "read-write to %s; refusing to share "
					 "it read-only", image, loop);
	}
	closedir(d);
	return s;
}

/* Detach LOOP (opened as FD) that this add configured, drop its record,
 * then fail with the message. */
static enum native_status abandon(struct native_job *job, int fd,
				  const char *image, const char *why)
{
	ioctl(fd, LOOP_CLR_FD, 0);
	close(fd);
	record_remove(job);
	return native__fail(job, "%s for image '%s'", why, image);
}

/* Configure a free loop device with IMG (open on IMAGE): its fd, the
 * device in job->loop; -1 with the job failed. */
static int loop_configure(struct native_job *job, int img, const char *image,
			  ino_t ino)
{
	struct loop_config cfg = { .fd = (unsigned)img };
	int ctl, fd = -1, i, n, e = 0;

	cfg.info.lo_flags = job->writable ? 0 : LO_FLAGS_READ_ONLY;
	/* for losetup's listing only: the kernel keeps 63 bytes */
	memcpy(cfg.info.lo_file_name, image,
	       strlen(image) < LO_NAME_SIZE ? strlen(image) : LO_NAME_SIZE - 1);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		native__fail(job, "cannot attach image '%s' to a loop device: "
			     "/dev/loop-control: %s", image, strerror(errno));
		return -1;
	}
	/* another may take the free device first: EBUSY, try the next */
	for (i = 0; i < FREE_TRIES && fd < 0; i++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			e = errno;
			break;
		}
		snprintf(job->loop, sizeof(job->loop), "/dev/loop%d", n);
		/* recorded before it holds anything: a kill from here on
		 * leaves a record a removal follows */
		if ((e = -record_write(job, job->loop, image, ino))) {
			close(ctl);
			native__fail(job, "cannot record loop device %s of "
				     "image '%s' in %s/block: %s", job->loop,
				     image, job->lock_dir, strerror(e));
			return -1;
		}
		fd = open(job->loop, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			e = errno;
			break;
		}
		cfg.info.lo_flags |= LO_FLAGS_DIRECT_IO;
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
			break;
		/* a file system without O_DIRECT: buffered */
		cfg.info.lo_flags &= ~(unsigned)LO_FLAGS_DIRECT_IO;
		if (errno == EINVAL && ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
		if (e != EBUSY)
			break;
	}
	close(ctl);
	if (fd < 0) {
		record_remove(job);
		native__fail(job, "cannot attach image '%s' to a loop device: "
			     "%s", image, strerror(e ? e : EBUSY));
	}
	return fd;
}

static enum native_status attach_image(struct native_job *job,
				       const char *image,
				       const struct stat *st)
{
	struct loop_info64 info;
	struct stat lst;
	int img, fd;
	enum native_status s;

	img = open(image, (job->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (img < 0 && errno == EROFS)
		return native__fail(job, "image '%s' could only be attached "
				    "read-only (read-only file system?)",
				    image);
	if (img < 0)
		return native__fail(job, "cannot open image '%s': %s", image,
				    strerror(errno));
	fd = loop_configure(job, img, image, st->st_ino);
	close(img);
	if (fd < 0)
		return NATIVE_FAILED;
	/* zeroed: a checker that does not know the ioctl sees it defined */
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0 || fstat(fd, &lst) < 0)
		return abandon(job, fd, image, "cannot query loop device");
	job->used_direct_io = info.lo_flags & LO_FLAGS_DIRECT_IO;
	close(fd);
	s = write_physical(job, lst.st_rdev, job->loop, job->loop);
	if (s != NATIVE_DONE) {
		fd = open(job->loop, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return abandon(job, fd, image,
				       "cannot write physical-device");
		record_remove(job);
		return native__fail(job, "cannot write physical-device for "
				    "image '%s'", image);
	}
	return NATIVE_DONE;
}

/* An earlier add of this device attached IMAGE already (its record, the
 * loop device backing the same file): report it again. */
static bool attached_before(struct native_job *job, const char *image,
			    const struct stat *st, enum native_status *s)
{
	char backing[NATIVE_PATH_LEN];
	unsigned long long ino;
	struct stat lst;

	if (!record_read(job, &ino) || strcmp(job->image, image) ||
	    ino != (unsigned long long)st->st_ino ||
	    !loop_backing(job->loop, backing, sizeof(backing)) ||
	    strcmp(backing, image) || stat(job->loop, &lst) < 0)
		return false;
	*s = write_physical(job, lst.st_rdev, job->loop, job->loop);
	if (*s != NATIVE_DONE)
		*s = native__fail(job, "cannot write physical-device for "
				  "image '%s'", image);
	return true;
}

static enum native_status vbd_add(struct native_job *job, int64_t now,
				  int *retry_ms)
{
	char image[PATH_MAX];
	const char *t = job->target;
	struct stat st;
	enum native_status s;

	if (lstat(t, &st) < 0)
		return native__fail(job, "target '%s' does not exist", t);
	if (!realpath(t, image) || stat(image, &st) < 0)
		return native__fail(job, "target '%s' is a symbolic link to "
				    "nothing", t);
	if (S_ISBLK(st.st_mode)) {
		s = write_physical(job, st.st_rdev, image, NULL);
		if (s != NATIVE_DONE)
			s = native__fail(job, "cannot write physical-device "
					 "for target '%s'", image);
		return s;
	}
	if (S_ISDIR(st.st_mode))
		return native__fail(job, "target '%s' is a directory, not a "
				    "block device or an image file", t);
	if (!S_ISREG(st.st_mode))
		return native__fail(job, "target '%s' is not a block device "
				    "or an image file", t);
	if (job->writable && !(st.st_mode & 0222))
		return native__fail(job, "image '%s' has no write permission; "
				    "not attaching it read-write", image);
	if (!lock_or_wait(job, now, retry_ms, &s))
		return s;
	if (attached_before(job, image, &st, &s))
		return s;
	s = sharing_check(job, image, &st);
	return s == NATIVE_DONE ? attach_image(job, image, &st) : s;
}

/* ---- remove -------------------------------------------------------------- */

/* Who has LOOP open, as far as this domain can see: for a message. */
static void loop_users(const char *loop, char *buf, size_t n)
{
	char path[300], link[600];
	struct dirent *p, *f;
	struct stat want, st;
	size_t k = 0;
	DIR *proc, *fds;

	buf[0] = 0;
	if (stat(loop, &want) < 0 || !(proc = opendir("/proc")))
		goto none;
	while ((p = readdir(proc)) && k + 64 < n) {
		if (!strspn(p->d_name, "0123456789"))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		if (!(fds = opendir(path)))
			continue;
		while ((f = readdir(fds))) {
			snprintf(link, sizeof(link), "/proc/%s/fd/%s",
				 p->d_name, f->d_name);
			if (stat(link, &st) == 0 && S_ISBLK(st.st_mode) &&
			    st.st_rdev == want.st_rdev) {
				k += (size_t)snprintf(buf + k, n - k,
						      "%sprocess %s",
						      k ? ", " : "by ",
						      p->d_name);
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
none:
	if (!buf[0])
		snprintf(buf, n, "by no process this domain can see");
}

/* Done with the record's device: the record goes. */
static enum native_status released(struct native_job *job)
{
	record_remove(job);
	return NATIVE_DONE;
}

static enum native_status release_wait(struct native_job *job, int64_t now,
				       int *retry_ms)
{
	char backing[NATIVE_PATH_LEN], users[256];

	if (!loop_backing(job->loop, backing, sizeof(backing)) ||
	    strcmp(backing, job->image))
		return released(job);
	if (now < job->release_end)
		return nap(job, retry_ms);
	loop_users(job->loop, users, sizeof(users));
	/* the record stays: a later removal looks again */
	return native__fail(job, "loop device %s of image '%s' is still in "
			    "use (%s) after %d ms; the kernel detaches it when "
			    "the last user closes it", job->loop, job->image,
			    users, job->release_wait_ms);
}

/* Detach the record's loop device if it still backs the image (and the
 * same inode, INO when known). */
static enum native_status detach_if_ours(struct native_job *job,
					 unsigned long long ino, int64_t now,
					 int *retry_ms)
{
	char backing[NATIVE_PATH_LEN];
	struct loop_info64 info;
	int fd;

	if (!loop_backing(job->loop, backing, sizeof(backing)) ||
	    strcmp(backing, job->image))
		return released(job); /* not attached, or another's now */
	fd = open(job->loop, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENXIO
			       ? released(job)
			       : native__fail(job, "cannot detach loop device "
					      "%s of image '%s': %s", job->loop,
					      job->image, strerror(errno));
	memset(&info, 0, sizeof(info));
	if (ino && ioctl(fd, LOOP_GET_STATUS64, &info) == 0 &&
	    info.lo_inode != ino) {
		close(fd);
		return released(job); /* another file of that name */
	}
	if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO) {
		int e = errno;

		close(fd);
		return native__fail(job, "cannot detach loop device %s of "
				    "image '%s': %s", job->loop, job->image,
				    strerror(e));
	}
	close(fd);
	job->phase = NATIVE_RELEASE_WAIT;
	job->release_end = now + job->release_wait_ms;
	job->nap_ms = 1;
	return release_wait(job, now, retry_ms);
}

/* No record (an add by an older script, or another lock directory): the
 * backend's xdev-loop and params say which device and image. */
static bool loop_from_store(struct native_job *job)
{
	char path[300], *v;

	snprintf(path, sizeof(path), "%s/xdev-loop", job->be);
	v = xs_read(job->xs, XBT_NULL, path, NULL);
	job->requests++;
	if (!v || strlen(v) >= sizeof(job->loop) || !valid_loop(v)) {
		free(v);
		return false;
	}
	strcpy(job->loop, v);
	free(v);
	snprintf(path, sizeof(path), "%s/params", job->be);
	v = xs_read(job->xs, XBT_NULL, path, NULL);
	job->requests++;
	if (!v || v[0] != '/' || strlen(v) >= sizeof(job->image) ||
	    strstr(v, "/../")) {
		free(v);
		return false;
	}
	if (!realpath(v, job->image))
		snprintf(job->image, sizeof(job->image), "%s", v);
	free(v);
	return true;
}

static enum native_status vbd_remove(struct native_job *job, int64_t now,
				     int *retry_ms)
{
	unsigned long long ino = 0;
	enum native_status s;

	if (job->phase == NATIVE_RELEASE_WAIT)
		return release_wait(job, now, retry_ms);
	if (!lock_or_wait(job, now, retry_ms, &s))
		return s;
	if (!record_read(job, &ino) && !loop_from_store(job))
		return released(job); /* nothing attached: a block device */
	return detach_if_ours(job, ino, now, retry_ms);
}

enum native_status native__vbd_step(struct native_job *job, int64_t now,
				    int *retry_ms)
{
	return job->adding ? vbd_add(job, now, retry_ms)
			   : vbd_remove(job, now, retry_ms);
}
