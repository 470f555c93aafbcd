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
	SKIFF_LINK_TYPE_MAX = 4
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

union skiff_link_body {
	struct skiff_link_hello hello;
	struct skiff_link_ctl ctl;
};

struct skiff_link_msg {
	struct skiff_link_hdr hdr;
	union skiff_link_body body;
};

/* Bytes a receiver must be able to take: the largest record. */
#define SKIFF_LINK_MSG_MAX (sizeof(struct skiff_link_hdr) + \
			    sizeof(struct skiff_link_hello))

/* Size of the body of @type; 0 for an unknown type. */
size_t skiff_link_body_len(uint16_t type);

/* Zero @m and fill its header for @type; returns the record's size. */
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

#endif
