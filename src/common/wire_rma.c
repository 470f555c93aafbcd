/* SPDX-License-Identifier: MIT */
#include "wire_rma.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct skiff_rma_win) == 32, "fixed layout");
_Static_assert(sizeof(struct skiff_rma_range) == 16, "fixed layout");
_Static_assert(sizeof(struct skiff_rma_req_rec) == 48, "fixed layout");
_Static_assert(sizeof(struct skiff_rma_done_rec) == 16, "fixed layout");

static size_t body_len(uint16_t type)
{
	switch (type) {
	case SKIFF_RMA_WIN_ADD:
		return sizeof(struct skiff_rma_win);
	case SKIFF_RMA_WIN_DEL:
	case SKIFF_RMA_MAP_REF:
	case SKIFF_RMA_MAP_UNREF:
	case SKIFF_RMA_WIN_DEL_ACK:
		return sizeof(struct skiff_rma_range);
	case SKIFF_RMA_REQ:
		return sizeof(struct skiff_rma_req_rec);
	case SKIFF_RMA_DONE:
		return sizeof(struct skiff_rma_done_rec);
	default:
		return 0;
	}
}

void skiff_rma_msg_init(struct skiff_rma_msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	m->hdr.magic = SKIFF_WIRE_MAGIC;
	m->hdr.version = SKIFF_WIRE_VERSION;
	m->hdr.type = type;
	m->hdr.body_len = (uint32_t)body_len(type);
}

int skiff_rma_decode(const void *buf, size_t len, struct skiff_rma_msg *out)
{
	struct skiff_wire_hdr h;
	size_t bl;

	if (!buf || len < sizeof(h))
		return -EPROTO;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != SKIFF_WIRE_MAGIC || h.version != SKIFF_WIRE_VERSION ||
	    h.reserved != 0)
		return -EPROTO;
	bl = body_len(h.type);
	if (!bl || h.body_len != bl || len - sizeof(h) < bl)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->hdr = h;
	memcpy(&out->body, (const char *)buf + sizeof(h), bl);
	if (h.type == SKIFF_RMA_WIN_ADD && out->body.win.reserved)
		return -EPROTO;
	if (h.type == SKIFF_RMA_REQ) {
		const struct skiff_rma_req_rec *q = &out->body.req;

		if (q->len == 0 || q->len > SKIFF_RMA_REQ_MAX || q->dir > 1 ||
		    (q->laddr && q->loff) || q->loff > INT64_MAX - q->len ||
		    q->roff > INT64_MAX - q->len ||
		    (q->laddr && q->laddr > UINT64_MAX - q->len))
			return -EPROTO;
	}
	if (h.type == SKIFF_RMA_DONE &&
	    (out->body.done.reserved || out->body.done.status >= 4096))
		return -EPROTO;
	return 0;
}
