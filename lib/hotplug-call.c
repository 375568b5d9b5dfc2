/*
 * hotplug-call: Xen's hotplug calling convention (hotplug-call.h), for the
 * library and xdevd alike.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotplug-call.h"

extern char **environ;

const char *hotplug_call_action(const struct hotplug_call *c)
{
	if (c->vif)
		return c->adding ? "online" : "offline";
	return c->adding ? "add" : "remove";
}

/* Whether VAR ("NAME=value") is one of the names the call sets. */
static bool ours(const struct hotplug_call *c, const char *var)
{
	static const char *const names[] = { "XENBUS_PATH=", "XENBUS_TYPE=",
					     "XENBUS_BASE_PATH=", "script=",
					     "vif=", NULL };
	const char *const *n;
	int i;

	for (n = names; *n; n++)
		if (!strncmp(var, *n, strlen(*n)))
			return true;
	for (i = 0; c->extra[i]; i++) {
		size_t len = strcspn(c->extra[i], "=") + 1;

		if (!strncmp(var, c->extra[i], len))
			return true;
	}
	return false;
}

int hotplug_call_prepare(struct hotplug_call *c)
{
	size_t n = 0, i, k = 0;
	char **env;

	c->argv[0] = (char *)c->script;
	c->argv[1] = (char *)hotplug_call_action(c);
	c->argv[2] = c->vif ? "type_if=vif" : NULL;
	c->argv[3] = NULL;
	while (environ[n])
		n++;
	env = calloc(n + 6 + sizeof(c->extra) / sizeof(*c->extra),
		     sizeof(*env));
	if (!(c->envp = env))
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (!ours(c, environ[i]) && !(env[k++] = strdup(environ[i])))
			goto fail;
	if (asprintf(&env[k++], "XENBUS_PATH=%s", c->xenbus_path) < 0 ||
	    asprintf(&env[k++], "XENBUS_TYPE=%s", c->vif ? "vif" : "vbd") < 0 ||
	    asprintf(&env[k++], "XENBUS_BASE_PATH=%s", c->base_path) < 0 ||
	    asprintf(&env[k++], "script=%s", c->script) < 0 ||
	    (c->vif && asprintf(&env[k++], "vif=vif%u.%u", c->frontend,
				c->devid) < 0))
		goto fail;
	for (i = 0; c->extra[i]; i++)
		if (!(env[k++] = strdup(c->extra[i])))
			goto fail;
	return 0;
fail:
	env[k ? k - 1 : 0] = NULL; /* a failed asprintf leaves it undefined */
	hotplug_call_release(c);
	return -ENOMEM;
}

void hotplug_call_release(struct hotplug_call *c)
{
	size_t i;

	for (i = 0; c->envp && c->envp[i]; i++)
		free(c->envp[i]);
	free(c->envp);
	c->envp = NULL;
}

void hotplug_signals_default(void)
{
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL); /* EINVAL for the few reserved */
}

void hotplug_exec(const char *path, char *const argv[], char *const envp[],
		  int out_fd)
{
	int null = open("/dev/null", O_RDONLY);
	sigset_t none;

	setpgid(0, 0); /* its own group, signalled whole */
	/* the defaults first: a signal pending (a SIGTERM of its watcher)
	 * must not run an application's handler in the script's process
	 * once unblocked - Check's, say, signals the whole test's group */
	hotplug_signals_default();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 ||
	    dup2(out_fd, 2) < 0)
		_exit(126);
	execve(path, argv, envp);
	dprintf(2, "cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}
