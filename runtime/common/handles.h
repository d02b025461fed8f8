/* SPDX-License-Identifier: MIT */
/*
 * handles - the set of live runtime and region handles.
 *
 * Calls on a handle that was destroyed (a second unmap, a call after
 * upg_runtime_destroy) must fail with -EBADF instead of touching freed
 * memory, so every public entry point checks its handle here before
 * reading it.  Not on the fault path: handler threads never look here.
 */
#ifndef UPAGER_HANDLES_H
#define UPAGER_HANDLES_H

#include <stdbool.h>

int handle_add(const void *h);
void handle_del(const void *h);
bool handle_live(const void *h);

#endif
