/* SPDX-License-Identifier: MIT */
/*
 * mpss_program.c - a program written for MPSS: it includes only <scif.h>
 * and relies on what the MPSS header brings along (errno, ECONNREFUSED,
 * sleep(), poll constants, the deprecated aliases and reserved port names).
 *
 * Built by the tests as C99, gnu99, C11 and C++11 with -Wall -Wextra -Werror
 * -pedantic, linked against libscif (every API function is referenced, so a
 * missing export fails the link), and run.
 */
#include <scif.h>

/* ---- compile-time checks (C99-compatible) --------------------------------- */
#define MPSS_CHECK(name, cond) typedef char mpss_check_##name[(cond) ? 1 : -1]

MPSS_CHECK(open_failed, SCIF_OPEN_FAILED == -1);
MPSS_CHECK(accept_sync, SCIF_ACCEPT_SYNC == 1 && ACCEPT_SYNC == 1);
MPSS_CHECK(send_block, SCIF_SEND_BLOCK == 1 && SEND_BLOCK == 1);
MPSS_CHECK(recv_block, SCIF_RECV_BLOCK == 1 && RECV_BLOCK == 1);
MPSS_CHECK(prot, SCIF_PROT_READ == 1 && SCIF_PROT_WRITE == 2);
MPSS_CHECK(map, SCIF_MAP_FIXED == 0x10 && SCIF_MAP_KERNEL == 0x20);
MPSS_CHECK(fence, SCIF_FENCE_INIT_SELF == 1 && SCIF_FENCE_INIT_PEER == 2 &&
		  SCIF_FENCE_RAS_SELF == 4 && SCIF_FENCE_RAS_PEER == 8 &&
		  SCIF_SIGNAL_LOCAL == 0x10 && SCIF_SIGNAL_REMOTE == 0x20);
MPSS_CHECK(rma, SCIF_RMA_USECPU == 1 && SCIF_RMA_USECACHE == 2 &&
		SCIF_RMA_SYNC == 4 && SCIF_RMA_ORDERED == 8);
MPSS_CHECK(pollbits, SCIF_POLLIN == 0x1 && SCIF_POLLOUT == 0x4 &&
		     SCIF_POLLERR == 0x8 && SCIF_POLLHUP == 0x10 &&
		     SCIF_POLLNVAL == 0x20);
MPSS_CHECK(ports, SCIF_ADMIN_PORT_END == 1024 && SCIF_PORT_RSVD == 1088);
MPSS_CHECK(coi, SCIF_COI_PORT_0 == 40 && SCIF_COI_PORT_9 == 49);
MPSS_CHECK(ofed, SCIF_OFED_PORT_0 == 60 && SCIF_OFED_PORT_9 == 69);
MPSS_CHECK(netdev, SCIF_NETDEV_PORT_0 == 80 && SCIF_NETDEV_PORT_9 == 89);
MPSS_CHECK(ras, SCIF_RAS_PORT_0 == 100 && SCIF_RAS_PORT_9 == 109);
MPSS_CHECK(pm, SCIF_PM_PORT_0 == 120 && SCIF_PM_PORT_9 == 129);
MPSS_CHECK(bt, SCIF_BT_PORT_0 == 130 && SCIF_BT_PORT_9 == 139);
MPSS_CHECK(mpssd, MPSSD_MONRECV == 160 && MIC_NOTIFY == 161 &&
		  MPSSD_CRED == 162 && MPSSD_MONSEND == 163 &&
		  MPSSD_MICCTRL == 164 && MPSSD_RESV5 == 165 &&
		  MPSSD_RESV9 == 169);
MPSS_CHECK(cosm, SCIF_COSM_LISTEN_PORT == 201);
MPSS_CHECK(myo, SCIF_MYO_PORT_0 == 1025 && SCIF_MYO_PORT_9 == 1034);
MPSS_CHECK(st, SCIF_ST_PORT_0 == 1044 && SCIF_ST_PORT_9 == 1053);
MPSS_CHECK(epd_is_int, sizeof(scif_epd_t) == sizeof(int));
MPSS_CHECK(portid, sizeof(struct scif_portID) == 4);
MPSS_CHECK(portid_alias, sizeof(portID_t) == sizeof(struct portID));
MPSS_CHECK(pollepd, sizeof(struct scif_pollepd) == sizeof(struct pollfd));
MPSS_CHECK(pollepd_fd, offsetof(struct scif_pollepd, epd) ==
			       offsetof(struct pollfd, fd));
MPSS_CHECK(pollepd_ev, offsetof(struct scif_pollepd, events) ==
			       offsetof(struct pollfd, events));
MPSS_CHECK(pollepd_rev, offsetof(struct scif_pollepd, revents) ==
				offsetof(struct pollfd, revents));
MPSS_CHECK(failed_vals, sizeof(SCIF_REGISTER_FAILED) == sizeof(off_t));

/* ---- every API function, with its MPSS type --------------------------------- */
scif_epd_t (*mpss_p_open)(void) = scif_open;
int (*mpss_p_close)(scif_epd_t) = scif_close;
int (*mpss_p_bind)(scif_epd_t, uint16_t) = scif_bind;
int (*mpss_p_listen)(scif_epd_t, int) = scif_listen;
int (*mpss_p_connect)(scif_epd_t, struct scif_portID *) = scif_connect;
int (*mpss_p_accept)(scif_epd_t, struct scif_portID *, scif_epd_t *, int) =
	scif_accept;
int (*mpss_p_send)(scif_epd_t, void *, int, int) = scif_send;
int (*mpss_p_recv)(scif_epd_t, void *, int, int) = scif_recv;
#ifndef MPSS_MSG_ONLY /* the run test links without the RMA calls */
off_t (*mpss_p_register)(scif_epd_t, void *, size_t, off_t, int, int) =
	scif_register;
int (*mpss_p_unregister)(scif_epd_t, off_t, size_t) = scif_unregister;
void *(*mpss_p_mmap)(void *, size_t, int, int, scif_epd_t, off_t) = scif_mmap;
int (*mpss_p_munmap)(void *, size_t) = scif_munmap;
int (*mpss_p_readfrom)(scif_epd_t, off_t, size_t, off_t, int) = scif_readfrom;
int (*mpss_p_writeto)(scif_epd_t, off_t, size_t, off_t, int) = scif_writeto;
int (*mpss_p_vreadfrom)(scif_epd_t, void *, size_t, off_t, int) =
	scif_vreadfrom;
int (*mpss_p_vwriteto)(scif_epd_t, void *, size_t, off_t, int) = scif_vwriteto;
int (*mpss_p_fence_mark)(scif_epd_t, int, int *) = scif_fence_mark;
int (*mpss_p_fence_wait)(scif_epd_t, int) = scif_fence_wait;
int (*mpss_p_fence_signal)(scif_epd_t, off_t, uint64_t, off_t, uint64_t, int) =
	scif_fence_signal;
#endif
int (*mpss_p_get_nodeIDs)(uint16_t *, int, uint16_t *) = scif_get_nodeIDs;
int (*mpss_p_get_fd)(scif_epd_t) = scif_get_fd;
int (*mpss_p_poll)(struct scif_pollepd *, unsigned int, long) = scif_poll;

/* ---- a small MPSS-style program ---------------------------------------------- */
static int fail(const char *msg, int len)
{
	(void)!write(2, msg, (size_t)len);
	(void)!write(2, "\n", 1);
	return 1;
}
#define FAIL(s) fail(s, (int)sizeof(s) - 1)

int main(void)
{
	uint16_t nodes[8], self = 7;
	struct scif_portID dst;
	portID_t peer;
	struct scif_pollepd pe;
	scif_epd_t l, c, n;
	char buf[3];
	pid_t pid;
	int r;

	r = scif_get_nodeIDs(nodes, 8, &self);
	if (r < 1 || nodes[0] != 0 || self != 0)
		return FAIL("scif_get_nodeIDs");

	c = scif_open();
	if (c == SCIF_OPEN_FAILED)
		return FAIL("scif_open");
	dst.node = 0;
	dst.port = 1999;
	if (scif_connect(c, &dst) != -1 || errno != ECONNREFUSED)
		return FAIL("connect to nobody: ECONNREFUSED");
	/* Intel's tutorials: clear errno, make the calls, and count any
	 * errno left behind as a failure (successful calls leave it alone) */
	errno = 0;
	scif_close(c);

	l = scif_open();
	if (l == SCIF_OPEN_FAILED || scif_bind(l, 1999) != 1999 ||
	    scif_listen(l, 1) != 0)
		return FAIL("listen");
	pid = fork();
	if (pid == 0) {
		c = scif_open();
		if (c < 0 || scif_connect(c, &dst) < 0)
			_exit(1);
		if (scif_send(c, (void *)"hi", 2, SEND_BLOCK) != 2)
			_exit(2);
		/* wait for the parent to close */
		scif_recv(c, buf, 1, RECV_BLOCK);
		_exit(0);
	}
	if (pid < 0)
		return FAIL("fork");
	if (scif_accept(l, &peer, &n, ACCEPT_SYNC) != 0)
		return FAIL("accept");
	pe.epd = n;
	pe.events = SCIF_POLLIN;
	pe.revents = 0;
	if (scif_poll(&pe, 1, 5000) != 1 || !(pe.revents & SCIF_POLLIN))
		return FAIL("scif_poll");
	if (scif_recv(n, buf, 2, SCIF_RECV_BLOCK) != 2 || buf[0] != 'h' ||
	    buf[1] != 'i')
		return FAIL("recv");
	if (scif_get_fd(n) != n)
		return FAIL("scif_get_fd");
	scif_close(n);
	scif_close(l);
	if (errno != 0)
		return FAIL("errno set by calls that succeeded");
	sleep(0);
	return 0;
}
