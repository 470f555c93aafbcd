/* SPDX-License-Identifier: MIT */
/*
 * scifd - the skiff platform daemon.
 *
 * While it runs, cards 1..N of its fabric are online. It owns the fabric's
 * daemon name (an abstract AF_UNIX SOCK_SEQPACKET address, see names.c), so
 * the kernel guarantees one daemon per fabric and frees the name when the
 * daemon dies, however it dies. Clients (libscif, the scif CLI) connect,
 * send NODE_QUERY records and get NODE_INFO replies (docs/PROTOCOL.md).
 *
 * Each card has device memory: a sealed memfd created at start (so it is
 * zero) and owned by the daemon, so it outlives the programs that use it and
 * dies with the daemon. A CARD_MEM_REQ from a client running as the
 * daemon's effective user (SO_PEERCRED) is answered with the memfd attached;
 * anybody else gets EPERM and no descriptor (libmicmem, docs/PROTOCOL.md).
 *
 * With a fabric file (--config, --host) the daemon is one host of a fabric
 * spanning several: its nodes are the file's FIRST..LAST for that host, and
 * it links to the other hosts' daemons over libfabric with MUNGE
 * credentials (link.c, fab.c, auth.c; docs/PROTOCOL.md section 9), so
 * NODE_INFO lists every node online in the fabric.
 *
 * One thread, one poll() loop. Nothing a client sends or fails to read can
 * crash the daemon or make it block: malformed records and slow readers get
 * disconnected, and the number of clients is bounded.
 */
#define _GNU_SOURCE
#include "fconf.h"
#include "names.h"
#include "wire.h"
#ifdef SKIFF_HAVE_FABRIC
#include "link.h"
#include "relay.h"
#include "relay_ep.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef SKIFF_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#ifndef SKIFF_VERSION
#define SKIFF_VERSION "unknown"
#endif

#define SCIFD_MAX_CLIENTS 1024
/* Descriptors kept back for stdio, the listener, the signalfd and the one
 * accept() needs before it can evict. */
#define SCIFD_FD_SLACK 16
/* A query is 24 bytes. Anything past the buffer is padding, which the
 * protocol lets a receiver ignore; SOCK_SEQPACKET discards the rest of an
 * oversized record, so a big record cannot desynchronise the stream. */
#define SCIFD_RECV_BUF 256
/* At most this many accepts per loop turn, so a connect storm cannot starve
 * the clients already connected. */
#define SCIFD_ACCEPT_BURST 64
/* Back-off when accept() fails for lack of resources and nothing can be
 * evicted; otherwise poll() would report the listener readable forever. */
#define SCIFD_ACCEPT_PAUSE_MS 100
/* Device memory per card: default, and the limit of --card-mem (the memfd
 * is sparse: pages exist only once written). */
#define SCIFD_CARD_MEM_DEFAULT (256ull << 20)
#define SCIFD_CARD_MEM_MAX     (1ull << 40)
_Static_assert(SKIFF_HOSTS_MAX == SKIFF_FHOSTS_MAX, "HOST_INFO covers the file");

enum { PFD_SIGNAL, PFD_LISTEN, PFD_LINKS, PFD_RELAY, PFD_CLIENT0 };

struct scifd {
	char fabric[SKIFF_FABRIC_MAX + 1];
	unsigned ncards;
	unsigned self_node; /* this host's node; cards self_node+1..+ncards */
	struct skiff_fconf *conf; /* the fabric file, or NULL: one host */
#ifdef SKIFF_HAVE_FABRIC
	struct skiff_links *links;
	struct skiff_relay *relay; /* connections between hosts */
#endif
	uint32_t pid;
	uid_t owner;       /* effective uid: the only user given card memory */
	uint64_t card_mem; /* bytes of device memory per card */
	int card_fd[SKIFF_MAX_NODE + 1]; /* card_fd[n]: memfd of card node n */
	unsigned max_clients;
	unsigned nclients;
	/* pfd[PFD_CLIENT0 + i] and stamp[i] describe client i */
	struct pollfd pfd[PFD_CLIENT0 + SCIFD_MAX_CLIENTS];
	uint64_t stamp[SCIFD_MAX_CLIENTS]; /* last activity, for eviction */
	/* the client was given a card's memory: a micmem handle keeps this
	 * connection to notice the daemon going away, so evict it last */
	bool holds[SCIFD_MAX_CLIENTS];
	uint64_t tick;
	int64_t accept_paused_until; /* monotonic ms, 0: not paused */
};

static struct scifd D;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: scifd --cards N [--card-mem SIZE] [--fabric NAME] [--ready-fd FD]\n"
		"       scifd --config FILE --host NAME [--munge-socket PATH]\n"
		"             [--card-mem SIZE] [--fabric NAME] [--ready-fd FD]\n"
		"       scifd --version\n"
		"\n"
		"Bring SCIF cards 1..N of a skiff fabric online for as long as\n"
		"scifd runs (node 0, the host, is always online).\n"
		"\n"
		"  -c, --cards N      number of emulated cards, 0..%d\n"
		"  -m, --card-mem SIZE  device memory of each card: bytes, or with a\n"
		"                     K, M or G suffix (powers of 1024); a multiple of\n"
		"                     4096 up to 1T (default 256M). Zero at start.\n"
		"  -f, --fabric NAME  fabric to serve (default: $SCIF_FABRIC, else \"%s\")\n"
		"  -r, --ready-fd FD  write one byte to FD and close it once listening\n"
		"  -C, --config FILE  a fabric of several hosts (skiff-fabric(5)):\n"
		"                     bring host NAME's nodes online and link to\n"
		"                     the other hosts' daemons (libfabric, MUNGE)\n"
		"  -H, --host NAME    this host's line of the fabric file\n"
		"  -M, --munge-socket PATH  munged's socket (default: libmunge's)\n"
		"  -V, --version      show the version\n"
		"  -h, --help         show this help\n"
		"\n"
		"Runs in the foreground; SIGTERM or SIGINT stops it (exit 0), SIGHUP\n"
		"is logged and ignored. Under systemd (Type=notify) it reports\n"
		"READY=1 once the cards are online and STOPPING=1 when it stops.\n"
		"Exit 1 if the fabric already has a daemon or on error, 2 on bad usage.\n",
		SKIFF_MAX_NODE, SKIFF_FABRIC_DEFAULT);
}

/* Strict decimal: digits only, no sign, no blanks, no overflow. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* SIZE[K|M|G|T]: decimal, optional binary suffix, a nonzero multiple of
 * the page size, at most SCIFD_CARD_MEM_MAX. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return -EINVAL;
	}
	if (*end || v == 0 || v > (SCIFD_CARD_MEM_MAX >> shift))
		return -EINVAL;
	v <<= shift;
	if (v % 4096)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A fresh (hence zero) memfd of D.card_mem bytes per card, sealed so that
 * no client can shrink it under another's mapping (SIGBUS) or grow it. */
static int make_card_memory(void)
{
	for (unsigned n = D.self_node + 1; n <= D.self_node + D.ncards; n++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "skiff-card%u", n);
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		/* 0600: memfds start 0777, and the mode is what a re-open
		 * through /proc checks */
		if (fd < 0 || fchmod(fd, 0600) < 0 ||
		    ftruncate(fd, (off_t)D.card_mem) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			  F_SEAL_SEAL) < 0) {
			fprintf(stderr, "scifd: card %u memory: %s\n", n,
				strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		D.card_fd[n] = fd;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Room for every client if the hard limit allows: the default soft limit
 * (1024) is below SCIFD_MAX_CLIENTS plus our own descriptors. */
static unsigned plan_clients(void)
{
	struct rlimit rl;
	rlim_t want = SCIFD_MAX_CLIENTS + SCIFD_FD_SLACK;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want)
			? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return SCIFD_MAX_CLIENTS;
	if (rl.rlim_cur <= 2 * SCIFD_FD_SLACK)
		return SCIFD_FD_SLACK;
	return (unsigned)(rl.rlim_cur - SCIFD_FD_SLACK);
}

/* Signals arrive through a descriptor, so all work happens in the loop. */
static int open_signalfd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "scifd: signalfd: %s\n", strerror(errno));
		return -1;
	}
	return fd;
}

/* The name is taken: say by whom. Anyone can bind an abstract name, so
 * this may be an impostor rather than a daemon (docs/SECURITY.md). */
static void report_holder(const char *fabric, const struct sockaddr_un *sa,
			  socklen_t sl)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, sl) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	    len == sizeof(cr))
		fprintf(stderr, "scifd: fabric '%s' already has a daemon "
			"(pid %ld, uid %ld%s)\n", fabric, (long)cr.pid,
			(long)cr.uid, cr.uid == 0 || cr.uid == geteuid() ? "" :
			": another user, which clients of root and of other "
			"users ignore");
	else
		fprintf(stderr, "scifd: fabric '%s' already has a daemon\n",
			fabric);
	if (fd >= 0)
		close(fd);
}

static int open_listener(const char *fabric)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_daemon_addr(&sa, fabric);
	int fd;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "scifd: socket: %s\n", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sl) < 0) {
		/* The abstract name is the lock: it is taken exactly while
		 * another daemon of this fabric is alive. */
		if (errno == EADDRINUSE)
			report_holder(fabric, &sa, sl);
		else
			fprintf(stderr, "scifd: bind: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		fprintf(stderr, "scifd: listen: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void signal_ready(int fd)
{
	const char b = 'R';
	ssize_t n;

	do
		n = write(fd, &b, 1);
	while (n < 0 && errno == EINTR);
	/* A reader that went away is not our failure: keep serving. */
	if (n != 1)
		fprintf(stderr, "scifd: warning: ready-fd %d: %s\n", fd,
			n < 0 ? strerror(errno) : "short write");
	close(fd);
}

static void drop_client(unsigned i)
{
	unsigned last = D.nclients - 1;

	close(D.pfd[PFD_CLIENT0 + i].fd);
	/* Move the last client into the hole; its revents stay with it, so
	 * the caller can still serve it in this turn. */
	D.pfd[PFD_CLIENT0 + i] = D.pfd[PFD_CLIENT0 + last];
	D.stamp[i] = D.stamp[last];
	D.holds[i] = D.holds[last];
	D.nclients--;
}

/* Make room by dropping the client idle the longest. A well-behaved client
 * sends its query right after connecting and is answered at once, so only
 * idle connections are at risk; a flood of them cannot lock others out. */
static bool evict_idlest(void)
{
	unsigned victim = 0;

	if (D.nclients == 0)
		return false;
	for (unsigned i = 1; i < D.nclients; i++)
		if (D.holds[i] < D.holds[victim] ||
		    (D.holds[i] == D.holds[victim] &&
		     D.stamp[i] < D.stamp[victim]))
			victim = i;
	drop_client(victim);
	return true;
}

/* The effective uid of the process on the other end of @fd, or -1. */
static long peer_uid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    len != sizeof(cr))
		return -1;
	return (long)cr.uid;
}

/* Answer a CARD_MEM_REQ: the card's memfd to the owner's user, a refusal
 * to anyone else. Returns false if the client must be dropped. */
static bool serve_card_mem(unsigned i, const struct skiff_card_mem_req *q)
{
	int fd = D.pfd[PFD_CLIENT0 + i].fd;
	struct skiff_wire_msg r;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr mh;
	uint32_t status = 0;
	ssize_t n;

	if (q->flags != 0)
		return false; /* no flag is defined yet: see serve_client */
	if (q->node <= D.self_node || q->node > D.self_node + D.ncards)
		status = ENODEV; /* not one of this host's cards */
	else if (peer_uid(fd) != (long)D.owner)
		status = EPERM;

	skiff_wire_init(&r, SKIFF_MSG_CARD_MEM);
	r.body.card.node = q->node;
	r.body.card.status = status;
	r.body.card.size = status ? 0 : D.card_mem;
	iov.iov_base = &r;
	iov.iov_len = sizeof(r.hdr) + r.hdr.body_len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (status == 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &D.card_fd[q->node], sizeof(int));
		D.holds[i] = true;
	}
	n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n == (ssize_t)iov.iov_len;
}

/* Answer a HOST_QUERY: host @q->index of the fabric file and the state of
 * its link, or ENOENT. Returns false if the client must be dropped. */
static bool serve_host(unsigned i, const struct skiff_host_query *q)
{
	int fd = D.pfd[PFD_CLIENT0 + i].fd;
	struct skiff_host_msg r;
	ssize_t n;

	if (q->flags != 0)
		return false; /* no flag is defined yet: see serve_client */
	memset(&r, 0, sizeof(r));
	r.hdr.magic = SKIFF_WIRE_MAGIC;
	r.hdr.version = SKIFF_WIRE_VERSION;
	r.hdr.type = SKIFF_MSG_HOST_INFO;
	r.hdr.body_len = sizeof(r.body);
	r.body.status = ENOENT;
	r.body.index = (uint16_t)q->index;
#ifdef SKIFF_HAVE_FABRIC
	if (D.conf) {
		r.body.nhosts = (uint16_t)D.conf->nhosts;
		if (q->index < D.conf->nhosts) {
			const struct skiff_fhost *h = &D.conf->host[q->index];
			struct skiff_link_host st;

			skiff_links_host(D.links, q->index, &st);
			r.body.status = 0;
			r.body.first = h->first;
			r.body.last = h->last;
			r.body.port = h->port;
			r.body.state = st.self ? SKIFF_HOST_SELF :
				       st.up ? SKIFF_HOST_UP : SKIFF_HOST_DOWN;
			r.body.since_ms = (uint64_t)(now_ms() - st.since_ms);
			snprintf(r.body.name, sizeof(r.body.name), "%s",
				 h->name);
			snprintf(r.body.addr, sizeof(r.body.addr), "%s",
				 h->addr);
		}
	}
#endif
	n = send(fd, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL);
	return n == (ssize_t)sizeof(r);
}

/* Serve one record from client i. Returns false if it must be dropped. */
static bool serve_client(unsigned i)
{
	int fd = D.pfd[PFD_CLIENT0 + i].fd;
	unsigned char buf[SCIFD_RECV_BUF];
	struct skiff_wire_msg q, r;
	size_t len;
	ssize_t n;

	/* Without a control buffer the kernel discards (and closes) any
	 * descriptors a client attaches, so none can leak into us. */
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	if (n == 0)
		return false; /* end of file, or an empty record: both are done */
	if (skiff_wire_decode(buf, (size_t)n, &q) < 0)
		return false;
	if (q.hdr.type == SKIFF_MSG_CARD_MEM_REQ) {
		D.stamp[i] = ++D.tick;
		return serve_card_mem(i, &q.body.card_req);
	}
	if (q.hdr.type == SKIFF_MSG_HOST_QUERY) {
		D.stamp[i] = ++D.tick;
		return serve_host(i, &q.body.host_query);
	}
	if (q.hdr.type != SKIFF_MSG_NODE_QUERY)
		return false;
	/* No flag is defined yet: refuse any, so that a client relying on
	 * one learns that this daemon does not know it. */
	if (q.body.query.flags != 0 || q.body.query.reserved != 0)
		return false;
	D.stamp[i] = ++D.tick;

	skiff_wire_init(&r, SKIFF_MSG_NODE_INFO);
	r.body.info.ncards = D.ncards;
	r.body.info.daemon_pid = D.pid;
	r.body.info.card_mem = D.card_mem;
	r.body.info.self_node = (uint16_t)D.self_node;
#ifdef SKIFF_HAVE_FABRIC
	if (D.links) {
		r.body.info.flags = SKIFF_NODE_INFO_HOSTS;
		skiff_links_online(D.links, r.body.info.online);
	}
#endif
	for (unsigned n = D.self_node; n <= D.self_node + D.ncards; n++)
		r.body.info.online[n / 8] |= (uint8_t)(1u << (n % 8));
	len = sizeof(r.hdr) + r.hdr.body_len;
	/* Never wait for a client to read: one that lets replies pile up
	 * until our send buffer is full is dropped. */
	n = send(fd, &r, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n == (ssize_t)len;
}

static void accept_clients(int lfd)
{
	for (int k = 0; k < SCIFD_ACCEPT_BURST; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Free a descriptor and retry next turn, or
				 * back off if there is nobody to evict. */
				if (!evict_idlest())
					D.accept_paused_until =
						now_ms() + SCIFD_ACCEPT_PAUSE_MS;
				return;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Unexpected: report it, and back off rather
				 * than spin on a listener that stays ready. */
				fprintf(stderr, "scifd: accept: %s\n",
					strerror(errno));
				D.accept_paused_until =
					now_ms() + SCIFD_ACCEPT_PAUSE_MS;
			}
			return;
		}
		/* Evict only once someone is waiting: SCIFD_FD_SLACK leaves
		 * the descriptor this accept needed. */
		if (D.nclients >= D.max_clients)
			evict_idlest();
		D.pfd[PFD_CLIENT0 + D.nclients] =
			(struct pollfd){ .fd = fd, .events = POLLIN };
		D.stamp[D.nclients] = ++D.tick;
		D.holds[D.nclients] = false;
		D.nclients++;
	}
}

/* --config FILE --host NAME: this host's nodes come from the file. Returns
 * 0, or the exit status (2: bad usage or file). */
static int load_config(const char *config, const char *host,
		       const char *munge_socket, long cards)
{
	if (!config || !host) {
		fprintf(stderr, "scifd: --config and --host go together%s\n",
			munge_socket && (!config || !host) ?
			" (--munge-socket needs them)" : "");
		return 2;
	}
	if (cards >= 0) {
		fprintf(stderr, "scifd: --cards and --config exclude each "
			"other: the fabric file says which cards this host "
			"has\n");
		return 2;
	}
#ifndef SKIFF_HAVE_FABRIC
	fprintf(stderr, "scifd: --config: this scifd was built without "
		"libfabric and MUNGE (SKIFF_FABRIC=OFF): one host only\n");
	return 2;
#else
	char err[512];
	const struct skiff_fhost *h;

	D.conf = malloc(sizeof(*D.conf));
	if (!D.conf) {
		fprintf(stderr, "scifd: out of memory\n");
		return 1;
	}
	if (skiff_fconf_load(config, D.conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "scifd: %s\n", err);
		return 2;
	}
	h = skiff_fconf_find(D.conf, host);
	if (!h) {
		fprintf(stderr, "scifd: %s: no host '%s' in the file\n",
			config, host);
		return 2;
	}
	D.self_node = h->first;
	D.ncards = (unsigned)(h->last - h->first);
	return 0;
#endif
}

/* Returns the exit status. */
static int run(int sfd, int lfd)
{
	D.pfd[PFD_SIGNAL] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	D.pfd[PFD_LISTEN] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	/* poll() ignores a negative descriptor: no links, no entry */
	D.pfd[PFD_LINKS] = (struct pollfd){ .fd = -1, .events = POLLIN };
	D.pfd[PFD_RELAY] = (struct pollfd){ .fd = -1, .events = POLLIN };
#ifdef SKIFF_HAVE_FABRIC
	if (D.links)
		D.pfd[PFD_LINKS].fd = skiff_links_fd(D.links);
	if (D.relay)
		D.pfd[PFD_RELAY].fd = skiff_relay_fd(D.relay);
#endif

	for (;;) {
		int timeout = -1;
		int n;

		if (D.accept_paused_until) {
			int64_t left = D.accept_paused_until - now_ms();

			if (left <= 0) {
				D.accept_paused_until = 0;
			} else {
				timeout = (int)left;
			}
		}
		D.pfd[PFD_LISTEN].events = D.accept_paused_until ? 0 : POLLIN;
#ifdef SKIFF_HAVE_FABRIC
		if (D.links) {
			int t = skiff_links_timeout(D.links, now_ms());

			if (timeout < 0 || t < timeout)
				timeout = t;
			t = skiff_relay_timeout(D.relay, now_ms());
			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}
#endif

		n = poll(D.pfd, PFD_CLIENT0 + D.nclients, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "scifd: poll: %s\n", strerror(errno));
			return 1;
		}

		if (D.pfd[PFD_SIGNAL].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				/* Nothing to reload (the options are the
				 * command line): a hangup must not stop
				 * the cards, so say so and go on. */
				if (si.ssi_signo == SIGHUP)
					fprintf(stderr, "scifd: SIGHUP: nothing "
						"to reload, still serving\n");
				else
					return 0; /* SIGTERM or SIGINT */
			}
		}
#ifdef SKIFF_HAVE_FABRIC
		/* every turn, not only on POLLIN: the timers live there */
		if (D.links) {
			skiff_links_run(D.links, now_ms());
			skiff_relay_run(D.relay, now_ms());
		}
#endif

		/* drop_client() moves the last client into slot i, which is
		 * then served in turn, so i only advances past a kept one. */
		for (unsigned i = 0; i < D.nclients;) {
			short re = D.pfd[PFD_CLIENT0 + i].revents;
			bool keep = true;

			if (re & POLLIN)
				keep = serve_client(i);
			else if (re & (POLLHUP | POLLERR | POLLNVAL))
				keep = false;
			if (keep) {
				i++;
			} else {
				drop_client(i);
			}
		}

		/* After the clients: new ones have no revents this turn. */
		if (D.pfd[PFD_LISTEN].revents & POLLIN)
			accept_clients(lfd);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cards", required_argument, NULL, 'c' },
		{ "card-mem", required_argument, NULL, 'm' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'C' },
		{ "host", required_argument, NULL, 'H' },
		{ "munge-socket", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	long cards = -1;
	int ready_fd = -1;
	const char *fabric_arg = NULL;
	const char *config = NULL, *host = NULL, *munge_socket = NULL;
	sigset_t set;
	int opt, r, sfd, lfd, status;

	/* Block the stop signals first, so one arriving at any point from
	 * here on waits for the loop rather than killing us uncleanly. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* MSG_NOSIGNAL covers our sends; this covers the ready-fd write. */
	signal(SIGPIPE, SIG_IGN);

	while ((opt = getopt_long(argc, argv, "c:m:f:r:C:H:M:hV", opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (parse_uint(optarg, SKIFF_MAX_NODE, &v) < 0) {
				fprintf(stderr, "scifd: --cards: '%s' is not a "
					"number in 0..%d\n", optarg,
					SKIFF_MAX_NODE);
				return 2;
			}
			cards = (long)v;
			break;
		case 'm':
			if (parse_size(optarg, &D.card_mem) < 0) {
				fprintf(stderr, "scifd: --card-mem: '%s' is not "
					"a size: a nonzero multiple of 4096 up "
					"to 1T (suffix K, M, G or T)\n", optarg);
				return 2;
			}
			break;
		case 'f':
			fabric_arg = optarg;
			break;
		case 'r':
			if (parse_uint(optarg, INT_MAX, &v) < 0 ||
			    fcntl((int)v, F_GETFD) < 0) {
				fprintf(stderr, "scifd: --ready-fd: '%s' is not "
					"an open descriptor\n", optarg);
				return 2;
			}
			ready_fd = (int)v;
			break;
		case 'C':
			config = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 'M':
			munge_socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("scifd (skiff) %s\n", SKIFF_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "scifd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (config || host || munge_socket) {
		r = load_config(config, host, munge_socket, cards);
		if (r)
			return r;
		cards = D.ncards;
	}
	if (cards < 0) {
		fprintf(stderr, "scifd: --cards (or --config) is required\n");
		usage(stderr);
		return 2;
	}

	/* One validation rule for --fabric and SCIF_FABRIC: skiff_fabric()'s,
	 * so the daemon accepts exactly the names libscif does. */
	if (fabric_arg && (!*fabric_arg ||
			   setenv("SCIF_FABRIC", fabric_arg, 1) < 0)) {
		fprintf(stderr, "scifd: invalid fabric name '%s'\n", fabric_arg);
		return 2;
	}
	r = skiff_fabric(D.fabric);
	if (r < 0) {
		fprintf(stderr, "scifd: invalid fabric name '%s' (1..%d "
			"characters of A-Z a-z 0-9 . _ -)\n",
			fabric_arg ? fabric_arg : getenv("SCIF_FABRIC"),
			SKIFF_FABRIC_MAX);
		return 2;
	}
	D.ncards = (unsigned)cards;
	D.pid = (uint32_t)getpid();
	D.owner = geteuid();
	if (!D.card_mem)
		D.card_mem = SCIFD_CARD_MEM_DEFAULT;
	D.max_clients = plan_clients();

	sfd = open_signalfd();
	if (sfd < 0)
		return 1;
	lfd = open_listener(D.fabric);
	if (lfd < 0)
		return 1;
	/* after the listener: a second daemon of the fabric fails first */
	if (make_card_memory() < 0)
		return 1;
#ifdef SKIFF_HAVE_FABRIC
	if (D.conf) {
		char why[256];
		unsigned self = (unsigned)(skiff_fconf_find(D.conf, host) -
					   D.conf->host);

		r = skiff_links_open(&D.links, D.conf, self, D.fabric,
				     munge_socket, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "scifd: host '%s': %s\n", host, why);
			return 1;
		}
		/* the relay is libscif's peer for its processes' connections
		 * to other hosts: the library inside must not ask a daemon
		 * (this one) for its fabric and node */
		skiff_ctx_preset(D.fabric, (int)D.self_node);
		r = skiff_relay_open(&D.relay, D.links, D.conf, self, D.fabric,
				     why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "scifd: host '%s': %s\n", host, why);
			return 1;
		}
		/* micmem of other hosts' processes on our cards */
		skiff_relay_cards(D.relay, D.owner, &D.card_fd[D.self_node + 1],
				  D.ncards, D.card_mem);
		fprintf(stderr, "scifd: host '%s' (%s port %u), %u other "
			"host%s in the fabric file\n", host,
			D.conf->host[self].addr,
			(unsigned)D.conf->host[self].port,
			D.conf->nhosts - 1, D.conf->nhosts == 2 ? "" : "s");
	}
#endif

	if (D.conf)
		fprintf(stderr, "scifd: fabric '%s': node %u and %u card%s "
			"online, %llu %s of device memory each (pid %u)\n",
			D.fabric, D.self_node, D.ncards,
			D.ncards == 1 ? "" : "s",
			(unsigned long long)(D.card_mem % (1u << 20) ?
					     D.card_mem >> 10 : D.card_mem >> 20),
			D.card_mem % (1u << 20) ? "KiB" : "MiB",
			(unsigned)D.pid);
	else
		fprintf(stderr, "scifd: fabric '%s': %u card%s online, %llu %s "
			"of device memory each (pid %u)\n", D.fabric,
			D.ncards, D.ncards == 1 ? "" : "s",
			(unsigned long long)(D.card_mem % (1u << 20) ?
					     D.card_mem >> 10 : D.card_mem >> 20),
			D.card_mem % (1u << 20) ? "KiB" : "MiB",
			(unsigned)D.pid);
	if (ready_fd >= 0)
		signal_ready(ready_fd);
#ifdef SKIFF_HAVE_SYSTEMD
	/* A no-op unless a service manager asked for it (NOTIFY_SOCKET). */
	sd_notifyf(0, "READY=1\nSTATUS=fabric '%s': %u card%s online",
		   D.fabric, D.ncards, D.ncards == 1 ? "" : "s");
#endif

	status = run(sfd, lfd);
#ifdef SKIFF_HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
#ifdef SKIFF_HAVE_FABRIC
	if (D.links) {
		/* the other hosts drop our nodes now rather than in 3 s */
		skiff_relay_close(D.relay);
		skiff_links_bye(D.links, 200);
		skiff_links_close(D.links);
	}
#endif
	free(D.conf);

	while (D.nclients)
		drop_client(D.nclients - 1);
	close(lfd);
	close(sfd);
	for (unsigned n = D.self_node + 1; n <= D.self_node + D.ncards; n++)
		close(D.card_fd[n]);
	return status;
}
