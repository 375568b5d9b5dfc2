/*
 * Private declarations shared by the library's files.
 *
 * The library is built with -fvisibility=hidden and a version script;
 * XDEV_PUBLIC marks the definitions of public functions.
 */
#ifndef XDEV_INTERNAL_H
#define XDEV_INTERNAL_H

#include "config.h"
#include "xdev.h"

#define XDEV_PUBLIC __attribute__((visibility("default")))

#endif
