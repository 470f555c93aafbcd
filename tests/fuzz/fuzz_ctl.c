/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ctl - libFuzzer harness for the control-service record handler
 * (svc.c: skiff_rma_sync and what it calls: skiff_rwin_add, skiff_rwin_del,
 * skiff_lwin_map_ref, the WIN_DEL_ACK count). The harness is the peer of a
 * connected endpoint (fuzz_conn.h): it sends records built from the input,
 * with descriptors of several kinds, on the RMA control socket, advances
 * its ctl_posted word, and lets the library take them in through
 * skiff_rma_sync_locked() (the endpoint is off the control service thread,
 * so runs are deterministic). Then the windows the library accepted must
 * be sane (sorted, disjoint, page aligned) and usable: scif_vreadfrom,
 * scif_vwriteto and scif_mmap on each must not fault.
 *
 * Input: records of 36 bytes: type selector, descriptor kind, flags, one
 * spare byte, then offset, len, file_off (u64) and prot (u32) as the body.
 * flags bit 0: page-align the fields (len 1..8 pages, file_off 0) so that
 * the fuzzer reaches the mmap; bit 1: send the bytes raw (no header); bit 2:
 * truncate to (flags >> 3) bytes (0: an empty record); bit 3 of the selector's upper nibble
 * makes the header lie (reserved set, body_len off by one).
 */
#include "fuzz_conn.h"

#include <pthread.h>

#define REC 36

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_windows(struct fz_conn *c)
{
	static unsigned char buf[8 * 4096];
	struct skiff_ep *ep;
	struct skiff_rwin tab[16];
	size_t n;

	if (skiff_ep_get(c->epd, &ep) < 0)
		abort();
	pthread_mutex_lock(&ep->rma->lock);
	n = ep->rma->nrwin;
	for (size_t i = 0; i < n; i++) {
		struct skiff_rwin *w = &ep->rma->rwin[i];
		if (!w->len || (w->off | w->len) & 4095 || !w->map ||
		    (i && ep->rma->rwin[i - 1].off + ep->rma->rwin[i - 1].len > w->off))
			abort(); /* accepted a window it must not have */
		if (i < 16)
			tab[i] = *w;
	}
	pthread_mutex_unlock(&ep->rma->lock);
	for (size_t i = 0; i < n && i < 16; i++) {
		size_t len = tab[i].len < sizeof(buf) ? tab[i].len : sizeof(buf);
		int rd = scif_vreadfrom(c->epd, buf, len, (off_t)tab[i].off,
					SCIF_RMA_USECPU);
		int wr = scif_vwriteto(c->epd, buf, len, (off_t)tab[i].off,
				       SCIF_RMA_USECPU);
		void *p = scif_mmap(NULL, 4096, SCIF_PROT_READ, 0, c->epd,
				    (off_t)tab[i].off);

		/* a read window is readable; a write one writable */
		if (rd != 0 && (tab[i].prot & SCIF_PROT_READ))
			abort();
		if (wr != 0 && (tab[i].prot & SCIF_PROT_WRITE))
			abort();
		if (p != SCIF_MMAP_FAILED) {
			(void)*(volatile unsigned char *)p;
			scif_munmap(p, 4096);
		}
	}
}

static void sync_now(struct fz_conn *c)
{
	struct skiff_ep *ep;

	if (skiff_ep_get(c->epd, &ep) < 0)
		abort();
	pthread_mutex_lock(&ep->rma->lock);
	skiff_rma_sync_locked(ep);
	pthread_mutex_unlock(&ep->rma->lock);
	fz_drain(c->peer_ctl); /* WIN_DEL_ACKs */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_conn c;
	int fd, fds0, nrec = 0, empty_fd = 0;

	if (size < 1)
		return 0;
	fds0 = fz_count_fds();
	fd = fz_region(NULL, 0);
	{
		/* an honest connector's header: the library is the acceptor */
		struct skiff_region_hdr h = { .magic = SKIFF_REGION_MAGIC,
					      .version = SKIFF_REGION_VERSION,
					      .ring_size = FZ_RING,
					      .region_size = skiff_region_size(FZ_RING) };
		if (pwrite(fd, &h, sizeof(h), 0) != sizeof(h))
			abort();
	}
	fz_conn_open(&c, fd, 1, 1);
	close(fd);
	for (size_t at = 0; at + 4 <= size && nrec < 64; at += REC, nrec++) {
		uint8_t sel = data[at], fdk = data[at + 1], fl = data[at + 2];
		unsigned char rec[64];
		struct skiff_rma_msg m;
		size_t len, avail = size - at - 4 < 32 ? size - at - 4 : 32;

		skiff_rma_msg_init(&m, (uint16_t)(SKIFF_RMA_WIN_ADD + (sel & 7) % 6));
		memset(&m.body, 0, sizeof(m.body));
		memcpy(&m.body, data + at + 4, avail);
		if (m.hdr.type == SKIFF_RMA_WIN_ADD + 5) /* not a type */
			m.hdr.type = (uint16_t)(sel << 4 | fl);
		if (m.hdr.type == SKIFF_RMA_WIN_ADD) {
			m.hdr.body_len = sizeof(m.body.win);
			if (fl & 1) {
				m.body.win.offset &= ~4095ull & ((1ull << 40) - 1);
				m.body.win.len = 4096 * (1 + m.body.win.len % 8);
				m.body.win.file_off = 0;
				m.body.win.prot = 1 + m.body.win.prot % 3;
				m.body.win.reserved = 0;
			}
		} else if (m.hdr.type >= SKIFF_RMA_WIN_DEL &&
			   m.hdr.type <= SKIFF_RMA_WIN_DEL_ACK) {
			m.hdr.body_len = sizeof(m.body.range);
			if (fl & 1) {
				m.body.range.offset &= ~4095ull & ((1ull << 40) - 1);
				m.body.range.len = 4096 * (1 + m.body.range.len % 8);
			}
		} else {
			m.hdr.body_len = (uint32_t)(fl >> 3);
		}
		if (sel & 0x80) {
			m.hdr.reserved = 1;
		} else if (sel & 0x40) {
			m.hdr.body_len++;
		}
		len = sizeof(m.hdr) + (m.hdr.body_len < 32 ? m.hdr.body_len : 32);
		memcpy(rec, &m, len);
		if (fl & 2) { /* raw: the input bytes are the record */
			len = avail + 4 < sizeof(rec) ? avail + 4 : sizeof(rec);
			memcpy(rec, data + at, len);
		}
		if (fl & 4)
			len = len < (size_t)(fl >> 3) ? len : (size_t)(fl >> 3);
		fz_send_with_fd(c.peer_ctl, rec, len, fdk);
		if (len == 0 && fdk % 8)
			empty_fd = 1;
		c.h->rma[0].ctl_posted++;
		if (sel & 0x20)
			sync_now(&c);
	}
	sync_now(&c);
	check_windows(&c);
	fz_conn_close(&c);
	/* known (ctl-empty-fd): svc.c's skiff_rma_sync stops at an empty record
	 * before it takes the descriptors the record carries */
	if (!(empty_fd && fz_known("ctl-empty-fd")))
		fz_check_fds(fds0, "fuzz_ctl");
	return 0;
}
