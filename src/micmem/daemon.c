/* SPDX-License-Identifier: MIT */
/* daemon.c - ask scifd for a card's device memory (PROTOCOL.md section 7). */
#define _GNU_SOURCE
#include "internal.h"
#include "names.h"
#include "nodeq.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* scifd answers at once; one that does not is treated as gone. */
#define MM_DAEMON_TIMEOUT_MS 2000
#define MM_MAX_FDS 4 /* room to receive (and close) unexpected extras */

static int connect_daemon(int *out)
{
	char fabric[SKIFF_FABRIC_MAX + 1];
	struct sockaddr_un sa;
	socklen_t sl;
	int fd;

	if (skiff_fabric(fabric) < 0)
		return -ENODEV; /* a malformed SCIF_FABRIC names no fabric */
	sl = skiff_daemon_addr(&sa, fabric);
	/* non-blocking: a stopped daemon with a full backlog must not hang */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sl) < 0) {
		int e = errno;

		close(fd);
		if (e == ENOMEM || e == ENOBUFS)
			return -ENOMEM;
		return -ENODEV; /* refused, no such name, backlog full */
	}
	/* anyone can bind the daemon's name: an impostor would read what we
	 * copy to "card memory", so only a daemon of root or ours serves */
	if (skiff_peer_entitled(fd) < 0) {
		close(fd);
		return -ENODEV;
	}
	*out = fd;
	return 0;
}

static int recv_reply(int fd, struct skiff_wire_msg *m, int *fds, int *nfds)
{
	char buf[sizeof(struct skiff_wire_msg) + 64];
	union {
		char b[CMSG_SPACE(MM_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	struct cmsghdr *c;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int r;

	*nfds = 0;
	do
		r = poll(&p, 1, MM_DAEMON_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r < 0 ? -errno : -ENODEV;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cb.b;
	mh.msg_controllen = sizeof(cb.b);
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return -ENODEV; /* end of file: the daemon went away */
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && *nfds < MM_MAX_FDS; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
	}
	if (mh.msg_flags & MSG_CTRUNC)
		return -EPROTO;
	return skiff_wire_decode(buf, (size_t)n, m);
}

int mm_board_node(uint32_t board, uint32_t *node, int *remote)
{
	char fabric[SKIFF_FABRIC_MAX + 1];
	struct skiff_node_info info;
	struct skiff_host_info *hosts;
	int r, n;

	if (skiff_fabric(fabric) < 0)
		return -ENODEV;
	/* board b is this host's card b: node FIRST + 1 + b, where FIRST is
	 * the host's own node (0 without a fabric file) */
	r = skiff_query_nodes(fabric, &info);
	if (r < 0)
		return r == -ENOMEM ? r : -ENODEV;
	*remote = 0;
	if (board < info.ncards) {
		*node = info.self_node + 1 + board;
		return 0;
	}
	/* then the other hosts' cards, in the fabric file's order (whether
	 * they are up or not, so that numbers do not move) */
	if (!(info.flags & SKIFF_NODE_INFO_HOSTS))
		return -ENODEV;
	hosts = calloc(SKIFF_HOSTS_MAX, sizeof(*hosts));
	if (!hosts)
		return -ENOMEM;
	n = skiff_query_hosts(fabric, hosts, SKIFF_HOSTS_MAX);
	r = -ENODEV;
	board -= info.ncards;
	for (int i = 0; i < n; i++) {
		const struct skiff_host_info *h = &hosts[i];
		uint32_t cards;

		if (h->state == SKIFF_HOST_SELF || h->last < h->first)
			continue;
		cards = (uint32_t)(h->last - h->first);
		if (board < cards) {
			if (skiff_node_bit(&info, h->first + 1 + board)) {
				*node = h->first + 1 + board;
				*remote = 1;
				r = 0;
			}
			break;
		}
		board -= cards;
	}
	free(hosts);
	return r;
}

int mm_card_mem(uint32_t node, int *memfd, uint64_t *size, int *sock)
{
	struct skiff_wire_msg q, m;
	int fds[MM_MAX_FDS], nfds = 0, fd = -1, r;
	struct stat st;

	if (node < 1 || node > SKIFF_MAX_NODE)
		return -ENODEV;
	r = connect_daemon(&fd);
	if (r < 0)
		return r;
	skiff_wire_init(&q, SKIFF_MSG_CARD_MEM_REQ);
	q.body.card_req.node = node;
	if (send(fd, &q, sizeof(q.hdr) + q.hdr.body_len, MSG_NOSIGNAL) < 0) {
		r = -ENODEV;
		goto out;
	}
	r = recv_reply(fd, &m, fds, &nfds);
	if (r < 0)
		goto out;
	r = -EPROTO;
	if (m.hdr.type != SKIFF_MSG_CARD_MEM || m.body.card.node != node)
		goto out;
	if (m.body.card.status != 0) {
		uint32_t s = m.body.card.status;

		r = (s == EPERM || s == ENODEV) ? -(int)s : -EPROTO;
		goto out;
	}
	/* exactly one descriptor: a sealed memfd of the announced size (an
	 * unsealed one could shrink under our mapping) */
	if (nfds != 1 || m.body.card.size == 0 || m.body.card.size % MM_PAGE ||
	    fstat(fds[0], &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != m.body.card.size ||
	    (fcntl(fds[0], F_GET_SEALS) & F_SEAL_SHRINK) == 0)
		goto out;
	*memfd = fds[0];
	nfds = 0;
	*size = m.body.card.size;
	if (sock) {
		*sock = fd;
		fd = -1;
	}
	r = 0;
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (fd >= 0)
		close(fd);
	if (r == -EPROTO || r == -ETIMEDOUT)
		r = -ENODEV; /* a daemon we cannot understand serves no card */
	return r;
}
