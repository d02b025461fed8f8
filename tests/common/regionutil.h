/* SPDX-License-Identifier: MIT */
/*
 * regionutil - helpers for tests of managed regions: files with known
 * content, and counters of process resources (mappings, descriptors) to
 * show that a failed call left nothing behind.
 */
#ifndef UPAGER_REGIONUTIL_H
#define UPAGER_REGIONUTIL_H

#include <stdint.h>
#include <sys/types.h>

#include "upager.h"

/* The system page size. */
size_t tur_page(void);

/* An unlinked temp file of @size bytes holding data set @seed (tu_fill). */
int tur_data_file(uint64_t size, uint64_t seed);

/* pread()/pwrite() exactly @len bytes at @off, failing the test if not. */
void tur_pread(int fd, void *buf, uint64_t len, uint64_t off);
void tur_pwrite(int fd, const void *buf, uint64_t len, uint64_t off);

/* Does the file hold data set @seed (as at store offset @off) over
 * [off, off+len)?  Returns the first differing byte offset relative to
 * @off, or UINT64_MAX. */
uint64_t tur_file_check(int fd, uint64_t off, uint64_t len, uint64_t seed);

/* Lines of /proc/self/maps that map a region's memfd ("upager-region"). */
int tur_region_mappings(void);

/* Open file descriptors of this process, io_uring rings excepted (the
 * runtime's threads create theirs asynchronously). */
int tur_open_fds(void);

/* Read one byte of every page of [p, p+len) (volatile loads). */
void tur_touch_read(const void *p, uint64_t len);

/* Sum of the bytes of [p, p+len), to keep reads from being optimised out. */
uint64_t tur_sum(const void *p, uint64_t len);

#endif
