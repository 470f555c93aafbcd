/* SPDX-License-Identifier: MIT */
/*
 * link_replay - plays host HOST of a fabric file against the daemon of
 * host TO, for tests/netns.sh: sends one genuine HELLO (a fresh MUNGE
 * credential for this link), waits for the daemon's HELLO_ACK, then sends
 * the very same record again, as an attacker who captured it would. The
 * daemon must refuse the second one (munged: replayed credential); the test
 * reads that in its log.
 *
 *   link_replay [--once | --flood N | --conn NODE PORT |
 *                --relayflood N NODE PORT] FABRIC_FILE HOST TO FABRIC
 *                MUNGE_SOCKET
 *
 * Exit 0 once the genuine HELLO was acknowledged and the copy sent, 1 if
 * it was not acknowledged within 10 s, 2 on bad usage or set-up failure.
 * With --once, send one genuine HELLO and keep the endpoint open for 20 s
 * (the test stops us once it has read the daemon's log): run as another
 * user, its credential carries that user's uid, which the daemon must
 * refuse.
 *
 * With --flood N, send N hostile records instead, as fast as the endpoint
 * takes them: random bytes, HELLOs with random bodies, well-formed HELLOs
 * of this host with forged credentials, and HELLOs, HEARTBEATs, BYEs and
 * HELLO_ACKs claiming to come from a third host of the file (the first
 * that is neither HOST nor TO). Exit 0 once all are sent. The daemon must
 * survive, keep its links to the real hosts, and log a bounded number of
 * lines.
 *
 * With --conn NODE PORT it is a host that is properly linked (it has the
 * MUNGE key: a genuine HELLO, the daemon's HELLO_ACK, ours back, then
 * heartbeats) and lies in CONN records (docs/PROTOCOL.md 9.2) to the
 * daemon, whose NODE:PORT has a tests/xhost server: a genuine CONN must be
 * accepted and carry bytes (xhost's HELLO command: the server saw our node
 * and port); the same record again, credentials for other fields than the
 * record's, nodes that are not the sender's or the receiver's, a reserved
 * port for a uid other than 0 must be refused (CONN_ACK with EACCES or
 * ENODEV), a stale boot id not answered. One line per check ("ok NAME:"
 * or "FAIL NAME:"), then PASS; exit 0 iff every check passed.
 *
 * With --relayflood N NODE PORT: N records of connections (DATA, CREDIT,
 * CLOSE, CONN_ACK with random and real-looking ids, forged CONNs) before
 * linking, to which nothing may answer; then linked, its own connections
 * to NODE:PORT (an xhost server) overrun the window or credit beyond it
 * (the daemon must end them), and N records of the same kinds; a genuine
 * CONN must still be accepted afterwards. Same output and exit status.
 * Uses scifd's own pieces (fab.c, auth.c, link_wire.c).
 */
#define _GNU_SOURCE
#include "auth.h"
#include "fab.h"
#include "fconf.h"
#include "link_wire.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static struct skiff_fconf conf;
static unsigned me, to;
static uint64_t boot;
static int acked;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- relayed connections (--conn, --relayflood): what came back --- */
#define CX_MAX 64
static struct cx {
	uint32_t id;		 /* ours; 0: free */
	int acked;		 /* a CONN_ACK came */
	uint32_t peer_id, value; /* its fields */
	int closed;		 /* a CLOSE came */
	unsigned char data[256]; /* the first bytes of DATA */
	uint32_t dlen;
} cx[CX_MAX];
static uint64_t dboot;		/* the daemon's boot id (its HELLO_ACK) */
static uint64_t dboot_seen;	/* its boot id as its HELLOs say */
static int linked;		/* we acknowledged its HELLO: up on both sides */
static int64_t last_beat;
static unsigned relayed_rx;	/* records of types CONN..CLOSE received */
static unsigned closes_rx, acks_rx;
static unsigned acks_eacces, acks_refused; /* CONN_ACKs with those values */
static struct skiff_fab *g_fab;

static int genuine_after(struct skiff_fab *f, uint32_t id, uint16_t sp,
			 uint16_t node, uint16_t port);

static struct cx *cx_of(uint32_t id)
{
	for (int i = 0; i < CX_MAX; i++)
		if (cx[i].id == id)
			return &cx[i];
	return NULL;
}

static void on_rx(void *arg, int src, const void *buf, size_t len)
{
	struct skiff_link_msg m;
	struct cx *c;

	(void)arg;
	(void)src;
	if (skiff_link_decode(buf, len, &m) < 0)
		return;
	switch (m.hdr.type) {
	case SKIFF_LINK_HELLO_ACK:
		if (m.body.ctl.from_index == to && m.body.ctl.peer_boot == boot) {
			acked = 1;
			dboot = m.body.ctl.boot;
		}
		return;
	case SKIFF_LINK_HELLO:
		if (m.body.hello.from_index == to)
			dboot_seen = m.body.hello.boot;
		return;
	case SKIFF_LINK_CONN_ACK:
	case SKIFF_LINK_DATA:
	case SKIFF_LINK_CREDIT:
	case SKIFF_LINK_CLOSE:
	case SKIFF_LINK_CONN:
		relayed_rx++;
		break;
	default:
		return;
	}
	if (m.hdr.type == SKIFF_LINK_CONN)
		return;
	if (m.hdr.type == SKIFF_LINK_CLOSE)
		closes_rx++;
	if (m.hdr.type == SKIFF_LINK_CONN_ACK) {
		acks_rx++;
		acks_eacces += m.body.cx.value == EACCES;
		acks_refused += m.body.cx.value == ECONNREFUSED;
	}
	c = cx_of(m.body.cx.id);
	if (!c)
		return;
	switch (m.hdr.type) {
	case SKIFF_LINK_CONN_ACK:
		c->acked = 1;
		c->peer_id = m.body.cx.peer_id;
		c->value = m.body.cx.value;
		break;
	case SKIFF_LINK_DATA: {
		uint32_t n = m.body.cx.value;

		if (n > sizeof(c->data) - c->dlen)
			n = (uint32_t)(sizeof(c->data) - c->dlen);
		memcpy(c->data + c->dlen, m.body.data.data, n);
		c->dlen += n;
		break;
	}
	case SKIFF_LINK_CLOSE:
		c->closed = 1;
		break;
	default:
		break;
	}
}

static void send_ctl(struct skiff_fab *f, uint16_t type);
static void send_cx(struct skiff_fab *f, uint16_t type, uint32_t id,
		    uint32_t peer_id, uint32_t value);

/* Progress until @done or @ms pass; sleeps on the wait fd if it has one. */
static void run_until(struct skiff_fab *f, int *done, int ms)
{
	int64_t end = now_ms() + ms;

	while (!(done && *done) && now_ms() < end) {
		struct pollfd p = { .fd = skiff_fab_wait_fd(f), .events = POLLIN };
		int t;

		skiff_fab_progress(f, on_rx, NULL);
		/* a linked host is one that keeps talking */
		if (linked && now_ms() - last_beat >= 400)
			send_ctl(f, SKIFF_LINK_HEARTBEAT);
		if (!done && !skiff_fab_pending(f))
			return;
		t = skiff_fab_timeout(f);
		if (t < 0 || t > 50)
			t = 50; /* heartbeats, and deadlines */
		poll(&p, p.fd >= 0 ? 1 : 0, t);
	}
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64: reproducible, no need for quality */
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Send, waiting while the endpoint has too much in flight. */
static void send_paced(struct skiff_fab *f, unsigned to, const void *buf,
		       size_t len)
{
	int64_t end = now_ms() + 2000;

	while (skiff_fab_send(f, to, buf, len) == -EAGAIN && now_ms() < end) {
		skiff_fab_progress(f, on_rx, NULL);
		poll(NULL, 0, 1);
	}
}

/* A HELLO that decodes, with a credential munged cannot decode. */
static size_t forged_hello(struct skiff_link_msg *m, const char *fabric,
			   const struct skiff_fhost *from, unsigned from_index,
			   const struct skiff_fhost *to)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789+/";
	struct skiff_link_hello *h = &m->body.hello;
	size_t len = skiff_link_init(m, SKIFF_LINK_HELLO);
	unsigned n = 40 + (unsigned)(rnd() % 200);

	snprintf(h->fabric, sizeof(h->fabric), "%s", fabric);
	snprintf(h->from, sizeof(h->from), "%s", from->name);
	snprintf(h->to, sizeof(h->to), "%s", to->name);
	h->from_index = (uint16_t)from_index;
	h->first = from->first;
	h->last = from->last;
	h->flags = SKIFF_LINK_WANT_HELLO;
	h->boot = rnd() | 1;
	memcpy(h->cred, "MUNGE:", 6);
	for (unsigned i = 6; i < n; i++)
		h->cred[i] = b64[rnd() % 64];
	h->cred[n] = ':';
	h->cred_len = n + 1;
	return len;
}

static int flood(struct skiff_fab *f, unsigned n, const char *fabric,
		 unsigned me, unsigned to)
{
	unsigned spoof = conf.nhosts;
	struct skiff_link_msg m;
	unsigned char raw[SKIFF_LINK_MSG_MAX + 32];

	for (unsigned i = 0; i < conf.nhosts; i++)
		if (i != me && i != to) {
			spoof = i;
			break;
		}
	for (unsigned k = 0; k < n; k++) {
		size_t len;

		switch (k % 5) {
		case 0: /* noise */
			len = 1 + rnd() % sizeof(raw);
			for (size_t i = 0; i < len; i++)
				raw[i] = (unsigned char)rnd();
			send_paced(f, to, raw, len);
			break;
		case 1: /* a HELLO header, a random body */
			len = skiff_link_init(&m, SKIFF_LINK_HELLO);
			for (size_t i = 0; i < sizeof(m.body.hello); i++)
				((unsigned char *)&m.body)[i] = (unsigned char)rnd();
			send_paced(f, to, &m, len);
			break;
		case 2: /* this host, a forged credential */
			len = forged_hello(&m, fabric, &conf.host[me], me,
					   &conf.host[to]);
			send_paced(f, to, &m, len);
			break;
		case 3: /* another host's name, from here */
			if (spoof == conf.nhosts)
				break;
			len = forged_hello(&m, fabric, &conf.host[spoof], spoof,
					   &conf.host[to]);
			send_paced(f, to, &m, len);
			break;
		default: { /* its heartbeats, goodbyes, acks */
			static const uint16_t t[] = { SKIFF_LINK_HEARTBEAT,
						      SKIFF_LINK_BYE,
						      SKIFF_LINK_HELLO_ACK };

			if (spoof == conf.nhosts)
				break;
			len = skiff_link_init(&m, t[(k / 5) % 3]);
			m.body.ctl.from_index = (uint16_t)spoof;
			m.body.ctl.boot = rnd() | 1;
			m.body.ctl.peer_boot = rnd();
			send_paced(f, to, &m, len);
			break;
		}
		}
		skiff_fab_progress(f, on_rx, NULL);
	}
	run_until(f, NULL, 5000);
	printf("link_replay: %u hostile records sent\n", n);
	return 0;
}

/* ---- a linked host: --conn and --relayflood -------------------------------- */

static const char *g_fabric;
static struct skiff_auth *g_auth;
static int g_fails;

static void send_ctl(struct skiff_fab *f, uint16_t type)
{
	struct skiff_link_msg m;
	size_t len = skiff_link_init(&m, type);

	m.body.ctl.from_index = (uint16_t)me;
	m.body.ctl.boot = boot;
	m.body.ctl.peer_boot = dboot;
	last_beat = now_ms();
	send_paced(f, to, &m, len);
}

/* Link up with the daemon as a host of the file would: a genuine HELLO
 * (fresh credential each try), its HELLO_ACK, then ours for its boot id.
 * Records travel in order, so what follows the HELLO_ACK finds us up. */
static int link_up(struct skiff_fab *f)
{
	struct skiff_link_msg m;
	struct skiff_link_hello *h = &m.body.hello;
	size_t len = skiff_link_init(&m, SKIFF_LINK_HELLO);
	char why[512];

	snprintf(h->fabric, sizeof(h->fabric), "%s", g_fabric);
	snprintf(h->from, sizeof(h->from), "%s", conf.host[me].name);
	snprintf(h->to, sizeof(h->to), "%s", conf.host[to].name);
	h->from_index = (uint16_t)me;
	h->first = conf.host[me].first;
	h->last = conf.host[me].last;
	h->flags = SKIFF_LINK_WANT_HELLO;
	h->boot = boot;
	acked = 0;
	for (int tries = 0; tries < 10 && !acked; tries++) {
		if (skiff_auth_encode(g_auth, g_fabric, conf.host[me].name,
				      conf.host[to].name, boot, h->cred,
				      sizeof(h->cred), &h->cred_len, why,
				      sizeof(why)) < 0) {
			fprintf(stderr, "link_replay: %s\n", why);
			return -1;
		}
		send_paced(f, to, &m, len);
		run_until(f, &acked, 1000);
	}
	if (!acked)
		return -1;
	send_ctl(f, SKIFF_LINK_HELLO_ACK);
	linked = 1;
	printf("linked to host '%s' (its boot id %016llx)\n",
	       conf.host[to].name, (unsigned long long)dboot);
	return 0;
}

/* The payload relay.c binds into a CONN's credential. */
static void conn_payload(char *buf, size_t n, const struct skiff_link_conn *c)
{
	snprintf(buf, n, "skiff-conn/1 fabric=%s from=%s to=%s boot=%016llx "
		 "id=%u src=%u:%u dst=%u:%u uid=%u gid=%u", g_fabric,
		 conf.host[me].name, conf.host[to].name,
		 (unsigned long long)boot, c->id, c->src_node, c->src_port,
		 c->dst_node, c->dst_port, c->uid, c->gid);
}

/* A CONN with a genuine credential for exactly its fields. */
static size_t make_conn(struct skiff_link_msg *m, uint32_t id, uint16_t sn,
			uint16_t sp, uint16_t dn, uint16_t dp, uint32_t uid,
			uint32_t gid)
{
	struct skiff_link_conn *c = &m->body.conn;
	size_t len = skiff_link_init(m, SKIFF_LINK_CONN);
	char pl[512], why[256];

	c->from_index = (uint16_t)me;
	c->id = id;
	c->boot = boot;
	c->peer_boot = dboot;
	c->src_node = sn;
	c->src_port = sp;
	c->dst_node = dn;
	c->dst_port = dp;
	c->uid = uid;
	c->gid = gid;
	conn_payload(pl, sizeof(pl), c);
	if (skiff_auth_encode_text(g_auth, pl, c->cred, sizeof(c->cred),
				   &c->cred_len, why, sizeof(why)) < 0) {
		fprintf(stderr, "link_replay: %s\n", why);
		exit(2);
	}
	return len;
}

static struct cx *cx_new(uint32_t id)
{
	struct cx *c = cx_of(id);

	if (!c)
		c = cx_of(0);
	if (!c) {
		fprintf(stderr, "link_replay: too many connections\n");
		exit(2);
	}
	memset(c, 0, sizeof(*c));
	c->id = id;
	return c;
}

/* Send @m (a CONN of id @id) and wait up to @ms for its CONN_ACK: 1 and
 * the ack in *c, or 0 if none came. */
static int conn_ask(struct skiff_fab *f, struct skiff_link_msg *m, size_t len,
		    int ms, struct cx **out)
{
	struct cx *c = cx_new(m->body.conn.id);

	send_paced(f, to, m, len);
	run_until(f, &c->acked, ms);
	*out = c;
	return c->acked;
}

static void result(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void result(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf(ok ? "ok %s: " : "FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		g_fails++;
}

static const char *ack_str(const struct cx *c, char *b, size_t n)
{
	if (!c->acked)
		snprintf(b, n, "no answer");
	else if (c->value == 0)
		snprintf(b, n, "accepted (its id %u)", c->peer_id);
	else
		snprintf(b, n, "refused: %s", strerrorname_np((int)c->value) ?
			 strerrorname_np((int)c->value) : "?");
	return b;
}

/* A refusal with @err expected: checked and reported as @name. */
static void expect_refused(struct skiff_fab *f, const char *name,
			   struct skiff_link_msg *m, size_t len, int err)
{
	struct cx *c;
	char b[96];

	conn_ask(f, m, len, 5000, &c);
	result(c->acked && c->peer_id == 0 && c->value == (uint32_t)err, name,
	       "%s (want %s)", ack_str(c, b, sizeof(b)), strerrorname_np(err));
	if (c->acked && c->value == 0) /* do not leave it open */
		send_cx(f, SKIFF_LINK_CLOSE, c->peer_id, 0, 0);
}

static void send_cx(struct skiff_fab *f, uint16_t type, uint32_t id,
		    uint32_t peer_id, uint32_t value)
{
	struct skiff_link_msg m;
	size_t len = skiff_link_init(&m, type);

	m.body.cx.from_index = (uint16_t)me;
	m.body.cx.id = id;
	m.body.cx.boot = boot;
	m.body.cx.peer_boot = dboot;
	m.body.cx.peer_id = peer_id;
	m.body.cx.value = value;
	if (type == SKIFF_LINK_DATA)
		len = skiff_link_data_len(&m, value); /* zero payload */
	send_paced(f, to, &m, len);
}

/* DATA of @n bytes from @b on the daemon's connection @id. */
static void send_data(struct skiff_fab *f, uint32_t id, const void *b,
		      uint32_t n)
{
	struct skiff_link_msg m;
	size_t len;

	skiff_link_init(&m, SKIFF_LINK_DATA);
	m.body.cx.from_index = (uint16_t)me;
	m.body.cx.id = id;
	m.body.cx.boot = boot;
	m.body.cx.peer_boot = dboot;
	memcpy(m.body.data.data, b, n);
	len = skiff_link_data_len(&m, n);
	send_paced(f, to, &m, len);
}

/* A genuine connection from our (first node, @sp) to @dn:@dp; its ack. */
static struct cx *open_conn(struct skiff_fab *f, uint32_t id, uint16_t sp,
			    uint16_t dn, uint16_t dp, struct skiff_link_msg *m,
			    size_t *lenp)
{
	struct cx *c;
	size_t len = make_conn(m, id, conf.host[me].first, sp, dn, dp, 0, 0);

	if (lenp)
		*lenp = len;
	conn_ask(f, m, len, 10000, &c);
	return c;
}

static void put32le(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32le(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * --conn NODE PORT: CONN records against the daemon, a tests/xhost server
 * listening on its NODE:PORT. One line per check, "ok NAME: ..." or
 * "FAIL NAME: ...".
 */
static int conn_checks(struct skiff_fab *f, uint16_t node, uint16_t port)
{
	const struct skiff_fhost *hm = &conf.host[me], *ht = &conf.host[to];
	struct skiff_link_msg m, saved;
	size_t len, saved_len;
	struct cx *c;
	char b[96];
	uint16_t third = 0xffff; /* a node of neither host, if any */
	uint32_t peer;

	for (unsigned i = 0; i < conf.nhosts; i++)
		if (i != me && i != to) {
			third = conf.host[i].first;
			break;
		}
	if (link_up(f) < 0) {
		result(0, "link", "the daemon did not acknowledge our HELLO");
		return 1;
	}
	/* 1. the tool works: a genuine CONN is accepted, and carries bytes */
	c = open_conn(f, 101, 3000, node, port, &m, &len);
	result(c->acked && c->value == 0, "genuine", "CONN %u:3000 to %u:%u: %s",
	       hm->first, node, port, ack_str(c, b, sizeof(b)));
	saved = m;
	saved_len = len;
	if (c->acked && c->value == 0) {
		unsigned char hello[16] = { 0 };
		uint32_t n, p;

		peer = c->peer_id;
		put32le(hello, 1); /* xhost's OP_HELLO: the peer the server saw */
		send_data(f, peer, hello, sizeof(hello));
		c->dlen = 0;
		{
			int64_t end = now_ms() + 5000;

			while (c->dlen < 16 && now_ms() < end)
				run_until(f, NULL, 50);
		}
		n = c->dlen >= 16 ? get32le(c->data) : 0;
		p = c->dlen >= 16 ? get32le(c->data + 4) : 0;
		result(c->dlen >= 16 && n == hm->first && p == 3000, "bytes",
		       "the server saw %u:%u (%u reply bytes), want %u:3000",
		       n, p, c->dlen, hm->first);
		send_cx(f, SKIFF_LINK_CLOSE, peer, 0, 0);
	}
	/* 2. the very same record again: munged's replay cache */
	expect_refused(f, "replay", &saved, saved_len, EACCES);
	/* 3. a credential for other fields than the record's */
	len = make_conn(&m, 103, hm->first, 3003, node, (uint16_t)(port + 1), 0, 0);
	m.body.conn.dst_port = port; /* where a listener is */
	expect_refused(f, "tamper-dst_port", &m, len, EACCES);
	len = make_conn(&m, 104, hm->first, 3004, node, port, 65534, 65534);
	m.body.conn.uid = 0; /* root, after the credential said nobody */
	m.body.conn.gid = 0;
	expect_refused(f, "tamper-uid", &m, len, EACCES);
	len = make_conn(&m, 105, hm->first, 3005, node, port, 0, 0);
	m.body.conn.src_port = 3006;
	expect_refused(f, "tamper-src_port", &m, len, EACCES);
	len = make_conn(&m, 106, hm->first, 3007, node, port, 0, 0);
	m.body.conn.id = 107; /* another connection's id */
	expect_refused(f, "tamper-id", &m, len, EACCES);
	/* 4. nodes that are not ours to the receiver's (credentials genuine) */
	len = make_conn(&m, 108, ht->first, 3008, node, port, 0, 0);
	expect_refused(f, "src-receiver's-node", &m, len, ENODEV);
	if (third != 0xffff) {
		len = make_conn(&m, 109, third, 3009, node, port, 0, 0);
		expect_refused(f, "src-third-host's-node", &m, len, ENODEV);
		len = make_conn(&m, 110, hm->first, 3010, third, port, 0, 0);
		expect_refused(f, "dst-third-host's-node", &m, len, ENODEV);
	}
	len = make_conn(&m, 111, hm->first, 3011, hm->first, port, 0, 0);
	expect_refused(f, "dst-own-node", &m, len, ENODEV);
	/* 5. SCIF's reserved ports: root's only */
	len = make_conn(&m, 112, hm->first, 100, node, port, 65534, 65534);
	expect_refused(f, "lowport-nobody", &m, len, EACCES);
	c = open_conn(f, 113, 100, node, port, &m, &len);
	result(c->acked && c->value == 0, "lowport-root",
	       "CONN %u:100 as uid 0: %s", hm->first, ack_str(c, b, sizeof(b)));
	if (c->acked && c->value == 0)
		send_cx(f, SKIFF_LINK_CLOSE, c->peer_id, 0, 0);
	/* 6. a stale incarnation: dropped by the link, not answered */
	len = make_conn(&m, 114, hm->first, 3014, node, port, 0, 0);
	m.body.conn.boot = boot ^ 0x5a5a;
	conn_ask(f, &m, len, 1500, &c);
	result(!c->acked, "stale-boot", "%s (want no answer)",
	       ack_str(c, b, sizeof(b)));
	/* and the link still carries genuine connections */
	return genuine_after(f, 115, 3015, node, port);
}

/* A record of a connection (DATA, CREDIT, CLOSE, CONN_ACK) about @id,
 * with fields that decode, as @from_index with these boot ids. */
static void hostile_cx(struct skiff_fab *f, uint16_t from_index, uint64_t b,
		       uint64_t pb, uint32_t id)
{
	static const uint16_t types[] = { SKIFF_LINK_DATA, SKIFF_LINK_CREDIT,
					  SKIFF_LINK_CLOSE, SKIFF_LINK_CONN_ACK };
	struct skiff_link_msg m;
	uint16_t type = types[rnd() % 4];
	size_t len = skiff_link_init(&m, type);

	m.body.cx.from_index = from_index;
	m.body.cx.id = id ? id : 1;
	m.body.cx.boot = b;
	m.body.cx.peer_boot = pb;
	switch (type) {
	case SKIFF_LINK_DATA: {
		uint32_t n = 1 + (uint32_t)(rnd() % SKIFF_LINK_DATA_MAX);

		for (uint32_t i = 0; i < n; i += 8) {
			uint64_t v = rnd();

			memcpy(m.body.data.data + i, &v,
			       n - i < 8 ? n - i : 8);
		}
		len = skiff_link_data_len(&m, n);
		break;
	}
	case SKIFF_LINK_CREDIT: /* small, or the whole window */
		m.body.cx.value = rnd() % 2 ? SKIFF_LINK_WINDOW :
				  1 + (uint32_t)(rnd() % SKIFF_LINK_WINDOW);
		break;
	case SKIFF_LINK_CONN_ACK:
		if (rnd() % 2)
			m.body.cx.peer_id = (uint32_t)rnd() | 1;
		else
			m.body.cx.value = 1 + (uint32_t)(rnd() % 4095);
		break;
	default:
		break;
	}
	send_paced(f, to, &m, len);
}

/* An id that looks like the daemon's: slot + 1 | generation << 16. */
static uint32_t real_looking(void)
{
	return (uint32_t)(1 + rnd() % 16) | (uint32_t)(1 + rnd() % 8) << 16;
}

/* A CONN that decodes, with a credential munged cannot decode. */
static size_t forged_conn(struct skiff_link_msg *m, uint16_t dn, uint16_t dp)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789+/";
	struct skiff_link_conn *c = &m->body.conn;
	size_t len = skiff_link_init(m, SKIFF_LINK_CONN);
	unsigned n = 40 + (unsigned)(rnd() % 200);

	c->from_index = (uint16_t)me;
	c->id = (uint32_t)rnd() | 1;
	c->boot = boot;
	c->peer_boot = dboot;
	c->src_node = conf.host[me].first;
	c->src_port = (uint16_t)(1024 + rnd() % 60000);
	c->dst_node = dn;
	c->dst_port = dp;
	memcpy(c->cred, "MUNGE:", 6);
	for (unsigned i = 6; i < n; i++)
		c->cred[i] = b64[rnd() % 64];
	c->cred[n] = ':';
	c->cred_len = n + 1;
	return len;
}

/* The last check of a flood: a genuine CONN (our id @id, from port @sp)
 * to @node:@port is still accepted (then closed); PASS or FAIL with the
 * number of failed checks, and the exit status. */
static int genuine_after(struct skiff_fab *f, uint32_t id, uint16_t sp,
			 uint16_t node, uint16_t port)
{
	struct skiff_link_msg m;
	struct cx *c = open_conn(f, id, sp, node, port, &m, NULL);
	char b[96];

	result(c->acked && c->value == 0, "genuine-after", "%s",
	       ack_str(c, b, sizeof(b)));
	if (c->acked && c->value == 0)
		send_cx(f, SKIFF_LINK_CLOSE, c->peer_id, 0, 0);
	run_until(f, NULL, 200);
	printf(g_fails ? "FAIL: %d check(s)\n" : "PASS\n", g_fails);
	return g_fails ? 1 : 0;
}

/*
 * --relayflood N NODE PORT: first, not linked, N records of connections
 * (DATA, CREDIT, CLOSE, CONN_ACK, CONN) with the daemon's true boot id
 * (its HELLOs say it) and ours made up: nothing may come back. Then
 * linked (a genuine HELLO): abuse of our own connections to NODE:PORT
 * (a tests/xhost server), which the daemon must end, then N records
 * naming random and real-looking ids of the daemon's connections, and
 * CONNs with forged credentials.
 */
static int relay_flood(struct skiff_fab *f, unsigned n, uint16_t node,
		       uint16_t port)
{
	struct skiff_link_msg m;
	struct cx *c;
	unsigned b_index = conf.nhosts;
	char b[96];
	int64_t t0;

	for (unsigned i = 0; i < conf.nhosts; i++)
		if (i != me && i != to) {
			b_index = i;
			break;
		}
	/* 1. not linked: the daemon's boot id from its HELLOs */
	{
		int64_t end = now_ms() + 5000;

		while (!dboot_seen && now_ms() < end)
			run_until(f, NULL, 50);
	}
	result(dboot_seen != 0, "unlinked-boot", "the daemon's HELLO says its "
	       "boot id is %016llx", (unsigned long long)dboot_seen);
	dboot = dboot_seen;
	relayed_rx = 0;
	t0 = now_ms();
	for (unsigned k = 0; k < n; k++) {
		uint32_t id = k % 2 ? real_looking() : (uint32_t)rnd();

		if (k % 10 == 9) {
			size_t len = forged_conn(&m, node, port);

			if (k % 20 == 19)
				m.body.conn.peer_boot = rnd() | 1;
			send_paced(f, to, &m, len);
		} else if (k % 10 == 8 && b_index < conf.nhosts) {
			/* as the third host, with a made-up boot id */
			hostile_cx(f, (uint16_t)b_index, rnd() | 1, dboot, id);
		} else {
			hostile_cx(f, (uint16_t)me, k % 3 ? boot : rnd() | 1,
				   dboot, id);
		}
		skiff_fab_progress(f, on_rx, NULL);
	}
	run_until(f, NULL, 1000);
	result(relayed_rx == 0, "unlinked", "%u records in %lld ms (%u lost "
	       "on the way), %u answered", n, (long long)(now_ms() - t0),
	       skiff_fab_drops(f, to), relayed_rx);
	/* 2. linked */
	if (link_up(f) < 0) {
		result(0, "link", "the daemon did not acknowledge our HELLO");
		return 1;
	}
	/* our own connection, the server silent: DATA past the window */
	c = open_conn(f, 201, 4001, node, port, &m, NULL);
	result(c->acked && c->value == 0, "own-1", "%s", ack_str(c, b, sizeof(b)));
	if (c->acked && c->value == 0) {
		unsigned char silent[16] = { 0 };
		unsigned char junk[SKIFF_LINK_DATA_MAX];
		uint32_t peer = c->peer_id;
		unsigned sent = 0;

		put32le(silent, 5); /* xhost's OP_SILENT: the server reads no more */
		send_data(f, peer, silent, sizeof(silent));
		memset(junk, 0x5a, sizeof(junk));
		/* past the window and the ring into the server (64 KiB
		 * between hosts, SKIFF_RELAY_RING_SIZE), which the daemon
		 * fills and credits before the window holds anything: up to
		 * four windows, until the daemon ends it */
		for (unsigned i = 0; i < 4 * SKIFF_LINK_WINDOW / sizeof(junk) &&
				     !c->closed; i++) {
			send_data(f, peer, junk, sizeof(junk));
			sent += sizeof(junk);
			run_until(f, NULL, 20);
		}
		run_until(f, &c->closed, 3000);
		result(c->closed, "overrun", "%u bytes sent without credit: %s",
		       sent, c->closed ? "the daemon ended the connection" :
		       "no CLOSE within 3 s");
	}
	/* another: credit beyond the window */
	c = open_conn(f, 202, 4002, node, port, &m, NULL);
	result(c->acked && c->value == 0, "own-2", "%s", ack_str(c, b, sizeof(b)));
	if (c->acked && c->value == 0) {
		send_cx(f, SKIFF_LINK_CREDIT, c->peer_id, 0, SKIFF_LINK_WINDOW);
		run_until(f, &c->closed, 3000);
		result(c->closed, "overcredit", "a window's credit on a full "
		       "window: %s", c->closed ? "the daemon ended the "
		       "connection" : "no CLOSE within 3 s");
	}
	/* the flood */
	relayed_rx = closes_rx = acks_rx = 0;
	t0 = now_ms();
	for (unsigned k = 0; k < n; k++) {
		uint32_t id = k % 2 ? real_looking() : (uint32_t)rnd();

		if (k % 50 == 49) {
			size_t len = forged_conn(&m, node, port);

			send_paced(f, to, &m, len);
		} else {
			hostile_cx(f, (uint16_t)me, boot, dboot, id);
		}
		skiff_fab_progress(f, on_rx, NULL);
		if (now_ms() - last_beat >= 400)
			send_ctl(f, SKIFF_LINK_HEARTBEAT);
	}
	run_until(f, NULL, 1000);
	printf("linked: %u records in %lld ms (%u lost on the way so far); "
	       "back: %u CLOSE, %u CONN_ACK, %u in all\n", n,
	       (long long)(now_ms() - t0), skiff_fab_drops(f, to), closes_rx,
	       acks_rx, relayed_rx);
	/* and still a working link */
	return genuine_after(f, 203, 4003, node, port);
}

/*
 * --connflood N NODE PORT: linked, N CONNs with forged credentials to
 * NODE:PORT as fast as the link takes them (each costs the daemon a MUNGE
 * check): print how many were answered and how (EACCES: checked and
 * refused; ECONNREFUSED: refused unchecked, over the daemon's rate), then
 * check that a genuine CONN is still accepted.
 */
static int conn_flood(struct skiff_fab *f, unsigned n, uint16_t node,
		      uint16_t port)
{
	struct skiff_link_msg m;
	int64_t t0;

	if (link_up(f) < 0) {
		result(0, "link", "the daemon did not acknowledge our HELLO");
		return 1;
	}
	relayed_rx = closes_rx = acks_rx = 0;
	acks_eacces = acks_refused = 0;
	t0 = now_ms();
	for (unsigned k = 0; k < n; k++) {
		size_t len = forged_conn(&m, node, port);

		send_paced(f, to, &m, len);
		skiff_fab_progress(f, on_rx, NULL);
		if (now_ms() - last_beat >= 400)
			send_ctl(f, SKIFF_LINK_HEARTBEAT);
	}
	printf("connflood: %u forged CONNs sent in %lld ms\n", n,
	       (long long)(now_ms() - t0));
	/* their answers, as the daemon gets to them, until none came for
	 * 3 s (answers that do not fit its link to us are dropped: ours is a
	 * host that does not read fast enough) */
	{
		int64_t end = now_ms() + 30000, last = now_ms(), last_at = t0;
		unsigned seen = acks_rx;

		while (acks_rx < n && now_ms() < end && now_ms() - last < 3000) {
			run_until(f, NULL, 100);
			if (acks_rx != seen) {
				seen = acks_rx;
				last = last_at = now_ms();
			}
			if (now_ms() - last_beat >= 400)
				send_ctl(f, SKIFF_LINK_HEARTBEAT);
		}
		printf("connflood: %u answered, the last %lld ms after the "
		       "first CONN: %u EACCES (checked), %u ECONNREFUSED "
		       "(refused unchecked)\n", acks_rx,
		       (long long)(last_at - t0), acks_eacces, acks_refused);
	}
	result(acks_rx > 0 && acks_eacces + acks_refused == acks_rx, "answered",
	       "%u of %u CONNs answered, each EACCES or ECONNREFUSED", acks_rx, n);
	return genuine_after(f, 204, 4004, node, port);
}

int main(int argc, char **argv)
{
	struct skiff_fab_peer peers[SKIFF_FHOSTS_MAX];
	struct skiff_fab *f;
	struct skiff_auth *a;
	struct skiff_link_msg m;
	struct skiff_link_hello *h = &m.body.hello;
	const struct skiff_fhost *hm, *ht;
	char why[512];
	size_t len;
	int once = argc > 1 && strcmp(argv[1], "--once") == 0;
	unsigned nflood = 0, nrelay = 0, nconn = 0;
	int conn = 0, ret = 0;
	uint16_t cnode = 0, cport = 0;

	argv += once;
	argc -= once;
	if (argc > 2 && strcmp(argv[1], "--flood") == 0) {
		nflood = (unsigned)strtoul(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	} else if (argc > 3 && strcmp(argv[1], "--conn") == 0) {
		conn = 1;
		cnode = (uint16_t)strtoul(argv[2], NULL, 10);
		cport = (uint16_t)strtoul(argv[3], NULL, 10);
		argv += 3;
		argc -= 3;
	} else if (argc > 4 && strcmp(argv[1], "--connflood") == 0) {
		nconn = (unsigned)strtoul(argv[2], NULL, 10);
		cnode = (uint16_t)strtoul(argv[3], NULL, 10);
		cport = (uint16_t)strtoul(argv[4], NULL, 10);
		argv += 4;
		argc -= 4;
	} else if (argc > 4 && strcmp(argv[1], "--relayflood") == 0) {
		nrelay = (unsigned)strtoul(argv[2], NULL, 10);
		cnode = (uint16_t)strtoul(argv[3], NULL, 10);
		cport = (uint16_t)strtoul(argv[4], NULL, 10);
		argv += 4;
		argc -= 4;
	}
	if (argc != 6) {
		fprintf(stderr, "usage: link_replay [--once | --flood N | "
			"--conn NODE PORT | --relayflood N NODE PORT | "
			"--connflood N NODE PORT] "
			"FABRIC_FILE HOST TO FABRIC MUNGE_SOCKET\n");
		return 2;
	}
	if (skiff_fconf_load(argv[1], &conf, why, sizeof(why)) < 0) {
		fprintf(stderr, "link_replay: %s\n", why);
		return 2;
	}
	hm = skiff_fconf_find(&conf, argv[2]);
	ht = skiff_fconf_find(&conf, argv[3]);
	if (!hm || !ht || hm == ht) {
		fprintf(stderr, "link_replay: hosts not in the file\n");
		return 2;
	}
	me = (unsigned)(hm - conf.host);
	to = (unsigned)(ht - conf.host);
	for (unsigned i = 0; i < conf.nhosts; i++) {
		peers[i].addr = conf.host[i].addr;
		peers[i].port = conf.host[i].port;
	}
	if (skiff_fab_open(&f, hm->addr, hm->port, peers, conf.nhosts, why,
			   sizeof(why)) < 0) {
		fprintf(stderr, "link_replay: %s\n", why);
		return 2;
	}
	/* every exit from here closes what it opened (LeakSanitizer) */
	if (skiff_auth_open(&a, argv[5]) < 0) {
		fprintf(stderr, "link_replay: set-up failed\n");
		skiff_fab_close(f);
		return 2;
	}
	if (getrandom(&boot, sizeof(boot), 0) != sizeof(boot)) {
		fprintf(stderr, "link_replay: set-up failed\n");
		ret = 2;
		goto out;
	}
	boot |= 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_fabric = argv[4];
	g_auth = a;
	g_fab = f;
	if (conn) {
		ret = conn_checks(f, cnode, cport);
		goto out;
	}
	if (nrelay) {
		ret = relay_flood(f, nrelay, cnode, cport);
		goto out;
	}
	if (nconn) {
		ret = conn_flood(f, nconn, cnode, cport);
		goto out;
	}
	if (nflood) {
		ret = flood(f, nflood, argv[4], me, to);
		goto out;
	}
	len = skiff_link_init(&m, SKIFF_LINK_HELLO);
	snprintf(h->fabric, sizeof(h->fabric), "%s", argv[4]);
	snprintf(h->from, sizeof(h->from), "%s", hm->name);
	snprintf(h->to, sizeof(h->to), "%s", ht->name);
	h->from_index = (uint16_t)me;
	h->first = hm->first;
	h->last = hm->last;
	h->flags = 0;
	h->boot = boot;
	if (once) {
		int never = 0;

		if (skiff_auth_encode(a, argv[4], hm->name, ht->name, boot,
				      h->cred, sizeof(h->cred), &h->cred_len,
				      why, sizeof(why)) < 0) {
			fprintf(stderr, "link_replay: %s\n", why);
			ret = 2;
			goto out;
		}
		skiff_fab_send(f, to, &m, len);
		run_until(f, &never, 20000);
		goto out;
	}
	/* the genuine record, a fresh credential each try (a re-sent one
	 * would itself be a replay): the daemon must take it, else the
	 * replay proves nothing */
	for (int tries = 0; tries < 10 && !acked; tries++) {
		if (skiff_auth_encode(a, argv[4], hm->name, ht->name, boot,
				      h->cred, sizeof(h->cred), &h->cred_len,
				      why, sizeof(why)) < 0) {
			fprintf(stderr, "link_replay: %s\n", why);
			ret = 2;
			goto out;
		}
		skiff_fab_send(f, to, &m, len);
		run_until(f, &acked, 1000);
	}
	if (!acked) {
		fprintf(stderr, "link_replay: the genuine HELLO was not "
			"acknowledged\n");
		ret = 1;
		goto out;
	}
	printf("link_replay: genuine HELLO acknowledged, sending it again\n");
	acked = 0;
	skiff_fab_send(f, to, &m, len);
	run_until(f, NULL, 2000);
out:
	skiff_fab_close(f);
	skiff_auth_close(a);
	return ret;
}
