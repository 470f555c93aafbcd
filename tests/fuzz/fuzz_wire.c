/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wire - libFuzzer harness for the wire decoder and the port-name
 * parser (src/common). Every peer and every local process can send us
 * records or create abstract names, so both must take any bytes.
 *
 * After a successful decode, the result must be what the protocol promises
 * (docs/PROTOCOL.md); any violation abort()s so libFuzzer reports it.
 */
#include "mm_wire.h"
#include "names.h"
#include "nodeq.h"
#include "wire.h"
#include "wire_rma.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_decode(const uint8_t *data, size_t size)
{
	struct skiff_wire_msg m;
	size_t want, hl = sizeof(m.hdr);
	const unsigned char *tail;

	if (skiff_wire_decode(data, size, &m) != 0)
		return;
	want = skiff_wire_body_len(m.hdr.type);
	if (size < hl || m.hdr.magic != SKIFF_WIRE_MAGIC ||
	    m.hdr.version != SKIFF_WIRE_VERSION || m.hdr.type == 0 ||
	    m.hdr.type > SKIFF_MSG_TYPE_MAX || m.hdr.reserved != 0)
		abort();
	if (m.hdr.body_len != want || want > sizeof(m.body) ||
	    size < hl + want)
		abort();
	/* each type's body is exactly its struct (PROTOCOL.md section 2) */
	switch (m.hdr.type) {
	case SKIFF_MSG_NODE_QUERY:
		if (want != sizeof(struct skiff_node_query))
			abort();
		break;
	case SKIFF_MSG_NODE_INFO:
		if (want != sizeof(struct skiff_node_info))
			abort();
		/* what libscif believes of a daemon: counts in range, its own
		 * nodes online, flags known (nodeq.c) */
		if (skiff_node_info_ok(&m.body.info)) {
			const struct skiff_node_info *i = &m.body.info;

			if (i->ncards > SKIFF_MAX_NODE ||
			    i->self_node + i->ncards > SKIFF_MAX_NODE ||
			    (i->flags & ~SKIFF_NODE_INFO_FLAGS) || i->reserved)
				abort();
			for (unsigned n = i->self_node;
			     n <= i->self_node + i->ncards; n++)
				if (!skiff_node_bit(i, n))
					abort();
		}
		break;
	case SKIFF_MSG_CARD_MEM_REQ:
		if (want != sizeof(struct skiff_card_mem_req))
			abort();
		break;
	case SKIFF_MSG_CARD_MEM:
		if (want != sizeof(struct skiff_card_mem))
			abort();
		break;
	}
	/* header and body are copied verbatim, the rest of @m is zero */
	if (memcmp(&m, data, hl + want) != 0)
		abort();
	tail = (const unsigned char *)&m + hl + want;
	for (size_t i = 0; i < sizeof(m) - hl - want; i++)
		if (tail[i] != 0)
			abort();
	/* exactly header + body is enough; one byte less is not */
	if (skiff_wire_decode(data, hl + want, &m) != 0)
		abort();
	if (skiff_wire_decode(data, hl + want - 1, &m) == 0)
		abort();
}

static void check_port_name(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char canon[32];
	uint16_t node, port;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (skiff_parse_port_name(s, &node, &port) == 0) {
		if (node > SKIFF_MAX_NODE)
			abort();
		/* A name parses only in its canonical spelling: otherwise two
		 * socket names would claim the same (node, port), and a tool
		 * would list a port nobody can connect to by that name. */
		snprintf(canon, sizeof(canon), "n%u/p%u", node, port);
		if (strcmp(s, canon) != 0)
			abort();
	}
	free(s);
}

/* The RMA control socket's records (wire_rma.c): same promises. */
static void check_rma_decode(const uint8_t *data, size_t size)
{
	struct skiff_rma_msg m;
	size_t hl = sizeof(m.hdr);

	if (skiff_rma_decode(data, size, &m) != 0)
		return;
	if (m.hdr.magic != SKIFF_WIRE_MAGIC || m.hdr.version != SKIFF_WIRE_VERSION ||
	    m.hdr.reserved != 0 || size < hl + m.hdr.body_len ||
	    m.hdr.body_len > sizeof(m.body))
		abort();
	switch (m.hdr.type) {
	case SKIFF_RMA_WIN_ADD:
		if (m.hdr.body_len != sizeof(struct skiff_rma_win) ||
		    m.body.win.reserved)
			abort();
		break;
	case SKIFF_RMA_WIN_DEL:
	case SKIFF_RMA_MAP_REF:
	case SKIFF_RMA_MAP_UNREF:
	case SKIFF_RMA_WIN_DEL_ACK:
		if (m.hdr.body_len != sizeof(struct skiff_rma_range))
			abort();
		break;
	case SKIFF_RMA_REQ: {
		const struct skiff_rma_req_rec *q = &m.body.req;

		/* what the daemon relies on: a length, a direction, and
		 * ranges that cannot wrap */
		if (m.hdr.body_len != sizeof(*q) || q->len == 0 ||
		    q->len > SKIFF_RMA_REQ_MAX || q->dir > 1 ||
		    (q->laddr && q->loff) || q->loff > INT64_MAX - q->len ||
		    q->roff > INT64_MAX - q->len ||
		    (q->laddr && q->laddr > UINT64_MAX - q->len))
			abort();
		break;
	}
	case SKIFF_RMA_DONE:
		if (m.hdr.body_len != sizeof(struct skiff_rma_done_rec) ||
		    m.body.done.reserved || m.body.done.status >= 4096)
			abort();
		break;
	default:
		abort(); /* an unknown type was accepted */
	}
	if (memcmp(&m.body, data + hl, m.hdr.body_len))
		abort();
}

/* A string field as HOST_INFO promises: @min..size-1 characters of the
 * class, then NULs to the end. */
static void check_field(const char *f, size_t size, size_t min, int name)
{
	size_t n = strnlen(f, size);

	if (n < min || n >= size)
		abort();
	for (size_t i = 0; i < n; i++)
		if (name ? !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789._-", f[i])
			 : (f[i] < 0x21 || f[i] > 0x7e))
			abort();
	for (size_t i = n; i < size; i++)
		if (f[i])
			abort();
}

/* HOST_INFO (skiff_host_decode), which scif info prints. */
static void check_host_decode(const uint8_t *data, size_t size)
{
	struct skiff_host_msg m;
	const struct skiff_host_info *i = &m.body;

	if (skiff_host_decode(data, size, &m) != 0)
		return;
	if (m.hdr.magic != SKIFF_WIRE_MAGIC || m.hdr.version != SKIFF_WIRE_VERSION ||
	    m.hdr.type != SKIFF_MSG_HOST_INFO || m.hdr.reserved ||
	    m.hdr.body_len != sizeof(m.body) || size < sizeof(m) ||
	    memcmp(&m, data, sizeof(m)) != 0)
		abort();
	if (i->nhosts > SKIFF_HOSTS_MAX)
		abort();
	if (i->status == ENOENT) {
		if (i->first || i->last || i->port || i->state || i->since_ms ||
		    i->name[0] || i->addr[0])
			abort();
		return;
	}
	if (i->status != 0 || i->index >= i->nhosts || i->first > i->last ||
	    i->last > 255 || i->port == 0 || i->state > SKIFF_HOST_DOWN)
		abort();
	check_field(i->name, sizeof(i->name), 1, 1);
	check_field(i->addr, sizeof(i->addr), 1, 0);
}

/* The hello of a card of another host (mm_wire.h), which libmicmem reads
 * from that host's daemon. */
static void check_mm_hello(const uint8_t *data, size_t size)
{
	struct skiff_mm_hello h;
	uint64_t sz = 0;
	int r;

	if (size < sizeof(h))
		return;
	memcpy(&h, data, sizeof(h));
	r = skiff_mm_hello_check(&h, &sz);
	if (r == 0 && (h.magic != SKIFF_MM_HELLO_MAGIC || h.status || h.reserved ||
		       sz != h.size || sz == 0 || sz % 4096 ||
		       sz > SKIFF_MM_SIZE_MAX))
		abort();
	if (r != 0 && r != -ENODEV && r != -EPERM && r != -ENOMEM)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode(data, size);
	check_rma_decode(data, size);
	check_host_decode(data, size);
	check_port_name(data, size);
	check_mm_hello(data, size);
	return 0;
}
