/* SPDX-License-Identifier: MIT */
/*
 * link_replay - plays host HOST of a fabric file against the daemon of
 * host TO, for tests/netns.sh: sends one genuine HELLO (a fresh MUNGE
 * credential for this link), waits for the daemon's HELLO_ACK, then sends
 * the very same record again, as an attacker who captured it would. The
 * daemon must refuse the second one (munged: replayed credential); the test
 * reads that in its log.
 *
 *   link_replay [--once] FABRIC_FILE HOST TO FABRIC MUNGE_SOCKET
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
 * Uses scifd's own pieces (fab.c, auth.c, link_wire.c).
 */
#define _GNU_SOURCE
#include "auth.h"
#include "fab.h"
#include "fconf.h"
#include "link_wire.h"

#include <errno.h>
#include <poll.h>
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

static void on_rx(void *arg, int src, const void *buf, size_t len)
{
	struct skiff_link_msg m;

	(void)arg;
	(void)src;
	if (skiff_link_decode(buf, len, &m) == 0 &&
	    m.hdr.type == SKIFF_LINK_HELLO_ACK &&
	    m.body.ctl.from_index == to && m.body.ctl.peer_boot == boot)
		acked = 1;
}

/* Progress until @done or @ms pass; sleeps on the wait fd if it has one. */
static void run_until(struct skiff_fab *f, int *done, int ms)
{
	int64_t end = now_ms() + ms;

	while (!(done && *done) && now_ms() < end) {
		struct pollfd p = { .fd = skiff_fab_wait_fd(f), .events = POLLIN };
		int t;

		skiff_fab_progress(f, on_rx, NULL);
		if (!done && !skiff_fab_pending(f))
			return;
		t = skiff_fab_timeout(f);
		poll(&p, p.fd >= 0 ? 1 : 0, t < 0 ? 50 : t);
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
	unsigned nflood = 0;
	int ret = 0;

	argv += once;
	argc -= once;
	if (argc > 2 && strcmp(argv[1], "--flood") == 0) {
		nflood = (unsigned)strtoul(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	if (argc != 6) {
		fprintf(stderr, "usage: link_replay [--once | --flood N] "
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
