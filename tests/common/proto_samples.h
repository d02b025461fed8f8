/* SPDX-License-Identifier: MIT */
/*
 * proto_samples - one valid message of every protocol type, with field
 * values that differ from each other, for round trips, the io tests and
 * the fuzz seed corpus.  No Check dependency.
 */
#ifndef UPAGER_PROTO_SAMPLES_H
#define UPAGER_PROTO_SAMPLES_H

#include "proto/proto.h"

/*
 * ps_sample() - fill @msg with a valid message of @type (sequence @type *
 * 1000 + 7).  Arrays point into static storage: never proto_msg_release()
 * a sample.
 * Return: the number of fds the message must be sent with.
 */
unsigned ps_sample(enum proto_type type, struct proto_msg *msg);

/* ps_encode() - encode a sample into @buf (PROTO_MAX_MSG bytes); its
 * length, and the fd count in *nfds. */
size_t ps_encode(enum proto_type type, void *buf, unsigned *nfds);

#endif
