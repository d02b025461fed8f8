/* SPDX-License-Identifier: MIT */
/* client_rpc - one request to upagerd and its answer (client/client_conn.c). */
#ifndef UPAGER_CLIENT_RPC_H
#define UPAGER_CLIENT_RPC_H

#include "proto/proto.h"

struct upg_runtime;

/**
 * client_rpc() - send @req (with @nfds fds, not closed) and receive its
 * answer into @rep (release it with proto_msg_release()).
 * @timeout_ms: each wait's bound, 0 for the default (two minutes).
 * Return: 0; -ECONNRESET/-EPIPE/-ETIMEDOUT (the daemon is gone or hung:
 * the connection is unusable from then on), an error of the daemon's
 * ERROR message, -EPROTO.
 * Context: any application thread; one request at a time per runtime.
 */
int client_rpc(struct upg_runtime *rt, struct proto_msg *req, const int *fds,
	       unsigned nfds, struct proto_msg *rep, int timeout_ms);

/* client_rpc() for requests answered with REPLY: its status, and its
 * value in @value if not NULL. */
int client_rpc_status(struct upg_runtime *rt, struct proto_msg *req,
		      const int *fds, unsigned nfds, uint64_t *value);

#endif
