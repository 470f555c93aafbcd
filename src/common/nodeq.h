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

/*
 * The hosts of @fabric's fabric file, as its daemon sees them: up to @max
 * into @out, in the file's order. Returns how many (0: the daemon runs
 * without a fabric file), or the -errno of skiff_query_nodes.
 */
int skiff_query_hosts(const char *fabric, struct skiff_host_info *out,
		      unsigned max);

/* Whether a NODE_INFO makes sense: counts in range, flags known, the
 * daemon's own nodes in its map. 1 or 0. */
int skiff_node_info_ok(const struct skiff_node_info *i);

/* 1 if @node is online in @fabric (on any host), 0 if not, -errno on
 * error. Without a daemon, node 0 alone is online. */
int skiff_node_online(const char *fabric, unsigned node);

/* 1 if @node is one of this host's (its own node or one of its cards):
 * the nodes a process here may be on. Without a daemon, node 0 alone. */
int skiff_node_local(const char *fabric, unsigned node);

/* Where @node is, in one query: 0 offline, 1 online on this host, 2
 * online on another host (reached through this host's daemon); -errno. */
int skiff_node_where(const char *fabric, unsigned node);

/* This host's own node: the daemon's self_node (FIRST of the fabric
 * file), 0 when no daemon runs or it cannot be asked. */
int skiff_default_node(const char *fabric);

#endif
