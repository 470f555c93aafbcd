/* SPDX-License-Identifier: MIT */
/* node.c - scif_get_nodeIDs: which nodes of the fabric are online. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>

#include "nodeq.h"

int skiff_api_get_nodeIDs(uint16_t *nodes, int len, uint16_t *self)
{
	const struct skiff_ctx *c = skiff_ctx();
	struct skiff_node_info info = { 0 };
	int r, total;

	if (len < 0)
		SKIFF_RET(-EINVAL);
	if ((len > 0 && !nodes) || !self)
		SKIFF_RET(-EFAULT);
	if (c->fabric_err < 0)
		SKIFF_RET(c->fabric_err);
	if (c->node < 0)
		SKIFF_RET(c->node);
	r = skiff_query_nodes(c->fabric, &info);
	if (r == -ENOENT || r == -EACCES)
		info.ncards = 0; /* no daemon (of root or ours): the host alone */
	else if (r < 0)
		SKIFF_RET(r);
	total = 1 + (int)info.ncards;
	/* the count includes the caller (its man page): a process whose
	 * node is not online is on no node, as scif_open says */
	if (c->node >= total)
		SKIFF_RET(-ENODEV);
	for (int i = 0; i < total && i < len; i++)
		nodes[i] = (uint16_t)i;
	*self = (uint16_t)c->node;
	return total;
}
