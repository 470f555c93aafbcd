/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the small test harness shared by skiff's test programs.
 *
 * Every test runs in its own fabric (SCIF_FABRIC=t-<name>-<pid>), so tests
 * can run side by side under `ctest -j`. Processes are coordinated with
 * readiness pipes (a child writes a byte when, say, it is listening; the
 * parent waits for it with a deadline), never with sleeps. An alarm()
 * watchdog turns a hang into a failure that names the step it hung in.
 *
 * CHECK* macros are fatal: they print file:line, the expression and errno,
 * kill the children this process started, and exit non-zero. EXPECT* macros
 * print the same but let the test continue; h_finish() then fails the test.
 */
#ifndef SKIFF_TEST_HARNESS_H
#define SKIFF_TEST_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <scif.h>

/* ---- failures -------------------------------------------------------- */

extern int h_failures; /* non-fatal failures so far in this process */

void h_fail(const char *file, int line, const char *what, int err, int fatal);
void h_fail_err(const char *file, int line, const char *expr, long ret,
		int err, const char *expected, int fatal);
void h_fail_cmp(const char *file, int line, const char *a, const char *b,
		long long va, long long vb, const char *op, int fatal);

#define H_CHECK_(c, fatal)                                                     \
	do {                                                                   \
		int h_e_ = errno;                                              \
		if (!(c))                                                      \
			h_fail(__FILE__, __LINE__, #c, h_e_, fatal);           \
	} while (0)
#define CHECK(c) H_CHECK_(c, 1)
#define EXPECT(c) H_CHECK_(c, 0)

/* Compare two integers and print both values on failure. */
#define H_CMP_(a, op, b, fatal)                                                \
	do {                                                                   \
		long long h_a_ = (long long)(a), h_b_ = (long long)(b);        \
		if (!(h_a_ op h_b_))                                           \
			h_fail_cmp(__FILE__, __LINE__, #a, #b, h_a_, h_b_,     \
				   #op, fatal);                                \
	} while (0)
#define CHECK_EQ(a, b) H_CMP_(a, ==, b, 1)
#define CHECK_NE(a, b) H_CMP_(a, !=, b, 1)
#define CHECK_GE(a, b) H_CMP_(a, >=, b, 1)
#define CHECK_LE(a, b) H_CMP_(a, <=, b, 1)
#define CHECK_GT(a, b) H_CMP_(a, >, b, 1)
#define CHECK_LT(a, b) H_CMP_(a, <, b, 1)
#define EXPECT_EQ(a, b) H_CMP_(a, ==, b, 0)
#define EXPECT_NE(a, b) H_CMP_(a, !=, b, 0)
#define EXPECT_GE(a, b) H_CMP_(a, >=, b, 0)
#define EXPECT_LE(a, b) H_CMP_(a, <=, b, 0)
#define EXPECT_GT(a, b) H_CMP_(a, >, b, 0)
#define EXPECT_LT(a, b) H_CMP_(a, <, b, 0)

/* A call that must succeed (return >= 0); evaluates to its result. */
#define H_OK_(expr, fatal)                                                     \
	({                                                                     \
		errno = 0;                                                     \
		long h_r_ = (long)(expr);                                      \
		if (h_r_ < 0)                                                  \
			h_fail_err(__FILE__, __LINE__, #expr, h_r_, errno,     \
				   "success", fatal);                          \
		h_r_;                                                          \
	})
#define CHECK_OK(expr) H_OK_(expr, 1)
#define EXPECT_OK(expr) H_OK_(expr, 0)

/* A call that must fail with -1 and errno e1 (or e2). */
#define H_ERR_(expr, e1, e2, fatal)                                            \
	({                                                                     \
		errno = 0;                                                     \
		long h_r_ = (long)(expr);                                      \
		int h_e_ = errno;                                              \
		if (h_r_ != -1 || (h_e_ != (e1) && h_e_ != (e2)))              \
			h_fail_err(__FILE__, __LINE__, #expr, h_r_, h_e_,      \
				   (e1) == (e2) ? #e1 : #e1 " or " #e2,        \
				   fatal);                                     \
		h_r_ == -1 && (h_e_ == (e1) || h_e_ == (e2));                  \
	})
#define CHECK_ERR(expr, e) H_ERR_(expr, e, e, 1)
#define EXPECT_ERR(expr, e) H_ERR_(expr, e, e, 0)
#define CHECK_ERR2(expr, e1, e2) H_ERR_(expr, e1, e2, 1)
#define EXPECT_ERR2(expr, e1, e2) H_ERR_(expr, e1, e2, 0)

/* Name what the test is doing now; the watchdog and failures print it. */
void h_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define STEP(...) h_step(__VA_ARGS__)

/* Print progress (to stderr, prefixed with the test name and pid). */
void h_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- set-up ---------------------------------------------------------- */

/*
 * A role is a function a re-executed copy of the test program runs (see
 * h_spawn): it starts with a fresh libscif and the environment it was given.
 */
struct h_role {
	const char *name;
	int (*fn)(const char *arg);
};

/*
 * Call first in main(). Sets SCIF_FABRIC to a private name (unless this is a
 * re-executed child, which inherits its parent's fabric), arms the watchdog
 * (seconds), and if argv asks for a role runs it and exits with its result.
 */
void h_init(int argc, char **argv, const char *name, int watchdog_secs,
	    const struct h_role *roles);

/* End of main(): prints PASS/FAIL, stops children, returns the exit code. */
int h_finish(void);

const char *h_fabric(void);
const char *h_name(void);
int h_watchdog_secs(void);

/* ---- processes ------------------------------------------------------- */

/* Fork a child that runs fn(arg) and exits with its result (non-zero if any
 * EXPECT failed). The child dies with its parent and has its own watchdog. */
pid_t h_fork(int (*fn)(void *), void *arg);

/* Fork and exec this program again running @role with @arg; @env is a
 * NULL-terminated list of "NAME=value" (or "NAME" to unset) applied first. */
pid_t h_spawn(const char *role, const char *arg, const char *const *env);

/* Wait for @pid for at most @timeout_ms. Returns the wait status, or -1 on
 * timeout (the child is then killed with SIGKILL and reaped). */
int h_waitpid(pid_t pid, int timeout_ms);

/* Wait for @pid and check that it exited with status 0. */
#define CHECK_CHILD_OK(pid, ms) h_check_child(__FILE__, __LINE__, pid, ms, 1)
#define EXPECT_CHILD_OK(pid, ms) h_check_child(__FILE__, __LINE__, pid, ms, 0)
int h_check_child(const char *file, int line, pid_t pid, int timeout_ms,
		  int fatal);

/* Describe a wait status ("exit 0", "killed by SIGSEGV", ...). */
const char *h_status_str(int status, char *buf, size_t n);

/* Forget a child (after the test reaped or killed it itself). */
void h_forget(pid_t pid);

/* ---- readiness pipes -------------------------------------------------- */

struct h_pipe {
	int rd, wr;
};

/* Inherited across exec when @inherit (for h_spawn children). */
void h_pipe_init(struct h_pipe *p, int inherit);
void h_pipe_close(struct h_pipe *p);
/* Write a 32-bit value. */
void h_put(int wr, int32_t v);
/* Read a 32-bit value within @timeout_ms: 0, -ETIMEDOUT or -EPIPE (EOF). */
int h_get(int rd, int32_t *v, int timeout_ms);
/* Read a value that must arrive within @timeout_ms (fatal otherwise). */
int32_t h_get_must(int rd, int timeout_ms);
/* 1 if @fd is readable within @timeout_ms, else 0. */
int h_readable(int fd, int timeout_ms);

/* ---- scifd ----------------------------------------------------------- */

/* Start scifd --cards @cards in this test's fabric and wait until ready. */
pid_t h_scifd_start(int cards);
/* SIGTERM it and check that it exits 0 within a few seconds. */
void h_scifd_stop(pid_t pid);

/* ---- misc ------------------------------------------------------------ */

int64_t h_now_ns(void);
static inline int64_t h_ms_since(int64_t t0)
{
	return (h_now_ns() - t0) / 1000000;
}
int h_count_fds(void);
void h_dump_fds(void); /* log every open descriptor */
long h_vmrss_kb(void);
int h_count_maps(void);

/* Connect a fresh endpoint to (node, port); returns it (fatal on error). */
scif_epd_t h_connect(uint16_t node, uint16_t port);
/* Open, bind to @port (0: any) and listen with @backlog; returns the epd and
 * stores the bound port in *bound if non-NULL. */
scif_epd_t h_listen(uint16_t port, int backlog, uint16_t *bound);

/* Pseudo-random bytes: deterministic per seed. */
uint64_t h_rand(uint64_t *state);

/* A connected pair of endpoints inside this process, on node 0 @port: @c
 * the connecting side, @s the accepted one (a thread connects meanwhile). */
void h_pair(uint16_t port, scif_epd_t *c, scif_epd_t *s);

#endif
