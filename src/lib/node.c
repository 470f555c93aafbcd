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
	int r, total = 0;

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
		info.online[0] = 1; /* no daemon (of root or ours): node 0 alone */
	else if (r < 0)
		SKIFF_RET(r);
	/* the count includes the caller (its man page): a process whose
	 * node is not online is on no node, as scif_open says */
	if (!skiff_node_bit(&info, (unsigned)c->node))
		SKIFF_RET(-ENODEV);
	/* every node online in the whole fabric, in increasing order: the
	 * count is all of them, the array gets the first @len */
	for (unsigned n = 0; n <= SKIFF_MAX_NODE; n++) {
		if (!skiff_node_bit(&info, n))
			continue;
		if (total < len)
			nodes[total] = (uint16_t)n;
		total++;
	}
	*self = (uint16_t)c->node;
	return total;
}
