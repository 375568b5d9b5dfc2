/*
 * device: descriptions of devices to add (xdev_desc), their validation, and
 * the xenstore nodes a device gets, as libxl writes them.  No store access
 * here: the operations (op-add.c) write what this file computes.
 */
#ifndef XDEV_DEVICE_H
#define XDEV_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "xdev.h"

#define DEV_MAX_NODES 24
/* The longest value a description accepts: a vbd target (xl allows long
 * paths and "phy:"-style specs; xenstore's node limit is 2048 bytes). */
#define DEV_TARGET_MAX 1024

/* One node of a device directory: KEY relative to the directory.  VALUE
 * holds any value of a description (the vbd target becomes "params"). */
struct dev_kv {
	const char *key;
	char value[DEV_TARGET_MAX + 1];
};

/* "vbd" or "vif": the directory names of the protocol. */
const char *dev__type_name(enum xdev_device_type type);
/* Parse "vbd"/"vif"; -EINVAL otherwise. */
int dev__type_parse(const char *s, enum xdev_device_type *ret);

/* Xen's virtual-device number of a vdev (docs/misc/vbd-interface.txt):
 * xvda -> 51712, xvdb1 -> 51729, xvdaa -> 268442112, hda -> 768,
 * sdb -> 2064, d0p1 -> 51713 ...; also a plain decimal number.
 * -EINVAL for anything else. */
int dev__vdev_to_devid(const char *vdev, uint32_t *ret);

/* A deep copy of DESC, for an operation to own. */
xdev_desc *dev__desc_dup(const xdev_desc *desc);
enum xdev_device_type dev__desc_type(const xdev_desc *desc);
/* The value of KEY, or NULL if unset. */
const char *dev__desc_get(const xdev_desc *desc, const char *key);
/* Fill in defaults an add needs (vif: a random 00:16:3e MAC if none).
 * Then check the description is complete: 0, or -EINVAL with a message
 * in ERR ("vbd: vdev is required"). */
int dev__desc_complete(xdev_desc *desc, char *err, size_t errlen);

/* The frontend and backend nodes of the device, as libxl writes them.
 * BE_PATH / FE_PATH are the directories of the other end.  Return the
 * number of entries filled in OUT (at most DEV_MAX_NODES). */
int dev__frontend_nodes(const xdev_desc *desc, uint32_t be_domid,
			uint32_t devid, const char *be_path,
			struct dev_kv *out);
int dev__backend_nodes(const xdev_desc *desc, uint32_t fe_domid,
		       uint32_t devid, const char *fe_path,
		       struct dev_kv *out);

#endif
