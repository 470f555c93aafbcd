/* SPDX-License-Identifier: MIT */
/*
 * test_concurrent_send: blocking sends from several threads on one endpoint
 * never interleave. Each thread sends records of its own fill byte, larger
 * than the ring so every send blocks part-way; the receiver (another
 * process) checks that the stream is made of whole records. Likewise,
 * blocking receives from several threads each get whole records.
 */
#include "harness.h"

#include <pthread.h>

#define THREADS 4
#define RECORDS 200
#define RECLEN 10000 /* > 4095: each send waits for ring space */

struct th_arg {
	scif_epd_t ep;
	unsigned char fill;
	int reclen;
};

static void *send_thread(void *a)
{
	struct th_arg *ta = a;
	unsigned char *rec = malloc((size_t)ta->reclen);

	CHECK(rec != NULL);
	memset(rec, ta->fill, (size_t)ta->reclen);
	for (int i = 0; i < RECORDS; i++)
		CHECK_EQ(scif_send(ta->ep, rec, ta->reclen, SCIF_SEND_BLOCK),
			 ta->reclen);
	free(rec);
	return NULL;
}

struct recv_child {
	uint16_t port;
	int reclen;
};

/* Receiver process: reads THREADS*RECORDS records and checks each is
 * uniform. */
static int receiver(void *a)
{
	struct recv_child *rc = a;
	unsigned char *rec = malloc((size_t)rc->reclen);
	int count[256] = { 0 };
	scif_epd_t ep = h_connect(0, rc->port);

	CHECK(rec != NULL);
	STEP("receive %d records of %d bytes", THREADS * RECORDS, rc->reclen);
	for (int i = 0; i < THREADS * RECORDS; i++) {
		CHECK_EQ(scif_recv(ep, rec, rc->reclen, SCIF_RECV_BLOCK), rc->reclen);
		for (int j = 1; j < rc->reclen; j++)
			if (rec[j] != rec[0]) {
				h_log("record %d interleaved: byte 0 is 0x%02x, byte %d "
				      "is 0x%02x", i, rec[0], j, rec[j]);
				h_fail(__FILE__, __LINE__, "records do not interleave",
				       0, 1);
			}
		count[rec[0]]++;
	}
	for (int t = 0; t < THREADS; t++)
		EXPECT_EQ(count[0x41 + t], RECORDS);
	{
		char x;
		EXPECT_EQ(scif_send(ep, "k", 1, SCIF_SEND_BLOCK), 1);
		EXPECT_ERR(scif_recv(ep, &x, 1, SCIF_RECV_BLOCK), ECONNRESET);
	}
	scif_close(ep);
	free(rec);
	return 0;
}

static void concurrent_send(uint16_t port, int reclen)
{
	struct recv_child rc = { .port = port, .reclen = reclen };
	struct th_arg ta[THREADS];
	pthread_t t[THREADS];
	struct scif_portID peer;
	scif_epd_t l, s;
	pid_t pid;
	char ack;

	STEP("%d threads send records of %d bytes on one endpoint", THREADS,
	     reclen);
	l = h_listen(port, 1, NULL);
	pid = h_fork(receiver, &rc);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	for (int i = 0; i < THREADS; i++) {
		ta[i] = (struct th_arg){ .ep = s, .fill = (unsigned char)(0x41 + i),
					 .reclen = reclen };
		CHECK(pthread_create(&t[i], NULL, send_thread, &ta[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	CHECK_EQ(scif_recv(s, &ack, 1, SCIF_RECV_BLOCK), 1);
	scif_close(s);
	scif_close(l);
	CHECK_CHILD_OK(pid, 60000);
}

/* ---- concurrent receivers --------------------------------------------- */

struct rth_arg {
	scif_epd_t ep;
	int reclen;
	int nrec;
	int bad;
};

static void *recv_thread(void *a)
{
	struct rth_arg *ra = a;
	unsigned char *rec = malloc((size_t)ra->reclen);

	CHECK(rec != NULL);
	for (int i = 0; i < ra->nrec; i++) {
		CHECK_EQ(scif_recv(ra->ep, rec, ra->reclen, SCIF_RECV_BLOCK),
			 ra->reclen);
		for (int j = 1; j < ra->reclen; j++)
			if (rec[j] != rec[0]) {
				ra->bad++;
				break;
			}
	}
	free(rec);
	return NULL;
}

static int sender_child(void *a)
{
	struct recv_child *rc = a;
	unsigned char *rec = malloc((size_t)rc->reclen);
	scif_epd_t ep = h_connect(0, rc->port);
	char x;

	CHECK(rec != NULL);
	for (int i = 0; i < THREADS * RECORDS; i++) {
		memset(rec, 1 + i % 255, (size_t)rc->reclen);
		CHECK_EQ(scif_send(ep, rec, rc->reclen, SCIF_SEND_BLOCK), rc->reclen);
	}
	EXPECT_ERR(scif_recv(ep, &x, 1, SCIF_RECV_BLOCK), ECONNRESET);
	scif_close(ep);
	free(rec);
	return 0;
}

static void concurrent_recv(uint16_t port, int reclen)
{
	struct recv_child rc = { .port = port, .reclen = reclen };
	struct rth_arg ra[THREADS];
	pthread_t t[THREADS];
	struct scif_portID peer;
	scif_epd_t l, s;
	pid_t pid;

	STEP("%d threads receive records of %d bytes on one endpoint", THREADS,
	     reclen);
	l = h_listen(port, 1, NULL);
	pid = h_fork(sender_child, &rc);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	for (int i = 0; i < THREADS; i++) {
		ra[i] = (struct rth_arg){ .ep = s, .reclen = reclen, .nrec = RECORDS };
		CHECK(pthread_create(&t[i], NULL, recv_thread, &ra[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++) {
		CHECK(pthread_join(t[i], NULL) == 0);
		EXPECT_EQ(ra[i].bad, 0);
	}
	scif_close(s);
	scif_close(l);
	CHECK_CHILD_OK(pid, 60000);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "concurrent_send", 180, NULL);
	concurrent_send(8000, RECLEN);
	concurrent_send(8001, 1000);
	concurrent_send(8002, 3);
	concurrent_recv(8003, RECLEN);
	concurrent_recv(8004, 1000);
	return h_finish();
}
