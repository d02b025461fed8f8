/* SPDX-License-Identifier: MIT */
/*
 * opts - checks for the sized option structs of the public API.
 *
 * Every options struct begins with `size_t sz`, the size the caller was
 * compiled with (see UPG_OPTS() in upager.h).  As in libbpf, a caller built
 * against an older header passes a smaller struct and gets defaults for the
 * fields it does not know; a caller built against a newer header passes a
 * larger one, which is accepted only if every byte this library does not
 * know is zero, since a non-zero one is a request it cannot honour.
 */
#ifndef UPAGER_OPTS_H
#define UPAGER_OPTS_H

#include <stdbool.h>
#include <stddef.h>

/* The caller's sz, or 0 for NULL.  A function rather than a macro so that
 * OPTS_HAS(&local_opts, ...) draws no -Waddress "always true" warning. */
static inline size_t opts_size(const void *opts)
{
	return opts ? *(const size_t *)opts : 0;
}

/**
 * opts_valid() - may this options struct be used?
 * @opts:       the caller's struct, or NULL (all defaults).
 * @known_size: sizeof the struct as this library knows it.
 *
 * Return: true for NULL, or when opts->sz covers at least the sz field and
 * any bytes in [@known_size, sz) are zero; false otherwise.
 */
static inline bool opts_valid(const void *opts, size_t known_size)
{
	const unsigned char *bytes = opts;
	size_t sz, i;

	if (!opts)
		return true;
	sz = opts_size(opts);
	if (sz < sizeof(size_t))
		return false;
	/* An older or same-sized caller has no tail to check.  (Returning
	 * here also keeps gcc's -Warray-bounds from following the loop
	 * below into a smaller struct whose size it has propagated.) */
	if (sz <= known_size)
		return true;
	for (i = known_size; i < sz; i++) {
		if (bytes[i])
			return false;
	}
	return true;
}

/*
 * OPTS_HAS() - does the caller's struct reach @field?  A caller built
 * against an older header has a smaller sz; fields beyond it were never
 * written and must not be read.
 */
#define OPTS_HAS(opts, field)						\
	(opts_size(opts) >= offsetof(__typeof__(*(opts)), field) +	\
			    sizeof((opts)->field))

/* OPTS_GET() - the field's value, or @fallback if the caller lacks it. */
#define OPTS_GET(opts, field, fallback)					\
	(OPTS_HAS(opts, field) ? (opts)->field : (fallback))

#endif /* UPAGER_OPTS_H */
