/* SPDX-License-Identifier: MIT */
/*
 * stats.h - timing and percentiles for scif ping and the scif benchmarks.
 *
 * Percentiles use the nearest-rank definition: the p-th percentile of n
 * sorted samples is sample ceil(p * n) (1-based), so every figure reported
 * is one that was actually measured.
 */
#ifndef SKIFF_STATS_H
#define SKIFF_STATS_H

#include <stddef.h>
#include <stdint.h>

struct skiff_stats {
	size_t n;
	double min;
	double median;
	double p99;
	double max;
	double mean;
};

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t skiff_now_ns(void);

/*
 * Cost of one skiff_now_ns() call: the median gap between back-to-back
 * calls. Benchmarks report it; better than subtracting it is to read the
 * clock where the read overlaps a wait (bench_lat.c does).
 */
double skiff_timer_overhead_ns(void);

/* Nearest-rank percentile (0 < p <= 1) of @n sorted samples; 0 if n == 0. */
double skiff_percentile(const double *sorted, size_t n, double p);

/* qsort comparator of doubles, ascending. */
int skiff_cmp_double(const void *a, const void *b);

/* Sort @v in place and summarise it. */
void skiff_stats_compute(double *v, size_t n, struct skiff_stats *st);

/*
 * Lap timing of a ping-pong. The initiator reads the clock right after
 * each store or send, while the echo is in flight, so the read overlaps
 * the wait instead of adding to it (a read after the wait cost the raw
 * spin ~60 ns more than the read itself here). Consecutive reads are one
 * round trip apart; with a batch, every @batch-th read is kept and the gap
 * divided.
 */
struct skiff_laps {
	double *out; /* NULL: warm-up, nothing recorded */
	unsigned batch;
	uint64_t prev;
	unsigned long long mark; /* iteration of the last kept read */
};

/* After the send of round trip @i. */
static inline void skiff_lap(struct skiff_laps *l, unsigned long long i)
{
	uint64_t t;

	if (!l->out || i % l->batch)
		return;
	t = skiff_now_ns();
	if (i)
		*l->out++ = (double)(t - l->prev) / (double)(i - l->mark);
	l->prev = t;
	l->mark = i;
}

/* After the last round trip (@n done): close the last lap. */
static inline void skiff_lap_end(struct skiff_laps *l, unsigned long long n)
{
	if (l->out && n)
		*l->out++ = (double)(skiff_now_ns() - l->prev) /
			    (double)(n - l->mark);
}

/* A growable array of samples. */
struct skiff_samples {
	double *v;
	size_t n;
	size_t cap;
};

void skiff_samples_add(struct skiff_samples *s, double x);
void skiff_samples_free(struct skiff_samples *s);

#endif
