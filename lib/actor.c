/*
 * actor: an identity for a process that survives pid reuse (actor.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor.h"

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

int actor_self(char buf[ACTOR_LEN], uint32_t context)
{
	char boot[40];
	unsigned long long start;
	int r = boot_id(boot);

	if (r)
		return r;
	/* 0: no /proc/self/stat; an actor needs its start time (parse()) */
	start = start_time(getpid());
	if (!start)
		return -EIO;
	snprintf(buf, ACTOR_LEN, "%s/%d/%llu/%08" PRIx32, boot, (int)getpid(),
		 start, context);
	return 0;
}

/* The decimal number at *P, as actor_self() writes it (digits only: no
 * sign, no blank, no leading zero), up to MAX and followed by '/': true,
 * its value in *RET and *P past the '/'. */
static bool number(const char **p, unsigned long long max,
		   unsigned long long *ret)
{
	const char *s = *p;
	unsigned long long n = 0;
	unsigned d;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '/'))
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		d = (unsigned)(*s - '0');
		if (n > (max - d) / 10)
			return false;
		n = n * 10 + d;
	}
	if (*s != '/')
		return false;
	*ret = n;
	*p = s + 1;
	return true;
}

/* ACTOR's parts; false if malformed (a record is dom0's, but another
 * program could write anything there).  A start time of 0 is malformed:
 * start_time() reads 0 for a process that does not exist, and such an
 * actor would be alive as long as its pid is free. */
static bool parse(const char *actor, char boot[40], pid_t *pid,
		  unsigned long long *start)
{
	const char *p = strchr(actor, '/');
	unsigned long long v;

	if (!p || p - actor != 36)
		return false;
	memcpy(boot, actor, 36);
	boot[36] = 0;
	p++;
	if (!number(&p, 0x3fffffff, &v) || v == 0 ||
	    !number(&p, ULLONG_MAX, start) || *start == 0)
		return false;
	*pid = (pid_t)v;
	return true;
}

bool actor_alive(const char *actor)
{
	char boot[40], mine[40];
	unsigned long long start;
	pid_t pid;

	if (!parse(actor, boot, &pid, &start) || boot_id(mine) ||
	    strcmp(boot, mine))
		return false; /* another boot's: dom0 restarted since */
	return start_time(pid) == start;
}

pid_t actor_pid(const char *actor)
{
	char boot[40];
	unsigned long long start;
	pid_t pid;

	return parse(actor, boot, &pid, &start) ? pid : 0;
}

int actor_owner_parse(const char *v, char op[8], const char **actor)
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
