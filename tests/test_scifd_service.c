/* SPDX-License-Identifier: MIT */
/*
 * scifd as a systemd service, without systemd: the test plays the service
 * manager. It listens on a datagram socket, starts scifd with NOTIFY_SOCKET
 * pointing at it (as systemd does for Type=notify) and checks that
 *  - READY=1 arrives, and only once the cards are online (scif_get_nodeIDs
 *    sees them right after);
 *  - SIGHUP is logged and the daemon keeps serving;
 *  - SIGTERM makes it send STOPPING=1 and exit 0.
 * Also: `scifd --version` and `scif --version` print project(VERSION), and
 * the version macros of both headers agree with it.
 */
#include "harness.h"

#include <micmem.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#define STR_(x) #x
#define STR(x) STR_(x)


/* Run @path --version; its first line must be "@name (skiff) VERSION". */
static void check_version(const char *path, const char *name)
{
	char cmd[4096], line[256], want[256];
	FILE *p;

	STEP("%s --version", name);
	snprintf(cmd, sizeof(cmd), "'%s' --version", path);
	snprintf(want, sizeof(want), "%s (skiff) %s\n", name, PROJECT_VERSION);
	CHECK((p = popen(cmd, "r")) != NULL);
	CHECK(fgets(line, sizeof(line), p) != NULL);
	CHECK_EQ(pclose(p), 0);
	if (strcmp(line, want)) {
		h_log("got '%s', want '%s'", line, want);
		EXPECT(!"--version prints the project version");
	}
}

/* One notification datagram within @ms, NUL-terminated into @buf. */
static int notify_recv(int fd, char *buf, size_t n, int ms)
{
	ssize_t r;

	if (!h_readable(fd, ms))
		return -ETIMEDOUT;
	r = recv(fd, buf, n - 1, 0);
	if (r < 0)
		return -errno;
	buf[r] = '\0';
	return 0;
}

/* Has the notification stream @buf the assignment @kv on a line? */
static int has_line(const char *buf, const char *kv)
{
	size_t n = strlen(kv);

	for (const char *s = buf; s; s = strchr(s, '\n'), s = s ? s + 1 : s)
		if (!strncmp(s, kv, n) && (s[n] == '\n' || s[n] == '\0'))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[80], env[96], buf[1024];
	uint16_t nodes[8], self;
	struct h_pipe err;
	int nfd, status;
	socklen_t sl;
	pid_t pid;

	h_init(argc, argv, "scifd_service", 60, NULL);
	/* The headers' macros are project(VERSION)'s (checked here, not with
	 * a static assertion: a forgotten bump fails this test, not the
	 * build). scif.h and micmem.h both define them, identically, or the
	 * compiler would warn about the redefinition. */
	STEP("version macros");
	EXPECT_EQ(SKIFF_VERSION_MAJOR, PROJECT_VERSION_MAJOR);
	EXPECT_EQ(SKIFF_VERSION_MINOR, PROJECT_VERSION_MINOR);
	EXPECT_EQ(SKIFF_VERSION_PATCH, PROJECT_VERSION_PATCH);
	check_version(SCIFD_PATH, "scifd");
	check_version(SCIF_CLI_PATH, "scif");
#ifndef SKIFF_HAVE_SYSTEMD
	h_log("SKIPPED the sd_notify part: scifd was built without libsystemd "
	      "(SKIFF_SYSTEMD=OFF, or no libsystemd-dev)");
	return h_finish();
#endif

	STEP("notification socket");
	/* abstract, like the fabric: nothing to clean up */
	snprintf(name, sizeof(name), "skiff-test-notify-%d", (int)getpid());
	memcpy(sa.sun_path + 1, name, strlen(name));
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	CHECK_OK(nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	CHECK_OK(bind(nfd, (struct sockaddr *)&sa, sl));
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=@%s", name);

	STEP("start scifd under a fake service manager");
	h_pipe_init(&err, 0);
	CHECK_OK(pid = fork());
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves none */
		dup2(err.wr, 2);
		putenv(env);
		execl(SCIFD_PATH, "scifd", "--cards", "2", (char *)NULL);
		_exit(127);
	}
	close(err.wr);
	err.wr = -1;

	STEP("READY=1");
	CHECK_OK(notify_recv(nfd, buf, sizeof(buf), 30000));
	h_log("notification: %s", buf);
	CHECK(has_line(buf, "READY=1"));
	EXPECT(strstr(buf, "STATUS=") != NULL);
	/* ready means online: no poll-until-it-works */
	EXPECT_EQ(scif_get_nodeIDs(nodes, 8, &self), 3);

	STEP("SIGHUP is logged and ignored");
	CHECK_OK(kill(pid, SIGHUP));
	{
		/* the log line is the event to wait for */
		char log[512] = "";
		size_t got = 0;

		while (!strstr(log, "SIGHUP")) {
			ssize_t r;

			CHECK(h_readable(err.rd, 30000));
			r = read(err.rd, log + got, sizeof(log) - 1 - got);
			CHECK_GT(r, 0);
			got += (size_t)r;
			log[got] = '\0';
			if (got == sizeof(log) - 1) /* keep the tail */
				got = 0;
		}
	}
	CHECK_EQ(waitpid(pid, &status, WNOHANG), 0);
	EXPECT_EQ(scif_get_nodeIDs(nodes, 8, &self), 3);

	STEP("SIGTERM: STOPPING=1 and exit 0");
	CHECK_OK(kill(pid, SIGTERM));
	CHECK_OK(notify_recv(nfd, buf, sizeof(buf), 30000));
	h_log("notification: %s", buf);
	EXPECT(has_line(buf, "STOPPING=1"));
	status = h_waitpid(pid, 30000);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	h_forget(pid);
	EXPECT_EQ(scif_get_nodeIDs(nodes, 8, &self), 1);

	close(nfd);
	h_pipe_close(&err);
	return h_finish();
}
