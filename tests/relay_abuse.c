/* SPDX-License-Identifier: MIT */
/*
 * relay_abuse - a hostile local process on the daemon's relay socket
 * (@skiff/<fabric>/relay, docs/PROTOCOL.md 9.2), for tests/netns.sh case
 * relaylocal. Raw SOCK_SEQPACKET sockets and handmade requests (wire.h,
 * names.h, region.h), as tests/test_hostile does on a port:
 *
 *   relay_abuse OWN_NODE OTHER_NODE PORT IDLE SECS
 *
 *   control   a well-formed request from a socket bound to OWN_NODE (this
 *             host's) for OTHER_NODE:PORT (another host's listener) is
 *             granted: the requests below differ from it in one thing
 *   foreign   the same from a socket bound to OTHER_NODE's name (another
 *             host's node), from an unbound socket, for a node of this
 *             host, for a node of nobody: each closed, never granted
 *   garbage   random bytes, an empty record, requests with no descriptor,
 *             an unsealed memfd, a pipe, three descriptors (a pipe, then
 *             good regions: the relay takes the first), a truncated
 *             header, 20 KiB of zeros, a bad ring size: each closed
 *             within 3 s
 *   hangup    200 connections closed at once after connecting
 *   idle      IDLE connections that never send, kept at IDLE for SECS
 *             (one the daemon closes is replaced), with "holding IDLE"
 *             printed once they are all there (a test makes a genuine
 *             connection meanwhile); the daemon must close each within
 *             5 s of its connect (it waits 1 s for a request)
 *
 * One line per check ("ok NAME: ..." or "FAIL NAME: ..."), then PASS;
 * exit 0 iff every check passed, 2 on bad usage. The fabric is
 * SCIF_FABRIC's. Every wait has a deadline.
 */
#define _GNU_SOURCE
#include "names.h"
#include "region.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RING 4096
#define IDLE_LIMIT_MS 5000 /* a silent connection is closed by then */

static const char *fabric;
static int fails;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	if (!ok)
		fails++;
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* A region as libscif makes one: sized, sealed (@seal 0: not). */
static int make_region(int seal)
{
	int fd = memfd_create("relay_abuse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct skiff_region_hdr *h;
	uint32_t size = skiff_region_size(RING);

	if (fd < 0 || ftruncate(fd, size) < 0)
		goto fail;
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		goto fail;
	h->magic = SKIFF_REGION_MAGIC;
	h->version = SKIFF_REGION_VERSION;
	h->ring_size = RING;
	h->region_size = size;
	munmap(h, size);
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			  F_SEAL_SEAL) < 0)
		goto fail;
	return fd;
fail:
	perror("relay_abuse: region");
	exit(2);
}

/* A socket connected to the relay, bound to (node, port) unless node < 0;
 * non-blocking; -1 if the relay's backlog is full (EAGAIN). */
static int relay_socket(int node, uint16_t port)
{
	struct sockaddr_un sa;
	socklen_t sl;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (s < 0) {
		perror("relay_abuse: socket");
		exit(2);
	}
	if (node >= 0) {
		sl = skiff_port_addr(&sa, fabric, (uint16_t)node, port);
		if (bind(s, (struct sockaddr *)&sa, sl) < 0) {
			fprintf(stderr, "relay_abuse: bind %d:%u: %s\n", node,
				port, strerror(errno));
			exit(2);
		}
	}
	sl = skiff_relay_addr(&sa, fabric);
	if (connect(s, (struct sockaddr *)&sa, sl) < 0) {
		if (errno == EAGAIN) {
			close(s);
			return -1;
		}
		fprintf(stderr, "relay_abuse: connect to the relay: %s\n",
			strerror(errno));
		exit(2);
	}
	return s;
}

/* Connect, retrying while the backlog is full, for up to 5 s. */
static int relay_socket_wait(int node, uint16_t port)
{
	int64_t end = now_ms() + 5000;
	int s;

	while ((s = relay_socket(node, port)) < 0 && now_ms() < end)
		poll(NULL, 0, 1);
	if (s < 0) {
		fprintf(stderr, "relay_abuse: the relay's backlog stays full\n");
		exit(2);
	}
	return s;
}

static int send_fds(int s, const void *buf, size_t len, const int *fds,
		    int nfds)
{
	struct iovec iov = { (void *)buf, len };
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	return (int)sendmsg(s, &mh, MSG_NOSIGNAL);
}

/* A connection request as libscif sends it (padded to the credit size). */
static unsigned char rec[SKIFF_CREDIT_BYTES];
static size_t build_req(uint16_t sn, uint16_t sp, uint16_t dn, uint16_t dp)
{
	struct skiff_wire_msg m;

	skiff_wire_init(&m, SKIFF_MSG_CONN_REQ);
	m.body.conn_req.src_node = sn;
	m.body.conn_req.src_port = sp;
	m.body.conn_req.dst_node = dn;
	m.body.conn_req.dst_port = dp;
	m.body.conn_req.ring_size = RING;
	m.body.conn_req.region_size = skiff_region_size(RING);
	m.body.conn_req.cookie = rnd();
	memset(rec, 0, sizeof(rec));
	memcpy(rec, &m, sizeof(m.hdr) + m.hdr.body_len);
	return sizeof(rec);
}

/* The relay's answer on @s within @ms: 1 a record (a grant), 0 closed,
 * -1 nothing. */
static int answer(int s, int ms)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	unsigned char b[256];
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -1;
	n = recv(s, b, sizeof(b), MSG_DONTWAIT);
	return n > 0 ? 1 : 0;
}

static const char *answer_str(int a)
{
	return a > 0 ? "granted" : a == 0 ? "closed" : "no answer";
}

/* A good request from @s; the answer within @ms. */
static int request(int s, uint16_t sn, uint16_t sp, uint16_t dn, uint16_t dp,
		   int ms)
{
	int fd = make_region(1), a;
	size_t len = build_req(sn, sp, dn, dp);

	if (send_fds(s, rec, len, &fd, 1) != (int)len) {
		close(fd);
		return 0; /* closed before we could ask */
	}
	close(fd);
	a = answer(s, ms);
	return a;
}

static void foreign(int own, int other, uint16_t port)
{
	int s, a;

	s = relay_socket_wait(own, 40001);
	a = request(s, (uint16_t)own, 40001, (uint16_t)other, port, 10000);
	result(a == 1, "control", "a request from %d:40001 for %d:%u: %s",
	       own, other, port, answer_str(a));
	close(s);
	s = relay_socket_wait(other, 40002);
	a = request(s, (uint16_t)other, 40002, (uint16_t)other, port, 3000);
	result(a == 0, "foreign-name", "from a socket bound to %d:40002 "
	       "(another host's node): %s", other, answer_str(a));
	close(s);
	s = relay_socket_wait(-1, 0);
	a = request(s, (uint16_t)own, 40003, (uint16_t)other, port, 3000);
	result(a == 0, "unbound", "from an unbound socket: %s", answer_str(a));
	close(s);
	s = relay_socket_wait(own, 40004);
	a = request(s, (uint16_t)own, 40004, (uint16_t)own, port, 3000);
	result(a == 0, "own-node", "for %d:%u (this host's node): %s", own,
	       port, answer_str(a));
	close(s);
	s = relay_socket_wait(own, 40005);
	a = request(s, (uint16_t)own, 40005, 250, port, 3000);
	result(a == 0, "nobody's-node", "for 250:%u: %s", port, answer_str(a));
	close(s);
}

enum { G_RANDOM, G_EMPTY, G_NOFD, G_UNSEALED, G_PIPE, G_THREEFDS,
       G_SHORT, G_ZEROS, G_BADRING, G_KINDS };
static const char *const gname[] = { "random bytes", "an empty record",
	"a request without descriptor", "an unsealed region", "a pipe",
	"three descriptors, a pipe first", "a truncated header", "20 KiB of zeros",
	"a ring size that is no power of two" };

static void garbage(int own, int other, uint16_t port)
{
	enum { N = 4 * G_KINDS };
	int s[N], closed = 0, notclosed[G_KINDS] = { 0 };
	int64_t end;

	for (int k = 0; k < N; k++) {
		int kind = k % G_KINDS, fds[3] = { -1, -1, -1 }, nfds = 0;
		size_t len = build_req((uint16_t)own, (uint16_t)(41000 + k),
				       (uint16_t)other, port);
		unsigned char junk[256];

		s[k] = relay_socket_wait(own, (uint16_t)(41000 + k));
		switch (kind) {
		case G_RANDOM:
			len = 1 + rnd() % sizeof(junk);
			for (size_t i = 0; i < len; i++)
				junk[i] = (unsigned char)rnd();
			send_fds(s[k], junk, len, NULL, 0);
			continue;
		case G_EMPTY:
			send_fds(s[k], junk, 0, NULL, 0);
			continue;
		case G_NOFD:
			break;
		case G_UNSEALED:
			fds[nfds++] = make_region(0);
			break;
		case G_PIPE: {
			int p[2];

			if (pipe(p) == 0) {
				fds[nfds++] = p[0];
				close(p[1]);
			}
			break;
		}
		case G_THREEFDS: { /* the one read first is not a region */
			int p[2];

			if (pipe(p) == 0) {
				fds[nfds++] = p[0];
				close(p[1]);
			}
			for (int i = 0; i < 2; i++)
				fds[nfds++] = make_region(1);
			break;
		}
		case G_SHORT:
			len = 8;
			break;
		case G_ZEROS:
			memset(rec, 0, sizeof(rec));
			break;
		case G_BADRING: {
			struct skiff_conn_req r;
			size_t at = sizeof(struct skiff_wire_hdr);

			memcpy(&r, rec + at, sizeof(r));
			r.ring_size = 6000;
			memcpy(rec + at, &r, sizeof(r));
			fds[nfds++] = make_region(1);
			break;
		}
		default:
			break;
		}
		send_fds(s[k], rec, len, fds, nfds);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	}
	end = now_ms() + 3000;
	for (int k = 0; k < N; k++) {
		int left = (int)(end - now_ms()), a;

		a = answer(s[k], left > 0 ? left : 0);
		if (a == 0)
			closed++;
		else
			notclosed[k % G_KINDS]++;
		close(s[k]);
	}
	for (int g = 0; g < G_KINDS; g++)
		if (notclosed[g])
			result(0, "garbage", "%s: %d of 4 not closed within 3 s "
			       "(or granted)", gname[g], notclosed[g]);
	result(closed == N, "garbage", "%d of %d closed within 3 s", closed, N);
}

static void hangup(int own)
{
	for (int k = 0; k < 200; k++)
		close(relay_socket_wait(k % 2 ? own : -1, (uint16_t)(42000 + k)));
	result(1, "hangup", "200 connections closed at once");
}

struct idle {
	int fd;
	int64_t since;
};

static void idle(int n, int secs)
{
	struct idle *c = calloc((size_t)n, sizeof(*c));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	int64_t end, drain, worst = 0;
	unsigned opened = 0, closed = 0, late = 0;
	int live = 0, said = 0;

	if (!c || !p)
		exit(2);
	for (int i = 0; i < n; i++)
		c[i].fd = -1;
	end = now_ms() + 1000LL * secs;
	/* keep n open until the end, then let the daemon close the rest */
	for (;;) {
		int64_t t = now_ms();
		int more = t < end, w;

		for (int i = 0; more && i < n; i++)
			if (c[i].fd < 0) {
				c[i].fd = relay_socket(-1, 0);
				if (c[i].fd < 0)
					break; /* backlog full: later */
				c[i].since = now_ms();
				opened++;
				live++;
			}
		if (!said && live == n) {
			printf("holding %d\n", n);
			fflush(stdout);
			said = 1;
		}
		if (!more && live == 0)
			break;
		for (int i = 0; i < n; i++) {
			p[i].fd = c[i].fd;
			p[i].events = POLLIN;
			p[i].revents = 0;
			if (c[i].fd >= 0 && t - c[i].since > IDLE_LIMIT_MS) {
				late++; /* the daemon forgot it: count, drop */
				close(c[i].fd);
				c[i].fd = -1;
				p[i].fd = -1;
				live--;
			}
		}
		w = poll(p, (nfds_t)n, 20);
		for (int i = 0; w > 0 && i < n; i++)
			if (c[i].fd >= 0 && p[i].revents) {
				int64_t life = now_ms() - c[i].since;

				if (life > worst)
					worst = life;
				close(c[i].fd);
				c[i].fd = -1;
				closed++;
				live--;
			}
		drain = end + IDLE_LIMIT_MS + 1000;
		if (now_ms() > drain)
			break; /* the late check above has counted them */
	}
	result(said, "idle-held", "%d silent connections at once", n);
	result(late == 0 && closed == opened, "idle", "%u opened in %d s, %u "
	       "closed by the daemon (the longest after %lld ms), %u still "
	       "open after %d ms", opened, secs, closed, (long long)worst,
	       late, IDLE_LIMIT_MS);
	free(c);
	free(p);
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	int own, other, n, secs;
	uint16_t port;

	if (argc != 6) {
		fprintf(stderr, "usage: relay_abuse OWN_NODE OTHER_NODE PORT "
			"IDLE SECS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	fabric = getenv("SCIF_FABRIC");
	if (!fabric || !*fabric)
		fabric = "default";
	own = atoi(argv[1]);
	other = atoi(argv[2]);
	port = (uint16_t)atoi(argv[3]);
	n = atoi(argv[4]);
	secs = atoi(argv[5]);
	if (n < 1 || n > 100000 || secs < 1)
		return 2;
	/* room for the silent connections */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	foreign(own, other, port);
	garbage(own, other, port);
	hangup(own);
	idle(n, secs);
	printf(fails ? "FAIL: %d check(s)\n" : "PASS\n", fails);
	return fails ? 1 : 0;
}
