/* SPDX-License-Identifier: MIT */
#include "link_wire.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct skiff_link_hdr) == 16, "header is 16 bytes");
_Static_assert(sizeof(struct skiff_link_hello) == 3 * 64 + 8 + 8 + 8 + 1024,
	       "fixed layout");
_Static_assert(sizeof(struct skiff_link_ctl) == 24, "fixed layout");

size_t skiff_link_body_len(uint16_t type)
{
	switch (type) {
	case SKIFF_LINK_HELLO:
		return sizeof(struct skiff_link_hello);
	case SKIFF_LINK_HELLO_ACK:
	case SKIFF_LINK_HEARTBEAT:
	case SKIFF_LINK_BYE:
		return sizeof(struct skiff_link_ctl);
	default:
		return 0;
	}
}

size_t skiff_link_init(struct skiff_link_msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
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

static int hello_ok(const struct skiff_link_hello *h)
{
	if (!skiff_link_name_ok(h->fabric) || !skiff_link_name_ok(h->from) ||
	    !skiff_link_name_ok(h->to))
		return 0;
	if (h->from_index >= SKIFF_LINK_HOSTS_MAX || h->first > h->last ||
	    h->last > 255 || (h->flags & ~SKIFF_LINK_HELLO_FLAGS) ||
	    h->boot == 0 || h->reserved)
		return 0;
	if (h->cred_len == 0 || h->cred_len > SKIFF_LINK_CRED_MAX)
		return 0;
	/* MUNGE credentials are base64 text; anything else is not one */
	for (uint32_t i = 0; i < h->cred_len; i++)
		if (h->cred[i] < 0x21 || h->cred[i] > 0x7e)
			return 0;
	for (uint32_t i = h->cred_len; i < SKIFF_LINK_CRED_MAX; i++)
		if (h->cred[i])
			return 0;
	return 1;
}

static int ctl_ok(const struct skiff_link_ctl *c)
{
	return c->from_index < SKIFF_LINK_HOSTS_MAX && c->flags == 0 &&
	       c->reserved == 0 && c->boot != 0;
}

int skiff_link_decode(const void *buf, size_t len, struct skiff_link_msg *out)
{
	struct skiff_link_hdr h;

	if (!buf || len < sizeof(h))
		return -EPROTO;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != SKIFF_LINK_MAGIC || h.version != SKIFF_LINK_VERSION ||
	    h.type == 0 || h.type > SKIFF_LINK_TYPE_MAX || h.reserved != 0 ||
	    h.body_len != skiff_link_body_len(h.type) ||
	    len != sizeof(h) + h.body_len)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->hdr = h;
	memcpy(&out->body, (const char *)buf + sizeof(h), h.body_len);
	if (h.type == SKIFF_LINK_HELLO ? !hello_ok(&out->body.hello)
				       : !ctl_ok(&out->body.ctl)) {
		memset(out, 0, sizeof(*out));
		return -EPROTO;
	}
	return 0;
}
