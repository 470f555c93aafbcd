/* SPDX-License-Identifier: MIT */
/* harness.c - see harness.h */
#include "harness.h"

#include <pthread.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#ifndef SCIFD_PATH
#define SCIFD_PATH "scifd"
#endif

#define H_MAX_CHILDREN 256

int h_failures;

static char g_name[64] = "test";
static char g_fabric[64];
static char g_step[256] = "start";
static int g_watchdog = 60;
static pid_t g_children[H_MAX_CHILDREN];
static int g_is_child; /* forked child: exit with _exit, no PASS line */

const char *h_fabric(void) { return g_fabric; }
const char *h_name(void) { return g_name; }
int h_watchdog_secs(void) { return g_watchdog; }

static void add_child(pid_t pid)
{
	for (int i = 0; i < H_MAX_CHILDREN; i++)
		if (g_children[i] == 0) {
			g_children[i] = pid;
			return;
		}
}

void h_forget(pid_t pid)
{
	for (int i = 0; i < H_MAX_CHILDREN; i++)
		if (g_children[i] == pid)
			g_children[i] = 0;
}

/* Async-signal-safe: used by the watchdog too. */
static void kill_children(void)
{
	for (int i = 0; i < H_MAX_CHILDREN; i++)
		if (g_children[i] > 0) {
			kill(g_children[i], SIGKILL);
			waitpid(g_children[i], NULL, 0);
			g_children[i] = 0;
		}
}

static void die(void)
{
	kill_children();
	fflush(stdout);
	fflush(stderr);
	_exit(1);
}

void h_step(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_step, sizeof(g_step), fmt, ap);
	va_end(ap);
}

void h_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[%s %d] %s\n", g_name, (int)getpid(), buf);
}

static void report_end(int fatal)
{
	h_failures++;
	if (fatal)
		die();
}

void h_fail(const char *file, int line, const char *what, int err, int fatal)
{
	fprintf(stderr, "[%s %d] %s:%d: %s failed: %s (errno %d %s) [step: %s]\n",
		g_name, (int)getpid(), file, line, fatal ? "CHECK" : "EXPECT",
		what, err, strerrorname_np(err) ? strerrorname_np(err) : "?",
		g_step);
	report_end(fatal);
}

void h_fail_err(const char *file, int line, const char *expr, long ret,
		int err, const char *expected, int fatal)
{
	fprintf(stderr,
		"[%s %d] %s:%d: %s failed: %s returned %ld, errno %d (%s); "
		"expected %s [step: %s]\n",
		g_name, (int)getpid(), file, line, fatal ? "CHECK" : "EXPECT",
		expr, ret, err, strerrorname_np(err) ? strerrorname_np(err) : "-",
		expected, g_step);
	report_end(fatal);
}

void h_fail_cmp(const char *file, int line, const char *a, const char *b,
		long long va, long long vb, const char *op, int fatal)
{
	fprintf(stderr,
		"[%s %d] %s:%d: %s failed: %s %s %s (%lld vs %lld, 0x%llx vs "
		"0x%llx) [step: %s]\n",
		g_name, (int)getpid(), file, line, fatal ? "CHECK" : "EXPECT",
		a, op, b, va, vb, (unsigned long long)va,
		(unsigned long long)vb, g_step);
	report_end(fatal);
}

static void on_alarm(int sig)
{
	char buf[400];
	int n;

	(void)sig;
	n = snprintf(buf, sizeof(buf),
		     "[%s %d] WATCHDOG: still running after %d s, in step: %s\n",
		     g_name, (int)getpid(), g_watchdog, g_step);
	if (n > 0)
		(void)!write(2, buf, (size_t)n);
	kill_children();
	_exit(2);
}

static void arm_watchdog(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)g_watchdog);
}

void h_init(int argc, char **argv, const char *name, int watchdog_secs,
	    const struct h_role *roles)
{
	const char *inherited = getenv("SKIFF_TEST_CHILD");

	snprintf(g_name, sizeof(g_name), "%s", name);
	g_watchdog = watchdog_secs > 0 ? watchdog_secs : 60;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (inherited && getenv("SCIF_FABRIC")) {
		snprintf(g_fabric, sizeof(g_fabric), "%s", getenv("SCIF_FABRIC"));
	} else {
		snprintf(g_fabric, sizeof(g_fabric), "t-%.30s-%d", name,
			 (int)getpid());
		setenv("SCIF_FABRIC", g_fabric, 1);
	}
	arm_watchdog();
	if (argc >= 3 && strcmp(argv[1], "--role") == 0) {
		const char *arg = argc >= 4 ? argv[3] : "";

		g_is_child = 1;
		snprintf(g_name + strlen(g_name), sizeof(g_name) - strlen(g_name),
			 "/%s", argv[2]);
		for (const struct h_role *r = roles; r && r->name; r++)
			if (strcmp(r->name, argv[2]) == 0) {
				int rc = r->fn(arg);

				fflush(stdout);
				fflush(stderr);
				_exit(rc || h_failures ? 1 : 0);
			}
		fprintf(stderr, "unknown role %s\n", argv[2]);
		_exit(3);
	}
}

int h_finish(void)
{
	kill_children();
	if (h_failures) {
		printf("FAIL %s: %d failure(s)\n", g_name, h_failures);
		return 1;
	}
	printf("PASS %s\n", g_name);
	return 0;
}

/* ---- processes --------------------------------------------------------- */

static void child_setup(void)
{
	g_is_child = 1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(g_children, 0, sizeof(g_children));
	h_failures = 0;
	arm_watchdog();
}

pid_t h_fork(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int rc;

		child_setup();
		if (getppid() != parent)
			_exit(4);
		rc = fn(arg);
		kill_children();
		fflush(stdout);
		fflush(stderr);
		_exit(rc || h_failures ? 1 : 0);
	}
	add_child(pid);
	return pid;
}

pid_t h_spawn(const char *role, const char *arg, const char *const *env)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "test-child", "--role", (char *)role,
				 (char *)(arg ? arg : ""), NULL };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("SKIFF_TEST_CHILD", "1", 1);
		for (; env && *env; env++) {
			const char *eq = strchr(*env, '=');

			if (eq) {
				char k[128];
				snprintf(k, sizeof(k), "%.*s", (int)(eq - *env), *env);
				setenv(k, eq + 1, 1);
			} else {
				unsetenv(*env);
			}
		}
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	add_child(pid);
	return pid;
}

int h_waitpid(pid_t pid, int timeout_ms)
{
	int64_t t0 = h_now_ns();
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			h_forget(pid);
			return status;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (h_ms_since(t0) >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			h_forget(pid);
			return -1;
		}
		/* bounded polling of the child's exit */
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

const char *h_status_str(int status, char *buf, size_t n)
{
	if (status == -1)
		snprintf(buf, n, "timed out (killed)");
	else if (WIFEXITED(status))
		snprintf(buf, n, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by %s%s", sigabbrev_np(WTERMSIG(status)) ?
			 sigabbrev_np(WTERMSIG(status)) : "?",
			 WCOREDUMP(status) ? " (core)" : "");
	else
		snprintf(buf, n, "status 0x%x", status);
	return buf;
}

int h_check_child(const char *file, int line, pid_t pid, int timeout_ms,
		  int fatal)
{
	int st = h_waitpid(pid, timeout_ms);
	char buf[64], what[128];

	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	snprintf(what, sizeof(what), "child %d finished cleanly (it: %s)",
		 (int)pid, h_status_str(st, buf, sizeof(buf)));
	h_fail(file, line, what, 0, fatal);
	return -1;
}

/* ---- pipes --------------------------------------------------------------- */

void h_pipe_init(struct h_pipe *p, int inherit)
{
	int fds[2];

	CHECK(pipe2(fds, inherit ? 0 : O_CLOEXEC) == 0);
	p->rd = fds[0];
	p->wr = fds[1];
}

void h_pipe_close(struct h_pipe *p)
{
	if (p->rd >= 0)
		close(p->rd);
	if (p->wr >= 0)
		close(p->wr);
	p->rd = p->wr = -1;
}

void h_put(int wr, int32_t v)
{
	ssize_t n;

	do
		n = write(wr, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	CHECK(n == (ssize_t)sizeof(v));
}

int h_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t t0 = h_now_ns();
	int r;

	for (;;) {
		int left = timeout_ms - (int)h_ms_since(t0);

		r = poll(&p, 1, left < 0 ? 0 : left);
		if (r < 0 && errno == EINTR)
			continue;
		return r > 0;
	}
}

int h_get(int rd, int32_t *v, int timeout_ms)
{
	size_t got = 0;
	int64_t t0 = h_now_ns();

	while (got < sizeof(*v)) {
		int left = timeout_ms - (int)h_ms_since(t0);
		ssize_t n;

		if (left < 0 || !h_readable(rd, left))
			return -ETIMEDOUT;
		n = read(rd, (char *)v + got, sizeof(*v) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

int32_t h_get_must(int rd, int timeout_ms)
{
	int32_t v = 0;
	int r = h_get(rd, &v, timeout_ms);

	if (r) {
		char what[128];
		snprintf(what, sizeof(what),
			 "a readiness value arrived within %d ms (%s)", timeout_ms,
			 r == -ETIMEDOUT ? "timed out" : "the writer exited");
		h_fail(__FILE__, __LINE__, what, -r, 1);
	}
	return v;
}

/* ---- scifd ----------------------------------------------------------------- */

pid_t h_scifd_start(int cards)
{
	struct h_pipe p;
	pid_t pid;
	char ready[16], ncards[16];
	int32_t dummy;
	int r;

	h_pipe_init(&p, 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = dup(p.wr); /* without O_CLOEXEC */

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		snprintf(ready, sizeof(ready), "%d", fd);
		snprintf(ncards, sizeof(ncards), "%d", cards);
		execl(SCIFD_PATH, "scifd", "--cards", ncards, "--fabric",
		      g_fabric, "--ready-fd", ready, (char *)NULL);
		_exit(127);
	}
	add_child(pid);
	close(p.wr);
	/* scifd writes one byte: wait for it (h_get wants 4, so read 1) */
	if (!h_readable(p.rd, 10000)) {
		h_fail(__FILE__, __LINE__, "scifd became ready within 10 s", 0, 1);
	}
	r = (int)read(p.rd, &dummy, 1);
	if (r != 1) {
		char buf[64], what[128];
		int st = h_waitpid(pid, 2000);
		snprintf(what, sizeof(what),
			 "scifd wrote its ready byte (read %d; scifd %s)", r,
			 h_status_str(st, buf, sizeof(buf)));
		h_fail(__FILE__, __LINE__, what, errno, 1);
	}
	close(p.rd);
	return pid;
}

void h_scifd_stop(pid_t pid)
{
	int st;
	char buf[64];

	CHECK(kill(pid, SIGTERM) == 0);
	st = h_waitpid(pid, 5000);
	if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		char what[128];
		snprintf(what, sizeof(what),
			 "scifd exits 0 on SIGTERM within 5 s (it: %s)",
			 h_status_str(st, buf, sizeof(buf)));
		h_fail(__FILE__, __LINE__, what, 0, 0);
	}
}

/* ---- misc ------------------------------------------------------------------ */

int64_t h_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int h_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	CHECK(d != NULL);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

void h_dump_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[256];

	if (!d)
		return;
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		h_log("  fd %s -> %s", e->d_name, target);
	}
	closedir(d);
}

long h_vmrss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int h_count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int c, n = 0;

	CHECK(f != NULL);
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

scif_epd_t h_connect(uint16_t node, uint16_t port)
{
	struct scif_portID dst = { .node = node, .port = port };
	scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());

	CHECK_OK(scif_connect(ep, &dst));
	return ep;
}

scif_epd_t h_listen(uint16_t port, int backlog, uint16_t *bound)
{
	scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());
	int p = (int)CHECK_OK(scif_bind(ep, port));

	if (port)
		CHECK_EQ(p, port);
	CHECK_OK(scif_listen(ep, backlog));
	if (bound)
		*bound = (uint16_t)p;
	return ep;
}

uint64_t h_rand(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct pair_arg {
	uint16_t port;
	scif_epd_t ep;
};

static void *pair_connect(void *a)
{
	struct pair_arg *pa = a;

	pa->ep = h_connect(0, pa->port);
	return NULL;
}

void h_pair(uint16_t port, scif_epd_t *c, scif_epd_t *s)
{
	struct pair_arg pa = { .port = port };
	struct scif_portID peer;
	scif_epd_t l = h_listen(port, 1, NULL);
	pthread_t t;

	CHECK(pthread_create(&t, NULL, pair_connect, &pa) == 0);
	CHECK_OK(scif_accept(l, &peer, s, SCIF_ACCEPT_SYNC));
	CHECK(pthread_join(t, NULL) == 0);
	*c = pa.ep;
	CHECK_EQ(scif_close(l), 0);
}
