/* SPDX-License-Identifier: MIT */
/*
 * test_security: the boundaries between users (docs/SECURITY.md).
 *
 * Needs root (it runs the two sides as different uids with setuid() in
 * forked children); skipped with a message otherwise. The "attacker"
 * speaks the wire protocol itself with raw sockets (names.h, wire.h).
 *
 * 1. Descriptor modes: a connection region is 0600, a window memfd 0400.
 * 2. A read-only window stays read-only for a peer of another user: the
 *    O_RDONLY memfd it receives cannot be re-opened O_RDWR through
 *    /proc/self/fd (nor fchmod()ed to allow it), nor mapped PROT_WRITE, and
 *    the owner's bytes are unchanged; reading it works (the control). For
 *    a peer of the same non-root user the plain re-open fails too (but it
 *    owns the inode and could fchmod it: no boundary, by design).
 * 3. A port below 1024 squatted by another user (raw bind of its abstract
 *    name): scif_connect fails with ECONNREFUSED and the squatter gets no
 *    request and no descriptor; a root listener on such a port works.
 * 4. A connector of another user that binds a reserved name as its own
 *    address is not accepted; the same user with an ordinary port is.
 * 5. The daemon's name squatted by another user, who answers like scifd
 *    (5 cards, card memory): root and a third user see no cards and
 *    micmem_opendev gives ENODEV, and the squatter gets no request; its own
 *    user (the control) does see its 5 cards. The real scifd cannot start
 *    meanwhile (a denial of service, as documented) and says who holds it.
 */
#include "harness.h"

#include "names.h"
#include "region.h"
#include "wire.h"
#include "wire_rma.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <micmem.h>

#define UID_A 60001
#define UID_B 60002
#define UID_C 60003

static void become(uid_t u)
{
	CHECK(setgroups(0, NULL) == 0);
	CHECK_OK(setgid(u));
	CHECK_OK(setuid(u));
	CHECK_EQ(geteuid(), u);
}

/* ---- raw tools ---------------------------------------------------------- */

static int send_fd(int s, const void *buf, size_t len, int fd)
{
	struct iovec iov = { (void *)buf, len };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = sizeof(u.b);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return (int)sendmsg(s, &mh, MSG_NOSIGNAL);
}

/* Receive one record and the first descriptor with it (-1 if none);
 * returns the length, 0 at end of file, -1 if nothing within @ms. */
static ssize_t recv_fd(int s, void *buf, size_t len, int *fd, int ms)
{
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	if (!h_readable(s, ms))
		return -1;
	n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	for (cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    *fd < 0)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return n < 0 ? 0 : n;
}

static int raw_bind(const struct sockaddr_un *sa, socklen_t sl)
{
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	CHECK(s >= 0);
	CHECK(bind(s, (const struct sockaddr *)sa, sl) == 0);
	return s;
}

static int raw_listen_port(uint16_t port)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_port_addr(&sa, h_fabric(), 0, port);
	int l = raw_bind(&sa, sl);

	CHECK(listen(l, 8) == 0);
	return l;
}

/* Connect from (node 0, src) to dst like libscif does: a request with a
 * region; returns the socket and the grant's control socket in *ctl (-1 if
 * the connection was refused: closed, or no grant). */
static int raw_connect(uint16_t src, uint16_t dst, int *ctl)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_port_addr(&sa, h_fabric(), 0, src);
	int s = raw_bind(&sa, sl), memfd, fd = -1;
	unsigned char rec[SKIFF_CREDIT_BYTES], buf[256];
	uint32_t ring = SKIFF_RING_MIN, size = (uint32_t)skiff_region_size(ring);
	struct skiff_region_hdr *h;
	struct skiff_wire_msg m;
	ssize_t n;

	sl = skiff_port_addr(&sa, h_fabric(), 0, dst);
	CHECK(connect(s, (struct sockaddr *)&sa, sl) == 0);
	memfd = memfd_create("attacker", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(memfd >= 0 && ftruncate(memfd, size) == 0);
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CHECK(h != MAP_FAILED);
	h->magic = SKIFF_REGION_MAGIC;
	h->version = SKIFF_REGION_VERSION;
	h->ring_size = ring;
	h->region_size = size;
	munmap(h, size);
	CHECK_OK(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	skiff_wire_init(&m, SKIFF_MSG_CONN_REQ);
	m.body.conn_req.src_port = src;
	m.body.conn_req.dst_port = dst;
	m.body.conn_req.ring_size = ring;
	m.body.conn_req.region_size = size;
	m.body.conn_req.cookie = 42;
	memset(rec, 0, sizeof(rec));
	memcpy(rec, &m, sizeof(m.hdr) + m.hdr.body_len);
	CHECK_EQ(send_fd(s, rec, sizeof(rec), memfd), (int)sizeof(rec));
	close(memfd);
	n = recv_fd(s, buf, sizeof(buf), &fd, 10000);
	*ctl = -1;
	if (n > 0 && skiff_wire_decode(buf, (size_t)n, &m) == 0 &&
	    m.hdr.type == SKIFF_MSG_CONN_GRANT && m.body.grant.status == 0 &&
	    fd >= 0) {
		*ctl = fd;
	} else if (fd >= 0) {
		close(fd);
	}
	return s;
}

/* ---- 1. descriptor modes ---------------------------------------------- */

/* Mode of the first descriptor whose link starts with @what, or -1. */
static int memfd_mode(const char *what)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int mode = -1;

	CHECK(d);
	while ((e = readdir(d)) && mode < 0) {
		char p[300], l[128];
		struct stat st;
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		n = readlink(p, l, sizeof(l) - 1);
		if (n <= 0)
			continue;
		l[n] = 0;
		if (strncmp(l, what, strlen(what)) == 0 && stat(p, &st) == 0)
			mode = (int)(st.st_mode & 07777);
	}
	closedir(d);
	return mode;
}

static void t_modes(void)
{
	scif_epd_t c, s;
	void *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	STEP("descriptor modes");
	h_pair(2200, &c, &s);
	/* the region is mapped and closed: look at it through map_files */
	{
		int fd = -1;
		DIR *d = opendir("/proc/self/map_files");
		struct dirent *e;

		CHECK(d);
		while ((e = readdir(d)) && fd < 0) {
			char p[300], l[128];
			ssize_t n;
			snprintf(p, sizeof(p), "/proc/self/map_files/%s", e->d_name);
			n = readlink(p, l, sizeof(l) - 1);
			if (n > 0 && (l[n] = 0, strstr(l, "memfd:skiff-conn")))
				fd = open(p, O_RDONLY | O_CLOEXEC);
		}
		closedir(d);
		CHECK(fd >= 0);
		{
			struct stat st;
			CHECK_OK(fstat(fd, &st));
			EXPECT_EQ(st.st_mode & 07777, 0600);
		}
		close(fd);
	}
	CHECK(buf != MAP_FAILED);
	CHECK_EQ(scif_register(s, buf, 4096, 0, SCIF_PROT_READ, SCIF_MAP_FIXED), 0);
	EXPECT_EQ(memfd_mode("/memfd:skiff-window-"), 0400);
	scif_close(c);
	scif_close(s);
	munmap(buf, 4096);
}

/* ---- 2. read-only windows --------------------------------------------- */

#define WIN_PORT 2300

struct win_arg {
	uid_t owner, attacker;
	struct h_pipe ready, registered, done;
};

static int win_owner(void *a)
{
	struct win_arg *wa = a;
	struct scif_portID peer;
	scif_epd_t l, ep;
	unsigned char *buf;
	int32_t v;

	become(wa->owner);
	l = h_listen(WIN_PORT, 1, NULL);
	h_put(wa->ready.wr, 1);
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, 'R', 4096);
	CHECK_EQ(scif_register(ep, buf, 4096, 0, SCIF_PROT_READ, SCIF_MAP_FIXED), 0);
	h_put(wa->registered.wr, 1);
	CHECK_OK(h_get(wa->done.rd, &v, 20000));
	for (int i = 0; i < 4096; i++)
		if (buf[i] != 'R') {
			EXPECT(!"the peer changed a read-only window");
			break;
		}
	return 0;
}

static int win_attacker(void *a)
{
	struct win_arg *wa = a;
	unsigned char rec[256], got;
	struct skiff_rma_msg m;
	char path[64];
	struct stat st;
	int ctl, s, fd, rw;
	ssize_t n;
	void *p;

	become(wa->attacker);
	s = raw_connect(5000, WIN_PORT, &ctl);
	CHECK(ctl >= 0);
	CHECK_EQ(h_get_must(wa->registered.rd, 20000), 1);
	n = recv_fd(ctl, rec, sizeof(rec), &fd, 10000);
	CHECK(n > 0 && skiff_rma_decode(rec, (size_t)n, &m) == 0);
	CHECK_EQ(m.hdr.type, SKIFF_RMA_WIN_ADD);
	EXPECT_EQ(m.body.win.prot, SCIF_PROT_READ);
	CHECK(fd >= 0);
	EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	CHECK_OK(fstat(fd, &st));
	EXPECT_EQ(st.st_mode & 07777, 0400);
	/* the control: what the window lets us do works */
	EXPECT_EQ(pread(fd, &got, 1, 0), 1);
	EXPECT_EQ(got, 'R');
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT(p != MAP_FAILED);
	/* the attack */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	errno = 0;
	rw = open(path, O_RDWR | O_CLOEXEC);
	EXPECT(rw < 0 && errno == EACCES);
	if (rw >= 0) /* it worked: show the owner what that means */
		EXPECT_EQ(pwrite(rw, "WWWW", 4, 0), 4);
	errno = 0;
	EXPECT(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
		       MAP_FAILED && errno == EACCES);
	EXPECT(pwrite(fd, "W", 1, 0) < 0);
	/* another user cannot change the mode either; our own user can (the
	 * inode is ours): the same user is no boundary (docs/SECURITY.md) */
	if (wa->attacker != wa->owner) {
		errno = 0;
		EXPECT(fchmod(fd, 0666) < 0 && errno == EPERM);
	}
	h_put(wa->done.wr, 1);
	close(ctl);
	close(s);
	return 0;
}

static void t_window(uid_t owner, uid_t attacker)
{
	struct win_arg wa = { .owner = owner, .attacker = attacker };
	pid_t po, pa;

	STEP("read-only window: owner uid %u, peer uid %u", owner, attacker);
	h_pipe_init(&wa.ready, 0);
	h_pipe_init(&wa.registered, 0);
	h_pipe_init(&wa.done, 0);
	po = h_fork(win_owner, &wa);
	CHECK_EQ(h_get_must(wa.ready.rd, 10000), 1);
	pa = h_fork(win_attacker, &wa);
	EXPECT_CHILD_OK(pa, 30000);
	EXPECT_CHILD_OK(po, 30000);
	h_pipe_close(&wa.ready);
	h_pipe_close(&wa.registered);
	h_pipe_close(&wa.done);
}

/* ---- 3. squatted reserved port ---------------------------------------- */

struct squat_arg {
	struct h_pipe ready, report;
	uint16_t port;
};

/* Listen on the raw name as UID_B; report what the first connection
 * carried: bytes + 1000 per descriptor (-1: nobody came). */
static int port_squatter(void *a)
{
	struct squat_arg *sa = a;
	unsigned char buf[SKIFF_CREDIT_BYTES + 64];
	int l, s, fd;
	ssize_t n;

	become(UID_B);
	l = raw_listen_port(sa->port);
	h_put(sa->ready.wr, 1);
	if (!h_readable(l, 10000)) {
		h_put(sa->report.wr, -1);
		return 0;
	}
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(s >= 0);
	n = recv_fd(s, buf, sizeof(buf), &fd, 10000);
	h_put(sa->report.wr, (int32_t)(n < 0 ? 0 : n) + (fd >= 0 ? 1000 : 0));
	return 0;
}

static int reserved_server(void *a)
{
	struct squat_arg *sa = a;
	scif_epd_t l = h_listen(sa->port, 1, NULL), ep;
	struct scif_portID peer;

	h_put(sa->ready.wr, 1);
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	CHECK_EQ(scif_send(ep, "root", 4, SCIF_SEND_BLOCK), 4);
	return 0;
}

static void t_port_squat(void)
{
	struct squat_arg sa = { .port = 100 };
	struct scif_portID dst = { .node = 0, .port = 100 };
	scif_epd_t ep;
	char buf[4];
	pid_t pid;

	STEP("a reserved port squatted by uid %u", UID_B);
	h_pipe_init(&sa.ready, 0);
	h_pipe_init(&sa.report, 0);
	pid = h_fork(port_squatter, &sa);
	CHECK_EQ(h_get_must(sa.ready.rd, 10000), 1);
	ep = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_connect(ep, &dst), ECONNREFUSED);
	EXPECT_EQ(h_get_must(sa.report.rd, 15000), 0); /* no request, no fd */
	EXPECT_CHILD_OK(pid, 15000);

	STEP("the same port served by root");
	sa.port = 101;
	dst.port = 101;
	pid = h_fork(reserved_server, &sa);
	CHECK_EQ(h_get_must(sa.ready.rd, 10000), 1);
	/* the endpoint refused above is bound again and can connect */
	CHECK_OK(scif_connect(ep, &dst));
	EXPECT_EQ(scif_recv(ep, buf, 4, SCIF_RECV_BLOCK), 4);
	EXPECT(memcmp(buf, "root", 4) == 0);
	EXPECT_CHILD_OK(pid, 15000);
	scif_close(ep);
	h_pipe_close(&sa.ready);
	h_pipe_close(&sa.report);
}

/* ---- 4. a forged reserved source port --------------------------------- */

#define FORGE_PORT 2400

static int forge_server(void *a)
{
	struct squat_arg *sa = a;
	scif_epd_t l = h_listen(FORGE_PORT, 4, NULL), ep;
	struct scif_portID peer;

	h_put(sa->ready.wr, 1);
	/* the forged connection is dropped inside; the honest one returns */
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	EXPECT_EQ(peer.port, 5100);
	h_put(sa->report.wr, peer.port);
	return 0;
}

static int forger(void *a)
{
	int ctl, s;

	(void)a;
	become(UID_B);
	s = raw_connect(50, FORGE_PORT, &ctl); /* claims port 50 */
	EXPECT_EQ(ctl, -1);
	close(s);
	s = raw_connect(5100, FORGE_PORT, &ctl); /* the control */
	EXPECT(ctl >= 0);
	close(s);
	return 0;
}

static void t_forged_source(void)
{
	struct squat_arg sa = { 0 };
	pid_t ps, pf;

	STEP("a connector of uid %u claiming port 50", UID_B);
	h_pipe_init(&sa.ready, 0);
	h_pipe_init(&sa.report, 0);
	ps = h_fork(forge_server, &sa);
	CHECK_EQ(h_get_must(sa.ready.rd, 10000), 1);
	pf = h_fork(forger, NULL);
	EXPECT_CHILD_OK(pf, 30000);
	EXPECT_EQ(h_get_must(sa.report.rd, 15000), 5100);
	EXPECT_CHILD_OK(ps, 15000);
	h_pipe_close(&sa.ready);
	h_pipe_close(&sa.report);
}

/* ---- 5. squatted daemon name ------------------------------------------ */

struct dsq_arg {
	struct h_pipe ready, report, done;
};

/* Answer like scifd (5 cards, card memory for anyone) as UID_B until told
 * to stop; report how many requests it got. */
static int daemon_squatter(void *a)
{
	struct dsq_arg *da = a;
	struct sockaddr_un sa;
	socklen_t sl = skiff_daemon_addr(&sa, h_fabric());
	int l, mem, served = 0;

	become(UID_B);
	l = raw_bind(&sa, sl);
	CHECK(listen(l, 16) == 0);
	mem = memfd_create("fake-card", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(mem >= 0 && ftruncate(mem, 1 << 22) == 0);
	CHECK_OK(fcntl(mem, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	h_put(da->ready.wr, 1);
	for (;;) {
		struct pollfd p[2] = { { .fd = l, .events = POLLIN },
				       { .fd = da->done.rd, .events = POLLIN } };
		unsigned char buf[256];
		struct skiff_wire_msg q, r;
		ssize_t n;
		int s;

		CHECK(poll(p, 2, 20000) > 0);
		if (p[1].revents)
			break;
		s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0)
			continue;
		while (h_readable(s, 2000) &&
		       (n = recv(s, buf, sizeof(buf), MSG_DONTWAIT)) > 0 &&
		       skiff_wire_decode(buf, (size_t)n, &q) == 0) {
			served++;
			if (q.hdr.type == SKIFF_MSG_NODE_QUERY) {
				skiff_wire_init(&r, SKIFF_MSG_NODE_INFO);
				r.body.info.ncards = 5;
				r.body.info.daemon_pid = (uint32_t)getpid();
				r.body.info.card_mem = 1 << 22;
				r.body.info.online[0] = 0x3f; /* nodes 0-5 */
				send_fd(s, &r, sizeof(r.hdr) + r.hdr.body_len, -1);
			} else if (q.hdr.type == SKIFF_MSG_CARD_MEM_REQ) {
				skiff_wire_init(&r, SKIFF_MSG_CARD_MEM);
				r.body.card.node = q.body.card_req.node;
				r.body.card.size = 1 << 22;
				send_fd(s, &r, sizeof(r.hdr) + r.hdr.body_len, mem);
			}
		}
		close(s);
	}
	h_put(da->report.wr, served);
	return 0;
}

/* A client of @uid: the number of nodes it sees, and micmem's answer. */
static int daemon_client(void *a)
{
	uid_t uid = (uid_t)(uintptr_t)a;
	uint16_t nodes[8], self;
	int h, n;

	if (uid)
		become(uid);
	n = scif_get_nodeIDs(nodes, 8, &self);
	h = (int)CHECK_OK(micmem_open());
	if (uid == UID_B) { /* the squatter's own user believes it */
		EXPECT_EQ(n, 6);
		EXPECT_OK(micmem_opendev(h, 0));
	} else {
		EXPECT_EQ(n, 1);
		EXPECT_ERR(micmem_opendev(h, 0), ENODEV);
		EXPECT(micmem_devmap(0, 0, 4096, PROT_READ) == MICMEM_MAP_FAILED &&
		       errno == ENODEV);
	}
	micmem_close(h);
	return 0;
}

static void t_daemon_squat(void)
{
	struct dsq_arg da;
	pid_t pid, d;
	int served, st, err[2];
	char msg[512] = "";
	ssize_t n;

	STEP("the daemon's name squatted by uid %u", UID_B);
	h_pipe_init(&da.ready, 0);
	h_pipe_init(&da.report, 0);
	h_pipe_init(&da.done, 0);
	pid = h_fork(daemon_squatter, &da);
	CHECK_EQ(h_get_must(da.ready.rd, 10000), 1);
	EXPECT_CHILD_OK(h_fork(daemon_client, (void *)(uintptr_t)0), 20000);
	EXPECT_CHILD_OK(h_fork(daemon_client, (void *)(uintptr_t)UID_C), 20000);
	STEP("the squatter's own user believes it (the control)");
	EXPECT_CHILD_OK(h_fork(daemon_client, (void *)(uintptr_t)UID_B), 20000);

	STEP("the real scifd cannot start, and says who holds the name");
	CHECK_OK(pipe2(err, O_CLOEXEC));
	d = fork();
	CHECK(d >= 0);
	if (d == 0) {
		dup2(err[1], 2);
		execl(SCIFD_PATH, "scifd", "--cards", "1", (char *)NULL);
		_exit(127);
	}
	close(err[1]);
	st = h_waitpid(d, 10000);
	EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	n = read(err[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	close(err[0]);
	h_log("scifd said: %s", msg);
	EXPECT(strstr(msg, "uid 60002") != NULL);

	h_put(da.done.wr, 1);
	served = h_get_must(da.report.rd, 30000);
	/* only the control's four requests reached the squatter: its
	 * library asking for its default node (once per process), then
	 * scif_get_nodeIDs and micmem_opendev's two (which node is board 0:
	 * the host's own node + 1; then that card's memory) */
	EXPECT_EQ(served, 4);
	EXPECT_CHILD_OK(pid, 15000);
	h_pipe_close(&da.ready);
	h_pipe_close(&da.report);
	h_pipe_close(&da.done);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "security", 150, NULL);
	if (geteuid() != 0) {
		h_log("not root: cannot run the sides as different users, skipped");
		return h_finish();
	}
	/* first, while this process has no library threads: its children
	 * start micmem's (ThreadSanitizer takes a thread id reused after
	 * fork() for a duplicate) */
	t_daemon_squat();
	t_modes();
	t_window(UID_A, UID_B);
	t_window(UID_A, UID_A);
	t_port_squat();
	t_forged_source();
	return h_finish();
}
