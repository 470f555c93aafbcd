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

/* A growable array of samples. */
struct skiff_samples {
	double *v;
	size_t n;
	size_t cap;
};

void skiff_samples_add(struct skiff_samples *s, double x);
void skiff_samples_free(struct skiff_samples *s);

#endif
