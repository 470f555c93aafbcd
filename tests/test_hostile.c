/* SPDX-License-Identifier: MIT */
/*
 * test_hostile: a peer that speaks the wire protocol itself and lies.
 *
 * The attacker is this process, using raw SOCK_SEQPACKET sockets and its own
 * memfd region (wire.h, region.h, names.h); the victim is a child using
 * libscif. The victim must not crash or hang, and must only ever see data,
 * 0, or ECONNRESET.
 *
 * 1. Bad connection requests (no fd, unsealed, wrong size, bad ring size,
 *    not a memfd, truncated, ...) are refused without crashing the acceptor,
 *    and a good connection still works afterwards.
 * 2. After a proper handshake (acceptor victim), the attacker writes random
 *    and edge values into every control word of both rings and the header,
 *    random bytes into the rings, and garbage records (random bytes,
 *    truncated, unknown types, bad lengths, huge padding, stray fds) to the
 *    socket, while the victim loops over scif_recv/scif_send/scif_poll.
 * 3. The same with the victim as the connector (the attacker plays the
 *    acceptor and scribbles over the victim's own region).
 * 4. Bad grants (wrong cookie, non-zero status, garbage, no or a bogus RMA
 *    control socket) make scif_connect fail rather than crash or hang.
 *
 * The grant carries the connection's RMA control socket (SCM_RIGHTS); in
 * phases 2 and 3 the attacker also sends garbage and lying window
 * announcements (WIN_ADD over memfds it then truncates, overflowing
 * offsets, no fd) on it, while the victim also calls scif_vreadfrom and
 * scif_vwriteto at those offsets (any result but a crash or a hang).
 */
#include "harness.h"

#include "names.h"
#include "region.h"
#include "wire.h"
#include "wire_rma.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define RING 4096u
#define ATTACK_MS 1500

/* ---- the attacker's tools --------------------------------------------------- */

static int make_region(uint32_t ring_size, uint32_t file_size, int seals,
		       int good_header, void **map)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct skiff_region_hdr *h;

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, file_size) == 0);
	h = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(h != MAP_FAILED);
	if (file_size >= sizeof(*h)) {
		h->magic = good_header ? SKIFF_REGION_MAGIC : 0xdeadbeef;
		h->version = SKIFF_REGION_VERSION;
		h->ring_size = ring_size;
		h->region_size = skiff_region_size(ring_size);
	}
	if (seals)
		CHECK(fcntl(fd, F_ADD_SEALS, seals) == 0);
	if (map)
		*map = h;
	else
		munmap(h, file_size);
	return fd;
}

static int send_with_fds(int s, const void *buf, size_t len, const int *fds,
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
	return (int)sendmsg(s, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* A raw socket bound to (node 0, src_port) and connected to dst_port. */
static int raw_connect(uint16_t src_port, uint16_t dst_port, int bind_it)
{
	struct sockaddr_un sa;
	socklen_t sl;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	CHECK(s >= 0);
	if (bind_it) {
		sl = skiff_port_addr(&sa, h_fabric(), 0, src_port);
		CHECK(bind(s, (struct sockaddr *)&sa, sl) == 0);
	}
	sl = skiff_port_addr(&sa, h_fabric(), 0, dst_port);
	CHECK(connect(s, (struct sockaddr *)&sa, sl) == 0);
	return s;
}

static void build_req(unsigned char *rec, uint16_t src_port, uint16_t dst_port,
		      uint32_t ring_size, uint32_t region_size, uint64_t cookie)
{
	struct skiff_wire_msg m;

	skiff_wire_init(&m, SKIFF_MSG_CONN_REQ);
	m.body.conn_req.src_node = 0;
	m.body.conn_req.src_port = src_port;
	m.body.conn_req.dst_node = 0;
	m.body.conn_req.dst_port = dst_port;
	m.body.conn_req.ring_size = ring_size;
	m.body.conn_req.region_size = region_size;
	m.body.conn_req.cookie = cookie;
	memset(rec, 0, SKIFF_CREDIT_BYTES);
	memcpy(rec, &m, sizeof(m.hdr) + m.hdr.body_len);
}

/* 1: granted (status 0, our cookie); 0: refused (closed, or a grant with a
 * non-zero status); -1: no answer within @ms. The grant carries the
 * connection's RMA control socket: stored in *ctl (or closed if NULL). */
static int wait_grant(int s, uint64_t cookie, int ms, int *ctl)
{
	unsigned char buf[256];
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct skiff_wire_msg m;
	struct cmsghdr *cm;
	int fd = -1;
	ssize_t n;

	if (ctl)
		*ctl = -1;
	if (!h_readable(s, ms)) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
			return 0;
		return -1;
	}
	n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	for (cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			for (size_t j = 0; j < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); j++) {
				int x;
				memcpy(&x, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
				if (fd < 0)
					fd = x;
				else
					close(x);
			}
		}
	if (ctl)
		*ctl = fd;
	else if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	if (skiff_wire_decode(buf, (size_t)n, &m) < 0 ||
	    m.hdr.type != SKIFF_MSG_CONN_GRANT) {
		h_log("unexpected answer to a request (%zd bytes)", n);
		return 0;
	}
	if (m.body.grant.status != 0)
		return 0;
	EXPECT_EQ(m.body.grant.cookie, cookie);
	return 1;
}

/* ---- the victim's checks ------------------------------------------------------ */

/* Descriptors, but not the eventfd the library's control service keeps from
 * its first connection on (it lives as long as the process). */
static int count_fds(void)
{
	int n = h_count_fds();

	for (int fd = 0; fd < 1024; fd++) {
		char path[64], t[64];
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		k = readlink(path, t, sizeof(t) - 1);
		if (k < 0)
			continue;
		t[k] = 0;
		if (!strcmp(t, "anon_inode:[eventfd]"))
			n--;
	}
	return n;
}

static int victim_calls;
static int victim_resets;
static long victim_bytes;

static void vcheck_result(const char *what, int r, int e, int len)
{
	victim_calls++;
	if (r >= 0 && strstr(what, "recv"))
		victim_bytes += r;
	if (r >= 0) {
		if (r > len) {
			h_log("%s returned %d > len %d", what, r, len);
			h_fail(__FILE__, __LINE__, "result within len", 0, 0);
		}
		return;
	}
	if (e == ECONNRESET) {
		victim_resets++;
		return;
	}
	h_log("%s failed with errno %d (%s)", what, e, strerrorname_np(e));
	h_fail(__FILE__, __LINE__, "only data, 0 or ECONNRESET", e, 0);
}

static void vcheck_time(const char *what, int64_t t0, int limit_ms)
{
	int64_t ms = h_ms_since(t0);

	if (ms > limit_ms) {
		h_log("%s took %lld ms", what, (long long)ms);
		h_fail(__FILE__, __LINE__, "call returned in time", 0, 0);
	}
}

/* One round of calls on a possibly-poisoned endpoint. */
static void victim_round(scif_epd_t ep, uint64_t *rs)
{
	static unsigned char buf[70000];
	int len = 1 + (int)(h_rand(rs) % 9000);
	int64_t t0;
	int r, e;

	switch (h_rand(rs) % 7) {
	case 0:
		t0 = h_now_ns();
		errno = 0;
		r = scif_recv(ep, buf, len, 0);
		e = errno;
		vcheck_time("non-blocking scif_recv", t0, 1000);
		vcheck_result("scif_recv", r, e, len);
		break;
	case 1:
		t0 = h_now_ns();
		errno = 0;
		r = scif_send(ep, buf, len, 0);
		e = errno;
		vcheck_time("non-blocking scif_send", t0, 1000);
		vcheck_result("scif_send", r, e, len);
		break;
	case 2: {
		struct scif_pollepd p = { .epd = ep, .events = POLLIN | POLLOUT };
		t0 = h_now_ns();
		errno = 0;
		r = scif_poll(&p, 1, (long)(h_rand(rs) % 3));
		e = errno;
		vcheck_time("scif_poll(<=2 ms)", t0, 1000);
		if (r < 0) {
			h_log("scif_poll failed: %s", strerrorname_np(e));
			h_fail(__FILE__, __LINE__, "scif_poll succeeds", e, 0);
		} else if (r && (p.revents & ~(POLLIN | POLLOUT | POLLHUP | POLLERR))) {
			h_log("scif_poll revents 0x%x", p.revents);
			h_fail(__FILE__, __LINE__, "sane revents", 0, 0);
		}
		victim_calls++;
		break;
	}
	case 3: {
		struct pollfd p = { .fd = ep, .events = POLLIN | POLLOUT };
		t0 = h_now_ns();
		r = poll(&p, 1, 0);
		vcheck_time("poll(0)", t0, 1000);
		CHECK(r >= 0);
		break;
	}
	case 5: {
		/* RMA against windows the hostile peer may have announced */
		off_t off = (off_t)(0x10000 + (h_rand(rs) % 8) * 4096 +
				    (h_rand(rs) & 1 ? 0 : h_rand(rs) % 4096));
		size_t n = 1 + h_rand(rs) % 8192;
		t0 = h_now_ns();
		if (h_rand(rs) & 1)
			(void)scif_vreadfrom(ep, buf, n, off, SCIF_RMA_USECPU);
		else
			(void)scif_vwriteto(ep, buf, n, off, SCIF_RMA_USECPU);
		vcheck_time("scif_vreadfrom/vwriteto", t0, 2000);
		victim_calls++;
		break;
	}
	default:
		/* a blocking recv of data that is claimed to be there */
		if (h_rand(rs) & 1) {
			struct scif_pollepd p = { .epd = ep, .events = POLLIN };
			if (scif_poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
				t0 = h_now_ns();
				errno = 0;
				r = scif_recv(ep, buf, 1, SCIF_RECV_BLOCK);
				e = errno;
				vcheck_time("blocking 1-byte recv after POLLIN",
					    t0, 2000);
				vcheck_result("scif_recv(block)", r, e, 1);
			}
		}
		break;
	}
}

/* After the attacker closed its socket: everything ends in ECONNRESET. */
static void victim_finish(scif_epd_t ep)
{
	static unsigned char buf[8192];
	int64_t t0 = h_now_ns();
	int r, e = 0, i;

	STEP("victim: the attacker is gone; calls end in ECONNRESET");
	for (i = 0; i < 10000; i++) {
		errno = 0;
		r = scif_recv(ep, buf, sizeof(buf), SCIF_RECV_BLOCK);
		e = errno;
		vcheck_result("scif_recv(block) after close", r, e, sizeof(buf));
		if (r < 0)
			break;
		if (h_ms_since(t0) > 3000)
			break;
	}
	EXPECT_EQ(e, ECONNRESET);
	vcheck_time("draining to ECONNRESET", t0, 3000);
	t0 = h_now_ns();
	EXPECT_ERR(scif_send(ep, buf, 100, SCIF_SEND_BLOCK), ECONNRESET);
	EXPECT_ERR(scif_send(ep, buf, 100, 0), ECONNRESET);
	vcheck_time("send after close", t0, 1000);
	{
		struct scif_pollepd p = { .epd = ep, .events = POLLIN };
		EXPECT_EQ(scif_poll(&p, 1, 1000), 1);
		EXPECT(p.revents & POLLHUP);
	}
	EXPECT_EQ(scif_close(ep), 0);
}

/* ---- 1. bad connection requests ---------------------------------------------- */

struct acc_victim_arg {
	uint16_t port;
	int wr;      /* ready / results */
	int rd;      /* attack over */
};

/* Accept in a loop; a connection that sends "GOOD" ends the test. */
static int accept_victim(void *a)
{
	struct acc_victim_arg *va = a;
	struct scif_portID peer;
	scif_epd_t l = h_listen(va->port, 8, NULL), ne;
	int fds0 = count_fds();
	char buf[8];

	h_put(va->wr, 1);
	for (int n = 0; n < 200; n++) {
		int r, e;

		STEP("victim accept #%d", n);
		errno = 0;
		r = scif_accept(l, &peer, &ne, SCIF_ACCEPT_SYNC);
		e = errno;
		if (r < 0) {
			h_log("accept #%d: %s (a refused request)", n,
			      strerrorname_np(e));
			continue;
		}
		/* a granted connection: is it the good one? */
		struct scif_pollepd p = { .epd = ne, .events = POLLIN };
		r = scif_poll(&p, 1, 2000);
		if (r == 1 && (p.revents & POLLIN) &&
		    scif_recv(ne, buf, 4, SCIF_RECV_BLOCK) == 4 &&
		    memcmp(buf, "GOOD", 4) == 0) {
			EXPECT_EQ(scif_send(ne, "OK!!", 4, SCIF_SEND_BLOCK), 4);
			EXPECT_ERR(scif_recv(ne, buf, 1, SCIF_RECV_BLOCK), ECONNRESET);
			scif_close(ne);
			scif_close(l);
			if (count_fds() > fds0 - 1) {
				h_log("victim: descriptors left after all "
				      "connections closed:");
				h_dump_fds();
			}
			EXPECT_LE(count_fds(), fds0 - 1);
			return 0;
		}
		h_log("accept #%d granted a connection that is not the good one",
		      n);
		scif_close(ne);
	}
	h_fail(__FILE__, __LINE__, "good connection arrives", 0, 0);
	return 1;
}

enum bad_kind {
	B_NO_FD, B_UNSEALED, B_NO_SHRINK_SEAL, B_NO_GROW_SEAL, B_SMALL_FILE,
	B_BIG_FILE, B_REGION_FIELD, B_RING_NOT_POW2, B_RING_TINY, B_RING_HUGE,
	B_RING_ZERO, B_PIPE_FD, B_DEVNULL_FD, B_TRUNCATED, B_WRONG_TYPE,
	B_BAD_MAGIC_WIRE, B_BAD_VERSION_WIRE, B_UNBOUND_SOCKET, B_SILENT,
	B_CLOSE_AT_ONCE, B_EMPTY_RECORD, NBAD
};
static const char *bad_name[] = {
	"no fd", "unsealed memfd", "memfd without F_SEAL_SHRINK",
	"memfd without F_SEAL_GROW", "memfd smaller than region_size",
	"memfd larger than region_size", "region_size field inconsistent",
	"ring_size not a power of two", "ring_size 1024", "ring_size 2^31",
	"ring_size 0", "a pipe instead of a memfd", "/dev/null instead of a memfd",
	"truncated record", "CREDIT instead of CONN_REQ", "bad wire magic",
	"bad wire version", "connector socket not bound to a port name",
	"connect and stay silent", "connect and close at once", "empty record",
};

/* Send one bad request; returns the socket (or -1 if closed already). */
static int send_bad(enum bad_kind k, uint16_t src, uint16_t dst, uint64_t cookie)
{
	static unsigned char rec[SKIFF_CREDIT_BYTES];
	uint32_t ring = RING, rsize = skiff_region_size(RING), fsize = rsize;
	int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	int s = raw_connect(src, dst, k != B_UNBOUND_SOCKET);
	int fd = -1, nfds = 1, len = SKIFF_CREDIT_BYTES;

	switch (k) {
	case B_UNSEALED: seals = 0; break;
	case B_NO_SHRINK_SEAL: seals = F_SEAL_GROW; break;
	case B_NO_GROW_SEAL: seals = F_SEAL_SHRINK; break;
	case B_SMALL_FILE: fsize = rsize - 4096; break;
	case B_BIG_FILE: fsize = rsize + 4096; break;
	case B_REGION_FIELD: rsize += 4096; fsize = rsize; break;
	case B_RING_NOT_POW2: ring = 6000; rsize = skiff_region_size(ring); fsize = rsize; break;
	case B_RING_TINY: ring = 1024; rsize = skiff_region_size(ring); fsize = rsize; break;
	case B_RING_HUGE: ring = 1u << 31; rsize = skiff_region_size(ring); fsize = 8192; break;
	case B_RING_ZERO: ring = 0; rsize = skiff_region_size(0); fsize = rsize; break;
	default: break;
	}
	build_req(rec, src, dst, ring, rsize, cookie);
	if (k == B_SILENT) {
		return s;
	}
	if (k == B_CLOSE_AT_ONCE) {
		close(s);
		return -1;
	}
	if (k == B_PIPE_FD) {
		int p[2];
		CHECK(pipe2(p, O_CLOEXEC) == 0);
		fd = p[0];
		close(p[1]);
	} else if (k == B_DEVNULL_FD) {
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		CHECK(fd >= 0);
	} else if (k != B_NO_FD) {
		fd = make_region(ring, fsize, seals, 1, NULL);
	}
	if (k == B_NO_FD)
		nfds = 0;
	if (k == B_TRUNCATED)
		len = 20;
	if (k == B_EMPTY_RECORD)
		len = 0;
	if (k == B_WRONG_TYPE)
		((struct skiff_wire_hdr *)rec)->type = SKIFF_MSG_CREDIT;
	if (k == B_BAD_MAGIC_WIRE)
		((struct skiff_wire_hdr *)rec)->magic ^= 1;
	if (k == B_BAD_VERSION_WIRE)
		((struct skiff_wire_hdr *)rec)->version = 99;
	CHECK(send_with_fds(s, rec, (size_t)len, &fd, nfds) == len);
	if (fd >= 0)
		close(fd);
	return s;
}

static void test_bad_requests(void)
{
	struct acc_victim_arg va = { .port = 12000 };
	struct h_pipe up;
	pid_t victim;
	int st;

	h_pipe_init(&up, 0);
	va.wr = up.wr;
	victim = h_fork(accept_victim, &va);
	h_get_must(up.rd, 5000);
	for (int k = 0; k < NBAD; k++) {
		uint64_t cookie = 0x1234000 + (uint64_t)k;
		const char *only = getenv("SKIFF_TEST_ONLY_BAD"); /* debugging */
		int s, g;

		if (only && atoi(only) != k)
			continue;

		STEP("bad request: %s", bad_name[k]);
		s = send_bad((enum bad_kind)k, (uint16_t)(12100 + k), va.port, cookie);
		if (s >= 0) {
			g = wait_grant(s, cookie, 4000, NULL);
			if (g != 0)
				h_log("bad request \"%s\": %s", bad_name[k],
				      g > 0 ? "GRANTED" : "neither granted nor "
				      "refused within 4 s");
			EXPECT_EQ(g, 0);
			close(s);
		}
		if (waitpid(victim, &st, WNOHANG) == victim) {
			char b[64];
			h_forget(victim);
			h_log("victim died after \"%s\": %s", bad_name[k],
			      h_status_str(st, b, sizeof(b)));
			h_fail(__FILE__, __LINE__, "acceptor survives bad requests",
			       0, 1);
		}
	}
	STEP("a good handcrafted request is granted");
	{
		static unsigned char rec[SKIFF_CREDIT_BYTES];
		int fd = make_region(RING, skiff_region_size(RING),
				     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, 1,
				     NULL);
		int s = raw_connect(12099, va.port, 1);
		build_req(rec, 12099, va.port, RING, skiff_region_size(RING), 77);
		CHECK(send_with_fds(s, rec, sizeof(rec), &fd, 1) == (int)sizeof(rec));
		close(fd);
		EXPECT_EQ(wait_grant(s, 77, 4000, NULL), 1);
		close(s);
	}
	STEP("a good connection still works");
	{
		scif_epd_t c = h_connect(0, va.port);
		char b[4];
		CHECK_EQ(scif_send(c, "GOOD", 4, SCIF_SEND_BLOCK), 4);
		CHECK_EQ(scif_recv(c, b, 4, SCIF_RECV_BLOCK), 4);
		EXPECT(memcmp(b, "OK!!", 4) == 0);
		scif_close(c);
	}
	EXPECT_CHILD_OK(victim, 10000);
	h_pipe_close(&up);
}

/* ---- 2/3. scribbling over a live connection --------------------------------------- */

static volatile uint32_t *ctl_word(struct skiff_region_hdr *h, unsigned i)
{
	switch (i % 16) {
	case 0: return &h->ring[0].head;
	case 1: return &h->ring[0].d_posted;
	case 2: return &h->ring[0].c_posted;
	case 3: return &h->ring[0].tail;
	case 4: return &h->ring[0].d_drained;
	case 5: return &h->ring[0].c_drained;
	case 6: return &h->ring[1].head;
	case 7: return &h->ring[1].d_posted;
	case 8: return &h->ring[1].c_posted;
	case 9: return &h->ring[1].tail;
	case 10: return &h->ring[1].d_drained;
	case 11: return &h->ring[1].c_drained;
	case 12: return &h->closed[0];
	case 13: return &h->closed[1];
	case 14: return &h->ring_size;
	default: return &h->region_size;
	}
}

static uint32_t nasty_value(uint64_t *rs, uint32_t near)
{
	switch (h_rand(rs) % 10) {
	case 0: return 0;
	case 1: return 0xffffffffu;
	case 2: return 0x80000000u;
	case 3: return near + RING;
	case 4: return near + RING + 1;
	case 5: return near - 1;
	case 6: return near + 1;
	case 7: return near + (uint32_t)(h_rand(rs) % 8192);
	case 8: return near - (uint32_t)(h_rand(rs) % 8192);
	default: return (uint32_t)h_rand(rs);
	}
}

/* Random records for the victim's socket. */
static void send_garbage(int s, uint64_t *rs)
{
	static unsigned char rec[SKIFF_CREDIT_BYTES + 4096];
	struct skiff_wire_msg m;
	size_t len;
	int fd = -1, nfds = 0;

	switch (h_rand(rs) % 10) {
	case 0: /* random bytes */
		len = 1 + h_rand(rs) % 300;
		for (size_t i = 0; i < len; i++)
			rec[i] = (unsigned char)h_rand(rs);
		break;
	case 1: /* truncated header */
		skiff_wire_init(&m, SKIFF_MSG_DOORBELL);
		memcpy(rec, &m, sizeof(m.hdr));
		len = h_rand(rs) % sizeof(m.hdr);
		break;
	case 2: /* valid doorbell */
	case 3:
		skiff_wire_init(&m, SKIFF_MSG_DOORBELL);
		memcpy(rec, &m, sizeof(m.hdr));
		len = sizeof(m.hdr);
		break;
	case 4: /* credit, padded, sometimes over-padded */
		skiff_wire_init(&m, SKIFF_MSG_CREDIT);
		memset(rec, 0, sizeof(rec));
		memcpy(rec, &m, sizeof(m.hdr));
		len = h_rand(rs) & 1 ? SKIFF_CREDIT_BYTES : sizeof(rec);
		break;
	case 5: /* valid header, random type and body_len */
		skiff_wire_init(&m, SKIFF_MSG_DOORBELL);
		m.hdr.type = (uint16_t)(h_rand(rs) % 12);
		m.hdr.body_len = (uint32_t)h_rand(rs);
		memcpy(rec, &m, sizeof(m.hdr));
		len = sizeof(m.hdr) + h_rand(rs) % 64;
		break;
	case 6: /* a grant or request out of place */
		skiff_wire_init(&m, h_rand(rs) & 1 ? SKIFF_MSG_CONN_GRANT
						  : SKIFF_MSG_CONN_REQ);
		memcpy(rec, &m, sizeof(m.hdr) + m.hdr.body_len);
		len = sizeof(m.hdr) + m.hdr.body_len;
		break;
	case 7: /* a stray fd */
		skiff_wire_init(&m, SKIFF_MSG_DOORBELL);
		memcpy(rec, &m, sizeof(m.hdr));
		len = sizeof(m.hdr);
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		nfds = fd >= 0;
		break;
	case 8: /* empty record */
		len = 0;
		break;
	default: /* reserved field set */
		skiff_wire_init(&m, SKIFF_MSG_DOORBELL);
		m.hdr.reserved = (uint32_t)h_rand(rs) | 1;
		memcpy(rec, &m, sizeof(m.hdr));
		len = sizeof(m.hdr);
		break;
	}
	(void)send_with_fds(s, rec, len, &fd, nfds);
	if (fd >= 0)
		close(fd);
}

enum attack_mode { A_ALL, A_RINGS_ONLY, A_SOCKET_ONLY, NMODES };
static const char *mode_name[] = { "everything", "ring words and data only",
				   "socket records only" };

/* Records for the RMA control socket: garbage, and window announcements
 * that lie (memfds that shrink, are unsealed, are not memfds, lengths and
 * offsets that overflow). */
static void send_rma_garbage(int ctl, uint64_t *rs)
{
	struct skiff_rma_msg m;
	unsigned char raw[256];
	int fds[2] = { -1, -1 }, nfds = 0;
	size_t len;

	switch (h_rand(rs) % 6) {
	case 0:
		len = h_rand(rs) % sizeof(raw);
		for (size_t i = 0; i < len; i++)
			raw[i] = (unsigned char)h_rand(rs);
		(void)send_with_fds(ctl, raw, len, NULL, 0);
		return;
	case 1:
	case 2: {
		/* a window over a memfd that will not stay that size */
		uint64_t pages = 1 + h_rand(rs) % 4;
		skiff_rma_msg_init(&m, SKIFF_RMA_WIN_ADD);
		m.body.win.offset = 0x10000 + (h_rand(rs) % 8) * 4096;
		m.body.win.len = pages * 4096;
		m.body.win.file_off = 0;
		m.body.win.prot = SCIF_PROT_READ | SCIF_PROT_WRITE;
		switch (h_rand(rs) % 6) {
		case 0: m.body.win.len = 1ull << 40; break;
		case 1: m.body.win.file_off = 1ull << 40; break;
		case 2: m.body.win.offset = 0x7ffffffffffff000ull; break;
		case 3: m.body.win.prot = (uint32_t)h_rand(rs); break;
		case 4: m.body.win.len = 0; break;
		default: break;
		}
		fds[0] = memfd_create("hostile-win", MFD_CLOEXEC);
		CHECK(fds[0] >= 0);
		CHECK(ftruncate(fds[0], (off_t)(pages * 4096)) == 0);
		nfds = 1;
		if (h_rand(rs) % 4 == 0) {
			fds[1] = open("/dev/null", O_RDWR | O_CLOEXEC);
			nfds = fds[1] >= 0 ? 2 : 1;
		}
		if (h_rand(rs) % 5 == 0)
			nfds = 0; /* no fd at all */
		(void)send_with_fds(ctl, &m, sizeof(m.hdr) + m.hdr.body_len, fds,
				    nfds);
		/* then pull the pages out from under the peer */
		if (h_rand(rs) & 1)
			(void)!ftruncate(fds[0], 0);
		break;
	}
	case 3:
		skiff_rma_msg_init(&m, SKIFF_RMA_WIN_DEL);
		m.body.range.offset = h_rand(rs) & 1 ? 0x10000 : h_rand(rs);
		m.body.range.len = h_rand(rs) & 1 ? 8 * 4096 : h_rand(rs);
		(void)send_with_fds(ctl, &m, sizeof(m.hdr) + m.hdr.body_len, NULL, 0);
		break;
	default:
		skiff_rma_msg_init(&m, h_rand(rs) & 1 ? SKIFF_RMA_MAP_REF
						      : SKIFF_RMA_MAP_UNREF);
		m.body.range.offset = h_rand(rs) & 1 ? 0 : h_rand(rs);
		m.body.range.len = h_rand(rs);
		(void)send_with_fds(ctl, &m, sizeof(m.hdr) + m.hdr.body_len, NULL, 0);
		break;
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void attack(int s, int ctl, struct skiff_region_hdr *h, uint64_t seed,
		   enum attack_mode mode)
{
	unsigned char *rings = (unsigned char *)h + SKIFF_REGION_HDR;
	uint64_t rs = seed;
	int64_t t0 = h_now_ns();
	long n = 0;

	while (h_ms_since(t0) < ATTACK_MS) {
		uint64_t what = h_rand(&rs) % 100;

		if (mode == A_RINGS_ONLY && what >= 55 && what < 60)
			what = 0; /* not the header */
		if (mode == A_RINGS_ONLY && what >= 70 && what < 95)
			what = 60 + what % 10;
		if (mode == A_SOCKET_ONLY && what < 70)
			what = 70 + what % 25;
		n++;
		if (what < 55) {
			volatile uint32_t *w = ctl_word(h, (unsigned)(h_rand(&rs) % 14));
			*w = nasty_value(&rs, *w);
		} else if (what < 60) {
			/* the header, too (it should have been copied) */
			volatile uint32_t *w = ctl_word(h, 14 + (unsigned)(h_rand(&rs) % 2));
			*w = nasty_value(&rs, *w);
			if (h_rand(&rs) & 1) {
				h->magic = (uint32_t)h_rand(&rs);
				h->version = (uint32_t)h_rand(&rs);
			}
		} else if (what < 70) {
			size_t off = h_rand(&rs) % (2 * RING);
			rings[off] = (unsigned char)h_rand(&rs);
		} else if (what < 95) {
			if (ctl >= 0 && (h_rand(&rs) & 1))
				send_rma_garbage(ctl, &rs);
			else
				send_garbage(s, &rs);
		} else {
			sched_yield();
		}
	}
	h_log("attack (%s): %ld actions in %d ms", mode_name[mode], n,
	      ATTACK_MS);
}

struct victim_arg {
	uint16_t port;
	int connector; /* victim connects (else it accepts) */
	int wr, rd;
};

static int scribble_victim(void *a)
{
	struct victim_arg *va = a;
	struct scif_portID peer;
	scif_epd_t ep, l = -1;
	uint64_t rs = 99;
	int fds0;

	if (va->connector) {
		fds0 = count_fds();
		h_put(va->wr, 1);
		STEP("victim connects to the hostile acceptor");
		ep = h_connect(0, va->port);
	} else {
		l = h_listen(va->port, 2, NULL);
		fds0 = count_fds();
		h_put(va->wr, 1);
		STEP("victim accepts the hostile connector");
		CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	}
	STEP("victim loops while the region is scribbled over");
	while (!h_readable(va->rd, 0))
		victim_round(ep, &rs);
	h_log("victim: %d calls, %d ECONNRESET, %ld bytes received", victim_calls,
	      victim_resets, victim_bytes);
	victim_finish(ep);
	if (l >= 0)
		scif_close(l);
	{
		int fds1 = count_fds();
		if (fds1 > fds0) {
			h_log("victim holds %d more descriptors after the "
			      "connection closed:", fds1 - fds0);
			h_dump_fds();
		}
		EXPECT_LE(fds1, fds0);
	}
	return 0;
}

static void test_scribble_acceptor(enum attack_mode mode)
{
	struct victim_arg va = { .port = (uint16_t)(12500 + 10 * mode),
				 .connector = 0 };
	static unsigned char rec[SKIFF_CREDIT_BYTES];
	struct skiff_region_hdr *h;
	struct h_pipe up, down;
	pid_t victim;
	int fd, s, ctl;

	STEP("scribble (%s): victim is the acceptor", mode_name[mode]);
	h_pipe_init(&up, 0);
	h_pipe_init(&down, 0);
	va.wr = up.wr;
	va.rd = down.rd;
	victim = h_fork(scribble_victim, &va);
	h_get_must(up.rd, 5000);
	fd = make_region(RING, skiff_region_size(RING),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, 1, (void **)&h);
	s = raw_connect((uint16_t)(va.port + 1), va.port, 1);
	build_req(rec, (uint16_t)(va.port + 1), va.port, RING,
		  skiff_region_size(RING), 4242);
	CHECK(send_with_fds(s, rec, sizeof(rec), &fd, 1) == (int)sizeof(rec));
	close(fd);
	CHECK_EQ(wait_grant(s, 4242, 5000, &ctl), 1);
	EXPECT_GE(ctl, 0); /* the grant carries the RMA control socket */
	STEP("attack the acceptor");
	attack(s, ctl, h, 1 + mode, mode);
	h_put(down.wr, 1);
	close(s);
	if (ctl >= 0)
		close(ctl);
	munmap(h, skiff_region_size(RING));
	STEP("victim (acceptor) survives");
	CHECK_CHILD_OK(victim, 20000);
	h_pipe_close(&up);
	h_pipe_close(&down);
}

/* The attacker as acceptor: take the victim's request and region. */
static int raw_listen(uint16_t port)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_port_addr(&sa, h_fabric(), 0, port);
	int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	CHECK(l >= 0);
	CHECK(bind(l, (struct sockaddr *)&sa, sl) == 0);
	CHECK(listen(l, 8) == 0);
	return l;
}

/* Accept a raw connection and read the victim's request; returns the
 * socket, fills the request and the region fd. */
static int raw_take_request(int l, struct skiff_conn_req *req, int *memfd)
{
	unsigned char buf[SKIFF_CREDIT_BYTES + 64];
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct skiff_wire_msg m;
	struct cmsghdr *cm;
	ssize_t n;
	int s;

	CHECK(h_readable(l, 10000));
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(s >= 0);
	CHECK(h_readable(s, 10000));
	n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	CHECK(n > 0);
	CHECK_EQ(n, SKIFF_CREDIT_BYTES);
	CHECK(skiff_wire_decode(buf, (size_t)n, &m) == 0);
	CHECK_EQ(m.hdr.type, SKIFF_MSG_CONN_REQ);
	*req = m.body.conn_req;
	*memfd = -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(memfd, CMSG_DATA(cm), sizeof(int));
	CHECK(*memfd >= 0);
	return s;
}

/* A grant, carrying @ctl (the RMA control socket) unless it is -1. */
static void send_grant(int s, uint16_t port, uint64_t cookie, uint32_t status,
		       int ctl)
{
	struct skiff_wire_msg m;

	skiff_wire_init(&m, SKIFF_MSG_CONN_GRANT);
	m.body.grant.node = 0;
	m.body.grant.port = port;
	m.body.grant.status = status;
	m.body.grant.cookie = cookie;
	CHECK_EQ(send_with_fds(s, &m, sizeof(m.hdr) + m.hdr.body_len, &ctl,
			       ctl >= 0),
		 (int)(sizeof(m.hdr) + m.hdr.body_len));
}

/* A socketpair for the RMA control channel: returns our end, *theirs the
 * end to pass in the grant. */
static int ctl_pair(int *theirs)
{
	int sp[2];

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
	*theirs = sp[1];
	return sp[0];
}

static void test_scribble_connector(enum attack_mode mode)
{
	struct victim_arg va = { .port = (uint16_t)(12600 + 10 * mode),
				 .connector = 1 };
	struct skiff_conn_req req;
	struct skiff_region_hdr *h;
	struct h_pipe up, down;
	struct stat st;
	pid_t victim;
	int l, s, memfd, ctl;

	STEP("scribble (%s): victim is the connector", mode_name[mode]);
	l = raw_listen(va.port);
	h_pipe_init(&up, 0);
	h_pipe_init(&down, 0);
	va.wr = up.wr;
	va.rd = down.rd;
	victim = h_fork(scribble_victim, &va);
	h_get_must(up.rd, 5000);
	s = raw_take_request(l, &req, &memfd);
	STEP("check the victim's own request and region");
	EXPECT_EQ(req.ring_size, RING);
	EXPECT_EQ(req.region_size, skiff_region_size(RING));
	EXPECT_EQ(req.dst_port, va.port);
	CHECK(fstat(memfd, &st) == 0);
	EXPECT_EQ(st.st_size, (off_t)skiff_region_size(RING));
	{
		int seals = fcntl(memfd, F_GET_SEALS);
		EXPECT(seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW));
	}
	h = mmap(NULL, skiff_region_size(RING), PROT_READ | PROT_WRITE, MAP_SHARED,
		 memfd, 0);
	CHECK(h != MAP_FAILED);
	close(memfd);
	EXPECT_EQ(h->magic, SKIFF_REGION_MAGIC);
	EXPECT_EQ(h->ring_size, RING);
	{
		int theirs;
		ctl = ctl_pair(&theirs);
		send_grant(s, va.port, req.cookie, 0, theirs);
		close(theirs);
	}
	STEP("attack the connector");
	attack(s, ctl, h, 11 + mode, mode);
	h_put(down.wr, 1);
	close(s);
	close(ctl);
	munmap(h, skiff_region_size(RING));
	STEP("victim (connector) survives");
	CHECK_CHILD_OK(victim, 20000);
	close(l);
	h_pipe_close(&up);
	h_pipe_close(&down);
}

/* ---- 4. bad grants ----------------------------------------------------------------- */

enum grant_kind { G_WRONG_COOKIE, G_STATUS, G_GARBAGE, G_CLOSE, G_TRUNCATED,
		  G_NO_CTL, G_CTL_NOT_SOCKET, G_TWO_GRANTS, NGRANT };
static const char *grant_name[] = { "wrong cookie", "non-zero status",
				    "garbage record", "close without a grant",
				    "truncated grant", "grant without a control socket",
				    "grant with a pipe as control socket",
				    "two grants" };

/* After a connection to a hostile acceptor: every call returns in time. */
static void poke_connection(scif_epd_t ep)
{
	static unsigned char page[4096] __attribute__((aligned(4096)));
	unsigned char b[16];
	int64_t t0 = h_now_ns();
	off_t off;

	(void)scif_send(ep, b, 1, 0);
	(void)scif_recv(ep, b, sizeof(b), 0);
	off = scif_register(ep, page, sizeof(page), 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			    0);
	(void)scif_vreadfrom(ep, page, 64, 0, SCIF_RMA_USECPU);
	(void)scif_vwriteto(ep, page, 64, 0, SCIF_RMA_USECPU);
	if (off != SCIF_REGISTER_FAILED)
		(void)scif_unregister(ep, off, sizeof(page));
	vcheck_time("calls on a connection to a hostile acceptor", t0, 3000);
}

struct conn_victim_arg {
	uint16_t port;
	int expect; /* 1 connected, 0 refused, -1 either */
	const char *what;
};

static int connect_victim(void *a)
{
	struct conn_victim_arg *ca = a;
	struct scif_portID dst = { .node = 0, .port = ca->port };
	scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());
	int64_t t0 = h_now_ns();
	int r, e;

	errno = 0;
	r = scif_connect(ep, &dst);
	e = errno;
	vcheck_time("scif_connect against a bad grant", t0, 12000);
	if (ca->expect == 1) {
		EXPECT_GE(r, 0);
	} else if (ca->expect == 0) {
		EXPECT_EQ(r, -1);
		if (r == -1 && e != ECONNREFUSED && e != ECONNRESET)
			h_log("connect failed with %s", strerrorname_np(e));
		EXPECT(r == -1 && (e == ECONNREFUSED || e == ECONNRESET ||
				   e == EPROTO));
	} else if (r >= 0) {
		h_log("note: a bad grant (%s) was accepted", ca->what);
	}
	if (r >= 0)
		poke_connection(ep);
	scif_close(ep);
	return 0;
}

static void test_bad_grants(void)
{
	for (int k = 0; k < NGRANT; k++) {
		struct conn_victim_arg ca = {
			.port = (uint16_t)(12700 + k),
			.expect = k == G_TWO_GRANTS ? 1 : k == G_CTL_NOT_SOCKET ? -1 : 0,
			.what = grant_name[k],
		};
		struct skiff_conn_req req;
		int l, s, memfd, ctl_keep = -1;
		pid_t victim;

		STEP("bad grant: %s", grant_name[k]);
		l = raw_listen(ca.port);
		victim = h_fork(connect_victim, &ca);
		s = raw_take_request(l, &req, &memfd);
		close(memfd);
		{
			int theirs, ours = ctl_pair(&theirs);

			switch (k) {
			case G_WRONG_COOKIE:
				send_grant(s, ca.port, req.cookie ^ 1, 0, theirs);
				break;
			case G_STATUS:
				send_grant(s, ca.port, req.cookie, 1, theirs);
				break;
			case G_GARBAGE: {
				unsigned char g[40];
				memset(g, 0xa5, sizeof(g));
				CHECK_EQ(send_with_fds(s, g, sizeof(g), &theirs, 1),
					 (int)sizeof(g));
				break;
			}
			case G_CLOSE:
				break;
			case G_TRUNCATED: {
				struct skiff_wire_msg m;
				skiff_wire_init(&m, SKIFF_MSG_CONN_GRANT);
				m.body.grant.cookie = req.cookie;
				CHECK_EQ(send_with_fds(s, &m, sizeof(m.hdr) + 4,
						       &theirs, 1),
					 (int)(sizeof(m.hdr) + 4));
				break;
			}
			case G_NO_CTL:
				send_grant(s, ca.port, req.cookie, 0, -1);
				break;
			case G_CTL_NOT_SOCKET: {
				int p[2];
				CHECK(pipe2(p, O_CLOEXEC) == 0);
				send_grant(s, ca.port, req.cookie, 0, p[0]);
				close(p[0]);
				close(p[1]);
				break;
			}
			case G_TWO_GRANTS:
				send_grant(s, ca.port, req.cookie, 0, theirs);
				send_grant(s, ca.port, req.cookie, 0, theirs);
				break;
			}
			close(theirs);
			if (k != G_TWO_GRANTS)
				close(ours);
			else
				ctl_keep = ours;
		}
		if (k == G_TWO_GRANTS) {
			/* keep the connection until the victim is done */
			EXPECT_CHILD_OK(victim, 15000);
			close(s);
			close(ctl_keep);
		} else {
			if (k == G_CLOSE)
				close(s);
			EXPECT_CHILD_OK(victim, 15000);
			if (k != G_CLOSE)
				close(s);
		}
		close(l);
	}
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "hostile", 170, NULL);
	test_bad_requests();
	for (int m = 0; m < NMODES; m++) {
		test_scribble_acceptor((enum attack_mode)m);
		test_scribble_connector((enum attack_mode)m);
	}
	test_bad_grants();
	return h_finish();
}
