/* SPDX-License-Identifier: MIT */
/*
 * wire.h - skiff control messages on AF_UNIX sockets (see docs/PROTOCOL.md).
 *
 * Every message is one SOCK_SEQPACKET record: a fixed 16-byte header followed
 * by a fixed-width body whose size depends only on the type. Only fixed-width
 * integers in host byte order are used (little-endian on every host skiff
 * runs on; a future cross-host bridge converts): no pointers, no int/long/off_t, so the
 * layout is the same for every ABI (the original ioctl interface was
 * criticised for exactly that). Records may carry padding after the body
 * (credits and connection requests use it to occupy socket send space); the
 * decoder ignores it.
 */
#ifndef SKIFF_WIRE_H
#define SKIFF_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define SKIFF_WIRE_MAGIC   0x46494b53u /* "SKIF" little endian */
/* 2: the grant carries the RMA control socket; 3: NODE_INFO carries the
 * fabric's online nodes and this host's own node (several hosts) */
#define SKIFF_WIRE_VERSION 3

enum skiff_wire_type {
	SKIFF_MSG_CONN_REQ = 1,   /* connector -> listener, carries region memfd */
	SKIFF_MSG_CONN_GRANT = 2, /* acceptor -> connector */
	SKIFF_MSG_DOORBELL = 3,   /* data became available in a ring */
	SKIFF_MSG_CREDIT = 4,     /* sender waits for ring space */
	SKIFF_MSG_NODE_QUERY = 5, /* client -> scifd */
	SKIFF_MSG_NODE_INFO = 6,  /* scifd -> client */
	SKIFF_MSG_CARD_MEM_REQ = 7, /* client -> scifd: a card's memory */
	SKIFF_MSG_CARD_MEM = 8,     /* scifd -> client, carries the memfd */
	SKIFF_MSG_HOST_QUERY = 9,   /* client -> scifd: a host of the fabric */
	SKIFF_MSG_TYPE_MAX = 9,
	/* scifd -> client; too large for union skiff_wire_body (every record
	 * would pay for it), so it has its own decoder: skiff_host_decode */
	SKIFF_MSG_HOST_INFO = 10
};

struct skiff_wire_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t body_len; /* bytes of body after the header */
	uint32_t reserved; /* zero */
};

struct skiff_conn_req {
	uint16_t src_node;
	uint16_t src_port;
	uint16_t dst_node;
	uint16_t dst_port;
	uint32_t ring_size;   /* bytes per ring, a power of two */
	uint32_t region_size; /* bytes of the shared region (memfd) */
	uint64_t cookie;      /* random, echoed in the grant */
};

struct skiff_conn_grant {
	uint16_t node; /* acceptor's node */
	uint16_t port; /* acceptor's port (the listener's) */
	uint32_t status; /* 0: accepted */
	uint64_t cookie;
};

struct skiff_node_query {
	uint32_t flags; /* zero */
	uint32_t reserved;
};

struct skiff_node_info {
	uint32_t ncards;  /* this host's cards: self_node+1..self_node+ncards */
	uint32_t daemon_pid;
	uint64_t card_mem; /* bytes of device memory per card */
	uint16_t self_node; /* this host's own node (0 without a fabric file) */
	uint16_t flags;	    /* SKIFF_NODE_INFO_* */
	uint32_t reserved;  /* zero */
	uint8_t online[32]; /* bit n (byte n / 8, bit n % 8): node n online
			     * anywhere in the fabric */
};

/* NODE_INFO flags */
#define SKIFF_NODE_INFO_HOSTS 0x1 /* the daemon runs a fabric file */
#define SKIFF_NODE_INFO_FLAGS SKIFF_NODE_INFO_HOSTS

static inline int skiff_node_bit(const struct skiff_node_info *i, unsigned n)
{
	return n <= 255 && (i->online[n / 8] >> (n % 8) & 1);
}

struct skiff_card_mem_req {
	uint32_t node;  /* one of this host's card nodes (micmem board b is
			 * node b + 1) */
	uint32_t flags; /* zero */
};

struct skiff_card_mem {
	uint32_t node;   /* as requested */
	uint32_t status; /* 0, or an errno: ENODEV, EPERM */
	uint64_t size;   /* bytes of device memory (0 unless status is 0) */
};

struct skiff_host_query {
	uint32_t index; /* the host's line among the fabric file's, 0-based */
	uint32_t flags; /* zero */
};

#define SKIFF_HOSTS_MAX 64 /* hosts of a fabric file (fconf.h) */

/* HOST_INFO state */
enum { SKIFF_HOST_SELF = 0, SKIFF_HOST_UP = 1, SKIFF_HOST_DOWN = 2 };

struct skiff_host_info {
	uint32_t status;   /* 0, or ENOENT: no such host (or no fabric file) */
	uint16_t index;	   /* as asked */
	uint16_t nhosts;   /* hosts in the fabric file, 0 without one */
	uint16_t first;	   /* the host's nodes */
	uint16_t last;
	uint16_t port;	   /* where its daemon listens */
	uint16_t state;	   /* SKIFF_HOST_SELF, _UP or _DOWN */
	uint64_t since_ms; /* milliseconds in this state */
	char name[64];	   /* NUL terminated, NUL padded */
	char addr[256];	   /* as in the fabric file; NUL terminated, padded */
};

struct skiff_host_msg {
	struct skiff_wire_hdr hdr;
	struct skiff_host_info body;
};

/* Largest body of any type. */
union skiff_wire_body {
	struct skiff_conn_req conn_req;
	struct skiff_conn_grant grant;
	struct skiff_node_query query;
	struct skiff_node_info info;
	struct skiff_card_mem_req card_req;
	struct skiff_card_mem card;
	struct skiff_host_query host_query;
};

struct skiff_wire_msg {
	struct skiff_wire_hdr hdr;
	union skiff_wire_body body;
};

/* Padding that makes a record occupy over a quarter of the socket send
 * buffer set by skiff_sock_setup(), so the sender's socket stops being
 * writable until the receiver reads it. */
#define SKIFF_SOCK_SNDBUF   32768 /* the kernel doubles it: 64 KiB */
#define SKIFF_CREDIT_BYTES  (20 * 1024)

/* Size of the body of a message type; 0 for an unknown type. */
size_t skiff_wire_body_len(uint16_t type);

/* Fill a header for @type. */
void skiff_wire_init(struct skiff_wire_msg *m, uint16_t type);

/*
 * Validate a received record of @len bytes and copy it into @out.
 * Returns 0, or -EPROTO (bad magic, version, type or size).
 */
int skiff_wire_decode(const void *buf, size_t len, struct skiff_wire_msg *out);

/*
 * Validate a HOST_INFO record: header as skiff_wire_decode's, then status
 * 0 or ENOENT; with 0, index < nhosts <= 64, first <= last <= 255, a known
 * state, a name of 1-63 characters of [A-Za-z0-9._-] and an address of
 * 1-255 printable characters, each NUL terminated and NUL padded; with
 * ENOENT, everything else zero. 0 or -EPROTO.
 */
int skiff_host_decode(const void *buf, size_t len, struct skiff_host_msg *out);

#endif
