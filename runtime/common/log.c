/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"
#include "core/runtime.h"

static const char *const level_names[] = { "?", "error", "warn", "info",
					   "debug" };

static void stderr_sink(enum upg_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "upager: %s: %s\n", level_names[level], msg);
}

void rt_log(const struct upg_runtime *rt, enum upg_log_level level,
	    const char *fmt, ...)
{
	enum upg_log_level max = rt ? rt->log_level : UPG_LOG_WARN;
	upg_log_fn fn = rt && rt->log_fn ? rt->log_fn : stderr_sink;
	void *ctx = rt ? rt->log_ctx : NULL;
	char buf[512];
	va_list ap;

	if (level > max)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fn(level, buf, ctx);
}
