/* SPDX-License-Identifier: MIT */
#include "stats.h"
#include "tool.h"

#include <stdlib.h>
#include <time.h>

uint64_t skiff_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int skiff_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double skiff_timer_overhead_ns(void)
{
	enum { N = 20001 };
	static double gap[N - 1];
	uint64_t prev = skiff_now_ns();

	for (int i = 0; i < N - 1; i++) {
		uint64_t t = skiff_now_ns();

		gap[i] = (double)(t - prev);
		prev = t;
	}
	qsort(gap, N - 1, sizeof(gap[0]), skiff_cmp_double);
	return skiff_percentile(gap, N - 1, 0.5);
}

double skiff_percentile(const double *sorted, size_t n, double p)
{
	double r = p * (double)n;
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)r; /* ceil without libm */
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

void skiff_stats_compute(double *v, size_t n, struct skiff_stats *st)
{
	double sum = 0;

	st->n = n;
	if (n == 0) {
		st->min = st->median = st->p99 = st->max = st->mean = 0;
		return;
	}
	qsort(v, n, sizeof(*v), skiff_cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	st->min = v[0];
	st->max = v[n - 1];
	st->median = skiff_percentile(v, n, 0.50);
	st->p99 = skiff_percentile(v, n, 0.99);
	st->mean = sum / (double)n;
}

void skiff_samples_add(struct skiff_samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = skiff_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = x;
}

void skiff_samples_free(struct skiff_samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}
