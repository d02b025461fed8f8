/* SPDX-License-Identifier: MIT */
/*
 * The public calls on the runtime: create (in-process, or daemon mode
 * when UPAGER_SOCKET is set), connect, destroy, stats.  This folder is the
 * only place below the client that knows the two modes apart
 * (docs/architecture.md, "The front layer").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "common/handles.h"
#include "common/opts.h"
#include "core/runtime.h"
#include "notify/notifier.h"

UPG_API int upg_runtime_connect(const char *socket_path,
				const struct upg_runtime_opts *opts,
				struct upg_runtime **out)
{
	struct upg_runtime *rt;
	int err;

	if (!out || !socket_path || !*socket_path ||
	    !opts_valid(opts, sizeof(*opts)))
		return -EINVAL;
	if (OPTS_GET(opts, flags, 0) & UPG_RT_FORK_EVENTS)
		return -EOPNOTSUPP; /* not carried to the daemon yet */
	err = runtime_new(opts, &rt);
	if (err)
		return err;
	err = client_connect(rt, socket_path);
	if (!err)
		err = handle_add(rt);
	if (!err) {
		*out = rt;
		return 0;
	}
	if (rt->remote)
		client_destroy(rt);
	runtime_free(rt);
	return err;
}

UPG_API int upg_runtime_create(const struct upg_runtime_opts *opts,
			       struct upg_runtime **out)
{
	const char *sock = getenv("UPAGER_SOCKET");

	/* Daemon mode without a rebuild: the same calls, served by upagerd. */
	if (sock && *sock)
		return upg_runtime_connect(sock, opts, out);
	return runtime_create_local(opts, out);
}

UPG_API int upg_runtime_destroy(struct upg_runtime *rt)
{
	int err;

	if (!handle_live(rt))
		return -EBADF;
	if (rt_remote(rt)) {
		err = client_destroy(rt);
		if (err)
			return err;
		handle_del(rt);
		runtime_free(rt);
		return 0;
	}
	err = runtime_destroy_local(rt);
	if (err)
		return err;
	/* A client that took over from a dead daemon: its connection. */
	if (rt->remote)
		client_conn_free(rt);
	runtime_free(rt);
	return 0;
}

UPG_API int upg_runtime_stats(struct upg_runtime *rt, struct upg_stats *st)
{
	struct upg_stats s = { .sz = sizeof(s) };

	if (!handle_live(rt))
		return -EBADF;
	if (!st || st->sz < sizeof(size_t) + sizeof(uint64_t))
		return -EINVAL;
	if (rt_remote(rt)) {
		int err = client_runtime_stats(rt, &s);

		if (err)
			return err;
		s.uffd_mode = (uint32_t)rt->self.uffd.mode;
		s.uffd_features = rt->self.uffd.features;
		/* Pins and notifier callbacks happen here, in the client. */
		s.pins_acquired = atomic_load(&rt->stats.pins_acquired);
		s.pins_released = atomic_load(&rt->stats.pins_released);
		s.pinned_bytes = atomic_load(&rt->pinned_pages)
				 << rt->page_shift;
		s.notifier_callbacks = atomic_load(&rt->notify->callbacks);
	} else {
		runtime_stats_local(rt, &s);
	}
	memcpy((char *)st + sizeof(size_t), (char *)&s + sizeof(size_t),
	       (st->sz < sizeof(s) ? st->sz : sizeof(s)) - sizeof(size_t));
	return 0;
}
