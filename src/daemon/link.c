/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "link.h"
#include "auth.h"
#include "fab.h"
#include "link_wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define LINK_TICK_MS 250	 /* timers are checked this often */
#define LINK_HEARTBEAT_MS 500	 /* a linked host hears from us this often */
#define LINK_DEAD_MS 3000	 /* silence after which a host is down */
#define LINK_RETRY_MS 1000	 /* a host that is down is greeted this often */
/* HELLOs checked per claimed host per second: each costs a round trip to
 * munged, so a flood must not keep the daemon busy. */
#define LINK_HELLO_RATE 4
/* The same refusal of the same host is logged at most this often, and
 * any refusal of one host at most once a second: what is refused is
 * unauthenticated, and must not be able to flood the log. */
#define LINK_LOG_REPEAT_MS 30000
#define LINK_LOG_MIN_MS 1000

struct lhost {
	uint64_t peer_boot; /* boot id of its last authenticated HELLO */
	int authed;	    /* we have an authenticated HELLO of peer_boot */
	int acked;	    /* it has acknowledged our HELLO of this boot */
	int up;
	int64_t last_rx;    /* last valid record of peer_boot */
	int64_t last_hello; /* our last HELLO to it */
	int64_t since;
	int64_t rate_start;
	unsigned rate_count;
	char why[160];	    /* last refusal logged, to not repeat it */
	int64_t why_ms;
};

struct skiff_links {
	const struct skiff_fconf *conf;
	unsigned self;
	char fabric[SKIFF_LINK_NAME_LEN];
	uint64_t boot;
	struct skiff_auth *auth;
	struct skiff_fab *fab;
	int64_t now;
	int64_t next_tick;
	int64_t next_heartbeat;
	char cred_why[160];
	int64_t cred_why_ms;
	struct lhost h[SKIFF_FHOSTS_MAX];
	const struct skiff_link_sink *sink; /* relayed connections (relay.c) */
	void *sink_arg;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *hname(const struct skiff_links *l, unsigned i)
{
	return l->conf->host[i].name;
}

/* One line per refusal, not one per retry: a peer retries every second. */
static void refuse(struct skiff_links *l, int idx, const char *fmt, ...)
{
	char line[160];
	va_list ap;
	struct lhost *h = idx >= 0 ? &l->h[idx] : NULL;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (h && h->why_ms && (l->now - h->why_ms < LINK_LOG_MIN_MS ||
			       (strcmp(h->why, line) == 0 &&
				l->now - h->why_ms < LINK_LOG_REPEAT_MS)))
		return;
	if (h) {
		snprintf(h->why, sizeof(h->why), "%s", line);
		h->why_ms = l->now;
	}
	fprintf(stderr, "scifd: %s\n", line);
}

static void set_up(struct skiff_links *l, unsigned i, const char *why_down)
{
	struct lhost *h = &l->h[i];
	int up = h->authed && h->acked;
	const struct skiff_fhost *fh = &l->conf->host[i];

	if (up == h->up)
		return;
	h->up = up;
	h->since = l->now;
	/* its connections end with the link that carried them */
	if (!up && l->sink)
		l->sink->host_down(l->sink_arg, i);
	if (up && l->sink && l->sink->host_up)
		l->sink->host_up(l->sink_arg, i);
	if (up) {
		h->why[0] = '\0'; /* a later refusal is news again */
		if (fh->first == fh->last)
			fprintf(stderr, "scifd: host '%s' up (node %u)\n",
				fh->name, fh->first);
		else
			fprintf(stderr, "scifd: host '%s' up (nodes %u-%u)\n",
				fh->name, fh->first, fh->last);
	} else {
		fprintf(stderr, "scifd: host '%s' down: %s\n", fh->name,
			why_down);
	}
}

static void set_down(struct skiff_links *l, unsigned i, const char *why)
{
	l->h[i].authed = 0;
	l->h[i].acked = 0;
	set_up(l, i, why);
}

static void send_ctl(struct skiff_links *l, unsigned i, uint16_t type)
{
	struct skiff_link_msg m;
	size_t len = skiff_link_init(&m, type);

	m.body.ctl.from_index = (uint16_t)l->self;
	m.body.ctl.boot = l->boot;
	m.body.ctl.peer_boot = l->h[i].peer_boot;
	/* fire and forget: a record lost to a stuck link is what the
	 * timers are for */
	(void)skiff_fab_send(l->fab, i, &m, len);
}

static void send_hello(struct skiff_links *l, unsigned i)
{
	const struct skiff_fhost *me = &l->conf->host[l->self];
	struct skiff_link_msg m;
	size_t len = skiff_link_init(&m, SKIFF_LINK_HELLO);
	struct skiff_link_hello *h = &m.body.hello;
	char why[128];

	l->h[i].last_hello = l->now;
	snprintf(h->fabric, sizeof(h->fabric), "%s", l->fabric);
	snprintf(h->from, sizeof(h->from), "%s", me->name);
	snprintf(h->to, sizeof(h->to), "%s", hname(l, i));
	h->from_index = (uint16_t)l->self;
	h->first = me->first;
	h->last = me->last;
	h->flags = l->h[i].authed ? 0 : SKIFF_LINK_WANT_HELLO;
	h->boot = l->boot;
	if (skiff_auth_encode(l->auth, l->fabric, me->name, hname(l, i),
			      l->boot, h->cred, sizeof(h->cred), &h->cred_len,
			      why, sizeof(why)) < 0) {
		/* munged down, say: nothing to send, retried in a second */
		if (strcmp(why, l->cred_why) != 0 ||
		    l->now - l->cred_why_ms >= LINK_LOG_REPEAT_MS) {
			fprintf(stderr, "scifd: cannot greet host '%s': %s\n",
				hname(l, i), why);
			snprintf(l->cred_why, sizeof(l->cred_why), "%s", why);
			l->cred_why_ms = l->now;
		}
		return;
	}
	(void)skiff_fab_send(l->fab, i, &m, len);
}

/* The claimed sender of a decoded record, or -1 if it cannot be one. */
static int sender(struct skiff_links *l, int src, unsigned idx)
{
	if (idx >= l->conf->nhosts || idx == l->self)
		return -1;
	/* the provider knows where it came from: it must be that host */
	if (src >= 0 && (unsigned)src != idx)
		return -1;
	return (int)idx;
}

static void on_hello(struct skiff_links *l, int src,
		     const struct skiff_link_hello *m)
{
	const struct skiff_fhost *me = &l->conf->host[l->self];
	const struct skiff_fhost *fh;
	struct lhost *h;
	char why[160];
	int i = sender(l, src, m->from_index);

	if (i < 0)
		return; /* not a host of ours: not worth a line each */
	fh = &l->conf->host[i];
	h = &l->h[i];
	if (strcmp(m->from, fh->name) != 0) {
		refuse(l, i, "refused a HELLO as host %u ('%s') naming itself "
		       "'%s'", (unsigned)i, fh->name, m->from);
		return;
	}
	if (strcmp(m->fabric, l->fabric) != 0) {
		refuse(l, i, "refused host '%s': fabric '%s', not '%s'",
		       fh->name, m->fabric, l->fabric);
		return;
	}
	if (strcmp(m->to, me->name) != 0) {
		refuse(l, i, "refused host '%s': its HELLO is for host '%s'",
		       fh->name, m->to);
		return;
	}
	if (m->first != fh->first || m->last != fh->last) {
		refuse(l, i, "refused host '%s': it owns nodes %u-%u, the "
		       "fabric file says %u-%u (different files?)", fh->name,
		       m->first, m->last, fh->first, fh->last);
		return;
	}
	if (l->now - h->rate_start >= 1000) {
		h->rate_start = l->now;
		h->rate_count = 0;
	}
	if (++h->rate_count > LINK_HELLO_RATE)
		return;
	if (skiff_auth_check(l->auth, m->cred, m->cred_len, l->fabric,
			     m->from, m->to, m->boot, why, sizeof(why)) < 0) {
		refuse(l, i, "refused host '%s': %s", fh->name, why);
		return;
	}
	if (h->authed && h->peer_boot != m->boot)
		set_down(l, (unsigned)i, "restarted (new boot id)");
	else if (h->up && (m->flags & SKIFF_LINK_WANT_HELLO))
		/* it timed us out (we were stopped, say) and dropped every
		 * connection with us: so do we, or ours would wait for it
		 * forever. Records keep their order: this HELLO was sent
		 * after anything of the link it dropped. */
		set_down(l, (unsigned)i, "it had dropped us");
	h->peer_boot = m->boot;
	h->authed = 1;
	h->last_rx = l->now;
	send_ctl(l, (unsigned)i, SKIFF_LINK_HELLO_ACK);
	/* it lacks ours, or we lack its acknowledgement: answer with a
	 * HELLO now instead of at the next retry (no loop: ours then
	 * carries no WANT_HELLO, and a HELLO without it is only acked) */
	if ((m->flags & SKIFF_LINK_WANT_HELLO) || !h->acked)
		send_hello(l, (unsigned)i);
	set_up(l, (unsigned)i, "");
}

static void on_ctl(struct skiff_links *l, int src, uint16_t type,
		   const struct skiff_link_ctl *c)
{
	int i = sender(l, src, c->from_index);
	struct lhost *h;

	if (i < 0)
		return;
	h = &l->h[i];
	/* only records of the incarnation we authenticated, about us */
	if (!h->authed || c->boot != h->peer_boot || c->peer_boot != l->boot)
		return;
	h->last_rx = l->now;
	switch (type) {
	case SKIFF_LINK_HELLO_ACK:
		h->acked = 1;
		set_up(l, (unsigned)i, "");
		break;
	case SKIFF_LINK_BYE:
		set_down(l, (unsigned)i, "it said goodbye");
		break;
	default:
		break;
	}
}

/* A record of a relayed connection: only from a host that is up, of the
 * incarnation we authenticated, about ours; then it is the relay's. */
static void on_relayed(struct skiff_links *l, int src, const struct skiff_link_msg *m)
{
	/* CONN and the others share the first fields' layout */
	const struct skiff_link_cx *c = &m->body.cx;
	int i = sender(l, src, c->from_index);
	struct lhost *h;

	if (i < 0 || !l->sink)
		return;
	h = &l->h[i];
	if (!h->up || c->boot != h->peer_boot || c->peer_boot != l->boot)
		return;
	h->last_rx = l->now; /* a busy link needs no heartbeat to live */
	l->sink->record(l->sink_arg, (unsigned)i, m);
}

static void on_rx(void *arg, int src, const void *buf, size_t len)
{
	struct skiff_links *l = arg;
	struct skiff_link_msg m;

	/* everything from the network is checked before use; what does not
	 * decode is dropped without an answer */
	if (skiff_link_decode(buf, len, &m) < 0)
		return;
	if (m.hdr.type == SKIFF_LINK_HELLO)
		on_hello(l, src, &m.body.hello);
	else if (m.hdr.type >= SKIFF_LINK_CONN)
		on_relayed(l, src, &m);
	else
		on_ctl(l, src, m.hdr.type, &m.body.ctl);
}

int skiff_links_open(struct skiff_links **out, const struct skiff_fconf *conf,
		     unsigned self, const char *fabric,
		     const char *munge_socket, char *why, size_t whylen)
{
	struct skiff_fab_peer peers[SKIFF_FHOSTS_MAX];
	struct skiff_links *l;
	int r;

	if (self >= conf->nhosts || strlen(fabric) >= SKIFF_LINK_NAME_LEN)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->conf = conf;
	l->self = self;
	snprintf(l->fabric, sizeof(l->fabric), "%s", fabric);
	/* a new id per start: peers tell a restarted daemon from a
	 * late record of the old one */
	do {
		if (getrandom(&l->boot, sizeof(l->boot), 0) != sizeof(l->boot)) {
			snprintf(why, whylen, "getrandom: %s", strerror(errno));
			free(l);
			return -EIO;
		}
	} while (l->boot == 0);
	r = skiff_auth_open(&l->auth, munge_socket);
	if (r < 0) {
		snprintf(why, whylen, "munge: %s", strerror(-r));
		free(l);
		return r;
	}
	for (unsigned i = 0; i < conf->nhosts; i++) {
		peers[i].addr = conf->host[i].addr;
		peers[i].port = conf->host[i].port;
	}
	r = skiff_fab_open(&l->fab, conf->host[self].addr,
			   conf->host[self].port, peers, conf->nhosts, why,
			   whylen);
	if (r < 0) {
		skiff_auth_close(l->auth);
		free(l);
		return r;
	}
	l->now = mono_ms();
	for (unsigned i = 0; i < conf->nhosts; i++) {
		l->h[i].since = l->now;
		/* greet everyone at the first tick */
		l->h[i].last_hello = l->now - LINK_RETRY_MS;
	}
	l->next_tick = l->now;
	l->next_heartbeat = l->now + LINK_HEARTBEAT_MS;
	*out = l;
	return 0;
}

void skiff_links_close(struct skiff_links *l)
{
	if (!l)
		return;
	skiff_fab_close(l->fab);
	skiff_auth_close(l->auth);
	free(l);
}

int skiff_links_fd(struct skiff_links *l)
{
	return skiff_fab_wait_fd(l->fab);
}

int skiff_links_timeout(struct skiff_links *l, int64_t now_ms)
{
	int64_t t = l->next_tick - now_ms;
	int f = skiff_fab_timeout(l->fab);

	if (t < 0)
		t = 0;
	/* the provider may need us sooner than the timers do */
	return f >= 0 && f < t ? f : (int)t;
}

static void tick(struct skiff_links *l)
{
	int beat = l->now >= l->next_heartbeat;

	if (beat)
		l->next_heartbeat = l->now + LINK_HEARTBEAT_MS;
	for (unsigned i = 0; i < l->conf->nhosts; i++) {
		struct lhost *h = &l->h[i];

		if (i == l->self)
			continue;
		if (h->authed && l->now - h->last_rx > LINK_DEAD_MS)
			set_down(l, i, "no record for 3 s");
		if (h->up) {
			if (beat)
				send_ctl(l, i, SKIFF_LINK_HEARTBEAT);
		} else if (l->now - h->last_hello >= LINK_RETRY_MS) {
			send_hello(l, i);
		}
	}
}

void skiff_links_run(struct skiff_links *l, int64_t now_ms)
{
	l->now = now_ms;
	if (skiff_fab_progress(l->fab, on_rx, l) < 0)
		fprintf(stderr, "scifd: libfabric completion queue failed\n");
	l->now = mono_ms(); /* checking credentials takes time */
	if (l->now >= l->next_tick) {
		l->next_tick = l->now + LINK_TICK_MS;
		tick(l);
	}
}

void skiff_links_bye(struct skiff_links *l, int wait_ms)
{
	int64_t end;

	l->now = mono_ms();
	for (unsigned i = 0; i < l->conf->nhosts; i++)
		if (i != l->self && l->h[i].up)
			send_ctl(l, i, SKIFF_LINK_BYE);
	/* sends complete asynchronously: progress them before the endpoint
	 * closes, but do not hang on a peer that does not take them */
	end = l->now + wait_ms;
	while (skiff_fab_pending(l->fab) && mono_ms() < end) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		(void)skiff_fab_progress(l->fab, on_rx, l);
		nanosleep(&ts, NULL);
	}
}

void skiff_links_online(const struct skiff_links *l, uint8_t map[32])
{
	for (unsigned i = 0; i < l->conf->nhosts; i++) {
		const struct skiff_fhost *fh = &l->conf->host[i];

		if (i != l->self && !l->h[i].up)
			continue;
		for (unsigned n = fh->first; n <= fh->last; n++)
			map[n / 8] |= (uint8_t)(1u << (n % 8));
	}
}

int skiff_links_host(const struct skiff_links *l, unsigned i,
		     struct skiff_link_host *out)
{
	if (i >= l->conf->nhosts)
		return -EINVAL;
	out->self = i == l->self;
	out->up = out->self || l->h[i].up;
	out->since_ms = l->h[i].since;
	return 0;
}

void skiff_links_set_sink(struct skiff_links *l,
			  const struct skiff_link_sink *sink, void *arg)
{
	l->sink = sink;
	l->sink_arg = arg;
}

int skiff_links_send(struct skiff_links *l, unsigned i,
		     struct skiff_link_msg *m, size_t len)
{
	struct skiff_link_cx *c = &m->body.cx;

	if (i >= l->conf->nhosts || i == l->self || !l->h[i].up)
		return -ENOTCONN;
	c->from_index = (uint16_t)l->self;
	c->boot = l->boot;
	c->peer_boot = l->h[i].peer_boot;
	return skiff_fab_send(l->fab, i, m, len);
}

unsigned skiff_links_room(struct skiff_links *l, unsigned i)
{
	if (i >= l->conf->nhosts || i == l->self || !l->h[i].up)
		return 0;
	return skiff_fab_room(l->fab, i);
}

unsigned skiff_links_drops(struct skiff_links *l, unsigned i)
{
	return skiff_fab_drops(l->fab, i);
}

int skiff_links_is_up(const struct skiff_links *l, unsigned i)
{
	return i < l->conf->nhosts && i != l->self && l->h[i].up;
}

uint64_t skiff_links_boot(const struct skiff_links *l, unsigned i)
{
	return i == l->self ? l->boot : l->h[i].peer_boot;
}

struct skiff_auth *skiff_links_auth(struct skiff_links *l)
{
	return l->auth;
}

struct skiff_fab *skiff_links_fab(struct skiff_links *l)
{
	return l->fab;
}
