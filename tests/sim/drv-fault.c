/*
 * drv-fault: the faults a domain's drivers act out, read from
 * $XDEV_SIM_DIR/faults/<domid> and re-read whenever it changes: the writer
 * (simhost_fault_set(), simhost-fault.c) replaces the file by rename, then
 * asks the supervisor to send the domain's driver process SIGUSR2, taken
 * here through a signalfd of its own.  Not inotify: each instance counts
 * against fs.inotify.max_user_instances (128 per user by default), which
 * capped a host at about 126 domains with kernels.
 *
 * The file has one rule per line: a scope, then fault words.
 *   *              every device of the domain
 *   vbd/51712      one device (a frontend's, or any backend's with that id)
 *   vbd/51712@3    a backend's device of frontend domain 3
 * Words: frontend-unresponsive, frontend-refuse-close, backend-unresponsive,
 * backend-delete-on-close, slow=MS, connect-delay=MS, destroy-at=STATE,
 * vif-late=MS.
 * Later rules win.
 * The parser is shared with xdev-sim, which validates before writing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "drv.h"
#include "drv-fault.h"
#include "fakexen.h"

/* "PREFIX<ms>" with ms in 0..MAX into *MS: 1; 0 if W has another
 * prefix; -EINVAL for a bad number. */
static int parse_ms(const char *w, const char *prefix, long max, int *ms)
{
	size_t n = strlen(prefix);
	char *end;
	long v;

	if (strncmp(w, prefix, n))
		return 0;
	errno = 0;
	v = strtol(w + n, &end, 10);
	if (errno || *end || end == w + n || v < 0 || v > max)
		return -EINVAL;
	*ms = (int)v;
	return 1;
}

/* Apply one fault word to F; -EINVAL for a word that is not a fault. */
int drv_fault_apply_word(struct drv_faults *f, const char *w)
{
	int r;

	if (!strcmp(w, "frontend-unresponsive"))
		f->frontend_unresponsive = true;
	else if (!strcmp(w, "frontend-refuse-close"))
		f->frontend_refuse_close = true;
	else if (!strcmp(w, "backend-unresponsive"))
		f->backend_unresponsive = true;
	else if (!strcmp(w, "backend-delete-on-close"))
		f->backend_delete_on_close = true;
	else if ((r = parse_ms(w, "slow=", 600000, &f->slow_ms)) ||
		 (r = parse_ms(w, "connect-delay=", 60000,
			       &f->connect_delay_ms)) ||
		 (r = parse_ms(w, "vif-late=", 60000, &f->vif_late_ms)))
		return r < 0 ? r : 0;
	else if (!strncmp(w, "destroy-at=", 11)) {
		r = xenbus_state_parse(w + 11);
		if (r < XB_INITIALISING || r > XB_CLOSED)
			return -EINVAL;
		f->destroy_at = r;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* Scope syntax: "*", "TYPE/DEVID" or "TYPE/DEVID@DOMID". */
int drv_fault_scope_valid(const char *s)
{
	unsigned long id, dom;
	char type[8];
	int n = 0;

	if (!strcmp(s, "*"))
		return 1;
	if (sscanf(s, "%7[a-z]/%lu%n", type, &id, &n) == 2 && !s[n])
		return !strcmp(type, "vbd") || !strcmp(type, "vif");
	n = 0;
	if (sscanf(s, "%7[a-z]/%lu@%lu%n", type, &id, &dom, &n) == 3 && !s[n])
		return (!strcmp(type, "vbd") || !strcmp(type, "vif")) &&
		       dom < FAKEXEN_NR_DOMIDS;
	return 0;
}

static bool scope_matches(const char *scope, const struct drv_dev *dev)
{
	char want[48];

	if (!strcmp(scope, "*"))
		return true;
	snprintf(want, sizeof(want), "%s/%u", dev->type, dev->devid);
	if (!strcmp(scope, want))
		return true;
	snprintf(want, sizeof(want), "%s/%u@%u", dev->type, dev->devid,
		 dev->other_domid);
	return !strcmp(scope, want);
}

static bool faults_refresh(struct drv *d);

/* The device's faults as of now.  Callers read the store first and the
 * faults second: a fault set before a store write is then always seen
 * with that write (SIGUSR2 is pending here before simhost_fault_set()
 * returns, so before the write happens). */
void drv_faults_get(struct drv *d, const struct drv_dev *dev,
		    struct drv_faults *ret)
{
	char *text, *line, *save = NULL;

	faults_refresh(d);
	memset(ret, 0, sizeof(*ret));
	ret->destroy_at = -1;
	if (!d->fault_text)
		return;
	text = strdup(d->fault_text);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *w, *wsave = NULL;
		char *scope = strtok_r(line, " \t", &wsave);

		if (!scope || !scope_matches(scope, dev))
			continue;
		while ((w = strtok_r(NULL, " \t", &wsave)))
			drv_fault_apply_word(ret, w);
	}
	free(text);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &n, 0, f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Re-read the fault file if a SIGUSR2 says it may have changed since the
 * last look; true if so.  Called before every watch event too: a fault set
 * before a store write must be in force when the write's event is handled,
 * even in a burst of events. */
static bool faults_refresh(struct drv *d)
{
	struct signalfd_siginfo si;
	bool changed = false;

	while (read(d->fault_fd, &si, sizeof(si)) == sizeof(si))
		changed = true;
	if (!changed)
		return false;
	free(d->fault_text);
	d->fault_text = slurp(d->fault_file);
	drv_log(d, "faults: %s", d->fault_text ? d->fault_text : "(none)\n");
	return true;
}

void drv_faults_check(struct drv *d)
{
	if (faults_refresh(d))
		drv_faults_reload(d);
}

void drv_faults_reload(struct drv *d)
{
	struct drv_dev *dev, *next;

	/* A cleared fault may release a held transition. */
	for (dev = d->devs; dev; dev = next) {
		next = dev->next;
		drv_step(d, dev);
	}
}

/* Before the driver reports ready: the supervisor serves no request while
 * a kernel starts, so no SIGUSR2 can come before it is blocked here. */
int drv_faults_init(struct drv *d)
{
	sigset_t s;

	snprintf(d->fault_file, sizeof(d->fault_file), "%s/faults/%u",
		 fakexen_dir(), d->domid);
	sigemptyset(&s);
	sigaddset(&s, DRV_FAULT_SIGNAL);
	if (sigprocmask(SIG_BLOCK, &s, NULL) < 0)
		return -errno;
	d->fault_fd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->fault_fd < 0)
		return -errno;
	d->fault_text = slurp(d->fault_file);
	return 0;
}
