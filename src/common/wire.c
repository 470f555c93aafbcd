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
_Static_assert(sizeof(struct skiff_host_query) == 8, "fixed layout");
_Static_assert(sizeof(struct skiff_host_info) == 344, "fixed layout");

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
	case SKIFF_MSG_HOST_QUERY:
		return sizeof(struct skiff_host_query);
	case SKIFF_MSG_HOST_INFO:
		return sizeof(struct skiff_host_info);
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

/* A string field: @min..size-1 characters, then NULs to the end. */
static int field_ok(const char *f, size_t size, size_t min, int name)
{
	size_t n = 0;

	while (n < size && f[n]) {
		char c = f[n++];

		if (name ? !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			     c == '-')
			 : (c < 0x21 || c > 0x7e))
			return 0;
	}
	if (n < min || n == size)
		return 0;
	for (; n < size; n++)
		if (f[n])
			return 0;
	return 1;
}

int skiff_host_decode(const void *buf, size_t len, struct skiff_host_msg *out)
{
	struct skiff_wire_hdr h;
	struct skiff_host_info *i = &out->body;

	if (!buf || len < sizeof(h))
		return -EPROTO;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != SKIFF_WIRE_MAGIC || h.version != SKIFF_WIRE_VERSION ||
	    h.type != SKIFF_MSG_HOST_INFO || h.reserved != 0 ||
	    h.body_len != sizeof(*i) || len - sizeof(h) < h.body_len)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->hdr = h;
	memcpy(i, (const char *)buf + sizeof(h), sizeof(*i));
	if (i->status == ENOENT) {
		static const struct skiff_host_info zero = { .status = ENOENT };

		/* nothing is said of a host that does not exist */
		if (i->nhosts > SKIFF_HOSTS_MAX || i->first || i->last ||
		    i->port || i->state || i->since_ms ||
		    memcmp(i->name, zero.name, sizeof(zero.name)) ||
		    memcmp(i->addr, zero.addr, sizeof(zero.addr)))
			goto bad;
		return 0;
	}
	if (i->status != 0 || i->nhosts > SKIFF_HOSTS_MAX ||
	    i->index >= i->nhosts || i->first > i->last || i->last > 255 ||
	    i->port == 0 || i->state > SKIFF_HOST_DOWN ||
	    !field_ok(i->name, sizeof(i->name), 1, 1) ||
	    !field_ok(i->addr, sizeof(i->addr), 1, 0))
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -EPROTO;
}
