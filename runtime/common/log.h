/* SPDX-License-Identifier: MIT */
/* log - route messages to a log sink: the caller's log callback. */
#ifndef UPAGER_LOG_H
#define UPAGER_LOG_H

#include "upager.h"

/*
 * Where messages go: @fn with @ctx (NULL: stderr), those up to @level.
 * The runtime has one (the log_fn, log_ctx and log_level of its options).
 */
struct log_sink {
	upg_log_fn fn;
	void *ctx;
	enum upg_log_level level;
};

/**
 * log_emit() - format a message and pass it to @sink if @level is at most
 * the sink's level.
 * @sink:  the sink, or NULL for the default one (stderr, warnings and
 *         errors), e.g. before a runtime exists.
 * @level: the message's level.
 * @fmt:   printf format; the message is cut at 511 bytes.
 * Context: any thread; the sink's callback runs on it.
 */
void log_emit(const struct log_sink *sink, enum upg_log_level level,
	      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct upg_runtime;

/*
 * rt_log_sink() - the sink of runtime @rt (NULL: the default sink).  The
 * sink is the first member of struct upg_runtime (base/rt.h, which asserts
 * it), so this needs no more than the forward declaration above: the
 * common layer does not see the runtime.
 */
static inline const struct log_sink *rt_log_sink(const struct upg_runtime *rt)
{
	return (const struct log_sink *)(const void *)rt;
}

/* rt_log() - log_emit() to the sink of runtime @rt, which may be NULL. */
#define rt_log(rt, level, ...) log_emit(rt_log_sink(rt), (level), __VA_ARGS__)

#define rt_err(rt, ...) rt_log(rt, UPG_LOG_ERROR, __VA_ARGS__)
#define rt_warn(rt, ...) rt_log(rt, UPG_LOG_WARN, __VA_ARGS__)
#define rt_info(rt, ...) rt_log(rt, UPG_LOG_INFO, __VA_ARGS__)
#define rt_dbg(rt, ...) rt_log(rt, UPG_LOG_DEBUG, __VA_ARGS__)

#endif
