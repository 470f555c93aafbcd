/* SPDX-License-Identifier: MIT */
/*
 * bench_fab.h - the raw libfabric measurements (scif bench fabric): the
 * figures beside which the remote modes of scif bench lat and bw are
 * judged (issue 10). The client side is an API so that those benchmarks
 * can run the raw measurement in the same process and the same run,
 * alternating with their own, as the local benchmarks do with their
 * limits.
 *
 * Built without libfabric (SKIFF_FABRIC=OFF, or libfabric-dev missing),
 * every call fails with -ENOSYS and says so.
 */
#ifndef SKIFF_BENCH_FAB_H
#define SKIFF_BENCH_FAB_H

#include <stddef.h>
#include <stdint.h>

/* `scif bench fabric serve` listens here unless --port says otherwise. */
#define SKIFF_FABB_PORT 7355
/* Writes in flight before the writer waits for their completions. */
#define SKIFF_FABB_WINDOW 16
#define SKIFF_FABB_WINDOW_MAX 256

struct skiff_fabc;

/*
 * Connect to a `scif bench fabric serve` at @peer ("ADDR", "ADDR:PORT",
 * "[V6ADDR]:PORT"): open an FI_EP_RDM endpoint with scifd's provider choice
 * (FI_PROVIDER, or "tcp;ofi_rxm"), send our address in the first message
 * and wait at most @timeout_ms for the server's answer. @max > 0 asks for
 * a target buffer of at least @max bytes (fi_write); 0 for round trips
 * only. 0, or -errno with @why saying why.
 */
int skiff_fabc_open(struct skiff_fabc **out, const char *peer, uint64_t max,
		    int timeout_ms, char *why, size_t whylen);

/* "tcp;ofi_rxm", and the server as "ADDR:PORT". */
const char *skiff_fabc_provider(const struct skiff_fabc *c);
const char *skiff_fabc_peer(const struct skiff_fabc *c);

/*
 * @n 8-byte fi_send/fi_recv round trips (the server echoes), spinning on
 * fi_cq_read as fi_pingpong does, and like it sending with fi_inject when
 * 8 bytes fit the provider's inject size. With @out, one sample (ns) per round
 * trip, timed as skiff_laps do; *@bad counts echoes that differ. 0 or
 * -errno (skiff_fabc_error says why).
 */
int skiff_fabc_pingpong(struct skiff_fabc *c, unsigned long long n,
			double *out, unsigned long long *bad);

/*
 * @iters fi_writes of @size bytes into the server's registered buffer,
 * @window in flight, waiting for their completions window by window, then
 * one message round trip that returns a word the server read from its
 * buffer, checked against what was written (the data arrived). GB/s (1e9
 * bytes/s) over all of it in *@gbps. 0 or -errno.
 */
int skiff_fabc_write(struct skiff_fabc *c, uint64_t size, uint64_t iters,
		     unsigned window, double *gbps);

/* The last error, for messages. */
const char *skiff_fabc_error(const struct skiff_fabc *c);

/* Say goodbye (bounded wait) and close everything. NULL is a no-op. */
void skiff_fabc_close(struct skiff_fabc *c);

#endif
