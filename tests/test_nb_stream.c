/* SPDX-License-Identifier: MIT */
/*
 * test_nb_stream: non-blocking calls never wait (issue 8 item 4).
 *
 * Two processes pinned to the same CPU (twice; then, where there are two,
 * on two CPUs) stream 64-byte messages as MPSS
 * bandwidth programs do: the sender retries a non-blocking scif_send as
 * soon as it returns 0 (first at once, then yielding the CPU), the receiver
 * waits in scif_poll and then receives without blocking. The stream must
 * complete byte for byte, no scif_poll may wait STALL_MS for data that is
 * coming, and no non-blocking call may sleep: each one is bracketed by
 * getrusage(RUSAGE_THREAD), and a voluntary context switch inside it fails
 * the test. The worst wall time of a call that was not preempted is
 * reported, and fails above a generous bound.
 */
#include "harness.h"

#include <poll.h>
#include <sched.h>
#include <sys/resource.h>

#define MSG 64
#define NMSG 40000
#define STALL_MS 5000
#define SLOW_NS (5 * 1000 * 1000LL)   /* reported */
#define LIMIT_NS (50 * 1000 * 1000LL) /* fails */

struct calls {
	long n, slept, slow;
	int64_t worst_ns;
};

static inline void fill(uint64_t *w, uint64_t seq)
{
	w[0] = seq;
	for (int i = 1; i < MSG / 8; i++)
		w[i] = seq * 0x9e3779b97f4a7c15ull + (uint64_t)i;
}

/* The first two CPUs we may run on (cpu[1] = -1 if only one). */
static void first_cpus(int cpu[2])
{
	cpu_set_t set;
	int n = 0;

	cpu[0] = cpu[1] = -1;
	CHECK(sched_getaffinity(0, sizeof(set), &set) == 0);
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpu[n++] = i;
	CHECK_GE(cpu[0], 0);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
}

/* One non-blocking call, timed and watched for sleeps. */
#define NB_CALL(c, expr)                                                       \
	({                                                                     \
		struct rusage ru0_, ru1_;                                      \
		int64_t t0_;                                                   \
		int r_;                                                        \
		getrusage(RUSAGE_THREAD, &ru0_);                               \
		t0_ = h_now_ns();                                              \
		r_ = (expr);                                                   \
		note(c, h_now_ns() - t0_, &ru0_, &ru1_);                       \
		r_;                                                            \
	})

static void note(struct calls *c, int64_t ns, struct rusage *a, struct rusage *b)
{
	getrusage(RUSAGE_THREAD, b);
	c->n++;
	if (b->ru_nvcsw != a->ru_nvcsw)
		c->slept++; /* blocked inside: waited */
	else if (b->ru_nivcsw == a->ru_nivcsw) { /* not preempted either */
		if (ns > c->worst_ns)
			c->worst_ns = ns;
		if (ns > SLOW_NS)
			c->slow++;
	}
}

static void judge(const char *who, const struct calls *c)
{
	h_log("%s: %ld non-blocking calls, %ld slept, worst %.3f ms (not "
	      "preempted), %ld over %lld ms", who, c->n, c->slept,
	      (double)c->worst_ns / 1e6, c->slow, SLOW_NS / 1000000);
	EXPECT_EQ(c->slept, 0);
	EXPECT_LE(c->worst_ns, LIMIT_NS);
}

struct sender_arg {
	uint16_t port;
	int cpu;
};

static int sender(void *a)
{
	struct sender_arg *sa = a;
	scif_epd_t ep;
	struct calls c = { 0 };
	uint64_t w[MSG / 8];
	long zeros = 0;
	char ack;

	pin(sa->cpu);
	ep = h_connect(0, sa->port);
	STEP("send %d messages without blocking", NMSG);
	for (uint64_t seq = 0; seq < NMSG; seq++) {
		int off = 0, tries = 0;

		fill(w, seq);
		while (off < MSG) {
			int r = NB_CALL(&c, scif_send(ep, (char *)w + off, MSG - off, 0));

			CHECK_GE(r, 0);
			CHECK_LE(r, MSG - off);
			if (r == 0) {
				zeros++;
				/* retry at once a few times (the pattern that
				 * must not cost a system call), then let the
				 * receiver, which shares our CPU, run */
				if (++tries > 8)
					sched_yield();
			} else {
				tries = 0;
			}
			off += r;
		}
	}
	h_log("sender: %ld returns of 0 (ring full)", zeros);
	judge("sender", &c);
	CHECK_EQ(scif_recv(ep, &ack, 1, SCIF_RECV_BLOCK), 1);
	scif_close(ep);
	return 0;
}

static void run(uint16_t port, int rcpu, int scpu)
{
	struct sender_arg sa = { .port = port, .cpu = scpu };
	struct scif_portID peer;
	struct calls c = { 0 };
	scif_epd_t l, ep;
	uint64_t w[MSG / 8];
	long spurious = 0;
	int64_t t0;
	pid_t pid;

	pin(rcpu);
	l = h_listen(port, 1, NULL);
	pid = h_fork(sender, &sa);
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	scif_close(l);

	STEP("receive %d messages: scif_poll, then scif_recv without blocking "
	     "(receiver on CPU %d, sender on CPU %d)", NMSG, rcpu, scpu);
	t0 = h_now_ns();
	for (uint64_t seq = 0; seq < NMSG; seq++) {
		int off = 0;

		while (off < MSG) {
			struct scif_pollepd pe = { .epd = ep, .events = POLLIN };
			int r = (int)CHECK_OK(scif_poll(&pe, 1, STALL_MS));

			if (r == 0) {
				h_log("stalled at message %llu byte %d: no POLLIN "
				      "for %d ms", (unsigned long long)seq, off,
				      STALL_MS);
				CHECK_EQ(r, 1);
			}
			CHECK(pe.revents & POLLIN);
			r = NB_CALL(&c, scif_recv(ep, (char *)w + off, MSG - off, 0));
			CHECK_GE(r, 0);
			spurious += r == 0;
			off += r;
		}
		{
			uint64_t want[MSG / 8];

			fill(want, seq);
			if (memcmp(w, want, MSG)) {
				h_log("message %llu differs", (unsigned long long)seq);
				CHECK(memcmp(w, want, MSG) == 0);
			}
		}
	}
	h_log("receiver: %d messages in %.1f ms (CPUs %d, %d); %ld POLLIN with "
	      "nothing to read", NMSG, (double)(h_now_ns() - t0) / 1e6, rcpu,
	      scpu, spurious);
	judge("receiver", &c);
	/* scif_poll said POLLIN each time: the next recv must have found it */
	EXPECT_LE(spurious, NMSG / 100 + 2);
	{
		char x;

		EXPECT_EQ(scif_recv(ep, &x, 1, 0), 0); /* nothing extra */
	}
	CHECK_EQ(scif_send(ep, "k", 1, SCIF_SEND_BLOCK), 1);
	CHECK_CHILD_OK(pid, 30000);
	scif_close(ep);
}

int main(int argc, char **argv)
{
	int cpu[2];

	h_init(argc, argv, "nb_stream", 100, NULL);
	first_cpus(cpu);
	/* the case that must never stall: one CPU for both */
	run(7100, cpu[0], cpu[0]);
	run(7101, cpu[0], cpu[0]);
	/* and on two CPUs, where the receiver catches the sender between
	 * counting a record and sending it far more often */
	if (cpu[1] >= 0)
		run(7102, cpu[0], cpu[1]);
	else
		h_log("one CPU available: no run on two CPUs");
	return h_finish();
}
