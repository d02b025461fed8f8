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

/**
 * handle_add() - make @h a live handle.
 * @h: the object, fully initialised (a reader that finds @h sees it so).
 * Return: 0, or -ENOMEM (the table could not grow).
 * Context: any thread; takes the writers' mutex.
 */
int handle_add(const void *h);

/**
 * handle_del() - @h is no longer live; from when this returns, every
 * handle_live(@h) that happens after it returns false.
 * Context: any thread; takes the writers' mutex.
 */
void handle_del(const void *h);

/**
 * handle_live() - is @h a live handle?  Does not dereference @h.
 * Return: true if @h was added and not deleted.
 * Context: any thread; lock-free (handles.c says why that is enough).
 */
bool handle_live(const void *h);

#endif
