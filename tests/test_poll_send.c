/* SPDX-License-Identifier: MIT */
/*
 * test_poll_send: scif_poll in one thread while another thread streams
 * blocking scif_sends on the same endpoint to a live peer (issue 7 item 8:
 * this tore the connection down, the sender getting ECONNRESET or a short
 * count). For each set of events polled (POLLIN only, POLLOUT only, both)
 * threads loop in scif_poll (short timeouts, so it sleeps and re-arms
 * often) while the main thread sends records of varied sizes (1 byte to
 * several rings) for a few seconds; the receiver, another process, checks
 * the stream byte for byte and acknowledges it at the end.
 */
#include "harness.h"

#include <poll.h>
#include <pthread.h>

#define RUN_MS 1500 /* per event set */
#define MAXREC 20000
/* several pollers: more chances that one is preempted at a bad moment */
#define POLLERS 1

static const short ev_sets[] = { POLLIN, POLLOUT, POLLIN | POLLOUT };
static const char *ev_name[] = { "POLLIN", "POLLOUT", "POLLIN|POLLOUT" };

static inline unsigned char pat(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull;

	return (unsigned char)(x >> 56);
}

struct poller {
	scif_epd_t ep;
	short events;
	_Atomic int stop;
	_Atomic long polls, errors;
	_Atomic int err;
};

static void *poll_thread(void *a)
{
	struct poller *p = a;

	for (unsigned long i = 0; !p->stop; i++) {
		struct scif_pollepd pe = { .epd = p->ep, .events = p->events };
		/* mostly spinning (timeout 0), as a busy event loop does; now
		 * and then a short sleep, which arms the descriptor */
		int r = scif_poll(&pe, 1, (i & 63) ? 0 : 1);

		p->polls++;
		if (r < 0 || (r > 0 && (pe.revents & (POLLHUP | POLLERR | POLLNVAL)))) {
			p->errors++;
			p->err = r < 0 ? errno : pe.revents;
			break;
		}
	}
	return NULL;
}

/* Receiver process: reads until the sender's end marker (a record length of
 * 0 in the 4-byte header), checking each byte against the stream position. */
static int receiver(void *a)
{
	uint16_t port = *(uint16_t *)a;
	static unsigned char buf[MAXREC];
	scif_epd_t ep = h_connect(0, port);
	uint64_t pos = 0;

	for (int set = 0; set < 3; set++) {
		uint64_t bytes = 0;

		STEP("receive stream %d (%s)", set, ev_name[set]);
		for (;;) {
			uint32_t len;

			CHECK_EQ(scif_recv(ep, &len, 4, SCIF_RECV_BLOCK), 4);
			if (!len)
				break;
			CHECK_LE(len, MAXREC);
			CHECK_EQ(scif_recv(ep, buf, (int)len, SCIF_RECV_BLOCK),
				 (int)len);
			for (uint32_t i = 0; i < len; i++)
				if (buf[i] != pat(pos + i)) {
					h_log("stream %d: byte %llu is 0x%02x, not 0x%02x",
					      set, (unsigned long long)(pos + i), buf[i],
					      pat(pos + i));
					h_fail(__FILE__, __LINE__, "byte-exact stream",
					       0, 1);
				}
			pos += len;
			bytes += len;
		}
		/* acknowledge: the sender counts what we got */
		CHECK_EQ(scif_send(ep, &bytes, 8, SCIF_SEND_BLOCK), 8);
	}
	{
		/* close only after the sender stopped polling: a hang-up
		 * before that would be a true POLLHUP */
		char bye;

		CHECK_EQ(scif_recv(ep, &bye, 1, SCIF_RECV_BLOCK), 1);
	}
	scif_close(ep);
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char rec[MAXREC];
	uint16_t port = 0;
	struct scif_portID peer;
	scif_epd_t l, ep;
	uint64_t pos = 0, seed = 7;
	pid_t pid;

	h_init(argc, argv, "poll_send", 90, NULL);
	l = h_listen(0, 1, &port);
	pid = h_fork(receiver, &port);
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	scif_close(l);

	for (int set = 0; set < 3; set++) {
		struct poller p = { .ep = ep, .events = ev_sets[set] };
		pthread_t t[POLLERS];
		int64_t t0 = h_now_ns();
		uint64_t sent = 0, got = 0;
		long sends = 0;
		uint32_t zero = 0;

		STEP("blocking sends while a thread polls %s", ev_name[set]);
		for (int i = 0; i < POLLERS; i++)
			CHECK(pthread_create(&t[i], NULL, poll_thread, &p) == 0);
		while (h_ms_since(t0) < RUN_MS) {
			/* sizes from 1 byte to several rings, small ones often */
			uint64_t rnd = h_rand(&seed);
			uint32_t len = (rnd & 3) == 0 ? (uint32_t)(rnd >> 8) % MAXREC + 1
						      : (uint32_t)(rnd >> 8) % 200 + 1;
			int r;

			for (uint32_t i = 0; i < len; i++)
				rec[i] = pat(pos + i);
			r = scif_send(ep, &len, 4, SCIF_SEND_BLOCK);
			if (r != 4) {
				h_log("header send: %d (%s) after %ld sends", r,
				      r < 0 ? strerror(errno) : "short", sends);
				CHECK_EQ(r, 4);
			}
			r = scif_send(ep, rec, (int)len, SCIF_SEND_BLOCK);
			if (r != (int)len) {
				h_log("send of %u: %d (%s) after %ld sends", len, r,
				      r < 0 ? strerror(errno) : "short", sends);
				CHECK_EQ(r, (int)len);
			}
			pos += len;
			sent += len;
			sends++;
		}
		CHECK_EQ(scif_send(ep, &zero, 4, SCIF_SEND_BLOCK), 4);
		p.stop = 1;
		for (int i = 0; i < POLLERS; i++)
			CHECK(pthread_join(t[i], NULL) == 0);
		EXPECT_EQ(p.errors, 0);
		if (p.errors)
			h_log("scif_poll(%s) failed: %d", ev_name[set], p.err);
		/* the poll thread sees our acknowledgement too (POLLIN) */
		CHECK_EQ(scif_recv(ep, &got, 8, SCIF_RECV_BLOCK), 8);
		EXPECT_EQ(got, sent);
		h_log("%s: %ld sends, %llu bytes, %ld polls", ev_name[set], sends,
		      (unsigned long long)sent, p.polls);
	}
	CHECK_EQ(scif_send(ep, "b", 1, SCIF_SEND_BLOCK), 1);
	scif_close(ep);
	CHECK_CHILD_OK(pid, 30000);
	return h_finish();
}
