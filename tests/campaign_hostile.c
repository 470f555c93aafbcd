/* SPDX-License-Identifier: MIT */
/*
 * campaign_hostile: a hostile-peer campaign. The attacker (this driver
 * process) speaks the wire protocol itself (raw SOCK_SEQPACKET sockets, its
 * own region memfd: wire.h, wire_rma.h, region.h) to a victim process that
 * uses libscif normally (under ASan in the ASan build). The victim also has
 * a second, honest connection to an honest peer process.
 *
 * Each trial connects the attacker to the victim (the victim accepts in
 * even trials and connects in odd ones), then attacks for ATTACK_MS with
 * one of (trial % 5):
 *   scribble  random and edge values in every word of the shared region
 *             (ring words, RMA progress words, closed flags, header) and
 *             random bytes in the rings
 *   records   random records with random descriptors (memfds sealed or
 *             not, large sparse memfds, pipes, sockets, /dev/null, several
 *             at once) on the RMA control socket and the data socket:
 *             WIN_ADD / WIN_DEL / MAP_REF / MAP_UNREF / WIN_DEL_ACK with
 *             random and edge fields, unknown types, truncated records
 *   flood     WIN_DEL records never reading the ACKs, WIN_ADD of 1 TiB
 *             sparse memfds, doorbells and credits, never reading anything
 *   windows   200 honest-looking WIN_ADD of 1 TiB sparse memfds at
 *             distinct offsets, then 56 of halving sizes down to 64 MiB
 *             (issue 7 item 3), then quiet
 *   stall     progress words that lie (submitted ahead of completed, which
 *             creeps by 1 every 200 ms), no ACK for the victim's WIN_DEL,
 *             the rings never read
 * then closes everything. Meanwhile three victim threads loop over
 * the API on the attacked connection (send/recv/poll, register/unregister,
 * RMAs at the offsets the attacker announced, fences SELF and PEER, fence
 * signals, scif_mmap), and its main thread loops over timed calls on the
 * honest connection: an echo round trip, scif_register + scif_unregister,
 * scif_vwriteto, and scif_connect + scif_close of a new connection to the
 * honest peer. Counted per trial (a trial shows a class if any call did):
 *
 *   crash       the victim died by a signal or exited non-zero (an ASan or
 *               UBSan report exits non-zero)
 *   hang        a call on the attacked connection took > HANG_MS, or did
 *               not return within RELEASE_MS after the attacker closed all
 *               its sockets (the victim is then abandoned)
 *   delayed     a call on the honest connection took > 500 ms, or > 100 ms
 *               twice in a row for the same call, not counting the time
 *               the victim's thread waited for a CPU (schedstat run_delay;
 *               one call of 100-500 ms alone is taken to be the scheduler
 *               of a loaded machine still) (issue 7 items 4, 5); the
 *               table's honest-max column is the longest honest call
 *   honest-err  a call on the honest connection failed
 *   errno       send/recv on the attacked connection failed with other
 *               than ECONNRESET
 *   addr-space  at the end of the attack (before the victim closes the
 *               attacked endpoint), malloc(64 MiB) or mmap(1 GiB) failed in
 *               the victim (issue 7 item 3; under ASan run with
 *               ASAN_OPTIONS=allocator_may_return_null=1, as ctest does)
 *   fd-leak     the victim holds more descriptors after closing the
 *               attacked endpoint than before it had one (not in issue 7;
 *               found by this campaign: an empty record carrying
 *               descriptors on the RMA control socket leaks them, as
 *               svc.c's skiff_rma_sync stops at n <= 0 before skiff_take_fd;
 *               tests/fuzz/fuzz_ctl finds the same, class ctl-empty-fd)
 *   map-leak    likewise for memfd mappings (/proc/self/maps lines of
 *               "/memfd:" files: the peer's windows, regions)
 *
 * Usage: campaign_hostile [--trials N] [--seed S] [--first T] [--attack-ms MS]
 *                         [--known=CLASS,...] [--verbose]
 * Prints a table (trials per attack, trials showing each class) and exits
 * non-zero if a class not named in --known was seen; --known is for the
 * ctest entry on code with known defects: drop each class when it is fixed.
 */
#include "harness.h"

#include "names.h"
#include "region.h"
#include "wire.h"
#include "wire_rma.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define PG 4096ul
#define RING 4096u
#define WOFF 0x100000l       /* windows the attacker announces / honest peer's */
#define HANG_MS 12000
#define RELEASE_MS 3000
#define DELAY_MS 100
#define DELAY_ONCE_MS 500
#define NHT 3               /* victim threads on the attacked connection */
#define HONEST_PORT 21000
#define VICTIM_PORT 21001
#define ATTACKER_PORT 21002

enum cls { C_CRASH, C_HANG, C_DELAYED, C_HONEST, C_ERRNO, C_ADDR, C_FD_LEAK,
	   C_MAP_LEAK, NCLS };
static const char *cls_name[NCLS] = { "crash", "hang", "delayed", "honest-err",
				      "errno", "addr-space", "fd-leak",
				      "map-leak" };
enum attack { A_SCRIBBLE, A_RECORDS, A_FLOOD, A_STALL, A_WINDOWS, NATTACK };
static const char *attack_name[NATTACK] = { "scribble", "records", "flood",
					    "stall", "windows" };

static int verbose;

struct report {
	int32_t cls[NCLS];
	int32_t honest_calls, hostile_calls;
	int32_t honest_max_ms, hostile_max_ms;
	int32_t fds0, fds1, maps0, maps1;
	char detail[200];
};

/* ---- raw protocol tools ------------------------------------------------- */

static int send_fds(int s, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { (void *)buf, len };
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	return (int)sendmsg(s, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Receive one record, closing any descriptors; returns its length or -1. */
static int recv_drop(int s, void *buf, size_t len, int *fd_out)
{
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (fd_out)
		*fd_out = -1;
	if (n < 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			for (size_t j = 0; j < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			     j++) {
				int x;
				memcpy(&x, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
				if (fd_out && *fd_out < 0)
					*fd_out = x;
				else
					close(x);
			}
	return (int)n;
}

static int make_region(void **map)
{
	uint32_t size = skiff_region_size(RING);
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct skiff_region_hdr *h;

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, size) == 0);
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(h != MAP_FAILED);
	h->magic = SKIFF_REGION_MAGIC;
	h->version = SKIFF_REGION_VERSION;
	h->ring_size = RING;
	h->region_size = size;
	CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0);
	*map = h;
	return fd;
}

/* The attacker connects to the victim's listener: returns the data
 * socket; *ctl the RMA control socket from the grant, *h the region. */
static int attacker_connect(int *ctl, struct skiff_region_hdr **h)
{
	static unsigned char rec[SKIFF_CREDIT_BYTES];
	struct sockaddr_un sa;
	struct skiff_wire_msg m;
	socklen_t sl;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), fd, n;
	unsigned char buf[256];

	CHECK(s >= 0);
	sl = skiff_port_addr(&sa, h_fabric(), 0, ATTACKER_PORT);
	CHECK(bind(s, (struct sockaddr *)&sa, sl) == 0);
	sl = skiff_port_addr(&sa, h_fabric(), 0, VICTIM_PORT);
	CHECK(connect(s, (struct sockaddr *)&sa, sl) == 0);
	fd = make_region((void **)h);
	skiff_wire_init(&m, SKIFF_MSG_CONN_REQ);
	m.body.conn_req.src_port = ATTACKER_PORT;
	m.body.conn_req.dst_port = VICTIM_PORT;
	m.body.conn_req.ring_size = RING;
	m.body.conn_req.region_size = skiff_region_size(RING);
	m.body.conn_req.cookie = 0x5eed;
	memset(rec, 0, sizeof(rec));
	memcpy(rec, &m, sizeof(m.hdr) + m.hdr.body_len);
	CHECK_EQ(send_fds(s, rec, sizeof(rec), &fd, 1), (int)sizeof(rec));
	close(fd);
	CHECK(h_readable(s, 10000));
	n = recv_drop(s, buf, sizeof(buf), ctl);
	CHECK(n > 0);
	CHECK(skiff_wire_decode(buf, (size_t)n, &m) == 0);
	CHECK_EQ(m.hdr.type, SKIFF_MSG_CONN_GRANT);
	CHECK_EQ(m.body.grant.status, 0);
	CHECK(*ctl >= 0);
	return s;
}

/* The attacker listens: accept the victim's request and grant it. */
static int attacker_accept(int l, int *ctl, struct skiff_region_hdr **h)
{
	unsigned char buf[SKIFF_CREDIT_BYTES + 64];
	struct skiff_wire_msg m;
	int s, memfd, n, sp[2];

	CHECK(h_readable(l, 10000));
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(s >= 0);
	CHECK(h_readable(s, 10000));
	n = recv_drop(s, buf, sizeof(buf), &memfd);
	CHECK(n > 0 && memfd >= 0);
	CHECK(skiff_wire_decode(buf, (size_t)n, &m) == 0);
	CHECK_EQ(m.hdr.type, SKIFF_MSG_CONN_REQ);
	CHECK_EQ(m.body.conn_req.ring_size, RING);
	*h = mmap(NULL, skiff_region_size(RING), PROT_READ | PROT_WRITE, MAP_SHARED,
		  memfd, 0);
	CHECK(*h != MAP_FAILED);
	close(memfd);
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
	{
		uint64_t cookie = m.body.conn_req.cookie;
		skiff_wire_init(&m, SKIFF_MSG_CONN_GRANT);
		m.body.grant.port = ATTACKER_PORT;
		m.body.grant.cookie = cookie;
		CHECK_EQ(send_fds(s, &m, sizeof(m.hdr) + m.hdr.body_len, &sp[1], 1),
			 (int)(sizeof(m.hdr) + m.hdr.body_len));
	}
	close(sp[1]);
	*ctl = sp[0];
	return s;
}

/* ---- attacks ------------------------------------------------------------------ */

struct attacker {
	int s, ctl;
	struct skiff_region_hdr *h;
	int side; /* the attacker's side in the region */
	uint64_t rs;
	long actions;
	uint64_t next_off; /* windows attack */
};

static uint64_t rnd(struct attacker *a)
{
	return h_rand(&a->rs);
}

static uint64_t edge64(struct attacker *a)
{
	static const uint64_t e[] = { 0, 1, PG, WOFF, WOFF + PG, 0x7ffffffffffff000ull,
				      0x8000000000000000ull, ~0ull, ~0ull - PG + 1,
				      1ull << 40, 1ull << 47 };
	return rnd(a) & 1 ? e[rnd(a) % (sizeof(e) / sizeof(e[0]))] : rnd(a);
}

/* A random descriptor (or none): returns how many were put in fds[]. */
static int random_fds(struct attacker *a, int *fds)
{
	int n = (int)(rnd(a) % 4), k = 0;

	for (int i = 0; i < n; i++) {
		int fd = -1, sp[2];
		switch (rnd(a) % 7) {
		case 0: /* a sealed memfd of a few pages */
		case 1:
			fd = memfd_create("h-win", MFD_CLOEXEC | MFD_ALLOW_SEALING);
			if (fd >= 0) {
				(void)!ftruncate(fd, (off_t)((1 + rnd(a) % 4) * PG));
				if (rnd(a) & 1)
					fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
			}
			break;
		case 2: /* a large sparse one */
			fd = memfd_create("h-big", MFD_CLOEXEC | MFD_ALLOW_SEALING);
			if (fd >= 0) {
				(void)!ftruncate(fd, (off_t)(1ull << (30 + rnd(a) % 12)));
				fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
			}
			break;
		case 3: {
			int p[2];
			if (pipe2(p, O_CLOEXEC) == 0) {
				fd = p[0];
				close(p[1]);
			}
			break;
		}
		case 4:
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0) {
				fd = sp[0];
				close(sp[1]);
			}
			break;
		case 5:
			fd = open("/dev/null", O_RDWR | O_CLOEXEC);
			break;
		default:
			fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
			break;
		}
		if (fd >= 0)
			fds[k++] = fd;
	}
	return k;
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* One random control record with random descriptors. */
static void random_ctl_record(struct attacker *a)
{
	struct skiff_rma_msg m;
	unsigned char raw[256];
	int fds[4], nfds = random_fds(a, fds);
	size_t len;

	skiff_rma_msg_init(&m, (uint16_t)(SKIFF_RMA_WIN_ADD + rnd(a) % 5));
	if (m.hdr.type == SKIFF_RMA_WIN_ADD) {
		m.body.win.offset = rnd(a) % 3 ? WOFF + (rnd(a) % 8) * PG : edge64(a);
		m.body.win.len = rnd(a) % 3 ? (1 + rnd(a) % 4) * PG : edge64(a);
		m.body.win.file_off = rnd(a) % 3 ? 0 : edge64(a);
		m.body.win.prot = rnd(a) % 3 ? SCIF_PROT_READ | SCIF_PROT_WRITE
					     : (uint32_t)rnd(a);
		if (rnd(a) % 8 == 0)
			m.body.win.reserved = (uint32_t)rnd(a);
	} else {
		m.body.range.offset = rnd(a) % 2 ? WOFF : edge64(a);
		m.body.range.len = rnd(a) % 2 ? 8 * PG : edge64(a);
	}
	len = sizeof(m.hdr) + m.hdr.body_len;
	memcpy(raw, &m, len);
	switch (rnd(a) % 8) {
	case 0: /* truncated */
		len = rnd(a) % len;
		break;
	case 1: /* random bytes */
		len = rnd(a) % sizeof(raw);
		for (size_t i = 0; i < len; i++)
			raw[i] = (unsigned char)rnd(a);
		break;
	case 2: /* unknown type, or a lying length */
		((struct skiff_wire_hdr *)raw)->type = (uint16_t)rnd(a);
		if (rnd(a) & 1)
			((struct skiff_wire_hdr *)raw)->body_len = (uint32_t)rnd(a);
		break;
	default:
		break;
	}
	(void)send_fds(a->ctl, raw, len, fds, nfds);
	close_fds(fds, nfds);
	a->h->rma[a->side].ctl_posted++;
}

/* One random record on the data socket. */
static void random_data_record(struct attacker *a)
{
	static unsigned char rec[SKIFF_CREDIT_BYTES + 64];
	struct skiff_wire_msg m;
	int fds[4], nfds = rnd(a) % 4 == 0 ? random_fds(a, fds) : 0;
	size_t len;

	skiff_wire_init(&m, (uint16_t)(1 + rnd(a) % SKIFF_MSG_TYPE_MAX));
	memset(rec, 0, 64);
	memcpy(rec, &m, sizeof(m.hdr) + m.hdr.body_len);
	len = sizeof(m.hdr) + m.hdr.body_len;
	if (m.hdr.type == SKIFF_MSG_CREDIT && (rnd(a) & 1)) {
		memset(rec + len, 0, SKIFF_CREDIT_BYTES - len);
		len = SKIFF_CREDIT_BYTES;
	}
	if (rnd(a) % 4 == 0)
		for (size_t i = 0; i < 64; i++)
			rec[i] = (unsigned char)rnd(a);
	(void)send_fds(a->s, rec, len, fds, nfds);
	close_fds(fds, nfds);
}

static volatile uint32_t *region_word(struct skiff_region_hdr *h, unsigned i)
{
	struct skiff_ring_ctl *rc = &h->ring[(i / 8) & 1];

	switch (i % 8) {
	case 0: return &rc->head;
	case 1: return &rc->d_posted;
	case 2: return &rc->c_posted;
	case 3: return &rc->tail;
	case 4: return &rc->d_drained;
	case 5: return &rc->c_drained;
	case 6: return (volatile uint32_t *)&rc->spin + (i / 16 & 1);
	default: return &h->closed[(i / 16) & 1];
	}
}

static void scribble(struct attacker *a)
{
	unsigned char *rings = (unsigned char *)a->h + SKIFF_REGION_HDR;
	uint64_t w = rnd(a) % 100;

	if (w < 50) {
		volatile uint32_t *p = region_word(a->h, (unsigned)rnd(a));
		uint32_t v = *p;
		switch (rnd(a) % 6) {
		case 0: v = 0; break;
		case 1: v = ~0u; break;
		case 2: v += RING; break;
		case 3: v += 1 + (uint32_t)(rnd(a) % 64); break;
		case 4: v -= 1 + (uint32_t)(rnd(a) % 64); break;
		default: v = (uint32_t)rnd(a); break;
		}
		*p = v;
	} else if (w < 75) {
		/* the RMA progress words and record counters, both sides' */
		struct skiff_rma_ctl *rc = &a->h->rma[rnd(a) & 1];
		switch (rnd(a) % 4) {
		case 0: rc->submitted = edge64(a); break;
		case 1: rc->completed = edge64(a); break;
		case 2: rc->completed = rc->submitted + (rnd(a) & 1 ? 1 : ~0ull); break;
		default: rc->ctl_posted = (uint32_t)rnd(a); break;
		}
	} else if (w < 80) {
		volatile uint32_t *hw = &a->h->magic + rnd(a) % 4;
		*hw = (uint32_t)rnd(a);
	} else {
		for (int i = 0; i < 16; i++)
			rings[rnd(a) % (2 * skiff_ring_bytes(RING))] = (unsigned char)rnd(a);
	}
}

/* A window announcement the victim will accept: sealed, in range. */
static void honest_win_add(struct attacker *a, uint64_t off, uint64_t len)
{
	struct skiff_rma_msg m;
	int fd = memfd_create("h-ok", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return;
	(void)!ftruncate(fd, (off_t)len);
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	skiff_rma_msg_init(&m, SKIFF_RMA_WIN_ADD);
	m.body.win.offset = off;
	m.body.win.len = len;
	m.body.win.prot = SCIF_PROT_READ | SCIF_PROT_WRITE;
	(void)send_fds(a->ctl, &m, sizeof(m.hdr) + m.hdr.body_len, &fd, 1);
	close(fd);
	a->h->rma[a->side].ctl_posted++;
}

static void attack(struct attacker *a, enum attack kind, int ms)
{
	int64_t t0 = h_now_ns(), t_creep = t0;
	struct skiff_rma_ctl *mine = &a->h->rma[a->side];

	/* windows for the victim's RMAs and mmaps to land in */
	honest_win_add(a, WOFF, 8 * PG);
	if (kind == A_STALL) {
		mine->completed = 100;
		mine->submitted = 100000;
	}
	while (h_ms_since(t0) < ms) {
		unsigned char buf[512];
		a->actions++;
		switch (kind) {
		case A_SCRIBBLE:
			scribble(a);
			if (rnd(a) % 16 == 0)
				sched_yield();
			break;
		case A_RECORDS:
			if (rnd(a) & 1)
				random_ctl_record(a);
			else
				random_data_record(a);
			/* read (and drop) what the victim sends, mostly */
			if (rnd(a) % 4) {
				while (recv_drop(a->ctl, buf, sizeof(buf), NULL) > 0)
					;
				while (recv_drop(a->s, buf, sizeof(buf), NULL) > 0)
					;
			}
			if (rnd(a) % 8 == 0)
				sched_yield();
			break;
		case A_FLOOD: {
			struct skiff_rma_msg m;
			uint64_t w = rnd(a) % 10;
			if (w < 6) {
				skiff_rma_msg_init(&m, SKIFF_RMA_WIN_DEL);
				m.body.range.offset = 0x40000000ull + (rnd(a) % 64) * PG;
				m.body.range.len = PG;
				if (send_fds(a->ctl, &m, sizeof(m.hdr) + m.hdr.body_len,
					     NULL, 0) > 0)
					mine->ctl_posted++;
				else
					sched_yield(); /* full: the victim must cope */
			} else if (w < 7) {
				int fd = memfd_create("h-big", MFD_CLOEXEC | MFD_ALLOW_SEALING);
				if (fd >= 0) {
					/* 1 TiB windows, sparse, at distinct offsets:
					 * ~128 of them fill a 47-bit address space */
					uint64_t len = 1ull << 40;
					(void)!ftruncate(fd, (off_t)len);
					fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
					skiff_rma_msg_init(&m, SKIFF_RMA_WIN_ADD);
					m.body.win.offset = (1 + rnd(a) % 512) << 40;
					m.body.win.len = len;
					m.body.win.prot = SCIF_PROT_READ | SCIF_PROT_WRITE;
					if (send_fds(a->ctl, &m, sizeof(m.hdr) + m.hdr.body_len,
						     &fd, 1) > 0)
						mine->ctl_posted++;
					close(fd);
				}
			} else {
				struct skiff_wire_msg d;
				skiff_wire_init(&d, rnd(a) & 1 ? SKIFF_MSG_DOORBELL
								: SKIFF_MSG_CREDIT);
				if (send_fds(a->s, &d, sizeof(d.hdr), NULL, 0) < 0)
					sched_yield();
			}
			break;
		}
		case A_WINDOWS:
			/* honest-looking windows of 1 TiB (sparse memfds) at
			 * distinct offsets, then halving sizes down to 64 MiB to
			 * fill the gaps, then quiet: what may they cost us? */
			if (a->actions <= 256) {
				struct skiff_rma_msg m;
				int fd = memfd_create("h-tib", MFD_CLOEXEC | MFD_ALLOW_SEALING);
				uint64_t len = a->actions <= 200 ? 1ull << 40
					: 1ull << (39 - (a->actions - 201) / 4);
				if (fd >= 0) {
					(void)!ftruncate(fd, (off_t)len);
					fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
					skiff_rma_msg_init(&m, SKIFF_RMA_WIN_ADD);
					m.body.win.offset = a->next_off;
					m.body.win.len = len;
					m.body.win.prot = SCIF_PROT_READ | SCIF_PROT_WRITE;
					a->next_off += len;
					while (send_fds(a->ctl, &m, sizeof(m.hdr) + m.hdr.body_len,
							&fd, 1) < 0 && errno == EAGAIN &&
					       h_ms_since(t0) < ms)
						h_readable(a->ctl, 10); /* room? */
					mine->ctl_posted++;
					close(fd);
				}
			} else {
				unsigned char b[512];
				h_readable(a->ctl, 5);
				while (recv_drop(a->ctl, b, sizeof(b), NULL) > 0)
					;
			}
			break;
		case A_STALL:
		default: {
			/* completed creeps: the victim's fences keep waiting */
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			if (h_ms_since(t_creep) >= 200) {
				struct skiff_rma_msg m;
				mine->completed++;
				t_creep = h_now_ns();
				/* a record now and then: the victim's control
				 * service must take it in while its fence waits */
				skiff_rma_msg_init(&m, SKIFF_RMA_MAP_REF);
				m.body.range.offset = WOFF;
				m.body.range.len = PG;
				if (send_fds(a->ctl, &m, sizeof(m.hdr) + m.hdr.body_len,
					     NULL, 0) > 0)
					mine->ctl_posted++;
			}
			nanosleep(&ts, NULL);
			break;
		}
		}
	}
}

/* ---- the honest peer --------------------------------------------------- */

struct honest_arg {
	int wr; /* ready */
};

static void *honest_echo(void *arg)
{
	scif_epd_t ep = (scif_epd_t)(intptr_t)arg;
	char buf[64];

	for (;;) {
		if (scif_recv(ep, buf, sizeof(buf), SCIF_RECV_BLOCK) != sizeof(buf))
			break;
		if (scif_send(ep, buf, sizeof(buf), SCIF_SEND_BLOCK) != sizeof(buf))
			break;
	}
	return NULL;
}

static int honest_peer(void *arg)
{
	struct honest_arg *ha = arg;
	static unsigned char win[16 * 4096] __attribute__((aligned(4096)));
	struct scif_portID peer;
	scif_epd_t l = h_listen(HONEST_PORT, 16, NULL), ep;
	pthread_t t;

	h_put(ha->wr, 1);
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	CHECK_EQ(scif_register(ep, win, sizeof(win), WOFF,
			       SCIF_PROT_READ | SCIF_PROT_WRITE, SCIF_MAP_FIXED), WOFF);
	CHECK_EQ(scif_send(ep, "R", 1, SCIF_SEND_BLOCK), 1);
	CHECK(pthread_create(&t, NULL, honest_echo, (void *)(intptr_t)ep) == 0);
	for (;;) { /* further connections: accept and close */
		scif_epd_t e;
		if (scif_accept(l, &peer, &e, SCIF_ACCEPT_SYNC) < 0)
			continue;
		scif_close(e);
	}
	return 0;
}

/* ---- the victim ----------------------------------------------------------- */

struct victim_arg {
	int acceptor;
	int wr, rd; /* to / from the driver */
	uint64_t seed;
};

struct hostile_thread {
	scif_epd_t ep;
	uint64_t rs;
	_Atomic int stop;
	_Atomic int64_t call_t0; /* 0: not in a call */
	_Atomic int done;
	int calls, max_ms, hang, bad_errno;
	char what[96];
};

static void *hostile_loop(void *arg)
{
	struct hostile_thread *ht = arg;
	/* shared by the threads: only the library's behaviour is checked */
	static unsigned char buf[16 * 4096] __attribute__((aligned(4096)));
	static unsigned char reg[4 * 4096] __attribute__((aligned(4096)));
	int mark = 0, have_mark = 0, regd = 0;

	while (!atomic_load(&ht->stop)) {
		uint64_t x = h_rand(&ht->rs);
		off_t off = WOFF + (off_t)((x >> 8) % 8) * (off_t)PG;
		size_t n = 1 + (size_t)((x >> 16) % (2 * PG));
		int64_t t0 = h_now_ns(), ms;
		long r = 0;
		int e = 0, msg = 0;

		atomic_store(&ht->call_t0, t0);
		errno = 0;
		switch (x % 14) {
		case 0:
			r = scif_send(ht->ep, buf, (int)n, 0);
			msg = 1;
			break;
		case 1:
			r = scif_recv(ht->ep, buf, (int)n, 0);
			msg = 1;
			break;
		case 2: {
			struct scif_pollepd p = { .epd = ht->ep, .events = POLLIN | POLLOUT };
			r = scif_poll(&p, 1, 1);
			break;
		}
		case 3:
			if (!regd) {
				r = (long)scif_register(ht->ep, reg, sizeof(reg), 0x200000,
							SCIF_PROT_READ | SCIF_PROT_WRITE,
							SCIF_MAP_FIXED);
				regd = r == 0x200000;
			} else {
				r = scif_unregister(ht->ep, 0x200000, sizeof(reg));
				regd = 0; /* whatever it said */
			}
			break;
		case 4:
			r = scif_vwriteto(ht->ep, buf, n, off, x & (1 << 20) ? SCIF_RMA_USECPU : 0);
			break;
		case 5:
			r = scif_vreadfrom(ht->ep, buf, n, off, x & (1 << 20) ? SCIF_RMA_USECPU : 0);
			break;
		case 6:
			if (regd)
				r = scif_writeto(ht->ep, 0x200000, PG, off, 0);
			break;
		case 7:
			if (regd)
				r = scif_readfrom(ht->ep, 0x200000, PG, off, SCIF_RMA_SYNC);
			break;
		case 8:
		case 9:
			r = scif_fence_mark(ht->ep, x % 14 == 8 ? SCIF_FENCE_INIT_SELF
							      : SCIF_FENCE_INIT_PEER, &mark);
			have_mark = r == 0;
			if (have_mark && (x & (1 << 21)))
				r = scif_fence_wait(ht->ep, mark);
			break;
		case 10:
			if (regd)
				r = scif_fence_signal(ht->ep, 0x200000, 1, off, 2,
						      (x & (1 << 22) ? SCIF_FENCE_INIT_PEER
								     : SCIF_FENCE_INIT_SELF) |
						      SCIF_SIGNAL_LOCAL | SCIF_SIGNAL_REMOTE);
			break;
		case 11: {
			void *p = scif_mmap(NULL, PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
					    ht->ep, off);
			if (p != SCIF_MMAP_FAILED) {
				(void)*(volatile unsigned char *)p;
				scif_munmap(p, PG);
			}
			break;
		}
		case 12:
			if (have_mark)
				r = scif_fence_wait(ht->ep, mark);
			break;
		default: {
			/* a blocking recv of a byte poll promised */
			struct scif_pollepd p = { .epd = ht->ep, .events = POLLIN };
			if (scif_poll(&p, 1, 0) == 1 && p.revents == POLLIN) {
				r = scif_recv(ht->ep, buf, 1, SCIF_RECV_BLOCK);
				msg = 1;
			}
			break;
		}
		}
		e = errno;
		ms = h_ms_since(t0);
		atomic_store(&ht->call_t0, 0);
		ht->calls++;
		if (ms > ht->max_ms)
			ht->max_ms = (int)ms;
		if (ms > HANG_MS && !ht->hang) {
			ht->hang = 1;
			snprintf(ht->what, sizeof(ht->what), "call %d took %lld ms",
				 (int)(x % 14), (long long)ms);
		}
		if (msg && r < 0 && e != ECONNRESET && !ht->bad_errno) {
			ht->bad_errno = 1;
			snprintf(ht->what, sizeof(ht->what), "send/recv: %s",
				 strerrorname_np(e) ? strerrorname_np(e) : "?");
		}
	}
	atomic_store(&ht->done, 1);
	return NULL;
}

/* Timed calls on the honest connection. */
static const char *honest_name[4] = { "send+recv", "register+unregister",
				      "vwriteto", "connect+close" };
struct honest_state {
	scif_epd_t ep;
	int calls, max_ms, delayed, err;
	int slow[4]; /* the last call of each kind was slow */
	char what[96];
};

/* Run-queue wait of the calling thread (ns; /proc/thread-self/schedstat,
 * second field): time a call waits for a CPU on a loaded machine is not a
 * delay the attacker caused, so it is taken off the honest calls' times. */
static int sched_fd = -1;

static int64_t run_delay(void)
{
	char b[128];
	unsigned long long cpu, wait;
	ssize_t n;

	if (sched_fd < 0)
		return 0;
	n = pread(sched_fd, b, sizeof(b) - 1, 0);
	if (n <= 0)
		return 0;
	b[n] = 0;
	return sscanf(b, "%llu %llu", &cpu, &wait) == 2 ? (int64_t)wait : 0;
}

static void honest_call(struct honest_state *hs, unsigned kind,
			unsigned char *win)
{
	static unsigned char buf[4096];
	struct scif_portID dst = { .node = 0, .port = HONEST_PORT };
	int64_t rd0 = run_delay(), t0 = h_now_ns(), ms;
	int ok = 1;

	switch (kind) {
	case 0:
		ok = scif_send(hs->ep, buf, 64, SCIF_SEND_BLOCK) == 64 &&
		     scif_recv(hs->ep, buf, 64, SCIF_RECV_BLOCK) == 64;
		break;
	case 1:
		ok = scif_register(hs->ep, win, 4 * PG, 0x300000,
				   SCIF_PROT_READ | SCIF_PROT_WRITE, SCIF_MAP_FIXED) == 0x300000 &&
		     scif_unregister(hs->ep, 0x300000, 4 * PG) == 0;
		break;
	case 2:
		ok = scif_vwriteto(hs->ep, buf, sizeof(buf), WOFF, SCIF_RMA_USECPU) == 0;
		break;
	default: {
		scif_epd_t e = scif_open();
		ok = e >= 0 && scif_connect(e, &dst) >= 0;
		if (e >= 0)
			ok &= scif_close(e) == 0;
		break;
	}
	}
	ms = (h_now_ns() - t0 - (run_delay() - rd0)) / 1000000;
	hs->calls++;
	if (ms > hs->max_ms)
		hs->max_ms = (int)ms;
	if (!ok && !hs->err) {
		hs->err = 1;
		snprintf(hs->what, sizeof(hs->what), "honest call %u failed: %s", kind,
			 strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	}
	if (ms > DELAY_MS) {
		if ((hs->slow[kind] || ms > DELAY_ONCE_MS) && !hs->delayed) {
			hs->delayed = 1;
			snprintf(hs->what, sizeof(hs->what), "honest %s: %lld ms%s",
				 honest_name[kind], (long long)ms,
				 ms > DELAY_ONCE_MS ? "" : ", twice in a row");
		}
		hs->slow[kind] = 1;
	} else {
		hs->slow[kind] = 0;
	}
}

/* /proc/self/maps, for showing what a leak is (--verbose) */
static char *read_maps(void)
{
	static char b[2][65536];
	static int which;
	FILE *f = fopen("/proc/self/maps", "r");
	size_t n = 0;
	char *p = b[which++ & 1];

	if (f) {
		n = fread(p, 1, sizeof(b[0]) - 1, f);
		fclose(f);
	}
	p[n] = 0;
	return p;
}

static void show_new_maps(const char *before, const char *after)
{
	const char *l = after;

	while (*l) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)n, l);
		if (!strstr(before, line))
			h_log("  new mapping: %s", line);
		l += n + (e != NULL);
	}
}

/* Lines of /proc/self/maps backed by a memfd: windows, regions. (Anonymous
 * lines come and go with the C library's arenas and thread stacks.) */
static int count_memfd_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/memfd:") != NULL;
	fclose(f);
	return n;
}

/* Can we still allocate? (issue 7 item 3: a peer's windows exhausted the
 * address space) */
static int addr_probe(void)
{
	void *p = malloc(64 << 20);
	void *m = mmap(NULL, 1ul << 30, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int ok = p && m != MAP_FAILED;

	if (p)
		((volatile char *)p)[0] = 1;
	free(p);
	if (m != MAP_FAILED)
		munmap(m, 1ul << 30);
	return ok ? 0 : -1;
}

static int victim(void *arg)
{
	struct victim_arg *va = arg;
	static unsigned char hwin[4 * 4096] __attribute__((aligned(4096)));
	static struct hostile_thread ht[NHT];
	struct honest_state hs;
	struct report rep;
	pthread_t t[NHT];
	int64_t t_stop;
	char c, *maps_before, *what = NULL;
	scif_epd_t ep;
	int all_done;

	memset(ht, 0, sizeof(ht));
	memset(&hs, 0, sizeof(hs));
	memset(&rep, 0, sizeof(rep));
	signal(SIGPIPE, SIG_DFL);
	sched_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	STEP("victim: honest connection");
	hs.ep = h_connect(0, HONEST_PORT);
	CHECK_EQ(scif_recv(hs.ep, &c, 1, SCIF_RECV_BLOCK), 1);
	/* warm: the library's threads (DMA channels, control service) exist
	 * before the baseline */
	honest_call(&hs, 1, hwin);
	honest_call(&hs, 2, hwin);
	honest_call(&hs, 3, hwin);
	{
		static unsigned char big[16 * 4096];
		CHECK_OK(scif_vwriteto(hs.ep, big, sizeof(big), WOFF, 0));
		addr_probe();
	}
	memset(hs.slow, 0, sizeof(hs.slow));
	rep.fds0 = h_count_fds();
	rep.maps0 = count_memfd_maps();
	maps_before = verbose ? read_maps() : NULL;
	STEP("victim: hostile connection");
	if (va->acceptor) {
		struct scif_portID peer;
		scif_epd_t l = h_listen(VICTIM_PORT, 1, NULL);
		h_put(va->wr, 1);
		CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
		scif_close(l);
	} else {
		CHECK_EQ(h_get_must(va->rd, 10000), 1); /* the attacker listens */
		ep = h_connect(0, ATTACKER_PORT);
	}
	/* several threads, so that a call stuck on the peer (a fence
	 * waiting for its lying progress word) meets the others' calls */
	for (int i = 0; i < NHT; i++) {
		ht[i].ep = ep;
		ht[i].rs = va->seed + (uint64_t)i * 0x9e3779b9u;
		CHECK(pthread_create(&t[i], NULL, hostile_loop, &ht[i]) == 0);
	}
	h_put(va->wr, 2);
	STEP("victim: honest calls during the attack");
	while (!h_readable(va->rd, 0))
		honest_call(&hs, (unsigned)(hs.calls % 4), hwin);
	/* the attacker has closed everything: the hostile threads must come
	 * back (every call on a dead connection returns) */
	STEP("victim: release");
	/* before our close drops what the peer made us map */
	if (addr_probe() < 0)
		rep.cls[C_ADDR]++;
	if (verbose) {
		FILE *f = fopen("/proc/self/status", "r");
		char line[128];
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "VmSize", 6))
				h_log("victim %s", line);
		if (f)
			fclose(f);
	}
	for (int i = 0; i < NHT; i++)
		atomic_store(&ht[i].stop, 1);
	t_stop = h_now_ns();
	for (;;) {
		all_done = 1;
		for (int i = 0; i < NHT; i++)
			all_done &= atomic_load(&ht[i].done);
		if (all_done || h_ms_since(t_stop) >= RELEASE_MS)
			break;
		honest_call(&hs, (unsigned)(hs.calls % 4), hwin);
	}
	if (!all_done) {
		static char buf[96];
		int64_t c0 = 0;
		for (int i = 0; i < NHT; i++)
			if (!atomic_load(&ht[i].done))
				c0 = atomic_load(&ht[i].call_t0);
		rep.cls[C_HANG]++;
		snprintf(buf, sizeof(buf), "a call still running %lld ms after the "
			 "attacker closed", c0 ? (long long)h_ms_since(c0) : -1ll);
		what = buf;
	} else {
		for (int i = 0; i < NHT; i++)
			CHECK(pthread_join(t[i], NULL) == 0);
		scif_close(ep);
	}
	STEP("victim: after the attack");
	if (all_done) {
		rep.fds1 = h_count_fds();
		rep.maps1 = count_memfd_maps();
		if (rep.fds1 > rep.fds0) {
			rep.cls[C_FD_LEAK]++;
			if (verbose)
				h_dump_fds();
		}
		if (rep.maps1 > rep.maps0) {
			rep.cls[C_MAP_LEAK]++;
			if (maps_before)
				show_new_maps(maps_before, read_maps());
		}
	}
	for (int i = 0; i < NHT; i++) {
		rep.cls[C_HANG] += ht[i].hang;
		rep.cls[C_ERRNO] += ht[i].bad_errno;
		rep.hostile_calls += ht[i].calls;
		if (ht[i].max_ms > rep.hostile_max_ms)
			rep.hostile_max_ms = ht[i].max_ms;
		if (!what && ht[i].what[0])
			what = ht[i].what;
	}
	rep.cls[C_DELAYED] += hs.delayed;
	rep.cls[C_HONEST] += hs.err;
	rep.honest_calls = hs.calls;
	rep.honest_max_ms = hs.max_ms;
	snprintf(rep.detail, sizeof(rep.detail), "%s%s%s", what ? what : "",
		 what && hs.what[0] ? "; " : "", hs.what);
	CHECK(write(va->wr, &rep, sizeof(rep)) == sizeof(rep));
	fflush(stderr);
	_exit(0); /* an abandoned hostile thread must not hold us */
}

/* ---- the driver ---------------------------------------------------------------- */

static int known[NCLS];

static void parse_known(const char *s)
{
	char buf[256], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int c;
		for (c = 0; c < NCLS && strcmp(tok, cls_name[c]); c++)
			;
		if (c == NCLS) {
			fprintf(stderr, "campaign_hostile: unknown class %s\n", tok);
			exit(2);
		}
		known[c] = 1;
	}
}

static int read_all(int fd, void *p, size_t n, int timeout_ms)
{
	size_t got = 0;
	int64_t t0 = h_now_ns();

	while (got < n) {
		int left = timeout_ms - (int)h_ms_since(t0);
		ssize_t k;
		if (left <= 0 || !h_readable(fd, left))
			return -ETIMEDOUT;
		k = read(fd, (char *)p + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EPIPE;
		got += (size_t)k;
	}
	return 0;
}

struct tally {
	int trials, cls[NCLS], honest_max, hostile_max;
};

static void trial(int t, uint64_t seed, int attack_ms, struct tally *tally)
{
	enum attack kind = (enum attack)(t % NATTACK);
	struct victim_arg va = { .acceptor = (t / NATTACK) % 2 == 0 };
	struct honest_arg ha;
	struct h_pipe hp, up, down;
	struct attacker a;
	struct report rep;
	pid_t hpid, vpid;
	int l = -1, st, rr, show[NCLS] = { 0 };
	int32_t v;
	char buf[64];

	memset(&a, 0, sizeof(a));
	a.rs = seed * 7919 + (uint64_t)t;
	a.next_off = 1ull << 40;
	STEP("trial %d (%s): set-up", t, attack_name[kind]);
	h_pipe_init(&hp, 0);
	h_pipe_init(&up, 0);
	h_pipe_init(&down, 0);
	ha.wr = hp.wr;
	hpid = h_fork(honest_peer, &ha);
	h_get_must(hp.rd, 10000);
	va.wr = up.wr;
	va.rd = down.rd;
	va.seed = h_rand(&a.rs);
	if (!va.acceptor) {
		struct sockaddr_un sa;
		socklen_t sl = skiff_port_addr(&sa, h_fabric(), 0, ATTACKER_PORT);
		l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		CHECK(l >= 0);
		CHECK(bind(l, (struct sockaddr *)&sa, sl) == 0);
		CHECK(listen(l, 4) == 0);
	}
	vpid = h_fork(victim, &va);
	if (va.acceptor) {
		CHECK_EQ(h_get_must(up.rd, 10000), 1);
		a.s = attacker_connect(&a.ctl, &a.h);
		a.side = 0;
	} else {
		h_put(down.wr, 1);
		a.s = attacker_accept(l, &a.ctl, &a.h);
		a.side = 1;
		close(l);
	}
	CHECK_EQ(h_get_must(up.rd, 10000), 2);
	STEP("trial %d (%s): attack", t, attack_name[kind]);
	attack(&a, kind, attack_ms);
	close(a.s);
	close(a.ctl);
	munmap(a.h, skiff_region_size(RING));
	h_put(down.wr, 3);
	STEP("trial %d (%s): victim reports", t, attack_name[kind]);
	rr = read_all(up.rd, &rep, sizeof(rep), RELEASE_MS + HANG_MS);
	st = h_waitpid(vpid, rr == 0 ? 5000 : 1);
	kill(hpid, SIGKILL);
	h_waitpid(hpid, 5000);
	tally->trials++;
	if (rr != 0) {
		memset(&rep, 0, sizeof(rep));
		show[rr == -ETIMEDOUT ? C_HANG : C_CRASH] = 1;
		snprintf(rep.detail, sizeof(rep.detail), "victim: no report (%s)",
			 h_status_str(st, buf, sizeof(buf)));
	} else {
		for (int c = 0; c < NCLS; c++)
			show[c] = rep.cls[c] > 0;
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			show[C_CRASH] = 1;
		if (rep.honest_max_ms > tally->honest_max)
			tally->honest_max = rep.honest_max_ms;
		if (rep.hostile_max_ms > tally->hostile_max)
			tally->hostile_max = rep.hostile_max_ms;
	}
	{
		int any = 0;
		for (int c = 0; c < NCLS; c++) {
			tally->cls[c] += show[c];
			any |= show[c];
		}
		if (any || verbose)
			h_log("trial %d (%s, victim %s): %ld actions; victim calls "
			      "honest %d (max %d ms) hostile %d (max %d ms); fds "
			      "%d->%d maps %d->%d; %s", t, attack_name[kind],
			      va.acceptor ? "accepts" : "connects", a.actions,
			      rep.honest_calls, rep.honest_max_ms, rep.hostile_calls,
			      rep.hostile_max_ms, rep.fds0, rep.fds1, rep.maps0,
			      rep.maps1, rep.detail);
	}
	(void)v;
	h_pipe_close(&hp);
	h_pipe_close(&up);
	h_pipe_close(&down);
}

int main(int argc, char **argv)
{
	int trials = 8, attack_ms = 1500, bad = 0, first = 0;
	uint64_t seed = 1;
	struct tally tl[NATTACK];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--trials") && i + 1 < argc)
			trials = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--attack-ms") && i + 1 < argc)
			attack_ms = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--first") && i + 1 < argc)
			first = atoi(argv[++i]); /* replay trials from this one */
		else if (!strncmp(argv[i], "--known=", 8))
			parse_known(argv[i] + 8);
		else if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		else {
			fprintf(stderr, "usage: campaign_hostile [--trials N] [--seed S] "
				"[--first T] [--attack-ms MS] [--known=CLASS,...] "
				"[--verbose]\n");
			return 2;
		}
	}
	h_init(argc, argv, "campaign_hostile",
	       120 + trials * (attack_ms / 1000 + 2 + (RELEASE_MS + HANG_MS) / 1000),
	       NULL);
	signal(SIGPIPE, SIG_IGN); /* the attacker writes to closed sockets */
	memset(tl, 0, sizeof(tl));
	for (int t = first; t < first + trials; t++)
		trial(t, seed, attack_ms, &tl[t % NATTACK]);

	printf("campaign_hostile: %d trials, seed %llu, %d ms attacks\n", trials,
	       (unsigned long long)seed, attack_ms);
	printf("%-9s %6s", "attack", "trials");
	for (int c = 0; c < NCLS; c++)
		printf(" %10s", cls_name[c]);
	printf(" %10s %10s\n", "honest-max", "hostile-max");
	for (int k = 0; k < NATTACK; k++) {
		printf("%-9s %6d", attack_name[k], tl[k].trials);
		for (int c = 0; c < NCLS; c++)
			printf(" %10d", tl[k].cls[c]);
		printf(" %8d ms %8d ms\n", tl[k].honest_max, tl[k].hostile_max);
	}
	for (int c = 0; c < NCLS; c++) {
		int n = 0;
		for (int k = 0; k < NATTACK; k++)
			n += tl[k].cls[c];
		if (n && !known[c]) {
			printf("campaign_hostile: %s seen in %d trial(s)\n", cls_name[c], n);
			bad = 1;
		} else if (n) {
			printf("campaign_hostile: %s seen in %d trial(s) (tolerated: "
			       "known defect)\n", cls_name[c], n);
		}
	}
	if (bad)
		h_failures++;
	return h_finish();
}
