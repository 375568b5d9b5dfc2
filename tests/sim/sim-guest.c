/*
 * sim-guest: "xdev-sim guest DOMID CMD ARGS...", one xenstore operation done
 * from inside simulated domain DOMID, through its ring (guest-xs.c), so that
 * tests can check what an unprivileged guest may see and do:
 *
 *   read PATH            print the value
 *   write PATH VALUE
 *   mkdir PATH
 *   rm PATH
 *   ls PATH              one child name per line
 *   getperms PATH        e.g. "n1,r0"
 *   setperms PATH PERMS  PERMS in the same comma-separated form
 *   watch PATH [COUNT]   print "PATH TOKEN" per event (the initial one
 *                        included) and exit after COUNT events (default 1)
 *   features             print the ring's server_features
 *   reconnect            reset the ring, then read and print "name" to show
 *                        that it works again
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage error.
 *
 * A domain with a kernel (the default) is reached through its xenbus
 * socket, so several `guest` commands may run on it at once.  A bare
 * domain (domain-create --bare) has only its ring, and every process
 * opening it reads whatever the daemon sends there: while a `watch` runs on
 * one, change the watched nodes from dom0 or another domain.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakexen.h"
#include "guest-xs.h"
#include "sim-guest.h"

#define PROG "xdev-sim guest"
#define WATCH_TOKEN "t"
#define RECONNECT_TIMEOUT_MS 10000

struct guest_cmd {
	const char *name;
	const char *args;               /* for the usage message */
	int min_args, max_args;
	/* Optional extra validation of the arguments: nonzero is a usage
	 * error, caught before touching the ring. */
	int (*check)(char **args, int nargs);
	int (*run)(struct xsg *x, char **args, int nargs);
};

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;

	/* strtoul() would accept " 7" and "-1". */
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	*ret = strtoul(s, &end, 10);
	if (errno || *end || *ret > max)
		return -EINVAL;
	return 0;
}

static int cmd_read(struct xsg *x, char **args, int nargs)
{
	unsigned len;
	char *val;
	int r = xsg_read(x, 0, args[0], &val, &len);

	(void)nargs;
	if (r < 0)
		return r;
	/* The value is bytes, not necessarily a C string. */
	fwrite(val, 1, len, stdout);
	putchar('\n');
	free(val);
	return 0;
}

static int cmd_write(struct xsg *x, char **args, int nargs)
{
	(void)nargs;
	return xsg_write(x, 0, args[0], args[1], (unsigned)strlen(args[1]));
}

static int cmd_mkdir(struct xsg *x, char **args, int nargs)
{
	(void)nargs;
	return xsg_mkdir(x, 0, args[0]);
}

static int cmd_rm(struct xsg *x, char **args, int nargs)
{
	(void)nargs;
	return xsg_rm(x, 0, args[0]);
}

static int cmd_ls(struct xsg *x, char **args, int nargs)
{
	char **names;
	unsigned i, n;
	int r = xsg_directory(x, 0, args[0], &names, &n);

	(void)nargs;
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		puts(names[i]);
	free(names);
	return 0;
}

static int cmd_getperms(struct xsg *x, char **args, int nargs)
{
	char *perms;
	int r = xsg_get_perms(x, 0, args[0], &perms);

	(void)nargs;
	if (r < 0)
		return r;
	puts(perms);
	free(perms);
	return 0;
}

static int cmd_setperms(struct xsg *x, char **args, int nargs)
{
	(void)nargs;
	return xsg_set_perms(x, 0, args[0], args[1]);
}

static int check_watch(char **args, int nargs)
{
	unsigned long count;

	return nargs > 1 && (parse_uint(args[1], INT32_MAX, &count) < 0 ||
			     count == 0);
}

/* A watch command killed before it could unwatch leaves its watch behind
 * in the daemon (the connection is the domain's): replace it, so that the
 * initial event fires again. */
static int watch_fresh(struct xsg *x, const char *path)
{
	int r = xsg_watch(x, path, WATCH_TOKEN);

	if (r != -EEXIST)
		return r;
	r = xsg_unwatch(x, path, WATCH_TOKEN);
	return r < 0 ? r : xsg_watch(x, path, WATCH_TOKEN);
}

static int cmd_watch(struct xsg *x, char **args, int nargs)
{
	unsigned long count = 1, seen = 0;
	int r;

	if (nargs > 1)
		parse_uint(args[1], INT32_MAX, &count);  /* checked already */
	r = watch_fresh(x, args[0]);
	while (r == 0 && seen < count) {
		char *path, *token;

		r = xsg_read_watch(x, -1, &path, &token);
		if (r < 0)
			break;
		/* Other tokens belong to watches left by dead processes. */
		if (!strcmp(token, WATCH_TOKEN)) {
			printf("%s %s\n", path, token);
			fflush(stdout);
			seen++;
		}
		free(path);
		free(token);
	}
	return r;   /* xsg_close() removes the watch */
}

static int cmd_features(struct xsg *x, char **args, int nargs)
{
	int f = xsg_server_features(x);

	(void)args;
	(void)nargs;
	if (f < 0)
		return f;
	printf("%d\n", f);
	return 0;
}

static int cmd_reconnect(struct xsg *x, char **args, int nargs)
{
	char *name;
	int r = xsg_reconnect(x, RECONNECT_TIMEOUT_MS);

	(void)args;
	(void)nargs;
	if (r < 0)
		return r;
	/* A relative path: resolved under /local/domain/<domid>. */
	r = xsg_read(x, 0, "name", &name, NULL);
	if (r < 0)
		return r;
	puts(name);
	free(name);
	return 0;
}

static const struct guest_cmd commands[] = {
	{ "read", "PATH", 1, 1, NULL, cmd_read },
	{ "write", "PATH VALUE", 2, 2, NULL, cmd_write },
	{ "mkdir", "PATH", 1, 1, NULL, cmd_mkdir },
	{ "rm", "PATH", 1, 1, NULL, cmd_rm },
	{ "ls", "PATH", 1, 1, NULL, cmd_ls },
	{ "getperms", "PATH", 1, 1, NULL, cmd_getperms },
	{ "setperms", "PATH PERMS", 2, 2, NULL, cmd_setperms },
	{ "watch", "PATH [COUNT]", 1, 2, check_watch, cmd_watch },
	{ "features", "", 0, 0, NULL, cmd_features },
	{ "reconnect", "", 0, 0, NULL, cmd_reconnect },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static int usage(void)
{
	size_t i;

	fprintf(stderr, "usage: " PROG " DOMID CMD [ARGS...]\ncommands:\n");
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(stderr, "  %s%s%s\n", commands[i].name,
			*commands[i].args ? " " : "", commands[i].args);
	return 2;
}

static const struct guest_cmd *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int fail(const char *cmd, char **args, int nargs, int err)
{
	if (nargs > 0)
		fprintf(stderr, PROG ": %s %s: %s\n", cmd, args[0],
			strerror(-err));
	else
		fprintf(stderr, PROG ": %s: %s\n", cmd, strerror(-err));
	return 1;
}

/* Open the ring, run the command, and make sure its output got out. */
static int run(uint32_t domid, const struct guest_cmd *c, char **args,
	       int nargs)
{
	struct xsg *x;
	int r = xsg_open(domid, &x);

	if (r < 0)
		return fail(c->name, args, nargs, r);
	r = c->run(x, args, nargs);
	xsg_close(x);
	if (r < 0)
		return fail(c->name, args, nargs, r);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, PROG ": stdout: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

int sim_guest_main(int argc, char **argv)
{
	const struct guest_cmd *c;
	unsigned long domid;
	int nargs;

	if (argc < 2 || parse_uint(argv[0], FAKEXEN_NR_DOMIDS - 1, &domid))
		return usage();
	c = find_command(argv[1]);
	nargs = argc - 2;
	if (!c || nargs < c->min_args || nargs > c->max_args)
		return usage();
	if (c->check && c->check(argv + 2, nargs))
		return usage();
	return run((uint32_t)domid, c, argv + 2, nargs);
}
