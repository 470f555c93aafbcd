/* SPDX-License-Identifier: MIT */
/*
 * connect.c - scif_bind, scif_listen, scif_connect, scif_accept.
 *
 * A port is an abstract AF_UNIX name (names.c); binding it is the kernel's
 * job, so ports are unique per fabric and node and freed when their owner
 * dies. SCIF's connect completes only when the peer accepts: the connector
 * sends a CONN_REQ carrying the connection's shared region, and waits for the
 * CONN_GRANT that scif_accept sends.
 */
#define _GNU_SOURCE
#include "transport.h"
#include "relay_ep.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "knob.h"
#include "nodeq.h"

/* SCIF_NODE_ALIVE_TIMEOUT: a connector waits this long for accept. */
#define CONNECT_TIMEOUT_MS 10000
/* A connector sends its request right after connect(); one that does not
 * within this time is dropped by accept. */
#define REQUEST_TIMEOUT_MS 1000
#define BACKLOG_MAX 1024

static int privileged(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (geteuid() == 0)
		return 1;
	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	return (d[0].effective >> CAP_SYS_ADMIN) & 1;
}

int skiff_sock_setup(int sock)
{
	int v = SKIFF_SOCK_SNDBUF;

	/* The credit record is sized against this buffer. */
	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0)
		return -errno;
	return 0;
}

static int new_socket(void)
{
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int r;

	if (s < 0)
		return errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
	r = skiff_sock_setup(s);
	if (r < 0) {
		close(s);
		return r;
	}
	return s;
}

/*
 * Automatic ports. Trying bind() on every port from SCIF_PORT_RSVD + 1 up
 * made each automatic bind cost one system call per port already taken,
 * O(n) in the number of open endpoints. Instead two bitmaps say which
 * ports to skip without a system call: those our endpoints hold (cleared
 * when they let go, skiff_port_release) and those we found taken by
 * someone else (retried only once all others are taken). Both are hints:
 * bind() stays the judge, so a wrong bit costs one try or one skipped port.
 * The lock serialises automatic binds of this process (a bind() does not
 * wait for anyone).
 */
#define PORT_WORDS (65536 / 64)
static pthread_mutex_t port_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t port_ours[PORT_WORDS], port_foreign[PORT_WORDS];

/* A child of fork() may have been forked while another thread held the
 * lock: it starts with a free one (the maps are hints, a half-made update
 * costs at most a try). No prepare handler: taking the lock around fork()
 * would order it before locks our callers hold. */
static void port_child(void)
{
	pthread_mutex_init(&port_lock, NULL);
}

static void port_once_init(void)
{
	pthread_atfork(NULL, NULL, port_child);
}

static pthread_once_t port_once = PTHREAD_ONCE_INIT;

static void port_set(uint64_t *map, unsigned p, int on)
{
	if (on)
		map[p / 64] |= 1ull << (p % 64);
	else
		map[p / 64] &= ~(1ull << (p % 64));
}

/* The first port >= @from that neither map holds, or 0x10000. */
static unsigned port_next(unsigned from)
{
	for (unsigned w = from / 64; w < PORT_WORDS; w++) {
		uint64_t busy = port_ours[w] | port_foreign[w];

		if (w == from / 64)
			busy |= (1ull << (from % 64)) - 1;
		if (~busy)
			return w * 64 + (unsigned)__builtin_ctzll(~busy);
	}
	return 0x10000;
}

void skiff_port_release(struct skiff_ep *ep)
{
	/* a name is held by bound and listening endpoints and by connectors,
	 * not by accepted endpoints (which carry their listener's port) */
	if (ep->state == SKIFF_EP_UNBOUND || ep->port == 0 ||
	    ep->node != skiff_ctx()->node ||
	    (ep->state != SKIFF_EP_BOUND && ep->state != SKIFF_EP_LISTENING &&
	     ep->side != 0))
		return;
	pthread_mutex_lock(&port_lock);
	port_set(port_ours, ep->port, 0);
	pthread_mutex_unlock(&port_lock);
}

static int auto_bind(int s, const char *fabric, uint16_t node, uint16_t *port)
{
	struct sockaddr_un sa;
	socklen_t sl;
	unsigned p = SCIF_PORT_RSVD + 1;
	int r = -ENOSPC, pass = 0;

	pthread_mutex_lock(&port_lock);
	for (;;) {
		p = port_next(p);
		if (p > 0xffff) {
			if (pass++)
				break;
			/* all seem taken: ports others held may be free now */
			memset(port_foreign, 0, sizeof(port_foreign));
			p = SCIF_PORT_RSVD + 1;
			continue;
		}
		sl = skiff_port_addr(&sa, fabric, node, (uint16_t)p);
		if (bind(s, (struct sockaddr *)&sa, sl) == 0) {
			port_set(port_ours, p, 1);
			*port = (uint16_t)p;
			r = 0;
			break;
		}
		if (errno != EADDRINUSE) {
			r = -errno;
			break;
		}
		port_set(port_foreign, p, 1);
		p++;
	}
	pthread_mutex_unlock(&port_lock);
	return r;
}

/* Bind a fresh socket to (node, pn); pn 0 picks the lowest port above
 * SCIF_PORT_RSVD that is free (or at least not known to be taken: see
 * auto_bind). Returns the socket and sets *port. */
static int bind_port(uint16_t node, uint16_t pn, uint16_t *port)
{
	const struct skiff_ctx *c = skiff_ctx();
	struct sockaddr_un sa;
	socklen_t sl;
	int s = new_socket(), r;
	/* the maps describe this process's own node only */
	int mapped = node == c->node;

	if (s < 0)
		return s;
	pthread_once(&port_once, port_once_init);
	if (pn) {
		sl = skiff_port_addr(&sa, c->fabric, node, pn);
		if (bind(s, (struct sockaddr *)&sa, sl) < 0) {
			int e = errno;
			close(s);
			return e == EADDRINUSE ? -EINVAL : -e;
		}
		if (mapped) {
			pthread_mutex_lock(&port_lock);
			port_set(port_ours, pn, 1);
			port_set(port_foreign, pn, 0);
			pthread_mutex_unlock(&port_lock);
		}
		*port = pn;
		return s;
	}
	if (mapped) {
		r = auto_bind(s, c->fabric, node, port);
		if (r < 0) {
			close(s);
			return r;
		}
		return s;
	}
	for (unsigned p = SCIF_PORT_RSVD + 1; p <= 0xffff; p++) {
		sl = skiff_port_addr(&sa, c->fabric, node, (uint16_t)p);
		if (bind(s, (struct sockaddr *)&sa, sl) == 0) {
			*port = (uint16_t)p;
			return s;
		}
		if (errno != EADDRINUSE) {
			int e = errno;
			close(s);
			return -e;
		}
	}
	close(s);
	return -ENOSPC;
}

static int do_bind(struct skiff_ep *ep, uint16_t pn)
{
	uint16_t port = 0;
	int s;

	switch (ep->state) {
	case SKIFF_EP_UNBOUND:
		break;
	case SKIFF_EP_BOUND:
		return -EINVAL;
	default:
		return -EISCONN;
	}
	if (pn && pn < SCIF_ADMIN_PORT_END && !privileged())
		return -EACCES;
	s = bind_port(ep->node, pn, &port);
	if (s < 0)
		return s;
	ep->sock = s;
	ep->port = port;
	ep->state = SKIFF_EP_BOUND;
	return port;
}

int skiff_api_bind(scif_epd_t epd, uint16_t pn)
{
	struct skiff_ep *ep;
	int r = skiff_ep_get(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	skiff_ep_lock(ep, &ep->lock);
	r = do_bind(ep, pn);
	skiff_ep_unlock(&ep->lock);
	SKIFF_RET(r);
}

int skiff_api_listen(scif_epd_t epd, int backlog)
{
	struct skiff_ep *ep;
	int r = skiff_ep_get(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	skiff_ep_lock(ep, &ep->lock);
	if (ep->state == SKIFF_EP_UNBOUND)
		r = -EINVAL;
	else if (ep->state != SKIFF_EP_BOUND)
		r = -EISCONN;
	else if (backlog <= 0)
		r = -EINVAL;
	if (r == 0) {
		if (backlog > BACKLOG_MAX)
			backlog = BACKLOG_MAX;
		/* AF_UNIX admits backlog + 1 pending connections */
		if (listen(ep->sock, backlog - 1) < 0)
			r = -errno;
	}
	if (r == 0)
		r = skiff_ep_make_visible(ep, ep->sock);
	if (r == 0) {
		ep->backlog = backlog;
		ep->state = SKIFF_EP_LISTENING;
	}
	skiff_ep_unlock(&ep->lock);
	SKIFF_RET(r);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for @events on @fd until @deadline (ms, CLOCK_MONOTONIC; -1: none).
 * Returns revents, 0 on timeout, -EINTR. */
static int wait_until(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int t = -1, r;

	if (deadline >= 0) {
		int64_t left = deadline - now_ms();
		t = left < 0 ? 0 : (int)left;
	}
	r = poll(&p, 1, t);
	if (r < 0)
		return -errno;
	return r ? p.revents : 0;
}

/* The close paths of endpoint.c (the bottom layer) reach the layers above
 * it through these. */
static void ep_rma_end(struct skiff_ep *ep)
{
	/* mappings first: a scif_munmap from now on tells the peer nothing
	 * (the connection ends), so it never uses the state freed next */
	skiff_mmap_forget(ep);
	skiff_rma_detach(ep);
}

static void ep_conn_end(struct skiff_ep *ep)
{
	skiff_rdv_release(ep);
	skiff_conn_detach(ep);
	skiff_port_release(ep);
}

static const struct skiff_ep_upcalls ep_upcalls = {
	.rma_end = ep_rma_end,
	.rma_release = skiff_rma_release,
	.conn_end = ep_conn_end,
	.rdv_release = skiff_rdv_release,
	.rdv_owner_died = skiff_rdv_owner_died,
	.rdv_forked = skiff_rdv_forked,
};

__attribute__((constructor)) static void connect_init(void)
{
	skiff_ep_set_upcalls(&ep_upcalls);
}

/* Return the endpoint to BOUND on its port after a failed connection. */
static int rebind(struct skiff_ep *ep)
{
	int fl = fcntl(ep->fd, F_GETFL), p, s, r;
	uint16_t port;

	skiff_rma_detach(ep);
	skiff_conn_detach(ep);
	skiff_port_release(ep);
	if (ep->sock >= 0) /* it holds the name: drop it before re-binding */
		close(ep->sock);
	ep->sock = -1;
	p = skiff_error_pipe();
	if (p < 0)
		return p;
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(p, F_SETFL, O_NONBLOCK);
	r = dup3(p, ep->fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(p);
	if (r < 0)
		return r;
	skiff_ep_refresh_identity(ep);
	ep->state = SKIFF_EP_UNBOUND;
	s = bind_port(ep->node, ep->port, &port);
	if (s >= 0) {
		ep->sock = s;
		ep->state = SKIFF_EP_BOUND;
	}
	return 0;
}

/* Connector: read the grant, which carries our end of the connection's RMA
 * control socket. 0, -EAGAIN (not yet), -ECONNREFUSED. */
static int read_grant(struct skiff_ep *ep)
{
	unsigned char buf[128];
	union {
		char b[SKIFF_CMSG_SPACE];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct skiff_wire_msg m;
	int ctl = -1, r;
	ssize_t n = recvmsg(ep->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (n >= 0)
		ctl = skiff_take_fd(&mh);
	if (n <= 0 || skiff_wire_decode(buf, (size_t)n, &m) < 0 ||
	    m.hdr.type != SKIFF_MSG_CONN_GRANT || m.body.grant.status != 0 ||
	    m.body.grant.cookie != ep->cookie || ctl < 0) {
		if (ctl >= 0)
			close(ctl);
		return -ECONNREFUSED;
	}
	{
		/* it must be what an honest acceptor sends: a socket of a
		 * SOCK_SEQPACKET pair (svc.c reads records from it) */
		int type = 0, dom = 0;
		socklen_t sl = sizeof(int);
		if (getsockopt(ctl, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 ||
		    type != SOCK_SEQPACKET ||
		    getsockopt(ctl, SOL_SOCKET, SO_DOMAIN, &dom, &sl) < 0 ||
		    dom != AF_UNIX) {
			close(ctl);
			return -ECONNREFUSED;
		}
	}
	/* both ends on this host, or our end is the daemon relaying us to
	 * another host */
	ep->tp = ep->relayed == SKIFF_RELAYED_PROCESS ? &skiff_relayed_transport :
							&skiff_local_transport;
	r = skiff_rma_attach(ep, ctl);
	if (r < 0) {
		close(ctl);
		return r == -ENOMEM ? -ENOMEM : -ECONNREFUSED;
	}
	ep->peer_node = m.body.grant.node;
	ep->peer_port = m.body.grant.port;
	ep->state = SKIFF_EP_CONNECTED;
	skiff_conn_publish(ep);
	return 0;
}

/* Connector: wait for the grant until @deadline. */
static int finish_connect(struct skiff_ep *ep, int64_t deadline)
{
	int r, ev;

	for (;;) {
		r = read_grant(ep);
		if (r != -EAGAIN)
			break;
		ev = wait_until(ep->fd, POLLIN, deadline);
		if (ev == -EINTR)
			continue;
		if (ev <= 0) {
			r = -ECONNREFUSED; /* the listener never accepted */
			break;
		}
		if ((ev & (POLLHUP | POLLERR)) && !(ev & POLLIN)) {
			r = -ECONNREFUSED;
			break;
		}
	}
	if (r < 0) {
		int rr = rebind(ep);
		if (rr < 0)
			return rr;
		return r;
	}
	return ep->port;
}

static int send_request(struct skiff_ep *ep, struct scif_portID *dst,
			uint32_t ring_size, int memfd)
{
	static const unsigned char pad[SKIFF_CREDIT_BYTES];
	struct skiff_wire_msg m;
	struct iovec iov[2];

	skiff_wire_init(&m, SKIFF_MSG_CONN_REQ);
	m.body.conn_req.src_node = ep->node;
	m.body.conn_req.src_port = ep->port;
	m.body.conn_req.dst_node = dst->node;
	m.body.conn_req.dst_port = dst->port;
	m.body.conn_req.ring_size = ring_size;
	m.body.conn_req.region_size = skiff_region_size(ring_size);
	m.body.conn_req.cookie = ep->cookie;
	iov[0].iov_base = &m;
	iov[0].iov_len = sizeof(m.hdr) + m.hdr.body_len;
	/* Padding keeps our socket unwritable until the acceptor has read the
	 * request: POLLOUT then signals the end of a non-blocking connect. */
	iov[1].iov_base = (void *)pad;
	iov[1].iov_len = SKIFF_CREDIT_BYTES - iov[0].iov_len;
	if (skiff_send_fd(ep->sock, iov, 2, memfd, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return errno == ENOMEM || errno == ENOBUFS ? -ENOMEM : -ECONNREFUSED;
	return 0;
}

/* @relay: scifd's relay connects on behalf of a process of another host
 * (skiff_relay_connect): the node is its own, no daemon to ask. */
static int do_connect(struct skiff_ep *ep, struct scif_portID *dst, int relay)
{
	const struct skiff_ctx *c = skiff_ctx();
	struct sockaddr_un sa;
	socklen_t sl;
	uint32_t ring_size;
	int r, memfd = -1, nonblock, fl, where;

	switch (ep->state) {
	case SKIFF_EP_LISTENING:
		return -EOPNOTSUPP;
	case SKIFF_EP_CONNECTED:
	case SKIFF_EP_DISCONNECTED:
		return -EISCONN;
	case SKIFF_EP_CONNECTING: {
		/* collect the result of a non-blocking connect */
		int ev = wait_until(ep->fd, POLLOUT | POLLIN, 0);
		if (ev > 0 && !(ev & (POLLOUT | POLLIN | POLLHUP | POLLERR)))
			ev = 0;
		if (ev <= 0)
			return -EALREADY;
		return finish_connect(ep, now_ms() + CONNECT_TIMEOUT_MS);
	}
	default:
		break;
	}
	if (!dst)
		return -EINVAL;
	if (dst->node > SKIFF_MAX_NODE)
		return -ENODEV;
	if (dst->port == 0)
		return -EINVAL;
	where = relay ? 1 : skiff_node_where(c->fabric, dst->node);
	if (where < 0 && where != -ENOMEM)
		where = 0;
	if (where <= 0) {
		skiff_log(SKIFF_LOG_INFO, "scif_connect to %u:%u: node %u is not "
			  "online in fabric '%s'", dst->node, dst->port,
			  dst->node, c->fabric);
		return where < 0 ? where : -ENODEV;
	}
	if (ep->state == SKIFF_EP_UNBOUND) {
		r = do_bind(ep, 0);
		if (r < 0)
			return r;
	}
	fl = fcntl(ep->fd, F_GETFL);
	nonblock = fl >= 0 && (fl & O_NONBLOCK);

	/* non-blocking: a full backlog gives EAGAIN, which SCIF reports as a
	 * refusal, instead of waiting for room */
	fcntl(ep->sock, F_SETFL, fcntl(ep->sock, F_GETFL) | O_NONBLOCK);
	/* a node of another host: the daemon here takes the request, asks
	 * that host's daemon, and grants it once the listener there accepted
	 * (then it relays the bytes) */
	if (!relay) /* else it is the daemon's end: skiff_relay_connect */
		ep->relayed = where == 2 ? SKIFF_RELAYED_PROCESS : 0;
	if (where == 2)
		sl = skiff_relay_addr(&sa, c->fabric);
	else
		sl = skiff_port_addr(&sa, c->fabric, dst->node, dst->port);
	if (connect(ep->sock, (struct sockaddr *)&sa, sl) < 0) {
		r = errno;
		if (where == 2)
			skiff_log(SKIFF_LOG_INFO, "scif_connect to %u:%u: the "
				  "daemon's relay @skiff/%s/relay: %s",
				  dst->node, dst->port, c->fabric, strerror(r));
		else
			skiff_log(SKIFF_LOG_INFO, "scif_connect to %u:%u: socket "
				  "@skiff/%s/n%u/p%u: %s", dst->node, dst->port,
				  c->fabric, dst->node, dst->port,
				  r == ECONNREFUSED ? "nobody listens" :
				  r == EAGAIN ? "the listener's backlog is full" :
						strerror(r));
		if (r == ENOMEM || r == ENOBUFS)
			return -ENOMEM;
		return -ECONNREFUSED;
	}
	/* Anyone can bind an abstract name: a port only root may bind must be
	 * served by root (or by ourselves, who could fool ourselves anyway),
	 * or we would hand our data to whoever took the name. */
	if (dst->port < SCIF_ADMIN_PORT_END && skiff_peer_entitled(ep->sock) < 0) {
		int rr = rebind(ep);

		skiff_log(SKIFF_LOG_WARN, "scif_connect to %u:%u: refused: a "
			  "reserved port served by a process that is neither "
			  "root nor this user (docs/SECURITY.md)", dst->node,
			  dst->port);
		return rr < 0 ? rr : -ECONNREFUSED;
	}
	/* between hosts (our process's end, or the daemon's end there) */
	ring_size = where == 2 || relay ? skiff_relay_ring_size_knob() :
					  skiff_ring_size_knob();
	r = skiff_region_create(ring_size, &memfd);
	if (r == 0)
		r = skiff_conn_attach(ep, memfd, 0, ring_size,
				      skiff_region_size(ring_size));
	if (r == 0) {
		if (getrandom(&ep->cookie, sizeof(ep->cookie), GRND_NONBLOCK) < 0)
			ep->cookie = (uint64_t)now_ms() ^ (uint64_t)getpid() << 32;
		r = send_request(ep, dst, ring_size, memfd);
	}
	if (memfd >= 0)
		close(memfd);
	if (r == 0) {
		int sock = ep->sock;
		fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) & ~O_NONBLOCK);
		r = skiff_ep_make_visible(ep, sock);
	}
	if (r < 0) {
		int rr = rebind(ep);
		return rr < 0 ? rr : r;
	}
	ep->state = SKIFF_EP_CONNECTING;
	if (nonblock)
		return -EINPROGRESS;
	return finish_connect(ep, now_ms() + CONNECT_TIMEOUT_MS);
}

int skiff_api_connect(scif_epd_t epd, struct scif_portID *dst)
{
	struct skiff_ep *ep;
	int r = skiff_ep_get(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	skiff_ep_lock(ep, &ep->lock);
	r = do_connect(ep, dst, 0);
	skiff_ep_unlock(&ep->lock);
	SKIFF_RET(r);
}

/* Acceptor: read and check the request on a fresh connection. Returns the
 * region memfd or -errno (the connection is then dropped). */
static int read_request(int s, struct skiff_conn_req *req)
{
	unsigned char buf[128];
	union {
		char buf[SKIFF_CMSG_SPACE];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct skiff_wire_msg m;
	struct stat st;
	int fd = -1, r = -EPROTO, seals;
	ssize_t n;

	for (;;) {
		int ev = wait_until(s, POLLIN, now_ms() + REQUEST_TIMEOUT_MS);
		if (ev == -EINTR)
			continue;
		if (ev <= 0)
			return -ETIMEDOUT;
		break;
	}
	n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -ECONNABORTED;
	/* take the descriptor first: even an empty record may carry some */
	fd = skiff_take_fd(&mh);
	if (n == 0 || skiff_wire_decode(buf, (size_t)n, &m) < 0 ||
	    m.hdr.type != SKIFF_MSG_CONN_REQ)
		goto bad;
	*req = m.body.conn_req;
	if (fd < 0 || req->ring_size < SKIFF_RING_MIN ||
	    req->ring_size > SKIFF_RING_MAX ||
	    (req->ring_size & (req->ring_size - 1)) ||
	    req->region_size != skiff_region_size(req->ring_size))
		goto bad;
	/* the region must be exactly that size and unable to change, or the
	 * peer could make our accesses fault */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != (off_t)req->region_size)
		goto bad;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) !=
				 (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		goto bad;
	return fd;
bad:
	if (fd >= 0)
		close(fd);
	return r;
}

static int send_grant(int s, struct skiff_ep *lep, uint64_t cookie, int ctl)
{
	struct skiff_wire_msg m;
	struct iovec iov;

	skiff_wire_init(&m, SKIFF_MSG_CONN_GRANT);
	m.body.grant.node = lep->node;
	m.body.grant.port = lep->port;
	m.body.grant.cookie = cookie;
	iov.iov_base = &m;
	iov.iov_len = sizeof(m.hdr) + m.hdr.body_len;
	if (skiff_send_fd(s, &iov, 1, ctl, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -ECONNABORTED;
	return 0;
}

/* The connector's port, from the name its socket is bound to (which the
 * kernel vouches for, unlike the request's fields). */
static int peer_name(int s, uint16_t *node, uint16_t *port)
{
	const struct skiff_ctx *c = skiff_ctx();
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	char prefix[96], name[sizeof(sa.sun_path) + 1];
	size_t plen, nlen;

	if (getpeername(s, (struct sockaddr *)&sa, &sl) < 0)
		return -errno;
	if (sl <= offsetof(struct sockaddr_un, sun_path) + 1 || sa.sun_path[0])
		return -EPROTO;
	nlen = sl - offsetof(struct sockaddr_un, sun_path) - 1;
	memcpy(name, sa.sun_path + 1, nlen);
	name[nlen] = 0;
	if (skiff_fabric_prefix(prefix, sizeof(prefix), c->fabric) < 0)
		return -EPROTO;
	plen = strlen(prefix);
	if (strncmp(name, prefix, plen))
		return -EPROTO;
	return skiff_parse_port_name(name + plen, node, port);
}

/* Make the endpoint of an accepted connection on socket @s, as (node,
 * port), its peer (pn, pp), and grant it; 0 or -errno (@memfd is always
 * closed; @s is the caller's on failure). */
static int grant_one(int s, const struct skiff_conn_req *req, int memfd,
		     uint16_t node, uint16_t port, uint16_t pn, uint16_t pp,
		     int relayed)
{
	struct skiff_ep *ep;
	int r, ctl[2];

	ep = skiff_ep_alloc();
	if (!ep) {
		close(memfd);
		return -ENOMEM;
	}
	ep->fd = s;
	r = skiff_sock_setup(s);
	if (r == 0)
		r = skiff_conn_attach(ep, memfd, 1, req->ring_size, req->region_size);
	close(memfd);
	/* the connection's RMA control socket: we keep one end, the
	 * connector gets the other with the grant */
	if (r == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
		r = -ENOMEM;
	if (r == 0) {
		struct skiff_ep lep = { .node = node, .port = port };

		ep->relayed = relayed;
		ep->tp = relayed == SKIFF_RELAYED_PROCESS ?
				 &skiff_relayed_transport : &skiff_local_transport;
		r = skiff_rma_attach(ep, ctl[0]);
		if (r < 0)
			close(ctl[0]);
		else
			r = send_grant(s, &lep, req->cookie, ctl[1]);
		close(ctl[1]);
	}
	if (r == 0) {
		ep->node = node;
		ep->port = port;
		ep->peer_node = pn;
		ep->peer_port = pp;
		ep->state = SKIFF_EP_CONNECTED;
		r = skiff_ep_register(ep);
		if (r == 0)
			skiff_conn_publish(ep);
	}
	if (r < 0) {
		skiff_rma_detach(ep);
		skiff_conn_detach(ep);
		ep->fd = -1;
		skiff_ep_free(ep);
		return r;
	}
	return 0;
}

/* The connector is this host's daemon, relaying a process of another
 * host: its pid is the one the daemon gives (the kernel vouches for both). */
static int from_relay(int s)
{
	struct skiff_node_info info;
	struct ucred uc;
	socklen_t ul = sizeof(uc);

	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0 ||
	    skiff_query_nodes(skiff_ctx()->fabric, &info) < 0)
		return 0;
	return (info.flags & SKIFF_NODE_INFO_HOSTS) &&
	       (uint32_t)uc.pid == info.daemon_pid;
}

static int accept_one(struct skiff_ep *lep, int s, struct scif_portID *peer,
		      scif_epd_t *newepd)
{
	struct skiff_conn_req req;
	uint16_t pn, pp;
	int memfd, r;

	memfd = read_request(s, &req);
	if (memfd < 0)
		return memfd;
	r = peer_name(s, &pn, &pp);
	/* the name is whatever the connector bound: a reserved one, which
	 * servers may take as proof of privilege, must come from root (or
	 * from our own user) */
	if (r == 0 && pp < SCIF_ADMIN_PORT_END && skiff_peer_entitled(s) < 0)
		r = -ECONNREFUSED;
	if (r < 0) {
		close(memfd);
		return r;
	}
	r = grant_one(s, &req, memfd, lep->node, lep->port, pn, pp,
		      pn != lep->node && from_relay(s) ?
			      SKIFF_RELAYED_PROCESS : 0);
	if (r < 0)
		return r;
	peer->node = pn;
	peer->port = pp;
	*newepd = s;
	return 0;
}

/* --- scifd's relay (several hosts; src/daemon/relay.c) --- */

int skiff_relay_request(int s, struct skiff_conn_req *req, uint16_t *node,
			uint16_t *port)
{
	int memfd = read_request(s, req), r;

	if (memfd < 0)
		return memfd;
	r = peer_name(s, node, port);
	if (r < 0) {
		close(memfd);
		return r;
	}
	return memfd;
}

int skiff_relay_grant(int s, const struct skiff_conn_req *req, int memfd,
		      uint16_t node, uint16_t port, uint16_t pn, uint16_t pp)
{
	int r = grant_one(s, req, memfd, node, port, pn, pp, SKIFF_RELAYED_DAEMON);

	/* the relay is non-blocking all through */
	if (r == 0)
		fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	return r < 0 ? r : s;
}

int skiff_relay_connect(uint16_t src_node, uint16_t src_port,
			uint16_t dst_node, uint16_t dst_port)
{
	struct scif_portID dst = { .node = dst_node, .port = dst_port };
	struct skiff_ep *ep = skiff_ep_alloc();
	int fd, r, s;
	uint16_t port;

	if (!ep)
		return -ENOMEM;
	fd = skiff_error_pipe();
	if (fd < 0) {
		skiff_ep_free(ep);
		return fd;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ep->fd = fd;
	ep->node = src_node;
	ep->relayed = SKIFF_RELAYED_DAEMON;
	r = skiff_ep_register(ep);
	if (r < 0) {
		close(fd);
		skiff_ep_free(ep);
		return r;
	}
	/* the name of the process of the other host: the listener reads its
	 * peer's (node, port) from it, as from any local connector */
	s = bind_port(src_node, src_port, &port);
	if (s < 0) {
		skiff_api_close(fd);
		return s == -EINVAL ? -ECONNREFUSED : s;
	}
	ep->sock = s;
	ep->port = port;
	ep->state = SKIFF_EP_BOUND;
	skiff_ep_lock(ep, &ep->lock);
	r = do_connect(ep, &dst, 1);
	skiff_ep_unlock(&ep->lock);
	if (r != -EINPROGRESS && r < 0) {
		skiff_api_close(fd);
		return r;
	}
	return fd;
}

int skiff_api_accept(scif_epd_t epd, struct scif_portID *peer,
			  scif_epd_t *newepd, int flags)
{
	struct skiff_ep *ep;
	int r = skiff_ep_get(epd, &ep), s, ev;

	if (r < 0)
		SKIFF_RET(r);
	if (flags & ~SCIF_ACCEPT_SYNC)
		SKIFF_RET(-EINVAL);
	if (ep->state != SKIFF_EP_LISTENING)
		SKIFF_RET(-EINVAL);
	if (!peer || !newepd)
		SKIFF_RET(-EINVAL);
	for (;;) {
		/* poll first: the listening descriptor may be blocking */
		ev = wait_until(ep->fd, POLLIN, (flags & SCIF_ACCEPT_SYNC) ? -1 : 0);
		if (ev < 0)
			SKIFF_RET(ev);
		if (ev & (POLLHUP | POLLERR | POLLNVAL))
			SKIFF_RET(-EINTR); /* closed by another thread */
		if (ev == 0)
			SKIFF_RET(-EAGAIN);
		s = accept4(ep->fd, NULL, NULL, SOCK_CLOEXEC);
		if (s >= 0) {
			r = accept_one(ep, s, peer, newepd);
			if (r == 0)
				return 0;
			close(s); /* a broken request: the connector is refused */
			if (r == -ENOMEM || r == -EMFILE || r == -ENFILE)
				SKIFF_RET(r);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
		    errno == ENOBUFS)
			SKIFF_RET(errno == ENOBUFS ? -ENOMEM : -errno);
		if (errno == EINTR)
			SKIFF_RET(-EINTR);
		if (errno != EAGAIN && errno != ECONNABORTED && errno != EPROTO)
			SKIFF_RET(-EINTR); /* shut down by scif_close */
	}
}
