/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct skiff_wire_hdr) == 16, "header is 16 bytes");
_Static_assert(sizeof(struct skiff_conn_req) == 24, "fixed layout");
_Static_assert(sizeof(struct skiff_conn_grant) == 16, "fixed layout");
_Static_assert(sizeof(struct skiff_node_query) == 8, "fixed layout");
_Static_assert(sizeof(struct skiff_node_info) == 56, "fixed layout");
_Static_assert(sizeof(struct skiff_card_mem_req) == 8, "fixed layout");
_Static_assert(sizeof(struct skiff_card_mem) == 16, "fixed layout");

size_t skiff_wire_body_len(uint16_t type)
{
	switch (type) {
	case SKIFF_MSG_CONN_REQ:
		return sizeof(struct skiff_conn_req);
	case SKIFF_MSG_CONN_GRANT:
		return sizeof(struct skiff_conn_grant);
	case SKIFF_MSG_DOORBELL:
	case SKIFF_MSG_CREDIT:
		return 0;
	case SKIFF_MSG_NODE_QUERY:
		return sizeof(struct skiff_node_query);
	case SKIFF_MSG_NODE_INFO:
		return sizeof(struct skiff_node_info);
	case SKIFF_MSG_CARD_MEM_REQ:
		return sizeof(struct skiff_card_mem_req);
	case SKIFF_MSG_CARD_MEM:
		return sizeof(struct skiff_card_mem);
	default:
		return 0;
	}
}

void skiff_wire_init(struct skiff_wire_msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	m->hdr.magic = SKIFF_WIRE_MAGIC;
	m->hdr.version = SKIFF_WIRE_VERSION;
	m->hdr.type = type;
	m->hdr.body_len = (uint32_t)skiff_wire_body_len(type);
}

int skiff_wire_decode(const void *buf, size_t len, struct skiff_wire_msg *out)
{
	struct skiff_wire_hdr h;

	if (!buf || len < sizeof(h))
		return -EPROTO;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != SKIFF_WIRE_MAGIC || h.version != SKIFF_WIRE_VERSION)
		return -EPROTO;
	if (h.type == 0 || h.type > SKIFF_MSG_TYPE_MAX || h.reserved != 0)
		return -EPROTO;
	if (h.body_len != skiff_wire_body_len(h.type))
		return -EPROTO;
	if (len - sizeof(h) < h.body_len)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->hdr = h;
	memcpy(&out->body, (const char *)buf + sizeof(h), h.body_len);
	return 0;
}
