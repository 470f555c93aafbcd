/* SPDX-License-Identifier: MIT */
/*
 * fuzz_link - libFuzzer harness for the decoder of the records between
 * daemons (link_wire.c, docs/PROTOCOL.md section 9). Anyone who can reach
 * a daemon's port can send it anything, before any authentication.
 *
 * After a successful decode the record must be what section 9 promises;
 * any violation abort()s so libFuzzer reports it.
 */
#include "link_wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_name(const char *n)
{
	size_t len = strnlen(n, SKIFF_LINK_NAME_LEN);

	if (len == 0 || len >= SKIFF_LINK_NAME_LEN)
		abort();
	for (size_t i = 0; i < len; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789._-", n[i]))
			abort();
	for (size_t i = len; i < SKIFF_LINK_NAME_LEN; i++)
		if (n[i])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skiff_link_msg m, again, out;
	size_t hl = sizeof(m.hdr), want;

	if (skiff_link_decode(data, size, &m) != 0)
		return 0;
	want = skiff_link_body_len(m.hdr.type);
	/* DATA: its payload follows the fixed part, counted exactly */
	if (m.hdr.type == SKIFF_LINK_DATA)
		want += m.body.cx.value;
	if (m.hdr.magic != SKIFF_LINK_MAGIC ||
	    m.hdr.version != SKIFF_LINK_VERSION || m.hdr.type == 0 ||
	    m.hdr.type > SKIFF_LINK_TYPE_MAX || m.hdr.reserved != 0 ||
	    m.hdr.body_len != want || want == 0 || size != hl + want)
		abort();
	/* copied verbatim */
	if (memcmp(&m, data, size) != 0)
		abort();
	if (m.hdr.type == SKIFF_LINK_HELLO) {
		const struct skiff_link_hello *h = &m.body.hello;

		check_name(h->fabric);
		check_name(h->from);
		check_name(h->to);
		if (h->from_index >= SKIFF_LINK_HOSTS_MAX ||
		    h->first > h->last || h->last > 255 || h->boot == 0 ||
		    (h->flags & ~SKIFF_LINK_HELLO_FLAGS) || h->reserved ||
		    h->cred_len == 0 || h->cred_len > SKIFF_LINK_CRED_MAX)
			abort();
		for (uint32_t i = 0; i < SKIFF_LINK_CRED_MAX; i++)
			if (i < h->cred_len ? (h->cred[i] < 0x21 ||
					       h->cred[i] > 0x7e)
					    : h->cred[i] != 0)
				abort();
	} else if (m.hdr.type == SKIFF_LINK_CONN) {
		const struct skiff_link_conn *c = &m.body.conn;

		if (c->from_index >= SKIFF_LINK_HOSTS_MAX || c->flags ||
		    c->id == 0 || c->boot == 0 || c->reserved ||
		    c->src_node > 255 || c->dst_node > 255 ||
		    c->src_port == 0 || c->dst_port == 0 ||
		    c->cred_len == 0 || c->cred_len > SKIFF_LINK_CRED_MAX)
			abort();
		for (uint32_t i = 0; i < SKIFF_LINK_CRED_MAX; i++)
			if (i < c->cred_len ? (c->cred[i] < 0x21 ||
					       c->cred[i] > 0x7e)
					    : c->cred[i] != 0)
				abort();
	} else if (m.hdr.type >= SKIFF_LINK_CONN_ACK) {
		const struct skiff_link_cx *c = &m.body.cx;

		if (c->from_index >= SKIFF_LINK_HOSTS_MAX || c->flags ||
		    c->id == 0 || c->boot == 0)
			abort();
		if (m.hdr.type == SKIFF_LINK_DATA &&
		    (c->value == 0 || c->value > SKIFF_LINK_DATA_MAX ||
		     c->peer_id))
			abort();
		if (m.hdr.type == SKIFF_LINK_CREDIT &&
		    (c->value == 0 || c->value > SKIFF_LINK_WINDOW || c->peer_id))
			abort();
		if (m.hdr.type == SKIFF_LINK_CONN_ACK &&
		    (c->value == 0) != (c->peer_id != 0))
			abort();
		if (m.hdr.type == SKIFF_LINK_CLOSE && (c->value || c->peer_id))
			abort();
		if ((m.hdr.type == SKIFF_LINK_RMA_DONE ||
		     m.hdr.type == SKIFF_LINK_RMA_WROTE) &&
		    (!c->peer_id || c->value >= 4096))
			abort();
		if (m.hdr.type == SKIFF_LINK_RMA ||
		    m.hdr.type == SKIFF_LINK_RMA_GO) {
			/* what the daemon relies on: a request toward the
			 * receiver's process carries no segments; otherwise
			 * they cover the length exactly, none wraps; the
			 * range cannot wrap; RMA_GO is only toward (0) */
			const struct skiff_link_rma *q = &m.body.rma;
			int bare = m.hdr.type == SKIFF_LINK_RMA && c->value == 0;
			uint64_t sum = 0;

			if (!c->peer_id || c->value > 1 ||
			    (m.hdr.type == SKIFF_LINK_RMA_GO && c->value) ||
			    (bare ? q->nseg != 0 : !q->nseg) ||
			    q->nseg > SKIFF_LINK_RMA_SEGS || !q->len ||
			    q->roff > INT64_MAX - q->len || q->reserved)
				abort();
			for (unsigned i = 0; i < SKIFF_LINK_RMA_SEGS; i++) {
				if (i >= q->nseg) {
					if (q->seg[i].addr || q->seg[i].key ||
					    q->seg[i].len)
						abort();
					continue;
				}
				if (!q->seg[i].len ||
				    q->seg[i].addr > UINT64_MAX - q->seg[i].len)
					abort();
				sum += q->seg[i].len;
			}
			if (!bare && sum != q->len)
				abort();
		}
	} else {
		const struct skiff_link_ctl *c = &m.body.ctl;

		if (c->from_index >= SKIFF_LINK_HOSTS_MAX || c->flags ||
		    c->reserved || c->boot == 0)
			abort();
	}
	/* exactly one length is right: no padding, nothing cut */
	if (skiff_link_decode(data, size - 1, &again) == 0)
		abort();
	/* what an encoder makes of the fields decodes to the same record */
	if (m.hdr.type == SKIFF_LINK_DATA) {
		skiff_link_init(&again, m.hdr.type);
		if (skiff_link_data_len(&again, m.body.cx.value) != size)
			abort();
	} else if (skiff_link_init(&again, m.hdr.type) != size) {
		abort();
	}
	memcpy(&again.body, &m.body, want);
	if (skiff_link_decode(&again, size, &out) != 0 ||
	    memcmp(&out, &m, size) != 0)
		abort();
	return 0;
}
