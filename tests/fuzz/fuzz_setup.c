/* SPDX-License-Identifier: MIT */
/*
 * fuzz_setup - libFuzzer harness for connection set-up records and the
 * descriptors they carry (connect.c: read_request on the acceptor,
 * read_grant on the connector). The harness plays the other process with
 * raw sockets, in a private fabric:
 *
 *   mode 0 (acceptor): it connects to a libscif listener and sends a
 *     CONN_REQ built from the input (ring and region sizes, cookie, the
 *     region memfd's size and seals, or no memfd, a pipe, /dev/null, two
 *     descriptors; or the input's raw bytes as the record); scif_accept()
 *     must grant exactly the requests the protocol allows (docs/PROTOCOL.md)
 *     and refuse the rest without leaking a descriptor.
 *   mode 1 (connector): a non-blocking scif_connect() to a raw listener
 *     gets a CONN_GRANT built from the input (cookie right or wrong, status,
 *     type, the RMA control socket a SEQPACKET or STREAM socket, a pipe, none
 *     or two); it must connect exactly when the grant is valid.
 *
 * Input: byte 0 mode (bit 0) and flags; then the record's fields.
 */
#include "fuzz_conn.h"

#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>

#define LPORT 2000   /* the library's listener (mode 0) */
#define RPORT 2001   /* the harness's raw socket */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int listener = -1;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_setup: %s\n", what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char fab[32];

	(void)argc;
	(void)argv;
	snprintf(fab, sizeof(fab), "fz-setup-%d", (int)getpid());
	setenv("SCIF_FABRIC", fab, 1);
	return 0;
}

static void take(const uint8_t **d, size_t *n, void *out, size_t k)
{
	size_t m = *n < k ? *n : k;

	memset(out, 0, k);
	memcpy(out, *d, m);
	*d += m;
	*n -= m;
}

static int raw_socket(uint16_t port)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_port_addr(&sa, skiff_ctx()->fabric, 0, port);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&sa, sl) < 0)
		abort();
	return s;
}

static int connect_to(int s, uint16_t port)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_port_addr(&sa, skiff_ctx()->fabric, 0, port);

	return connect(s, (struct sockaddr *)&sa, sl);
}

static int send_fds(int s, const void *buf, size_t len, const int *fds, int n)
{
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n > 0) {
		struct cmsghdr *cm;
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
	}
	return (int)sendmsg(s, &mh, MSG_NOSIGNAL);
}

/* ---- mode 0: a request to a libscif listener ---- */

struct req_in {
	uint8_t ring_sel, size_sel, fd_kind, seals, raw_len;
	uint8_t pad[3];
	uint32_t ring_raw, size_raw;
	uint64_t cookie;
};

static void request(const uint8_t *d, size_t n)
{
	static unsigned char rec[SKIFF_CREDIT_BYTES];
	static const uint32_t rings[] = { 4096, 8192, 65536, 1u << 20, 64u << 20,
					  2048, 6000, 0, 128u << 20 };
	struct req_in in;
	struct skiff_wire_msg m;
	struct scif_portID peer;
	scif_epd_t ne;
	uint32_t ring, rsize;
	off_t fsize;
	int s, fds[2] = { -1, -1 }, nfds = 0, valid, r, seals;
	size_t len;

	take(&d, &n, &in, sizeof(in));
	ring = in.ring_sel & 0x80 ? in.ring_raw : rings[in.ring_sel % 9];
	rsize = in.size_sel & 0x80 ? in.size_raw : skiff_region_size(ring);
	/* the memfd: the region's size, or a page more or less */
	fsize = (off_t)skiff_region_size(ring) + ((in.size_sel & 3) == 1 ? 4096 :
						   (in.size_sel & 3) == 2 ? -4096 : 0);
	if (ring > (1u << 20) || rsize > (8u << 20) || fsize < 0 || fsize > (8 << 20))
		fsize = 4096; /* no big allocations in a fuzzer */
	seals = (in.seals & 1 ? F_SEAL_SHRINK : 0) | (in.seals & 2 ? F_SEAL_GROW : 0) |
		(in.seals & 4 ? F_SEAL_SEAL : 0);
	switch (in.fd_kind % 6) {
	case 0:
		break;
	case 1:
	case 2:
	case 3:
		fds[0] = memfd_create("fz-req", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fds[0] < 0 || ftruncate(fds[0], fsize) < 0)
			abort();
		if (seals && fcntl(fds[0], F_ADD_SEALS, seals) < 0)
			abort();
		nfds = 1;
		if (in.fd_kind % 6 == 3) { /* and a second one */
			fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			nfds = 2;
		}
		break;
	case 4: {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		fds[0] = p[0];
		close(p[1]);
		nfds = 1;
		break;
	}
	default:
		fds[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
		nfds = 1;
		break;
	}
	skiff_wire_init(&m, SKIFF_MSG_CONN_REQ);
	m.body.conn_req.src_port = RPORT;
	m.body.conn_req.dst_port = LPORT;
	m.body.conn_req.ring_size = ring;
	m.body.conn_req.region_size = rsize;
	m.body.conn_req.cookie = in.cookie;
	memset(rec, 0, 256);
	len = sizeof(m.hdr) + m.hdr.body_len;
	memcpy(rec, &m, len);
	if (in.raw_len & 0x80) { /* the rest of the input is the record */
		len = n < 256 ? n : 256;
		memcpy(rec, d, len);
	} else if (in.raw_len & 0x40) {
		len = SKIFF_CREDIT_BYTES; /* padded, as libscif sends it */
	}
	/* what the protocol says: granted iff this holds */
	valid = !(in.raw_len & 0x80) && nfds >= 1 && in.fd_kind % 6 <= 3 &&
		ring >= SKIFF_RING_MIN && ring <= SKIFF_RING_MAX && !(ring & (ring - 1)) &&
		rsize == skiff_region_size(ring) && fsize == (off_t)rsize &&
		(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
			(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	s = raw_socket(RPORT);
	if (connect_to(s, LPORT) < 0)
		abort();
	(void)send_fds(s, rec, len, fds, nfds);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	r = scif_accept(listener, &peer, &ne, 0);
	if (r == 0) {
		if (!valid && !(in.raw_len & 0x80))
			fail("granted a request it must refuse");
		scif_close(ne);
	} else if (valid) {
		fail("refused a valid request");
	}
	close(s);
}

/* ---- mode 1: a grant to a connecting libscif endpoint ---- */

struct grant_in {
	uint8_t cookie_ok, type_sel, fd_kind, raw_len;
	uint32_t status;
	uint16_t node, port;
};

static void grant(const uint8_t *d, size_t n)
{
	struct scif_portID dst = { .node = 0, .port = RPORT };
	struct grant_in in;
	unsigned char buf[SKIFF_CREDIT_BYTES + 64], rec[256];
	struct skiff_wire_msg m;
	int l, s, epd, r, e, valid, memfd = -1, fds[2] = { -1, -1 }, nfds = 0, sp[2];
	size_t len;
	ssize_t k;

	take(&d, &n, &in, sizeof(in));
	l = raw_socket(RPORT);
	if (listen(l, 2) < 0)
		abort();
	epd = scif_open();
	if (epd < 0)
		abort();
	fcntl(epd, F_SETFL, fcntl(epd, F_GETFL) | O_NONBLOCK);
	r = scif_connect(epd, &dst);
	if (r == 0 || errno != EINPROGRESS)
		abort();
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		abort();
	{
		union {
			char b[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
		k = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
		memfd = skiff_take_fd(&mh);
	}
	if (k <= 0 || skiff_wire_decode(buf, (size_t)k, &m) < 0 || memfd < 0)
		abort(); /* libscif's own request is valid */
	close(memfd);
	{
		uint64_t cookie = m.body.conn_req.cookie;
		skiff_wire_init(&m, SKIFF_MSG_CONN_GRANT);
		m.body.grant.node = in.node;
		m.body.grant.port = in.port;
		m.body.grant.status = in.cookie_ok & 2 ? in.status : 0;
		m.body.grant.cookie = in.cookie_ok & 1 ? cookie : cookie ^ (1ull + in.status);
		if (in.type_sel & 1)
			m.hdr.type = (uint16_t)(in.type_sel >> 1);
	}
	len = sizeof(m.hdr) + m.hdr.body_len;
	memcpy(rec, &m, len);
	if (in.raw_len & 0x80) {
		len = n < sizeof(rec) ? n : sizeof(rec);
		memcpy(rec, d, len);
	} else if ((in.raw_len & 0x40) && (size_t)(in.raw_len & 0x3f) < len) {
		len = in.raw_len & 0x3f; /* truncated */
	} else {
		in.raw_len &= 0x3f; /* whole */
	}
	switch (in.fd_kind % 6) {
	case 0:
		break;
	case 1:
	case 2:
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			abort();
		fds[0] = sp[1];
		nfds = 1;
		if (in.fd_kind % 6 == 2) {
			fds[1] = sp[0]; /* both ends */
			nfds = 2;
		} else {
			close(sp[0]); /* the connection may then die: fine */
		}
		break;
	case 3:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			abort();
		fds[0] = sp[1];
		close(sp[0]);
		nfds = 1;
		break;
	case 4: {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		fds[0] = p[0];
		close(p[1]);
		nfds = 1;
		break;
	}
	default:
		fds[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
		nfds = 1;
		break;
	}
	valid = !(in.raw_len & 0xc0) && m.hdr.type == SKIFF_MSG_CONN_GRANT &&
		(in.cookie_ok & 1) &&
		m.body.grant.status == 0 && nfds >= 1 && in.fd_kind % 6 <= 2;
	(void)send_fds(s, rec, len, fds, nfds);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (!(in.fd_kind & 0x80))
		close(s); /* and the acceptor is gone at once (allowed) */
	{
		/* collect the result: the grant (or EOF) is there already */
		struct pollfd p = { .fd = epd, .events = POLLIN | POLLOUT };
		poll(&p, 1, 1000);
		errno = 0;
		r = scif_connect(epd, &dst);
		e = errno;
	}
	if (r < 0 && e == EALREADY)
		fail("the grant was there, the connect did not finish");
	if (valid && r < 0 && (in.fd_kind & 0x80))
		fail("a valid grant (the acceptor alive) was refused");
	if (!valid && r >= 0)
		fail("connected on a grant it must refuse");
	scif_close(epd);
	if (in.fd_kind & 0x80)
		close(s);
	close(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds0;

	if (size < 1)
		return 0;
	if (listener < 0) {
		listener = scif_open();
		if (listener < 0 || scif_bind(listener, LPORT) != LPORT ||
		    scif_listen(listener, 4) < 0)
			abort();
	}
	fds0 = fz_count_fds();
	if (data[0] & 1)
		grant(data + 1, size - 1);
	else
		request(data + 1, size - 1);
	fz_check_fds(fds0, "fuzz_setup");
	return 0;
}
