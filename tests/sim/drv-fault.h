/*
 * drv-fault: the fault file's grammar, shared by the drivers and by
 * `xdev-sim fault`, which validates rules before writing them.
 */
#ifndef XDEV_DRV_FAULT_H
#define XDEV_DRV_FAULT_H

#include "drv.h"

/* Apply one fault word ("slow=100", ...); -EINVAL if it is none. */
int drv_fault_apply_word(struct drv_faults *f, const char *word);
/* 1 if S is a valid scope ("*", "vbd/51712", "vif/0@3"). */
int drv_fault_scope_valid(const char *s);

#endif
