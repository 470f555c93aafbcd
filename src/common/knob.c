/* SPDX-License-Identifier: MIT */
/*
 * knob.c - one parser for every environment knob and size argument, and
 * the SKIFF_LOG diagnostics (knob.h).
 */
#define _GNU_SOURCE
#include "knob.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int skiff_parse_u64(const char *s, uint64_t min, uint64_t max, unsigned flags,
		    uint64_t *out)
{
	unsigned long long v;
	unsigned sh = 0;
	char *end;

	int e = errno, range;

	/* strtoull takes "-1" and " 1": neither is a count */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	range = errno == ERANGE;
	errno = e; /* a parser leaves errno as it found it */
	if (range)
		return -ERANGE;
	if (flags & SKIFF_KNOB_SIZE) {
		switch (*end) {
		case 'k': case 'K': sh = 10; break;
		case 'm': case 'M': sh = 20; break;
		case 'g': case 'G': sh = 30; break;
		case 't': case 'T': sh = 40; break;
		}
		if (sh) {
			end++;
			if (*end == 'i')
				end++;
			if (*end == 'B' || *end == 'b')
				end++;
		} else if (*end == 'B' || *end == 'b') {
			end++;
		}
	}
	if (*end)
		return -EINVAL;
	if (sh && v > (UINT64_MAX >> sh))
		return -ERANGE;
	v <<= sh;
	if ((flags & SKIFF_KNOB_POW2) && (v == 0 || (v & (v - 1))))
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

uint64_t skiff_knob_u64(const char *name, uint64_t def, uint64_t min,
			uint64_t max, unsigned flags, const char *unit)
{
	const char *s = getenv(name);
	uint64_t v;
	int r;

	if (!s || !*s)
		return def;
	r = skiff_parse_u64(s, min, max, flags, &v);
	if (r == 0)
		return v;
	skiff_log(SKIFF_LOG_WARN,
		  "%s=%s is not %s%s from %llu to %llu; using %llu", name, s,
		  (flags & SKIFF_KNOB_POW2) ? "a power of two of " : "a number of ",
		  unit, (unsigned long long)min, (unsigned long long)max,
		  (unsigned long long)def);
	return def;
}

static int log_level = -1;

int skiff_log_on(enum skiff_log_level level)
{
	int l = __atomic_load_n(&log_level, __ATOMIC_RELAXED);

	if (l < 0) {
		static const char *const names[] = { "error", "warn", "info",
						     "debug" };
		const char *s = getenv("SKIFF_LOG");

		l = SKIFF_LOG_WARN;
		if (s && *s) {
			int found = 0;
			for (int i = 0; i < 4; i++)
				if (!strcmp(s, names[i]))
					l = i, found = 1;
			if (!found)
				fprintf(stderr,
					"skiff[%d]: warn: SKIFF_LOG=%s is not "
					"error, warn, info or debug; using warn\n",
					(int)getpid(), s);
		}
		__atomic_store_n(&log_level, l, __ATOMIC_RELAXED);
	}
	return (int)level <= l;
}

void skiff_log(enum skiff_log_level level, const char *fmt, ...)
{
	static const char *const tag[] = { "error", "warn", "info", "debug" };
	char msg[512];
	va_list ap;
	int e = errno; /* diagnostics never change what a caller sees */

	if (!skiff_log_on(level)) {
		errno = e;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* one write, so lines of several processes do not interleave */
	dprintf(2, "skiff[%d]: %s: %s\n", (int)getpid(), tag[level], msg);
	errno = e;
}
