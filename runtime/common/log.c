/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"

static const char *const level_names[] = { "?", "error", "warn", "info",
					   "debug" };

static void stderr_sink(enum upg_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "upager: %s: %s\n", level_names[level], msg);
}

void log_emit(const struct log_sink *sink, enum upg_log_level level,
	      const char *fmt, ...)
{
	enum upg_log_level max = sink ? sink->level : UPG_LOG_WARN;
	upg_log_fn fn = sink && sink->fn ? sink->fn : stderr_sink;
	void *ctx = sink ? sink->ctx : NULL;
	char buf[512];
	va_list ap;

	if (level > max)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fn(level, buf, ctx);
}
