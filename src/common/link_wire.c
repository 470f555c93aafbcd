/* SPDX-License-Identifier: MIT */
#include "link_wire.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct skiff_link_hdr) == 16, "header is 16 bytes");
_Static_assert(sizeof(struct skiff_link_hello) == 3 * 64 + 8 + 8 + 8 + 1024,
	       "fixed layout");
_Static_assert(sizeof(struct skiff_link_ctl) == 24, "fixed layout");
_Static_assert(sizeof(struct skiff_link_conn) == 48 + 1024, "fixed layout");
_Static_assert(sizeof(struct skiff_link_cx) == 32, "fixed layout");
/* init and decode clear the largest fixed body, not a DATA payload */
_Static_assert(sizeof(struct skiff_link_hello) >= sizeof(struct skiff_link_conn),
	       "HELLO is the largest fixed body");

size_t skiff_link_body_len(uint16_t type)
{
	switch (type) {
	case SKIFF_LINK_HELLO:
		return sizeof(struct skiff_link_hello);
	case SKIFF_LINK_HELLO_ACK:
	case SKIFF_LINK_HEARTBEAT:
	case SKIFF_LINK_BYE:
		return sizeof(struct skiff_link_ctl);
	case SKIFF_LINK_CONN:
		return sizeof(struct skiff_link_conn);
	case SKIFF_LINK_CONN_ACK:
	case SKIFF_LINK_DATA:
	case SKIFF_LINK_CREDIT:
	case SKIFF_LINK_CLOSE:
	case SKIFF_LINK_RMA_DONE:
	case SKIFF_LINK_RMA_WROTE:
		return sizeof(struct skiff_link_cx);
	case SKIFF_LINK_RMA:
	case SKIFF_LINK_RMA_GO:
		return sizeof(struct skiff_link_rma);
	default:
		return 0;
	}
}

size_t skiff_link_init(struct skiff_link_msg *m, uint16_t type)
{
	/* not the DATA payload: 8 KiB cleared per record for nothing */
	memset(m, 0, sizeof(m->hdr) + sizeof(struct skiff_link_hello));
	m->hdr.magic = SKIFF_LINK_MAGIC;
	m->hdr.version = SKIFF_LINK_VERSION;
	m->hdr.type = type;
	m->hdr.body_len = (uint32_t)skiff_link_body_len(type);
	return sizeof(m->hdr) + m->hdr.body_len;
}

int skiff_link_name_ok(const char name[SKIFF_LINK_NAME_LEN])
{
	size_t n = 0;

	while (n < SKIFF_LINK_NAME_LEN && name[n]) {
		char c = name[n++];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	/* a terminator inside the field, and only NULs after it, so two
	 * spellings of one name cannot differ in what follows */
	if (n == 0 || n == SKIFF_LINK_NAME_LEN)
		return 0;
	for (; n < SKIFF_LINK_NAME_LEN; n++)
		if (name[n])
			return 0;
	return 1;
}

static int cred_ok(const char *cred, uint32_t len);
static int cx_ok(uint16_t type, const struct skiff_link_cx *c);

static int hello_ok(const struct skiff_link_hello *h)
{
	if (!skiff_link_name_ok(h->fabric) || !skiff_link_name_ok(h->from) ||
	    !skiff_link_name_ok(h->to))
		return 0;
	if (h->from_index >= SKIFF_LINK_HOSTS_MAX || h->first > h->last ||
	    h->last > 255 || (h->flags & ~SKIFF_LINK_HELLO_FLAGS) ||
	    h->boot == 0 || h->reserved)
		return 0;
	return cred_ok(h->cred, h->cred_len);
}

size_t skiff_link_data_len(struct skiff_link_msg *m, uint32_t n)
{
	m->body.data.cx.value = n;
	m->hdr.body_len = (uint32_t)sizeof(struct skiff_link_cx) + n;
	return sizeof(m->hdr) + m->hdr.body_len;
}

/* A MUNGE credential is base64 text, zero padded. */
static int cred_ok(const char *cred, uint32_t len)
{
	if (len == 0 || len > SKIFF_LINK_CRED_MAX)
		return 0;
	for (uint32_t i = 0; i < len; i++)
		if (cred[i] < 0x21 || cred[i] > 0x7e)
			return 0;
	for (uint32_t i = len; i < SKIFF_LINK_CRED_MAX; i++)
		if (cred[i])
			return 0;
	return 1;
}

static int conn_ok(const struct skiff_link_conn *c)
{
	return c->from_index < SKIFF_LINK_HOSTS_MAX && c->flags == 0 &&
	       c->id != 0 && c->boot != 0 && c->reserved == 0 &&
	       c->src_node <= 255 && c->dst_node <= 255 && c->src_port != 0 &&
	       c->dst_port != 0 && cred_ok(c->cred, c->cred_len);
}

static int cx_ok(uint16_t type, const struct skiff_link_cx *c)
{
	if (c->from_index >= SKIFF_LINK_HOSTS_MAX || c->flags || c->id == 0 ||
	    c->boot == 0)
		return 0;
	switch (type) {
	case SKIFF_LINK_CONN_ACK:
		/* accepted: the sender's id; refused: a reason, no id */
		return c->value == 0 ? c->peer_id != 0 :
		       c->peer_id == 0 && c->value < 4096;
	case SKIFF_LINK_DATA:
		return c->peer_id == 0 && c->value >= 1 &&
		       c->value <= SKIFF_LINK_DATA_MAX;
	case SKIFF_LINK_CREDIT:
		return c->peer_id == 0 && c->value >= 1 &&
		       c->value <= SKIFF_LINK_WINDOW;
	case SKIFF_LINK_RMA:
		return c->peer_id != 0 && c->value <= 1;
	case SKIFF_LINK_RMA_GO:
		return c->peer_id != 0 && c->value == 0;
	case SKIFF_LINK_RMA_DONE:
	case SKIFF_LINK_RMA_WROTE:
		return c->peer_id != 0 && c->value < 4096;
	default:
		return c->peer_id == 0 && c->value == 0;
	}
}

/* RMA and RMA_GO: a request toward the receiver's process (RMA with
 * value 0) carries no segments, every other one 1..SEGS covering len. */
static int rma_ok(uint16_t type, const struct skiff_link_rma *m)
{
	uint64_t sum = 0;
	int bare = type == SKIFF_LINK_RMA && m->cx.value == 0;

	if (!cx_ok(type, &m->cx) || (bare ? m->nseg != 0 : m->nseg == 0) ||
	    m->nseg > SKIFF_LINK_RMA_SEGS || m->reserved || m->len == 0 ||
	    m->len > INT64_MAX || m->roff > INT64_MAX - m->len)
		return 0;
	for (unsigned i = 0; i < SKIFF_LINK_RMA_SEGS; i++) {
		if (i >= m->nseg) {
			if (m->seg[i].addr || m->seg[i].key || m->seg[i].len)
				return 0;
			continue;
		}
		if (m->seg[i].len == 0 || m->seg[i].len > m->len - sum ||
		    m->seg[i].addr > UINT64_MAX - m->seg[i].len)
			return 0;
		sum += m->seg[i].len;
	}
	return bare || sum == m->len;
}

static int ctl_ok(const struct skiff_link_ctl *c)
{
	return c->from_index < SKIFF_LINK_HOSTS_MAX && c->flags == 0 &&
	       c->reserved == 0 && c->boot != 0;
}

int skiff_link_decode(const void *buf, size_t len, struct skiff_link_msg *out)
{
	struct skiff_link_hdr h;
	size_t fixed;
	int ok;

	if (!buf || len < sizeof(h))
		return -EPROTO;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != SKIFF_LINK_MAGIC || h.version != SKIFF_LINK_VERSION ||
	    h.type == 0 || h.type > SKIFF_LINK_TYPE_MAX || h.reserved != 0)
		return -EPROTO;
	fixed = skiff_link_body_len(h.type);
	/* DATA: the fixed part, then exactly the payload it counts */
	if (h.type == SKIFF_LINK_DATA ?
		    (h.body_len <= fixed || h.body_len > fixed + SKIFF_LINK_DATA_MAX) :
		    h.body_len != fixed)
		return -EPROTO;
	if (len != sizeof(h) + h.body_len)
		return -EPROTO;
	memset(out, 0, sizeof(out->hdr) + sizeof(struct skiff_link_hello));
	out->hdr = h;
	memcpy(&out->body, (const char *)buf + sizeof(h), h.body_len);
	switch (h.type) {
	case SKIFF_LINK_HELLO:
		ok = hello_ok(&out->body.hello);
		break;
	case SKIFF_LINK_CONN:
		ok = conn_ok(&out->body.conn);
		break;
	case SKIFF_LINK_RMA:
	case SKIFF_LINK_RMA_GO:
		ok = rma_ok(h.type, &out->body.rma);
		break;
	case SKIFF_LINK_CONN_ACK:
	case SKIFF_LINK_DATA:
	case SKIFF_LINK_CREDIT:
	case SKIFF_LINK_CLOSE:
	case SKIFF_LINK_RMA_DONE:
	case SKIFF_LINK_RMA_WROTE:
		ok = cx_ok(h.type, &out->body.cx) &&
		     (h.type != SKIFF_LINK_DATA ||
		      out->body.cx.value == h.body_len - fixed);
		break;
	default:
		ok = ctl_ok(&out->body.ctl);
		break;
	}
	if (!ok) {
		memset(out, 0, sizeof(out->hdr) + sizeof(struct skiff_link_hello));
		return -EPROTO;
	}
	return 0;
}
