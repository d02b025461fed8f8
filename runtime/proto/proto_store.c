// SPDX-License-Identifier: MIT
/*
 * proto_store - the rule that scopes store names per uid in daemon mode
 * (see proto_store_scoped_name() in proto/proto.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

int proto_store_scoped_name(const char *name, uint32_t uid, size_t max,
			    char *out, size_t len)
{
	char prefix[16];
	size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "u%u.",
				       (unsigned)uid);
	int n;

	if (!strncmp(name, prefix, plen))
		n = snprintf(out, len, "%s", name);
	else
		n = snprintf(out, len, "%s%s", prefix, name);
	if (n < 0 || (size_t)n >= len || (size_t)n > max)
		return -ENAMETOOLONG;
	return 0;
}
