/* SPDX-License-Identifier: MIT */
/*
 * Compiled by header_compile.sh as C11 and as C++11/C++17, with -pedantic
 * -Wall -Wextra -Werror: upager.h must be clean in every one, and
 * UPG_OPTS() must give the same struct in both languages, with and without
 * initialisers.  Needs nothing from the library (no link): exits 0 when
 * every check holds, 1 with a message otherwise.
 */
#include <stdio.h>
#include <string.h>

#include <upager.h>

#if !UPAGER_CHECK_VERSION(UPAGER_VERSION_MAJOR, UPAGER_VERSION_MINOR)
#error "UPAGER_CHECK_VERSION() refuses the header's own version"
#endif
#if UPAGER_CHECK_VERSION(UPAGER_VERSION_MAJOR + 1, 0)
#error "UPAGER_CHECK_VERSION() accepts another major version"
#endif
#if UPAGER_CHECK_VERSION(UPAGER_VERSION_MAJOR, UPAGER_VERSION_MINOR + 1)
#error "UPAGER_CHECK_VERSION() accepts a later minor version"
#endif

static int failed;

#define CHECK(cond)                                                   \
	do {                                                          \
		if (!(cond)) {                                        \
			fprintf(stderr, "header_use: %s:%d: %s\n",    \
				__FILE__, __LINE__, #cond);           \
			failed = 1;                                   \
		}                                                     \
	} while (0)

/* Every byte after sz is zero (UPG_OPTS() memsets the struct). */
static int zero_after_sz(const void *p, size_t size)
{
	const unsigned char *b = (const unsigned char *)p;
	size_t i;

	for (i = sizeof(size_t); i < size; i++)
		if (b[i])
			return 0;
	return 1;
}

/*
 * Padding: fill the stack where the next call's frame will be with 0xa5,
 * then declare the structs there with UPG_OPTS(): every byte, padding
 * included, must equal a memset()-zeroed struct given the same fields.
 * The calls go through volatile pointers so that they are not inlined
 * (the frames then overlap).
 */
static void dirty_stack(void)
{
	volatile unsigned char junk[16384];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = 0xa5;
}

static int padding_zeroed(void)
{
	struct upg_runtime_opts ref;
	int ok = 1;

	UPG_OPTS(upg_runtime_opts, ro, .budget_bytes = 1u << 20,
		 .handler_threads = 3, .flags = 1);
	UPG_OPTS(upg_region_opts, rgo, .fill_unit = 4096);
	UPG_OPTS(upg_stats, st);

	memset(&ref, 0, sizeof(ref));
	ref.sz = sizeof(ref);
	ref.budget_bytes = 1u << 20;
	ref.handler_threads = 3;
	ref.flags = 1;
	if (memcmp(&ro, &ref, sizeof(ro)) != 0) {
		fprintf(stderr, "header_use: UPG_OPTS(upg_runtime_opts) left "
				"non-zero padding\n");
		ok = 0;
	}
	rgo.fill_unit = 0;
	if (!zero_after_sz(&rgo, sizeof(rgo)) || !zero_after_sz(&st, sizeof(st))) {
		fprintf(stderr, "header_use: UPG_OPTS() left non-zero bytes\n");
		ok = 0;
	}
	return ok;
}

static void (*volatile dirty_stack_p)(void) = dirty_stack;
static int (*volatile padding_zeroed_p)(void) = padding_zeroed;

static unsigned three(void)
{
	return 3;
}

static unsigned second(unsigned a, unsigned b)
{
	return a ? b : a;
}

int main(void)
{
	uint64_t budget = 64u << 20;

	{
		UPG_OPTS(upg_stats, st);

		CHECK(st.sz == sizeof(struct upg_stats));
		CHECK(zero_after_sz(&st, sizeof(st)));
	}
	{
		/* Initialisers that use a local, a call and a comma inside
		 * parentheses. */
		UPG_OPTS(upg_runtime_opts, ro, .budget_bytes = budget,
			 .handler_threads = three(),
			 .evict_batch_pages = second(1, 32));

		CHECK(ro.sz == sizeof(struct upg_runtime_opts));
		CHECK(ro.budget_bytes == budget);
		CHECK(ro.handler_threads == 3);
		CHECK(ro.evict_batch_pages == 32);
		CHECK(ro.swap_dir == NULL);
		CHECK(ro.flags == 0);
		CHECK(ro.log_fn == NULL);
		ro.budget_bytes = 0;
		ro.handler_threads = 0;
		ro.evict_batch_pages = 0;
		CHECK(zero_after_sz(&ro, sizeof(ro)));
	}
	{
		UPG_OPTS(upg_region_opts, rgo, .fill_unit = 65536);

		CHECK(rgo.sz == sizeof(struct upg_region_opts));
		CHECK(rgo.fill_unit == 65536);
		CHECK(rgo.store_offset == 0);
		CHECK(rgo.flags == 0);
	}
	dirty_stack_p();
	CHECK(padding_zeroed_p());
	CHECK(strlen(UPAGER_VERSION_STRING) >= 5);
	return failed;
}
