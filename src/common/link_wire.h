/* SPDX-License-Identifier: MIT */
/*
 * link_wire.h - records between the daemons of a fabric spanning several
 * hosts (docs/PROTOCOL.md section 9). Carried as libfabric messages, one
 * record per message; the same rules as wire.h: a fixed 16-byte header,
 * a body whose size depends only on the type, fixed-width little-endian
 * integers and fixed-size NUL-padded strings, nothing else.
 */
#ifndef SKIFF_LINK_WIRE_H
#define SKIFF_LINK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define SKIFF_LINK_MAGIC   0x4b4c4b53u /* "SKLK" little endian */
#define SKIFF_LINK_VERSION 1

enum skiff_link_type {
	SKIFF_LINK_HELLO = 1,	  /* who I am, with a MUNGE credential */
	SKIFF_LINK_HELLO_ACK = 2, /* your HELLO was authenticated */
	SKIFF_LINK_HEARTBEAT = 3, /* still here (every 500 ms) */
	SKIFF_LINK_BYE = 4,	  /* going away (SIGTERM) */
	/* connections relayed between hosts (PROTOCOL.md section 9.2) */
	SKIFF_LINK_CONN = 5,	  /* a process of mine connects to your node */
	SKIFF_LINK_CONN_ACK = 6,  /* the outcome: accepted, or an errno */
	SKIFF_LINK_DATA = 7,	  /* bytes of a connection, in order */
	SKIFF_LINK_CREDIT = 8,	  /* the receiver took bytes: room for more */
	SKIFF_LINK_CLOSE = 9,	  /* my end of the connection is gone */
	SKIFF_LINK_RMA = 10,	  /* carry out an RMA with your process */
	SKIFF_LINK_RMA_DONE = 11, /* that RMA ended */
	SKIFF_LINK_RMA_GO = 12,	  /* write the RMA's data there */
	SKIFF_LINK_RMA_WROTE = 13, /* I wrote it: release those segments */
	SKIFF_LINK_TYPE_MAX = 13
};

#define SKIFF_LINK_NAME_LEN 64	 /* fabric and host names, NUL padded */
#define SKIFF_LINK_CRED_MAX 1024 /* a MUNGE credential (base64 text) */
#define SKIFF_LINK_HOSTS_MAX 64	 /* host indexes are 0..63 */

/* HELLO flags */
#define SKIFF_LINK_WANT_HELLO 0x1 /* I have no valid HELLO of yours: send one */
#define SKIFF_LINK_HELLO_FLAGS SKIFF_LINK_WANT_HELLO

struct skiff_link_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t body_len;
	uint32_t reserved; /* zero */
};

struct skiff_link_hello {
	char fabric[SKIFF_LINK_NAME_LEN]; /* the sender's fabric name */
	char from[SKIFF_LINK_NAME_LEN];	  /* the sender's host name */
	char to[SKIFF_LINK_NAME_LEN];	  /* the receiver's host name */
	uint16_t from_index;		  /* sender's line among the hosts */
	uint16_t first;			  /* sender's nodes: first..last */
	uint16_t last;
	uint16_t flags;			  /* SKIFF_LINK_HELLO_FLAGS */
	uint64_t boot;			  /* sender's boot id (random) */
	uint32_t cred_len;		  /* bytes of cred used, 1..CRED_MAX */
	uint32_t reserved;		  /* zero */
	char cred[SKIFF_LINK_CRED_MAX];	  /* MUNGE credential, zero padded */
};

/* HELLO_ACK, HEARTBEAT and BYE */
struct skiff_link_ctl {
	uint16_t from_index; /* sender's line among the hosts */
	uint16_t flags;	     /* zero */
	uint32_t reserved;   /* zero */
	uint64_t boot;	     /* sender's boot id */
	uint64_t peer_boot;  /* the receiver's boot id as the sender knows it */
};

/* Bytes in flight per connection and direction: a sender has at most
 * this many sent and not credited back (the receiver's daemon buffers what
 * its process has no room for yet). Fixed by the protocol version. */
#define SKIFF_LINK_WINDOW (64 * 1024)
#define SKIFF_LINK_DATA_MAX 8192 /* payload of one DATA record */

/* CONN: the credential's payload binds every field above it (auth.c). */
struct skiff_link_conn {
	uint16_t from_index;
	uint16_t flags;	    /* zero */
	uint32_t id;	    /* the sender's id for the connection, not 0 */
	uint64_t boot;	    /* sender's boot id */
	uint64_t peer_boot; /* the receiver's, as the sender knows it */
	uint16_t src_node;  /* the connecting process's endpoint, one of */
	uint16_t src_port;  /* the sender's nodes */
	uint16_t dst_node;  /* a node of the receiver */
	uint16_t dst_port;
	uint32_t uid;	    /* the connecting process's (SO_PEERCRED) */
	uint32_t gid;
	uint32_t cred_len;  /* 1..CRED_MAX */
	uint32_t reserved;  /* zero */
	char cred[SKIFF_LINK_CRED_MAX];
};

/* CONN_ACK, DATA, CREDIT, CLOSE: about connection @id of the receiver. */
struct skiff_link_cx {
	uint16_t from_index;
	uint16_t flags;	    /* zero */
	uint32_t id;	    /* the receiver's id for the connection, not 0 */
	uint64_t boot;
	uint64_t peer_boot;
	uint32_t peer_id;   /* CONN_ACK: the sender's id for it (0 if refused);
			     * else zero */
	uint32_t value;	    /* RMA_DONE, RMA_WROTE: 0 or an errno
			     * (peer_id: the request); CONN_ACK: 0 or an errno (ECONNREFUSED,
			     * ENODEV, EACCES, ENOMEM); DATA: payload bytes,
			     * 1..DATA_MAX, after this struct; CREDIT: bytes
			     * taken, 1..WINDOW; CLOSE: zero */
};

#define SKIFF_LINK_RMA_SEGS 16

/* RMA: the receiver resolves [roff, roff + len) in its process's windows.
 * cx.value 1 (data out of them): the initiator's daemon registered its
 * process's memory of the transfer (@seg: libfabric addresses and keys);
 * the receiver moves the data there with fi_write, then answers RMA_DONE.
 * cx.value 0 (data into them): no segments; the receiver registers the
 * range and answers RMA_GO with its segments (or RMA_DONE with an errno);
 * the initiator writes the data there (fi_write, delivery complete) and
 * answers RMA_WROTE, on which the receiver closes the registrations.
 * RMA_GO: the same body, cx.id the initiator's connection, roff and len
 * those of the request, segments 1..SKIFF_LINK_RMA_SEGS. */
struct skiff_link_rma {
	struct skiff_link_cx cx; /* id: the receiver's connection; peer_id:
				  * the request, not 0; value: the direction
				  * (RMA_GO: 0) */
	uint64_t roff;
	uint64_t len;	/* the sum of the segments' */
	uint32_t nseg;	/* 1..SKIFF_LINK_RMA_SEGS (RMA with value 0: 0);
			 * the rest zero */
	uint32_t reserved;
	struct {
		uint64_t addr, key, len;
	} seg[SKIFF_LINK_RMA_SEGS];
};

struct skiff_link_data {
	struct skiff_link_cx cx;
	unsigned char data[SKIFF_LINK_DATA_MAX];
};

union skiff_link_body {
	struct skiff_link_hello hello;
	struct skiff_link_ctl ctl;
	struct skiff_link_conn conn;
	struct skiff_link_cx cx;
	struct skiff_link_data data;
	struct skiff_link_rma rma;
};

struct skiff_link_msg {
	struct skiff_link_hdr hdr;
	union skiff_link_body body;
};

/* Bytes a receiver must be able to take: the largest record. */
#define SKIFF_LINK_MSG_MAX (sizeof(struct skiff_link_hdr) + \
			    sizeof(struct skiff_link_data))

/* Size of the body of @type (DATA: without its payload); 0 for an unknown
 * type. */
size_t skiff_link_body_len(uint16_t type);

/* Zero @m's header and fixed body and fill the header for @type (DATA:
 * with @m->body.data.cx.value set afterwards, use skiff_link_data_len);
 * returns the record's size. */
size_t skiff_link_init(struct skiff_link_msg *m, uint16_t type);

/* 1..SKIFF_LINK_NAME_LEN-1 characters of [A-Za-z0-9._-], then NULs only. */
int skiff_link_name_ok(const char name[SKIFF_LINK_NAME_LEN]);

/*
 * Validate a received record of @len bytes and copy it into @out: magic,
 * version, type, reserved zero, exact body length (no padding: a daemon
 * never sends any), and every field of the body that can be checked
 * without context (names well formed, index and node range in bounds,
 * flags known, cred_len in range with zero padding after it, the
 * credential printable text). Returns 0 or -EPROTO.
 */
int skiff_link_decode(const void *buf, size_t len, struct skiff_link_msg *out);

/* Size of a DATA record of @n payload bytes (and sets its body_len). */
size_t skiff_link_data_len(struct skiff_link_msg *m, uint32_t n);

#endif
