/* SPDX-License-Identifier: MIT */
/*
 * poll_server.c - one thread serving many SCIF endpoints with scif_poll().
 *
 * A legacy-style SCIF program: it uses nothing but <scif.h> and -lscif.
 *
 * It listens on a port (2001 by default) and echoes back every byte each
 * client sends, without ever blocking: the listening endpoint and every
 * connected endpoint sit in one scif_poll() set.
 *   - POLLIN on the listening endpoint: a connection request is pending, so
 *     scif_accept() without SCIF_ACCEPT_SYNC will not block.
 *   - POLLIN on a connected endpoint: bytes are queued, so a non-blocking
 *     scif_recv() returns some.
 *   - POLLOUT on a connected endpoint: the send queue has room, so a
 *     non-blocking scif_send() sends some. It is asked for only while echo
 *     bytes wait in the client's buffer.
 *   - POLLHUP: the peer closed (bytes it sent before may still be queued).
 * With -P it calls poll() on the descriptors from scif_get_fd() instead:
 * endpoints are file descriptors, so poll(), select() and epoll work on them.
 *
 * It exits after serving -c clients (default 3; 0 = forever). hello_host is a
 * suitable client:  ./hello_host -N <this node> -p 2001
 *
 * usage: poll_server [-p port] [-c clients] [-P]
 */
#define _POSIX_C_SOURCE 200809L

#include <scif.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_PORT 2001
#define MAX_EPDS     64   /* the listener plus up to 63 clients */
#define BUF_LEN      4096 /* echo bytes held per client */

struct client {
	struct scif_portID peer;
	size_t len;        /* bytes waiting to be echoed */
	char buf[BUF_LEN];
};

static struct scif_pollepd set[MAX_EPDS]; /* set[0] is the listener */
static struct client *clients[MAX_EPDS];
static unsigned int nset;

static void die(const char *what)
{
	fprintf(stderr, "poll_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int parse_int(const char *s, int lo, int hi, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "poll_server: bad %s '%s' (%d..%d)\n", name, s,
			lo, hi);
		exit(2);
	}
	return (int)v;
}

/* Ask for POLLIN while there is room to receive, POLLOUT while bytes wait. */
static void update_events(unsigned int i)
{
	struct client *c = clients[i];

	set[i].events = 0;
	if (c->len < BUF_LEN)
		set[i].events |= POLLIN;
	if (c->len > 0)
		set[i].events |= POLLOUT;
}

static void drop_client(unsigned int i, const char *why)
{
	struct client *c = clients[i];

	printf("poll_server: client node %u port %u: %s\n",
	       (unsigned)c->peer.node, (unsigned)c->peer.port, why);
	if (scif_close(set[i].epd) < 0)
		die("scif_close");
	free(c);
	/* Fill the hole with the last entry. */
	nset--;
	set[i] = set[nset];
	clients[i] = clients[nset];
	clients[nset] = NULL;
}

static void accept_one(scif_epd_t lep)
{
	struct scif_portID peer;
	struct client *c;
	scif_epd_t epd;

	/* No SCIF_ACCEPT_SYNC: poll said a request is pending. */
	if (scif_accept(lep, &peer, &epd, 0) < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return; /* the connector gave up meanwhile */
		die("scif_accept");
	}
	if (nset == MAX_EPDS) {
		printf("poll_server: too many clients; refusing node %u port "
		       "%u\n", (unsigned)peer.node, (unsigned)peer.port);
		scif_close(epd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		die("calloc");
	c->peer = peer;
	set[nset].epd = epd;
	set[nset].revents = 0;
	clients[nset] = c;
	update_events(nset);
	nset++;
	printf("poll_server: accepted node %u port %u (%u client%s)\n",
	       (unsigned)peer.node, (unsigned)peer.port, nset - 1,
	       nset - 1 == 1 ? "" : "s");
}

/* Serve the ready client at set[i]; returns 1 if it was dropped (the last
 * entry then moves into slot i). */
static int serve_client(unsigned int i)
{
	struct client *c = clients[i];
	short rev = set[i].revents;
	int n;

	set[i].revents = 0;
	if (rev & (POLLERR | POLLNVAL)) {
		drop_client(i, "endpoint error");
		return 1;
	}
	if ((rev & POLLIN) && c->len < BUF_LEN) {
		/* Non-blocking: returns what is queued, possibly 0. */
		n = scif_recv(set[i].epd, c->buf + c->len,
			      (int)(BUF_LEN - c->len), 0);
		if (n < 0) {
			if (errno == ECONNRESET) {
				drop_client(i, "closed the connection");
				return 1;
			}
			die("scif_recv");
		}
		c->len += (size_t)n;
	}
	if (c->len > 0) {
		/* Non-blocking: sends what fits, possibly 0. */
		n = scif_send(set[i].epd, c->buf, (int)c->len, 0);
		if (n < 0) {
			if (errno == ECONNRESET) {
				drop_client(i, "closed the connection");
				return 1;
			}
			die("scif_send");
		}
		memmove(c->buf, c->buf + n, c->len - (size_t)n);
		c->len -= (size_t)n;
	}
	if ((rev & POLLHUP) && !(rev & POLLIN)) {
		/* Gone, and nothing more to read. */
		drop_client(i, "closed the connection");
		return 1;
	}
	update_events(i);
	return 0;
}

int main(int argc, char **argv)
{
	int port = DEFAULT_PORT, max_clients = 3, use_poll = 0, opt, bound;
	int seen = 0;
	uint16_t nodes[64], self;
	scif_epd_t lep;

	while ((opt = getopt(argc, argv, "p:c:Ph")) != -1) {
		switch (opt) {
		case 'p':
			port = parse_int(optarg, 1, 65535, "port");
			break;
		case 'c':
			max_clients = parse_int(optarg, 0, 1000000,
						"client count");
			break;
		case 'P':
			use_poll = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-p port] [-c clients] [-P]\n"
				"  -p  port to listen on (default %d)\n"
				"  -c  clients to serve, 0 = forever (default 3)\n"
				"  -P  use poll() on scif_get_fd() descriptors "
				"instead of scif_poll()\n", argv[0],
				DEFAULT_PORT);
			return opt == 'h' ? 0 : 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (scif_get_nodeIDs(nodes, 64, &self) < 0)
		die("scif_get_nodeIDs");
	lep = scif_open();
	if (lep == SCIF_OPEN_FAILED)
		die("scif_open");
	bound = scif_bind(lep, (uint16_t)port);
	if (bound < 0)
		die("scif_bind");
	if (scif_listen(lep, 16) < 0)
		die("scif_listen");
	set[0].epd = lep;
	set[0].events = POLLIN;
	nset = 1;
	printf("poll_server: listening on node %u port %d (%s)\n",
	       (unsigned)self, bound, use_poll ? "poll" : "scif_poll");

	for (;;) {
		unsigned int i, before;
		int n;

		if (max_clients > 0 && seen >= max_clients && nset == 1)
			break;
		if (use_poll) {
			struct pollfd pfd[MAX_EPDS];

			for (i = 0; i < nset; i++) {
				pfd[i].fd = scif_get_fd(set[i].epd);
				if (pfd[i].fd < 0)
					die("scif_get_fd");
				pfd[i].events = set[i].events;
				pfd[i].revents = 0;
			}
			n = poll(pfd, nset, -1);
			for (i = 0; n > 0 && i < nset; i++)
				set[i].revents = pfd[i].revents;
		} else {
			n = scif_poll(set, nset, -1); /* timeout in ms; -1: wait */
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die(use_poll ? "poll" : "scif_poll");
		}

		/* Clients first (dropping one moves the last into its slot). */
		for (i = nset - 1; i >= 1; i--) {
			if (set[i].revents != 0)
				serve_client(i);
		}
		if (set[0].revents & (POLLERR | POLLNVAL)) {
			errno = EIO;
			die("listening endpoint");
		}
		if (set[0].revents & POLLIN) {
			before = nset;
			if (max_clients == 0 || seen < max_clients) {
				accept_one(lep);
				if (nset > before)
					seen++;
			}
			/* Enough clients: stop asking about new ones. */
			if (max_clients > 0 && seen >= max_clients)
				set[0].events = 0;
		}
		set[0].revents = 0;
	}

	if (scif_close(lep) < 0)
		die("scif_close");
	printf("poll_server: served %d client%s; done\n", seen,
	       seen == 1 ? "" : "s");
	return 0;
}
