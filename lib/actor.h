/*
 * actor: who acts on a device, as xdev's record names it (lib/owner.c),
 * for the library and the CLI's listing alike.
 *
 * An actor is "<boot id>/<pid>/<start time>/<context>": the kernel's boot
 * id and the process's start time (clock ticks since boot, field 22 of
 * /proc/<pid>/stat) make the pid an identity that survives pid reuse and
 * a reboot; <context> tells two contexts of one process apart.  An actor
 * is alive while a process with that pid and start time runs in this
 * boot.
 */
#ifndef XDEV_ACTOR_H
#define XDEV_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ACTOR_LEN 96

/* This process's actor, with CONTEXT (8 hex digits) as its last part:
 * 0 or -errno (no /proc). */
int actor_self(char buf[ACTOR_LEN], uint32_t context);
/* Whether ACTOR's process runs in this boot (a malformed one: no).  An
 * actor is malformed unless its pid and start time are decimal numbers as
 * actor_self() writes them (digits only, no leading zero), neither 0. */
bool actor_alive(const char *actor);
/* ACTOR's pid, 0 if malformed. */
pid_t actor_pid(const char *actor);
/* An owner node's value, "<op> <actor>": OP ("add", "remove") and the
 * actor; -EINVAL if it is not that. */
int actor_owner_parse(const char *v, char op[8], const char **actor);

#endif
