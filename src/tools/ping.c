/* SPDX-License-Identifier: MIT */
/*
 * scif ping: an echo server, and a client that measures round trips to it,
 * like ping(8) over SCIF messages.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "region.h"
#include "stats.h"
#include "subcommands.h"
#include "tool.h"

#define ECHO_BUF (64 * 1024)
#define MAX_SIZE (16u << 20)
#define DEFAULT_COUNT 10
#define DEFAULT_INTERVAL_MS 1000

static const char *const ping_usage =
	"usage: scif ping [--fabric NAME] --listen PORT\n"
	"       scif ping [--fabric NAME] [-q] [-c COUNT] [-s SIZE] [-i MS] [--json]\n"
	"                 NODE:PORT\n"
	"\n"
	"  -l, --listen PORT    echo every message received on PORT (0: any free\n"
	"                       port); one thread per connection, until killed\n"
	"  -c, --count COUNT    probes to send (default 10, 0: until interrupted)\n"
	"  -s, --size SIZE      bytes per probe (default 8)\n"
	"  -i, --interval MS    pause between probes (default 1000 ms, 0 with -q)\n"
	"  -q, --quiet          print only the summary\n"
	"      --json           print one JSON object at the end (probes and\n"
	"                       summary) instead of the lines\n"
	"      --fabric NAME    fabric (default: SCIF_FABRIC)\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- server ---- */

struct echo_arg {
	scif_epd_t epd;
	struct scif_portID peer;
};

/*
 * Echo whatever arrives. A blocking scif_recv of one byte waits the way
 * libscif waits best (spin, then sleep); a non-blocking one then takes
 * whatever else is queued, of any length, so the server needs no framing.
 */
static void *echo_conn(void *p)
{
	struct echo_arg *a = p;
	unsigned long long total = 0;
	const char *why = "closed by peer";
	char *buf = malloc(ECHO_BUF);

	if (!buf) {
		why = "out of memory";
		goto out;
	}
	for (;;) {
		int n = scif_recv(a->epd, buf, 1, SCIF_RECV_BLOCK), m = 0;

		if (n == 1)
			m = scif_recv(a->epd, buf + 1, ECHO_BUF - 1, 0);
		if (n < 0 || m < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECONNRESET && errno != ENOTCONN)
				why = strerror(errno);
			break;
		}
		n += m;
		if (scif_send(a->epd, buf, n, SCIF_SEND_BLOCK) != n) {
			if (errno != ECONNRESET && errno != ENOTCONN)
				why = strerror(errno);
			break;
		}
		total += (unsigned)n;
	}
out:
	printf("%u:%u: %s after %llu bytes echoed\n", a->peer.node,
	       a->peer.port, why, total);
	fflush(stdout);
	free(buf);
	scif_close(a->epd);
	free(a);
	return NULL;
}

static int serve(uint16_t port)
{
	scif_epd_t epd = scif_open();
	uint16_t self = 0, nodes[1];
	pthread_attr_t attr;
	int bound;

	if (epd == SCIF_OPEN_FAILED) {
		skiff_err("ping: scif_open: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	bound = scif_bind(epd, port);
	if (bound < 0) {
		skiff_err("ping: scif_bind %u: %s", port, strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	if (scif_listen(epd, 16) < 0) {
		skiff_err("ping: scif_listen: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	if (scif_get_nodeIDs(nodes, 1, &self) < 0)
		self = 0;
	/* scripts wait for this line before connecting */
	printf("listening on %u:%d\n", self, bound);
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct echo_arg *a = malloc(sizeof(*a));
		pthread_t th;

		if (!a) {
			skiff_err("ping: out of memory");
			return SKIFF_EXIT_FAIL;
		}
		if (scif_accept(epd, &a->peer, &a->epd, SCIF_ACCEPT_SYNC) < 0) {
			int e = errno;

			free(a);
			if (e == EINTR || e == ECONNRESET || e == ECONNABORTED)
				continue;
			skiff_err("ping: scif_accept: %s", strerror(e));
			return SKIFF_EXIT_FAIL;
		}
		printf("%u:%u: connected\n", a->peer.node, a->peer.port);
		fflush(stdout);
		if (pthread_create(&th, &attr, echo_conn, a) != 0)
			echo_conn(a); /* no thread: serve this one inline */
	}
}

/* ---- client ---- */

/*
 * Send @size bytes and read the echo. Up to one ring's worth the blocking
 * calls suffice (the echo fits the return ring). Beyond that the server
 * blocks on a full return ring while we block on a full forward ring, so
 * both directions are driven at once with non-blocking calls.
 */
static int exchange(scif_epd_t epd, char *tx, char *rx, int size)
{
	int sent = 0, got = 0;

	if (size < (int)SKIFF_RING_DEFAULT) {
		if (scif_send(epd, tx, size, SCIF_SEND_BLOCK) != size)
			return -1;
		if (scif_recv(epd, rx, size, SCIF_RECV_BLOCK) != size)
			return -1;
		return 0;
	}
	while (got < size) {
		struct scif_pollepd pe = { .epd = epd, .events = SCIF_POLLIN };
		int progress = 0, n;

		if (sent < size) {
			n = scif_send(epd, tx + sent, size - sent, 0);
			if (n < 0)
				return -1;
			sent += n;
			progress |= n > 0;
			pe.events |= SCIF_POLLOUT;
		}
		n = scif_recv(epd, rx + got, size - got, 0);
		if (n < 0)
			return -1;
		got += n;
		progress |= n > 0;
		/* the timeout only guards against a missed wake-up */
		if (!progress && scif_poll(&pe, 1, 100) < 0 && errno != EINTR)
			return -1;
		if (interrupted) {
			errno = EINTR;
			return -1;
		}
	}
	return 0;
}

static void fill(char *buf, int size, uint64_t seq)
{
	for (int i = 0; i < size; i++)
		buf[i] = (char)(seq * 131 + (uint64_t)i);
	memcpy(buf, &seq, size < 8 ? (size_t)size : 8);
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	/* SIGINT cuts the pause short */
	nanosleep(&ts, NULL);
}

static void print_json(struct scif_portID dst, int port, int size,
		       unsigned long long sent, unsigned long long received,
		       unsigned long long bad, const struct skiff_samples *rtt,
		       const struct skiff_stats *st, const char *error)
{
	printf("{\"ping\":\"%u:%u\",\"port\":%d,\"size\":%d,\"sent\":%llu,"
	       "\"received\":%llu,\"mismatched\":%llu,\"rtt_us\":[", dst.node,
	       dst.port, port, size, sent, received, bad);
	for (size_t i = 0; i < rtt->n; i++)
		printf("%s%.3f", i ? "," : "", rtt->v[i]);
	printf("],\"summary_us\":");
	if (st->n)
		printf("{\"min\":%.3f,\"median\":%.3f,\"p99\":%.3f,"
		       "\"max\":%.3f}", st->min, st->median, st->p99, st->max);
	else
		printf("null");
	printf(",\"error\":");
	if (error)
		skiff_json_string(stdout, error);
	else
		printf("null");
	printf("}\n");
}

static int client(struct scif_portID dst, unsigned long long count, int size,
		  long interval, int quiet, int json)
{
	struct skiff_samples rtt = { 0 };
	struct skiff_stats st;
	unsigned long long sent = 0, received = 0, bad = 0;
	scif_epd_t epd = scif_open();
	char *tx, *rx;
	int port, ret = SKIFF_EXIT_OK;
	const char *error = NULL;

	if (epd == SCIF_OPEN_FAILED) {
		skiff_err("ping: scif_open: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	port = scif_connect(epd, &dst);
	if (port < 0) {
		skiff_err("ping: connect to %u:%u: %s", dst.node, dst.port,
			  strerror(errno));
		scif_close(epd);
		return SKIFF_EXIT_FAIL;
	}
	tx = skiff_xrealloc(NULL, (size_t)size);
	rx = skiff_xrealloc(NULL, (size_t)size);
	if (interval < 0)
		interval = quiet ? 0 : DEFAULT_INTERVAL_MS;
	if (json)
		quiet = 1;
	else
		printf("PING %u:%u from port %d: %d bytes\n", dst.node, dst.port,
		       port, size);
	fflush(stdout);

	for (uint64_t seq = 1; !interrupted && (count == 0 || seq <= count);
	     seq++) {
		uint64_t t0, t1;
		double us;

		fill(tx, size, seq);
		sent++;
		t0 = skiff_now_ns();
		if (exchange(epd, tx, rx, size) < 0) {
			if (errno == EINTR && interrupted)
				break;
			skiff_err("ping: seq %llu: %s",
				  (unsigned long long)seq, strerror(errno));
			error = strerror(errno);
			ret = SKIFF_EXIT_FAIL;
			break;
		}
		t1 = skiff_now_ns();
		received++;
		us = (double)(t1 - t0) / 1000.0;
		skiff_samples_add(&rtt, us);
		if (memcmp(tx, rx, (size_t)size)) {
			bad++;
			if (!quiet)
				printf("%d bytes from %u:%u: seq=%llu time=%.2f "
				       "us (ECHO MISMATCH)\n", size, dst.node,
				       dst.port, (unsigned long long)seq, us);
		} else if (!quiet) {
			printf("%d bytes from %u:%u: seq=%llu time=%.2f us\n",
			       size, dst.node, dst.port,
			       (unsigned long long)seq, us);
		}
		if (!quiet)
			fflush(stdout);
		if (interval > 0 && (count == 0 || seq < count))
			sleep_ms((unsigned long)interval);
	}

	skiff_stats_compute(rtt.v, rtt.n, &st);
	if (json) {
		print_json(dst, port, size, sent, received, bad, &rtt, &st,
			   error);
	} else {
		printf("\n--- %u:%u scif ping statistics ---\n", dst.node,
		       dst.port);
		printf("%llu sent, %llu received, %llu mismatched\n", sent,
		       received, bad);
		if (st.n)
			printf("rtt min/median/p99/max = %.2f/%.2f/%.2f/%.2f "
			       "us\n", st.min, st.median, st.p99, st.max);
	}
	if (bad || received < sent)
		ret = SKIFF_EXIT_FAIL;
	skiff_samples_free(&rtt);
	free(tx);
	free(rx);
	scif_close(epd);
	return ret;
}

int skiff_cmd_ping(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "count", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char fabric[SKIFF_FABRIC_MAX + 1];
	const char *fab = NULL;
	unsigned long long v, count = DEFAULT_COUNT, size = 8;
	long interval = -1; /* default depends on -q */
	int listen_port = -1, quiet = 0, json = 0, c;
	struct scif_portID dst;
	struct sigaction sa;

	optind = 0;
	while ((c = getopt_long(argc, argv, "l:c:s:i:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (skiff_parse_ull(optarg, 0, UINT16_MAX, &v) < 0)
				goto bad_arg;
			listen_port = (int)v;
			break;
		case 'c':
			if (skiff_parse_ull(optarg, 0, UINT64_MAX, &count) < 0)
				goto bad_arg;
			break;
		case 's':
			if (skiff_parse_ull(optarg, 1, MAX_SIZE, &size) < 0)
				goto bad_arg;
			break;
		case 'i':
			if (skiff_parse_ull(optarg, 0, 3600000, &v) < 0)
				goto bad_arg;
			interval = (long)v;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'f':
			fab = optarg;
			break;
		case 'h':
			fputs(ping_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(ping_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;
	if (listen_port >= 0) {
		if (optind < argc) {
			skiff_err("ping: --listen takes no NODE:PORT");
			return SKIFF_EXIT_USAGE;
		}
		return serve((uint16_t)listen_port);
	}
	if (optind != argc - 1) {
		fputs(ping_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (skiff_parse_portid(argv[optind], &dst) < 0) {
		skiff_err("ping: bad address '%s' (want NODE:PORT)", argv[optind]);
		return SKIFF_EXIT_USAGE;
	}
	/* the first ^C prints the summary, a second one kills */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	return client(dst, count, (int)size, interval, quiet, json);

bad_arg:
	skiff_err("ping: bad value '%s' for -%c", optarg, c);
	return SKIFF_EXIT_USAGE;
}
