/* SPDX-License-Identifier: MIT */
/*
 * fuzz_region - libFuzzer harness for the validation of the shared region
 * (ring.c, msg.c, poll.c, fence.c read words the peer writes). A memfd is
 * filled with the input's bytes (the header page, then the ring the library
 * consumes) and attached with skiff_conn_attach() as a connected endpoint
 * (fuzz_conn.h); then a script from the input runs non-blocking calls
 * (scif_recv, scif_send, scif_poll, scif_fence_mark(INIT_PEER)) while the
 * harness, as the peer, rewrites words of the region, line stamps, and
 * sends records on the data socket between them. No call may fault, read
 * or write outside the region (ASan, UBSan), block, or return more than it
 * was asked for.
 *
 * Input: byte 0: the library's side (bit 0) and script length (>> 1, up to
 * 127 steps of 4 bytes: op, a, b, c); the rest fills the header, then the
 * consumer's ring.
 */
#include "fuzz_conn.h"

#include <poll.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t nasty(uint32_t cur, uint8_t b, uint8_t c)
{
	switch (b & 7) {
	case 0: return cur + c;
	case 1: return cur - c;
	case 2: return cur + FZ_RING - 1 + (c & 3);
	case 3: return 0;
	case 4: return ~0u - c;
	case 5: return 0x80000000u + c;
	default: return (uint32_t)b << 24 | (uint32_t)c << 16 | c;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[16384];
	struct fz_conn c;
	size_t nsteps, hdr_n, ring_n, at;
	const uint8_t *script, *rest;
	int side, fd, fds0;
	uint32_t *words;
	unsigned nwords;

	if (size < 1)
		return 0;
	side = data[0] & 1;
	nsteps = data[0] >> 1;
	if (1 + nsteps * 4 > size)
		nsteps = (size - 1) / 4;
	script = data + 1;
	rest = script + nsteps * 4;
	at = size - (size_t)(rest - data);
	hdr_n = at < 1024 ? at : 1024;
	ring_n = at - hdr_n;
	fds0 = fz_count_fds();
	fd = fz_region(rest, hdr_n);
	if (ring_n) {
		/* the ring the library consumes: written by the other side */
		off_t ro = skiff_ring_offset(FZ_RING, 1 - side);
		if (ring_n > skiff_ring_bytes(FZ_RING))
			ring_n = skiff_ring_bytes(FZ_RING);
		if (pwrite(fd, rest + hdr_n, ring_n, ro) != (ssize_t)ring_n)
			abort();
	}
	fz_conn_open(&c, fd, side, 0);
	close(fd);
	words = (uint32_t *)(void *)c.h;
	nwords = sizeof(struct skiff_region_hdr) / 4;
	for (size_t i = 0; i < nsteps; i++) {
		uint8_t op = script[4 * i], a = script[4 * i + 1], b = script[4 * i + 2],
			cc = script[4 * i + 3];
		int len = 1 + (int)(((unsigned)a << 8 | b) % sizeof(buf));
		int64_t t0 = now_ms();
		int r;

		switch (op % 8) {
		case 0:
			r = scif_recv(c.epd, buf, len, 0);
			if (r > len)
				abort();
			break;
		case 1:
			r = scif_send(c.epd, buf, len, 0);
			if (r > len)
				abort();
			break;
		case 2: {
			struct scif_pollepd p = { .epd = c.epd, .events = POLLIN | POLLOUT };
			r = scif_poll(&p, 1, 0);
			if (r < 0 || r > 1 ||
			    (p.revents & ~(POLLIN | POLLOUT | POLLHUP | POLLERR)))
				abort();
			break;
		}
		case 3: { /* the peer rewrites a word of the header */
			unsigned w = a % nwords;
			words[w] = nasty(words[w], b, cc);
			break;
		}
		case 4: { /* ... or a line stamp of the ring we consume */
			unsigned char *ring = (unsigned char *)c.h +
					      skiff_ring_offset(FZ_RING, 1 - side);
			uint32_t *st = (uint32_t *)(void *)(ring + (a % skiff_ring_lines(FZ_RING)) * 64 +
							    SKIFF_LINE_DATA);
			*st = nasty(*st, b, cc);
			break;
		}
		case 5: { /* a record on the data socket */
			union {
				struct skiff_wire_msg m;
				unsigned char b[64];
			} u;
			memset(&u, 0, sizeof(u));
			skiff_wire_init(&u.m, (uint16_t)(SKIFF_MSG_DOORBELL + (b & 1)));
			if (b & 2)
				u.m.hdr.type = (uint16_t)cc;
			fz_send_with_fd(c.peer, &u, sizeof(u.m.hdr) + (b & 4 ? cc % 32 : 0),
					(unsigned)(b >> 3));
			break;
		}
		case 6: {
			int mark;
			(void)scif_fence_mark(c.epd, SCIF_FENCE_INIT_PEER, &mark);
			break;
		}
		default:
			fz_drain(c.peer); /* the peer reads its records */
			break;
		}
		if (now_ms() - t0 > 2000)
			abort(); /* a non-blocking call blocked */
	}
	fz_conn_close(&c);
	fz_check_fds(fds0, "fuzz_region");
	return 0;
}
