/* SPDX-License-Identifier: MIT */
/*
 * test_cli: the scif tool's rough edges stay filed off.
 *
 * - scif info shows process names as text: a name holding an escape
 *   sequence (that would clear the reader's screen) or a byte that is not
 *   UTF-8 is escaped in the table, and --json stays valid UTF-8 JSON;
 * - bench bw --plot with a path it cannot write fails at once, before
 *   measuring, and writes nothing to stdout;
 * - bench micmem --json and ping --json print one JSON object.
 */
#include "harness.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#define NAME "\033[2J\xff" "evil"

/* Run @cmd (a shell command line) and return its stdout; *st: its status. */
static char *run(const char *cmd, int *st, size_t *len)
{
	FILE *p = popen(cmd, "r");
	size_t cap = 1 << 16, n = 0, k;
	char *buf = malloc(cap + 1);

	CHECK(p != NULL && buf != NULL);
	while ((k = fread(buf + n, 1, cap - n, p)) > 0) {
		n += k;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			CHECK(buf != NULL);
		}
	}
	buf[n] = 0;
	*st = pclose(p);
	*len = n;
	return buf;
}

/* 1 if @s[0..n) is well-formed UTF-8 with no raw control character other
 * than newline. */
static int clean_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], k;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\n') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		k = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
		if (!k || c > 0xf4 || i + k >= n)
			return 0;
		for (unsigned j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

/* A listener held by a process with a hostile name. */
static int evil(void *arg)
{
	int wr = *(int *)arg;
	scif_epd_t l;

	prctl(PR_SET_NAME, NAME, 0, 0, 0);
	l = h_listen(0, 1, NULL);
	h_put(wr, 1);
	pause();
	scif_close(l);
	return 0;
}

int main(int argc, char **argv)
{
	char cmd[1024], *out;
	struct h_pipe p;
	size_t n;
	int st;
	int64_t t0;
	pid_t pid;

	h_init(argc, argv, "cli", 120, NULL);

	STEP("a listener held by a process named with an escape sequence");
	h_pipe_init(&p, 0);
	pid = h_fork(evil, &p.wr);
	h_get_must(p.rd, 10000);

	STEP("scif info");
	snprintf(cmd, sizeof(cmd), "%s info", SCIF_CLI_PATH);
	out = run(cmd, &st, &n);
	EXPECT_EQ(WEXITSTATUS(st), 0);
	EXPECT(clean_utf8((unsigned char *)out, n));
	EXPECT(memchr(out, 0x1b, n) == NULL);
	EXPECT(strstr(out, "\\x1b[2J\\xffevil") != NULL);
	if (h_failures)
		h_log("scif info printed:\n%s", out);
	free(out);

	STEP("scif info --json");
	snprintf(cmd, sizeof(cmd), "%s info --json", SCIF_CLI_PATH);
	out = run(cmd, &st, &n);
	EXPECT_EQ(WEXITSTATUS(st), 0);
	EXPECT(clean_utf8((unsigned char *)out, n));
	EXPECT(strstr(out, "\"\\u001b[2J\\ufffdevil\"") != NULL);
	if (h_failures)
		h_log("scif info --json printed:\n%s", out);
	free(out);
	kill(pid, SIGKILL);
	h_waitpid(pid, 5000);

	STEP("bench bw --plot into a directory that does not exist");
	snprintf(cmd, sizeof(cmd), "%s bench bw --plot /no/such/dir/x.png "
		 "2>/dev/null", SCIF_CLI_PATH);
	t0 = h_now_ns();
	out = run(cmd, &st, &n);
	EXPECT_NE(WEXITSTATUS(st), 0);
	EXPECT_EQ(n, 0);               /* nothing (no PNG) on stdout */
	EXPECT_LT(h_ms_since(t0), 2000); /* refused before measuring */
	free(out);

	STEP("bench micmem --json");
	snprintf(cmd, sizeof(cmd), "%s bench micmem -m 16K -r 1 -t 1 --json "
		 "2>/dev/null", SCIF_CLI_PATH);
	out = run(cmd, &st, &n);
	EXPECT_EQ(WEXITSTATUS(st), 0);
	EXPECT(n > 2 && out[0] == '{' && out[n - 2] == '}' &&
	       out[n - 1] == '\n' && memchr(out, '\n', n) == out + n - 1);
	EXPECT(strstr(out, "\"bench\":\"micmem\"") != NULL);
	free(out);

	STEP("ping --json against ping --listen");
	{
		unsigned node, port = 0;
		char line[256];
		FILE *srv;

		snprintf(cmd, sizeof(cmd), "exec %s ping --listen 0",
			 SCIF_CLI_PATH);
		srv = popen(cmd, "r");
		CHECK(srv != NULL);
		CHECK(fgets(line, sizeof(line), srv) != NULL);
		CHECK_EQ(sscanf(line, "listening on %u:%u", &node, &port), 2);
		snprintf(cmd, sizeof(cmd), "%s ping -c 3 -i 0 --json %u:%u",
			 SCIF_CLI_PATH, node, port);
		out = run(cmd, &st, &n);
		EXPECT_EQ(WEXITSTATUS(st), 0);
		EXPECT(n > 2 && out[0] == '{' && memchr(out, '\n', n) ==
							out + n - 1);
		EXPECT(strstr(out, "\"sent\":3,\"received\":3,") != NULL);
		if (h_failures)
			h_log("ping --json printed:\n%s", out);
		free(out);
		/* the server runs until killed: its stdout pipe closing does
		 * not stop it, so kill it through the shell's exec'd pid */
		snprintf(cmd, sizeof(cmd), "pkill -KILL -f 'ping --listen 0' "
			 "-P %d", (int)getpid());
		(void)!system(cmd);
		pclose(srv);
	}
	return h_finish();
}
