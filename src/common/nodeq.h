/* SPDX-License-Identifier: MIT */
/* nodeq.h - ask a fabric's scifd which nodes are online. */
#ifndef SKIFF_NODEQ_H
#define SKIFF_NODEQ_H

#include "wire.h"

/*
 * Query the daemon of @fabric. Returns 0 and fills @out, -ENOENT when no
 * daemon runs for that fabric (only node 0 is online then), -EACCES when
 * the name is held by a process of another user than root or ours (not a
 * daemon we believe), -EPROTO on a malformed reply, or another -errno.
 */
int skiff_query_nodes(const char *fabric, struct skiff_node_info *out);

/* 1 if @node is online in @fabric, 0 if not, -errno on error. Node 0 is
 * always online and needs no daemon. */
int skiff_node_online(const char *fabric, unsigned node);

#endif
