/* SPDX-License-Identifier: MIT */
/*
 * knob.h - environment knobs and size arguments, parsed one way everywhere,
 * and the library's diagnostics (SKIFF_LOG).
 *
 * A knob that does not parse is never taken as 0: the caller gets its
 * default, and stderr gets one warning naming the variable, the value and
 * what is used instead.
 */
#ifndef SKIFF_KNOB_H
#define SKIFF_KNOB_H

#include <stdint.h>

/* Accept K/M/G/T suffixes (powers of 1024; "KiB", "k", "MB" alike). */
#define SKIFF_KNOB_SIZE 1u
/* The value must be a power of two. */
#define SKIFF_KNOB_POW2 2u

/*
 * Parse @s: a decimal number (with a size suffix when @flags has
 * SKIFF_KNOB_SIZE) in [min, max]. 0, -EINVAL (not a number, trailing
 * garbage, not a power of two) or -ERANGE (outside the bounds).
 */
int skiff_parse_u64(const char *s, uint64_t min, uint64_t max, unsigned flags,
		    uint64_t *out);

/*
 * The value of environment variable @name: @def when unset or empty, and
 * also, with one warning at "warn" level, when it does not parse or lies
 * outside [min, max]. @unit names what the number counts ("microseconds",
 * "bytes") for the warning.
 */
uint64_t skiff_knob_u64(const char *name, uint64_t def, uint64_t min,
			uint64_t max, unsigned flags, const char *unit);

enum skiff_log_level {
	SKIFF_LOG_ERROR,
	SKIFF_LOG_WARN,
	SKIFF_LOG_INFO,
	SKIFF_LOG_DEBUG,
};

/* 1 if messages of @level are printed (SKIFF_LOG, default "warn"). */
int skiff_log_on(enum skiff_log_level level);

/* Print "skiff[pid]: <level>: <message>" to stderr if @level is on.
 * Never on a hot path: a call's failure, a knob, a peer found broken. */
void skiff_log(enum skiff_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
