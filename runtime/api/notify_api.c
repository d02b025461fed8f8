/* SPDX-License-Identifier: MIT */
/*
 * The public calls that insert and remove interval notifiers.  In daemon
 * mode the daemon must be able to ask this process before it evicts a
 * watched page: the client marks the watched pages in the marks it shares
 * with upagerd (client/client_notify.c); the index itself is notify/'s.
 */
#include <errno.h>

#include "client/client.h"
#include "common/handles.h"
#include "core/runtime.h"
#include "notify/notifier.h"

UPG_API int upg_interval_notifier_insert(
	struct upg_runtime *rt, struct upg_interval_notifier *n, uintptr_t addr,
	size_t len, const struct upg_interval_notifier_ops *ops)
{
	int err;

	if (!handle_live(rt))
		return -EBADF;
	if (!n || !ops || !ops->invalidate || !len || addr + len < addr)
		return -EINVAL;
	if (notify_callback_depth)
		return -EDEADLK;
	if (rt_remote(rt) && !(rt->remote->features & PROTO_FEAT_NOTIFIERS))
		return -EOPNOTSUPP;
	err = notify_insert(rt, n, addr, len, ops);
	if (!err && rt_remote(rt))
		client_watch_range(rt, n->start, n->end, true);
	return err;
}

UPG_API int upg_interval_notifier_remove(struct upg_interval_notifier *n)
{
	int err;

	if (!n || !handle_live(n->rt))
		return -EINVAL;
	if (notify_callback_depth)
		return -EDEADLK;
	err = notify_remove(n);
	if (!err && rt_remote(n->rt))
		client_watch_range(n->rt, n->start, n->end, false);
	return err;
}
