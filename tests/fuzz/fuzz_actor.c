/*
 * libFuzzer harness: the owner values of xdev's records (lib/actor.c):
 * actor_owner_parse, actor_pid and actor_alive on any string.
 *
 * Input: an owner node's value ("add <boot id>/<pid>/<start>/<context>"),
 * cut at its first NUL.  Its actor (or, when it does not parse, the
 * whole input) is tried as it is and, when it is at least 36 bytes long,
 * with its first 36 bytes replaced by this machine's boot id: an input
 * cannot know that id, and without it actor_alive never gets past its
 * first comparison.
 *
 * Promises checked (lib/actor.h): actor_owner_parse accepts exactly
 * "add " and "remove " followed by anything, and gives back the op and
 * what follows; actor_pid is 0 or a pid (1..0x3fffffff); an alive actor
 * is a process that runs (its pid exists now); and, once, this process's
 * own actor is alive with this pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "actor.h"
#include "fuzz.h"

static char boot[37];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char self[ACTOR_LEN];
	int fd;

	(void)argc;
	(void)argv;
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	FUZZ_ASSERT(fd >= 0 && read(fd, boot, 36) == 36, "no boot id");
	close(fd);
	FUZZ_ASSERT(actor_self(self, 0x1234abcd) == 0, "actor_self");
	FUZZ_ASSERT(!strncmp(self, boot, 36), "actor %s", self);
	FUZZ_ASSERT(actor_alive(self), "this process is not alive: %s", self);
	FUZZ_ASSERT(actor_pid(self) == getpid(), "pid of %s", self);
	return 0;
}

static void check_actor(const char *a)
{
	pid_t pid = actor_pid(a);
	bool alive = actor_alive(a);

	FUZZ_ASSERT(pid >= 0 && pid <= 0x3fffffff, "pid %d of '%s'", (int)pid,
		    a);
	if (alive) {
		FUZZ_ASSERT(pid > 0, "'%s' alive without a pid", a);
		FUZZ_ASSERT(kill(pid, 0) == 0 || errno == EPERM,
			    "'%s' alive, pid %d does not exist", a, (int)pid);
	}
}

static void check_both(const char *a)
{
	size_t n = strlen(a);
	char *mine;

	check_actor(a);
	if (n < 36)
		return;
	mine = fuzz_string((const uint8_t *)a, n);
	memcpy(mine, boot, 36);
	check_actor(mine);
	free(mine);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size), op[8] = "unset";
	const char *actor = NULL;
	int r, want;

	want = !strncmp(s, "add ", 4) ? 3 : !strncmp(s, "remove ", 7) ? 6 : 0;
	r = actor_owner_parse(s, op, &actor);
	FUZZ_ASSERT(r == 0 || r == -EINVAL, "actor_owner_parse %d", r);
	if (want) {
		FUZZ_ASSERT(r == 0, "'%s' refused", s);
		FUZZ_ASSERT(strlen(op) == (size_t)want &&
			    !strncmp(op, s, (size_t)want) &&
			    actor == s + want + 1, "'%s': op %s", s, op);
		check_both(actor);
	} else {
		FUZZ_ASSERT(r == -EINVAL, "'%s' accepted as op %s", s, op);
	}
	check_both(s);
	free(s);
	return 0;
}
