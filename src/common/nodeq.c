/* SPDX-License-Identifier: MIT */
#include "nodeq.h"
#include "names.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The daemon answers at once; a daemon that does not is treated as gone
 * rather than letting scif_open hang. */
#define QUERY_TIMEOUT_MS 2000

int skiff_node_info_ok(const struct skiff_node_info *i)
{
	if (i->ncards > SKIFF_MAX_NODE ||
	    i->self_node + i->ncards > SKIFF_MAX_NODE ||
	    (i->flags & ~SKIFF_NODE_INFO_FLAGS) || i->reserved)
		return 0;
	/* the daemon's own nodes are online by definition */
	for (unsigned n = i->self_node; n <= i->self_node + i->ncards; n++)
		if (!skiff_node_bit(i, n))
			return 0;
	return 1;
}

int skiff_query_nodes(const char *fabric, struct skiff_node_info *out)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_daemon_addr(&sa, fabric);
	struct skiff_wire_msg q, r;
	char buf[sizeof(struct skiff_wire_msg) + 64];
	struct pollfd p;
	ssize_t n;
	int fd, ret;

	/* non-blocking: a stopped daemon with a full backlog must not hang
	 * scif_open */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sl) < 0) {
		if (errno == EAGAIN)
			ret = -ETIMEDOUT;
		else if (errno == ECONNREFUSED || errno == ENOENT)
			ret = -ENOENT;
		else
			ret = -errno;
		goto out;
	}
	/* anyone can bind the daemon's name: believe only root or ourselves */
	ret = skiff_peer_entitled(fd);
	if (ret < 0)
		goto out;
	skiff_wire_init(&q, SKIFF_MSG_NODE_QUERY);
	if (send(fd, &q, sizeof(q.hdr) + q.hdr.body_len, MSG_NOSIGNAL) < 0) {
		ret = (errno == EPIPE || errno == ECONNRESET) ? -ENOENT : -errno;
		goto out;
	}
	p.fd = fd;
	p.events = POLLIN;
	for (;;) {
		ret = poll(&p, 1, QUERY_TIMEOUT_MS);
		if (ret < 0 && errno == EINTR)
			continue;
		break;
	}
	if (ret <= 0) {
		ret = ret < 0 ? -errno : -ETIMEDOUT;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n <= 0) {
		ret = n == 0 ? -ENOENT : -errno;
		goto out;
	}
	ret = skiff_wire_decode(buf, (size_t)n, &r);
	if (ret == 0 && r.hdr.type != SKIFF_MSG_NODE_INFO)
		ret = -EPROTO;
	if (ret == 0 && !skiff_node_info_ok(&r.body.info))
		ret = -EPROTO;
	if (ret == 0)
		*out = r.body.info;
out:
	close(fd);
	return ret;
}

/* Connected to @fabric's daemon, if we believe it: a descriptor or -errno
 * (-ENOENT: no daemon). */
static int open_daemon(const char *fabric)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_daemon_addr(&sa, fabric);
	int fd, ret;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sl) < 0) {
		ret = errno == EAGAIN ? -ETIMEDOUT :
		      errno == ECONNREFUSED || errno == ENOENT ? -ENOENT : -errno;
		close(fd);
		return ret;
	}
	ret = skiff_peer_entitled(fd);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

int skiff_query_hosts(const char *fabric, struct skiff_host_info *out,
		      unsigned max)
{
	unsigned n = 0, total = 1;
	int fd = open_daemon(fabric), ret = 0;

	if (fd < 0)
		return fd;
	for (unsigned i = 0; i < total && n < max; i++) {
		struct skiff_wire_msg q;
		struct skiff_host_msg r;
		char buf[sizeof(r) + 64];
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t len;

		skiff_wire_init(&q, SKIFF_MSG_HOST_QUERY);
		q.body.host_query.index = i;
		if (send(fd, &q, sizeof(q.hdr) + q.hdr.body_len, MSG_NOSIGNAL) < 0) {
			ret = errno == EPIPE || errno == ECONNRESET ? -ENOENT
								    : -errno;
			break;
		}
		do
			ret = poll(&p, 1, QUERY_TIMEOUT_MS);
		while (ret < 0 && errno == EINTR);
		if (ret <= 0) {
			ret = ret < 0 ? -errno : -ETIMEDOUT;
			break;
		}
		len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (len <= 0) {
			ret = len == 0 ? -ENOENT : -errno;
			break;
		}
		ret = skiff_host_decode(buf, (size_t)len, &r);
		if (ret == 0 && r.body.status == 0 && r.body.index != i)
			ret = -EPROTO;
		if (ret < 0 || r.body.status)
			break; /* ENOENT: no fabric file, or no more hosts */
		/* the first answer says how many there are */
		if (i == 0)
			total = r.body.nhosts;
		else if (r.body.nhosts != total)
			ret = -EPROTO;
		if (ret < 0)
			break;
		out[n++] = r.body;
	}
	close(fd);
	return ret < 0 ? ret : (int)n;
}

int skiff_node_online(const char *fabric, unsigned node)
{
	struct skiff_node_info info = { 0 };
	int r;

	if (node > SKIFF_MAX_NODE)
		return 0;
	r = skiff_query_nodes(fabric, &info);
	if (r == -ENOENT || r == -EACCES)
		return node == 0; /* no daemon (we believe): the host alone */
	if (r < 0)
		return r;
	return skiff_node_bit(&info, node);
}

int skiff_node_local(const char *fabric, unsigned node)
{
	struct skiff_node_info info = { 0 };
	int r;

	if (node > SKIFF_MAX_NODE)
		return 0;
	r = skiff_query_nodes(fabric, &info);
	if (r == -ENOENT || r == -EACCES)
		return node == 0;
	if (r < 0)
		return r;
	return node >= info.self_node && node <= info.self_node + info.ncards;
}

int skiff_node_where(const char *fabric, unsigned node)
{
	struct skiff_node_info info = { 0 };
	int r;

	if (node > SKIFF_MAX_NODE)
		return 0;
	r = skiff_query_nodes(fabric, &info);
	if (r == -ENOENT || r == -EACCES)
		return node == 0;
	if (r < 0)
		return r;
	if (!skiff_node_bit(&info, node))
		return 0;
	return node >= info.self_node && node <= info.self_node + info.ncards ?
		       1 : 2;
}

int skiff_default_node(const char *fabric)
{
	struct skiff_node_info info = { 0 };

	if (skiff_query_nodes(fabric, &info) < 0)
		return 0;
	return info.self_node;
}
