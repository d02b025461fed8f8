/* SPDX-License-Identifier: MIT */
/* log - route the runtime's messages to the caller's log callback. */
#ifndef UPAGER_LOG_H
#define UPAGER_LOG_H

#include "upager.h"

struct upg_runtime;

/**
 * rt_log() - format a message and pass it to the runtime's log sink if
 * @level is at most the configured level.  @rt may be NULL (before a
 * runtime exists): the default sink (stderr, warnings and errors) is used.
 */
void rt_log(const struct upg_runtime *rt, enum upg_log_level level,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define rt_err(rt, ...) rt_log(rt, UPG_LOG_ERROR, __VA_ARGS__)
#define rt_warn(rt, ...) rt_log(rt, UPG_LOG_WARN, __VA_ARGS__)
#define rt_info(rt, ...) rt_log(rt, UPG_LOG_INFO, __VA_ARGS__)
#define rt_dbg(rt, ...) rt_log(rt, UPG_LOG_DEBUG, __VA_ARGS__)

#endif
