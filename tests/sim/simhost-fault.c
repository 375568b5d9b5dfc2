/*
 * simhost-fault: writing a domain's fault file ($dir/faults/<domid>, read
 * by its drivers, drv-fault.c).  The file is replaced by rename, under an
 * flock, so a driver never reads half a file and two writers never lose
 * each other's rules.  Then the supervisor signals the domain's driver
 * process, which re-reads the file: the signal is pending there before
 * the call returns, so a store write made after it is handled under the
 * new rules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "drv-fault.h"
#include "fakexen.h"
#include "simhost-internal.h"

static int validate(struct simhost *h, const char *scope, const char *words)
{
	struct drv_faults f;
	char *copy, *w, *save = NULL;
	int r = 0;

	if (!drv_fault_scope_valid(scope)) {
		snprintf(h->err, sizeof(h->err), "invalid fault scope '%s' "
			 "(*, vbd/DEVID, vif/DEVID, or TYPE/DEVID@FRONTEND)",
			 scope);
		return -EINVAL;
	}
	copy = strdup(words ? words : "");
	if (!copy)
		return -ENOMEM;
	for (w = strtok_r(copy, " ", &save); w && !r;
	     w = strtok_r(NULL, " ", &save))
		if (drv_fault_apply_word(&f, w)) {
			snprintf(h->err, sizeof(h->err), "unknown fault '%s'", w);
			r = -EINVAL;
		}
	free(copy);
	return r;
}

/* Copy IN to OUT without SCOPE's rule, then add SCOPE WORDS. */
static void rewrite(FILE *in, FILE *out, const char *scope, const char *words)
{
	char *line = NULL;
	size_t n = 0, len = strlen(scope);

	while (in && getline(&line, &n, in) > 0)
		if (strncmp(line, scope, len) || (line[len] != ' ' &&
						  line[len] != '\n'))
			fputs(line, out);
	free(line);
	if (words && *words)
		fprintf(out, "%s %s\n", scope, words);
}

static int replace_rule(struct simhost *h, uint32_t domid, const char *scope,
			const char *words)
{
	char path[PATH_MAX], tmp[PATH_MAX], lock[PATH_MAX];
	FILE *in, *out;
	int lfd, r = 0;

	snprintf(path, sizeof(path), "%s/faults/%u", h->dir, domid);
	snprintf(tmp, sizeof(tmp), "%s/faults/.%u.tmp", h->dir, domid);
	snprintf(lock, sizeof(lock), "%s/faults/.lock", h->dir);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
		r = -errno;
		goto out;
	}
	in = fopen(path, "re");
	out = fopen(tmp, "we");
	if (!out) {
		r = -errno;
		if (in)
			fclose(in);
		goto out;
	}
	if (scope)
		rewrite(in, out, scope, words);
	if (in)
		fclose(in);
	if (fclose(out) || rename(tmp, path) < 0) {
		r = -errno;
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "faults %u\n", domid);
	r = sim__control(h->dir, tmp);
out:
	if (r)
		snprintf(h->err, sizeof(h->err), "faults/%u: %s", domid,
			 strerror(-r));
	if (lfd >= 0)
		close(lfd);
	return r;
}

int simhost_fault_set(struct simhost *h, uint32_t domid, const char *scope,
		      const char *words)
{
	struct fakexen_dominfo d;
	int r;

	if ((r = fakexen_attach(h->dir)) || (r = fakexen_domain_get(domid, &d))) {
		snprintf(h->err, sizeof(h->err), "domain %u does not exist",
			 domid);
		return r;
	}
	if ((r = validate(h, scope, words)))
		return r;
	return replace_rule(h, domid, scope, words);
}

int simhost_fault_clear(struct simhost *h, uint32_t domid)
{
	return replace_rule(h, domid, NULL, NULL);
}
