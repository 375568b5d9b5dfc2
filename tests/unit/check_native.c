/*
 * check_native: native hotplug (lib/native*.c, lib/hotplug-native.c)
 * against the simulated host, on both xenstore daemons - real loop
 * devices, a real bridge in the host's network namespace, and the real
 * block script beside it sharing its lock and records.
 *
 * What a device gets must be what hotplug/block and hotplug/vif-bridge
 * give it (the same nodes, the same messages), and every failure, cancel
 * and crash must leave no loop device, no record file and no node.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libfixture.h"

static char lock_dir[320];
static char image[320];

/* ---- helpers ------------------------------------------------------------- */

/* A context in library mode with the real scripts, its state (lock and
 * records) in the host's directory; native unless NEVER. */
static void native_ctx(enum xdev_native_mode mode, int release_wait_ms)
{
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .timeout_hotplug_ms = 20000,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = TEST_SRCDIR "/hotplug",
			    .native = mode };
	char v[16];

	snprintf(lock_dir, sizeof(lock_dir), "%s/lock", fx_host.dir);
	o.hotplug_state_dir = lock_dir;
	/* read at the context's creation, as the block script reads it */
	snprintf(v, sizeof(v), "%d", release_wait_ms);
	ck_assert_int_eq(setenv("XDEV_BLOCK_RELEASE_WAIT_MS", v, 1), 0);
	xdev_ctx_free(ctx);
	open_ctx(&o);
	unsetenv("XDEV_BLOCK_RELEASE_WAIT_MS");
}

/* A 4 MiB image NAME in the host's directory, mode MODE: its path. */
static const char *make_image(const char *name, mode_t mode)
{
	int fd;

	snprintf(image, sizeof(image), "%s/%s", fx_host.dir, name);
	fd = open(image, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4 << 20), 0);
	close(fd);
	ck_assert_int_eq(chmod(image, mode), 0);
	return image;
}

static int add_image(uint32_t g, const char *vdev, const char *target,
		     const char *access, xdev_device_id *id)
{
	xdev_desc *d = NULL;
	int r;

	ck_assert_int_eq(xdev_desc_new(XDEV_VBD, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "vdev", vdev), 0);
	ck_assert_int_eq(xdev_desc_set(d, "target", target), 0);
	if (access)
		ck_assert_int_eq(xdev_desc_set(d, "access", access), 0);
	r = xdev_vbd_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, NULL, id, NULL);
	xdev_desc_free(d);
	return r;
}

/* The value of DIR/KEY in the store ("" if missing), in a static buffer. */
static const char *node(const char *dir, const char *key)
{
	static char buf[512];
	char path[400];
	char *v;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	v = xs_read(xs, XBT_NULL, path, NULL);
	snprintf(buf, sizeof(buf), "%s", v ? v : "");
	free(v);
	return buf;
}

static void record_file(const xdev_device_id *id, char *buf, size_t n)
{
	struct track t;
	size_t k;
	char *p;

	paths_of(id, &t);
	k = (size_t)snprintf(buf, n, "%s/block/", lock_dir);
	snprintf(buf + k, n - k, "%s", t.be);
	for (p = buf + k; *p; p++)
		if (*p == '/')
			*p = '%';
}

static int hotplug_kind_of(uint32_t g, unsigned devid)
{
	xdev_device_info *v = NULL;
	unsigned n = 0, i;
	int kind = -1;

	ck_assert_int_eq(xdev_device_list(ctx, g, &v, &n), 0);
	for (i = 0; i < n; i++)
		if (v[i].id.devid == devid)
			kind = v[i].hotplug_kind;
	free(v);
	return kind;
}

static bool loop_read_only(const char *loop)
{
	char path[96];
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "/sys/block/%s/ro", loop + 5);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	c = fgetc(f);
	fclose(f);
	return c == '1';
}

/* What the block script writes for a loop device: the same, checked. */
static void assert_loop_nodes(const xdev_device_id *id, const char *img,
			      char loop[64])
{
	struct track t;
	struct stat st;
	char mm[32], want[600], got[600];
	FILE *f;
	size_t n;

	paths_of(id, &t);
	snprintf(loop, 64, "%s", node(t.be, "xdev-loop"));
	ck_assert_msg(!strncmp(loop, "/dev/loop", 9), "xdev-loop '%s'", loop);
	ck_assert_str_eq(node(t.be, "physical-device-path"), loop);
	ck_assert_int_eq(stat(loop, &st), 0);
	snprintf(mm, sizeof(mm), "%x:%x", major(st.st_rdev),
		 minor(st.st_rdev));
	ck_assert_str_eq(node(t.be, "physical-device"), mm);
	ck_assert_str_eq(node(t.be, "hotplug-status"), "connected");
	/* the record: hotplug/block's three lines */
	ck_assert_int_eq(stat(img, &st), 0);
	snprintf(want, sizeof(want), "%s\n%s\n%llu\n", loop, img,
		 (unsigned long long)st.st_ino);
	record_file(id, got, sizeof(got));
	f = fopen(got, "r");
	ck_assert_msg(f != NULL, "no record file %s", got);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = 0;
	fclose(f);
	ck_assert_str_eq(got, want);
}

static void assert_no_record_file(const xdev_device_id *id)
{
	char path[600];

	record_file(id, path, sizeof(path));
	ck_assert_msg(access(path, F_OK) < 0, "%s left", path);
}

/* ---- image files ----------------------------------------------------------- */

START_TEST(native_attaches_an_image_to_a_loop_device_and_releases_it)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	char loop[64];
	int r;

	native_ctx(XDEV_NATIVE_AUTO, 0);
	make_image("native.img", 0600);
	r = add_image(g, "xvda", image, NULL, &id);
	ck_assert_msg(r == 0, "%s", xdev_ctx_last_message(ctx));
	ck_assert_int_eq(hotplug_kind_of(g, id.devid), XDEV_HOTPLUG_KIND_NATIVE);
	ck_assert_int_eq(fx_loops_backing(image), 1);
	assert_loop_nodes(&id, image, loop);
	ck_assert(!loop_read_only(loop));
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	assert_no_record_file(&id);
	assert_clean(&id);
}
END_TEST

/* Read-only attachments share an image; read-write ones never: the block
 * script's rules and words.  A refused add is undone: nothing of it is
 * left, and the others keep theirs. */
START_TEST(native_shares_an_image_read_only_and_never_read_write)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id a, b, c;
	char loop[64], want[600];

	native_ctx(XDEV_NATIVE_AUTO, 0);
	make_image("shared.img", 0600);
	ck_assert_int_eq(add_image(g, "xvda", image, "r", &a), 0);
	assert_loop_nodes(&a, image, loop);
	ck_assert(loop_read_only(loop));
	ck_assert_int_eq(add_image(g, "xvdb", image, "r", &b), 0);
	ck_assert_int_eq(fx_loops_backing(image), 2);
	ck_assert_int_eq(add_image(g, "xvdc", image, "w", &c),
			 XDEV_E_HOTPLUG_FAILED);
	snprintf(want, sizeof(want), "image '%s' is already attached "
		 "read-only to /dev/loop", image);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), want), "%s",
		      xdev_ctx_last_message(ctx));
	c.devid = 51744; /* xvdc */
	assert_clean(&c);
	assert_no_record_file(&c);
	ck_assert_int_eq(fx_loops_backing(image), 2);
	ck_assert_int_eq(xdev_device_remove(ctx, &a, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &b, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	/* read-write: once */
	ck_assert_int_eq(add_image(g, "xvda", image, "w", &a), 0);
	ck_assert_int_eq(add_image(g, "xvdb", image, "r", &b),
			 XDEV_E_HOTPLUG_FAILED);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "is attached "
			     "read-write to /dev/loop"), "%s",
		      xdev_ctx_last_message(ctx));
	ck_assert_int_eq(fx_loops_backing(image), 1);
	ck_assert_int_eq(xdev_device_remove(ctx, &a, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	assert_clean(&a);
}
END_TEST

/* The script and the library see each other's attachments: either
 * refuses an image the other attached read-write. */
START_TEST(native_and_the_block_script_refuse_each_others_images)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id a, b;
	xdev_desc *d = NULL;
	int r;

	native_ctx(XDEV_NATIVE_AUTO, 0);
	make_image("both.img", 0600);
	ck_assert_int_eq(xdev_desc_new(XDEV_VBD, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "vdev", "xvda"), 0);
	ck_assert_int_eq(xdev_desc_set(d, "target", image), 0);
	ck_assert_int_eq(xdev_desc_set(d, "script", "block"), 0);
	r = xdev_vbd_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, NULL, &a, NULL);
	ck_assert_msg(r == 0, "%s", xdev_ctx_last_message(ctx));
	ck_assert_int_eq(hotplug_kind_of(g, a.devid), XDEV_HOTPLUG_KIND_SCRIPT);
	ck_assert_int_eq(add_image(g, "xvdb", image, "w", &b),
			 XDEV_E_HOTPLUG_FAILED);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "already attached "
			     "read-write"), "%s", xdev_ctx_last_message(ctx));
	ck_assert_int_eq(xdev_device_remove(ctx, &a, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	/* the other way round */
	ck_assert_int_eq(add_image(g, "xvdb", image, "w", &b), 0);
	ck_assert_int_eq(xdev_desc_set(d, "vdev", "xvdc"), 0);
	r = xdev_vbd_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, NULL, &a, NULL);
	xdev_desc_free(d);
	ck_assert_int_eq(r, XDEV_E_HOTPLUG_FAILED);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "already attached "
			     "read-write"), "%s", xdev_ctx_last_message(ctx));
	ck_assert_int_eq(fx_loops_backing(image), 1);
	ck_assert_int_eq(xdev_device_remove(ctx, &b, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
}
END_TEST

/* What a native add attached, the block script's remove releases (a
 * toolstack that runs the script, libxl's `xl devd`, finds the record
 * file and the xdev-loop node it expects). */
START_TEST(the_block_script_releases_what_native_attached)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	struct track t;
	char cmd[1400], loop[64];

	native_ctx(XDEV_NATIVE_AUTO, 0);
	make_image("handover.img", 0600);
	ck_assert_int_eq(add_image(g, "xvda", image, NULL, &id), 0);
	assert_loop_nodes(&id, image, loop);
	paths_of(&id, &t);
	snprintf(cmd, sizeof(cmd), "XENBUS_PATH=%s XDEV_HOTPLUG_LOCK_DIR=%s "
		 "%s/hotplug/block remove", t.be, lock_dir, TEST_SRCDIR);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	assert_no_record_file(&id);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
}
END_TEST

/* Every refusal in the block script's words, undone, nothing attached. */
START_TEST(native_refuses_bad_targets_in_the_scripts_words)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	static const struct { const char *target, *access, *says; } cases[] = {
		{ "/nonexistent/disk.img", NULL, "does not exist" },
		{ "/", NULL, "is a directory, not a block device or an image "
			     "file" },
		{ "/dev/null", NULL, "is not a block device or an image file" },
		{ NULL, "w", "has no write permission; not attaching it "
			     "read-write" },
	};
	xdev_device_id id = { XDEV_VBD, 0, g, 51712 };
	char want[600];
	size_t i;

	native_ctx(XDEV_NATIVE_AUTO, 0);
	make_image("readonly.img", 0444);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].target ? cases[i].target : image;

		ck_assert_int_eq(add_image(g, "xvda", t, cases[i].access, &id),
				 XDEV_E_HOTPLUG_FAILED);
		snprintf(want, sizeof(want), "%s", cases[i].says);
		ck_assert_msg(strstr(xdev_ctx_last_message(ctx), want),
			      "%s: %s", t, xdev_ctx_last_message(ctx));
		assert_clean(&id);
		assert_no_record_file(&id);
	}
	ck_assert_int_eq(fx_loops_backing(image), 0);
	/* read-only, the same image attaches */
	ck_assert_int_eq(add_image(g, "xvda", image, "r", &id), 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
}
END_TEST

/* A block device is used as it is: its numbers, no loop, no record. */
START_TEST(native_uses_a_block_device_as_it_is)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;
	struct track t;
	struct stat st;
	char mm[32];

	native_ctx(XDEV_NATIVE_AUTO, 0);
	ck_assert_int_eq(add_image(g, "xvda", loopdev, NULL, &id), 0);
	paths_of(&id, &t);
	ck_assert_int_eq(stat(loopdev, &st), 0);
	snprintf(mm, sizeof(mm), "%x:%x", major(st.st_rdev),
		 minor(st.st_rdev));
	ck_assert_str_eq(node(t.be, "physical-device"), mm);
	ck_assert_str_eq(node(t.be, "physical-device-path"), loopdev);
	ck_assert_str_eq(node(t.be, "xdev-loop"), "");
	assert_no_record_file(&id);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	/* the test's own device: still attached */
	ck_assert_int_eq(access(loopdev, F_OK), 0);
	assert_clean(&id);
}
END_TEST

/* ---- the lock and the kernel's release ------------------------------------- */

static int hold_lock(void)
{
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/block", lock_dir);
	mkdir(lock_dir, 0755);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/block.lock", lock_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	return fd;
}

/* block.lock held (by a block script, here the test): the add waits
 * without blocking the loop, and goes on once it is free; a cancel while
 * it waits ends it with nothing attached. */
START_TEST(native_waits_for_the_lock_a_script_holds)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_desc *d = NULL;
	xdev_device_id id;
	struct track t;
	xdev_op *op;
	long long end;
	int fd;

	native_ctx(XDEV_NATIVE_AUTO, 0);
	make_image("locked.img", 0600);
	fd = hold_lock();
	how.user = &res;
	ck_assert_int_eq(xdev_desc_new(XDEV_VBD, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "vdev", "xvda"), 0);
	ck_assert_int_eq(xdev_desc_set(d, "target", image), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, &how,
				      &id, &op), 0);
	/* the backend reaches InitWait, then the job waits for the lock */
	paths_of(&id, &t);
	end = now_ms() + 20000;
	while (!res.done && now_ms() < end && state_at(t.be) != 2)
		xdev_ctx_run(ctx, 20);
	xdev_ctx_run(ctx, 300);
	ck_assert(!res.done);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	ck_assert_int_eq(xdev_op_cancel(op), 0);
	run_until(&res, AT_ONCE_MS);
	ck_assert_int_eq(res.r, -ECANCELED);
	assert_clean(&id);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	/* again, and the lock freed while it waits */
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, &how,
				      &id, &op), 0);
	xdev_ctx_run(ctx, 300);
	ck_assert(!res.done);
	close(fd);
	run_until(&res, AT_ONCE_MS);
	ck_assert_msg(res.r == 0, "%s", xdev_ctx_last_message(ctx));
	ck_assert_int_eq(fx_loops_backing(image), 1);
	xdev_desc_free(d);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
}
END_TEST

/* An application loop whose timer is one-shot (GLib's, asyncio's): the
 * native add's naps while a script holds the lock repeat one interval
 * (50 ms), and each must reach the application again once its timer
 * fired, or the add stalls until the context's fd happens to wake. */
START_TEST(native_lock_naps_rearm_an_applications_one_shot_timer)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	struct app_loop app;
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .timeout_hotplug_ms = 20000,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hooks = &app.hooks };
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_desc *d = NULL;
	xdev_device_id id;
	long long end, freed = 0;
	int fd;

	app_loop_init(&app);
	snprintf(lock_dir, sizeof(lock_dir), "%s/lock", fx_host.dir);
	o.hotplug_state_dir = lock_dir;
	xdev_ctx_free(ctx);
	open_ctx(&o);
	make_image("oneshot.img", 0600);
	fd = hold_lock();
	how.user = &res;
	ck_assert_int_eq(xdev_desc_new(XDEV_VBD, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "vdev", "xvda"), 0);
	ck_assert_int_eq(xdev_desc_set(d, "target", image), 0);
	ck_assert_int_eq(xdev_vbd_add(ctx, g, d, 0, &how, &id, NULL), 0);
	xdev_desc_free(d);
	end = now_ms() + 15000;
	while (!res.done && now_ms() < end) {
		/* the lock held for a second: naps of 1 ms doubling to 50 */
		if (fd >= 0 && now_ms() - end + 15000 > 1000) {
			close(fd);
			fd = -1;
			freed = now_ms();
		}
		app_loop_turn(ctx, &app);
	}
	ck_assert_msg(res.done, "the add stalled (timer %ld ms)",
		      app.timer_ms);
	ck_assert_msg(res.r == 0, "%s", xdev_strerror(res.r));
	ck_assert_msg(now_ms() - freed < 5000, "done %lld ms after the lock "
		      "was freed", now_ms() - freed);
	if (fd >= 0)
		close(fd);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_AUTO, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	assert_clean(&id);
	/* freed here: its hooks' state is this function's */
	xdev_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(app.fd, -1);
	ck_assert_int_eq(app.timer_ms, -1);
}
END_TEST

/* A loop device that a process holds open is detached only at its last
 * close: the removal waits for that, and past the release wait fails
 * naming the holder, keeping the record for a later removal. */
START_TEST(native_removal_waits_for_the_kernel_to_let_go)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_op_how how = { .cb = on_done };
	struct result res = { 0 };
	xdev_device_id id;
	char loop[64], want[128];
	int fd;

	native_ctx(XDEV_NATIVE_AUTO, 300);
	make_image("held.img", 0600);
	ck_assert_int_eq(add_image(g, "xvda", image, NULL, &id), 0);
	assert_loop_nodes(&id, image, loop);
	fd = open(loop, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), XDEV_E_CLEANUP_FAILED);
	snprintf(want, sizeof(want), "still in use (by process %d)",
		 (int)getpid());
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), want), "%s",
		      xdev_ctx_last_message(ctx));
	/* kept for a later removal, which the close lets finish */
	how.user = &res;
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, &how,
					    NULL), 0);
	xdev_ctx_run(ctx, 50);
	close(fd);
	run_until(&res, AT_ONCE_MS);
	ck_assert_msg(res.r == 0, "%s", xdev_ctx_last_message(ctx));
	ck_assert_int_eq(fx_loops_backing(image), 0);
	assert_no_record_file(&id);
	assert_clean(&id);
}
END_TEST

/* ---- vifs ---------------------------------------------------------------- */

static int add_vif(uint32_t g, const char *bridge, const char *mtu,
		   xdev_device_id *id)
{
	xdev_desc *d = NULL;
	int r;

	ck_assert_int_eq(xdev_desc_new(XDEV_VIF, &d), 0);
	ck_assert_int_eq(xdev_desc_set(d, "bridge", bridge), 0);
	ck_assert_int_eq(xdev_desc_set(d, "mac", "00:16:3e:01:02:03"), 0);
	if (mtu)
		ck_assert_int_eq(xdev_desc_set(d, "mtu", mtu), 0);
	r = xdev_vif_add(ctx, g, d, XDEV_ADD_WAIT_CONNECTED, NULL, id, NULL);
	xdev_desc_free(d);
	return r;
}

START_TEST(native_puts_a_vif_on_its_bridge_and_takes_it_off)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id = { XDEV_VIF, 0, g, 0 };
	char cmd[100];
	const char *out;

	/* the host's namespace (its taps are there), as an application in
	 * dom0; the bridges die with the namespace */
	ck_assert_int_eq(simhost_setenv(&fx_host, 0, 1), 0);
	ck_assert_int_eq(system("ip link add xnbr0 type bridge && "
				"ip link set xnbr0 up && "
				"ip tuntap add dev xnnot mode tap"), 0);
	native_ctx(XDEV_NATIVE_AUTO, 0);
	/* refusals in vif-bridge's words, undone */
	ck_assert_int_eq(add_vif(g, "xnnone", NULL, &id),
			 XDEV_E_HOTPLUG_FAILED);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx),
			     "bridge xnnone does not exist"), "%s",
		      xdev_ctx_last_message(ctx));
	assert_clean(&id);
	ck_assert_int_eq(add_vif(g, "xnnot", NULL, &id),
			 XDEV_E_HOTPLUG_FAILED);
	ck_assert_msg(strstr(xdev_ctx_last_message(ctx), "xnnot, the bridge "
			     "for interface vif"), "%s",
		      xdev_ctx_last_message(ctx));
	assert_clean(&id);
	/* on its bridge, up, with Xen's host-side MAC and the MTU asked */
	ck_assert_msg(add_vif(g, "xnbr0", "1400", &id) == 0, "%s",
		      xdev_ctx_last_message(ctx));
	ck_assert_int_eq(hotplug_kind_of(g, id.devid), XDEV_HOTPLUG_KIND_NATIVE);
	snprintf(cmd, sizeof(cmd), "ip -o link show vif%u.%u", g, id.devid);
	out = output_of(cmd);
	ck_assert_msg(strstr(out, "master xnbr0") && strstr(out, ",UP") &&
		      strstr(out, "mtu 1400") &&
		      strstr(out, "fe:ff:ff:ff:ff:ff"), "%s", out);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
	out = output_of("ip -o link show master xnbr0");
	ck_assert_msg(out[0] == 0, "still on the bridge: %s", out);
	ck_assert_int_eq(system("ip link del xnbr0 && ip link del xnnot"), 0);
}
END_TEST

/* Linux's netback switches to InitWait before it registers the vif (the
 * vif-late fault acts it out): the add waits for the vif, not failing
 * with "interface vifG.0 does not exist" as it did on a real host. */
START_TEST(native_waits_for_a_vif_netback_registers_after_initwait)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id = { XDEV_VIF, 0, g, 0 };
	char cmd[100];
	const char *out;

	ck_assert_int_eq(simhost_setenv(&fx_host, 0, 1), 0);
	ck_assert_int_eq(system("ip link add xnbr1 type bridge && "
				"ip link set xnbr1 up"), 0);
	ck_assert_int_eq(simhost_fault_set(&fx_host, 0, "*", "vif-late=300"),
			 0);
	native_ctx(XDEV_NATIVE_AUTO, 0);
	ck_assert_msg(add_vif(g, "xnbr1", NULL, &id) == 0, "%s",
		      xdev_ctx_last_message(ctx));
	snprintf(cmd, sizeof(cmd), "ip -o link show vif%u.%u", g, id.devid);
	out = output_of(cmd);
	ck_assert_msg(strstr(out, "master xnbr1") && strstr(out, ",UP"), "%s",
		      out);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	assert_clean(&id);
	ck_assert_int_eq(system("ip link del xnbr1"), 0);
}
END_TEST

/* XDEV_NATIVE_NEVER: the block script, as before (the record says so). */
START_TEST(native_never_runs_the_scripts)
{
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id;

	native_ctx(XDEV_NATIVE_NEVER, 0);
	make_image("scripted.img", 0600);
	ck_assert_msg(add_image(g, "xvda", image, NULL, &id) == 0, "%s",
		      xdev_ctx_last_message(ctx));
	ck_assert_int_eq(hotplug_kind_of(g, id.devid), XDEV_HOTPLUG_KIND_SCRIPT);
	ck_assert_int_eq(fx_loops_backing(image), 1);
	ck_assert_int_eq(xdev_device_remove(ctx, &id, XDEV_REMOVE_SAFE, NULL,
					    NULL), 0);
	ck_assert_int_eq(fx_loops_backing(image), 0);
	assert_clean(&id);
}
END_TEST

/* ---- an actor killed half-way ---------------------------------------------- */

struct native_crash {
	const char *point;   /* a substring of the child's log */
	bool hold_lock;      /* the test holds block.lock meanwhile */
	bool removal;
};

static const struct native_crash native_crashes[] = {
	{ "native add (no script)", false, false },
	{ "-> native-waiting (native add)", true, false },
	{ "native add done", false, false },
	{ "-> native-done (native add)", false, false },
	{ "native remove (no script)", false, true },
	{ "-> native-waiting (native remove)", true, true },
	{ "-> native-done (native remove)", false, true },
};

static const char *crash_point;

static void kill_at_point(void *user, enum xdev_log_level level,
			  const char *m)
{
	(void)user;
	(void)level;
	if (strstr(m, crash_point))
		raise(SIGKILL);
}

static void child_acts(const struct native_crash *c, uint32_t g,
		       const xdev_device_id *id)
{
	xdev_ctx_opts o = { .timeout_remove_ms = SHORT_MS,
			    .timeout_hotplug_ms = 20000,
			    .hotplug = XDEV_HOTPLUG_LIBRARY,
			    .hotplug_dir = TEST_SRCDIR "/hotplug",
			    .hotplug_state_dir = lock_dir,
			    .log_cb = kill_at_point,
			    .log_level = XDEV_LOG_DEBUG };
	xdev_desc *d = NULL;
	xdev_ctx *mine = NULL;

	crash_point = c->point;
	if (xdev_ctx_new(&o, &mine) || xdev_desc_new(XDEV_VBD, &d) ||
	    xdev_desc_set(d, "vdev", "xvda") ||
	    xdev_desc_set(d, "target", image))
		_exit(4);
	if (c->removal)
		xdev_device_remove(mine, id, XDEV_REMOVE_SAFE, NULL, NULL);
	else
		xdev_vbd_add(mine, g, d, XDEV_ADD_WAIT_CONNECTED, NULL, NULL,
			     NULL);
	_exit(5);
}

START_TEST(an_actor_killed_in_native_hotplug_is_recovered)
{
	const struct native_crash *c = &native_crashes[_i];
	uint32_t g = guest("guest", SIMHOST_DOM_GUEST);
	xdev_device_id id = { XDEV_VBD, 0, g, 51712 };
	int status = 0, lock_fd = -1;
	long long end;
	pid_t pid;

	native_ctx(XDEV_NATIVE_AUTO, 0);
	make_image("crash.img", 0600);
	if (c->removal)
		ck_assert_int_eq(add_image(g, "xvda", image, NULL, &id), 0);
	if (c->hold_lock)
		lock_fd = hold_lock();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		child_acts(c, g, &id);
	end = now_ms() + 30000;
	while (waitpid(pid, &status, WNOHANG) == 0 && now_ms() < end)
		usleep(10000); /* a child's end has no fd to wait on */
	if (now_ms() >= end) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "%s: the child ended with %#x", c->point, status);
	if (lock_fd >= 0)
		close(lock_fd);
	ck_assert_int_eq(xdev_ctx_recover(ctx, XDEV_DOMID_ANY, 0, NULL, NULL),
			 1);
	assert_clean(&id);
	assert_no_record_file(&id);
	ck_assert_msg(fx_loops_backing(image) == 0, "%s: the loop device "
		      "stayed", c->point);
}
END_TEST

int main(int argc, char **argv)
{
	const TTest *const tests[] = {
		native_attaches_an_image_to_a_loop_device_and_releases_it,
		native_shares_an_image_read_only_and_never_read_write,
		native_and_the_block_script_refuse_each_others_images,
		the_block_script_releases_what_native_attached,
		native_refuses_bad_targets_in_the_scripts_words,
		native_uses_a_block_device_as_it_is,
		native_waits_for_the_lock_a_script_holds,
		native_removal_waits_for_the_kernel_to_let_go,
		native_lock_naps_rearm_an_applications_one_shot_timer,
		native_puts_a_vif_on_its_bridge_and_takes_it_off,
		native_waits_for_a_vif_netback_registers_after_initwait,
		native_never_runs_the_scripts,
	};
	const struct lib_tests t = {
		.suite = "native",
		.tests = tests,
		.n = sizeof(tests) / sizeof(tests[0]),
		.loop = an_actor_killed_in_native_hotplug_is_recovered,
		.loop_end = sizeof(native_crashes) / sizeof(native_crashes[0]),
	};

	(void)argc;
	return lib_main(argv, &t);
}
