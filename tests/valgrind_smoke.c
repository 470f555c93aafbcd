/* SPDX-License-Identifier: MIT */
/*
 * valgrind_smoke - the main paths of libscif in two processes (fork only, no
 * exec, so valgrind follows both): connect, messages both ways, a window,
 * RMA of every kind, fences, unregister and close. (Not scif_mmap: it maps
 * with mremap(old_size 0), which valgrind does not emulate; test_mmap covers
 * it natively and under ASan.) Run under
 * valgrind by ctest (tests/CMakeLists.txt) when valgrind is installed: any
 * invalid access, use of uninitialised memory or definite leak fails it.
 */
#include <scif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define N (256 * 1024)
#define CK(x)                                                                  \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: %s failed (errno %d)\n",       \
				__FILE__, __LINE__, #x, errno);                \
			exit(1);                                               \
		}                                                              \
	} while (0)

static void target(uint16_t port)
{
	struct scif_portID d = { 0, port };
	scif_epd_t e = scif_open();
	unsigned char *buf = mmap(NULL, N, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char msg[100];
	char c = 0;

	CK(e >= 0 && buf != MAP_FAILED);
	CK(scif_connect(e, &d) > 0);
	for (int i = 0; i < N; i++)
		buf[i] = (unsigned char)(i * 3);
	CK(scif_register(e, buf, N, 0x100000, SCIF_PROT_READ | SCIF_PROT_WRITE,
			 SCIF_MAP_FIXED) == 0x100000);
	CK(scif_send(e, &c, 1, SCIF_SEND_BLOCK) == 1);
	CK(scif_recv(e, msg, sizeof(msg), SCIF_RECV_BLOCK) == sizeof(msg));
	CK(scif_recv(e, &c, 1, SCIF_RECV_BLOCK) == 1); /* writes done */
	for (int i = 0; i < N; i++)
		CK(buf[i] == (unsigned char)(i * 7 + 1));
	CK(scif_send(e, &c, 1, SCIF_SEND_BLOCK) == 1);
	CK(scif_recv(e, &c, 1, SCIF_RECV_BLOCK) == 1); /* its window is gone */
	CK(scif_unregister(e, 0x100000, N) == 0);
	CK(scif_close(e) == 0);
	munmap(buf, N);
	exit(0);
}

int main(void)
{
	scif_epd_t l = scif_open(), a;
	struct scif_portID peer;
	unsigned char *lb, msg[100] = { 0 };
	int port, st, mark;
	off_t lo;
	pid_t pid;
	char c = 1;

	CK(l >= 0);
	port = scif_bind(l, 0);
	CK(port > 0 && scif_listen(l, 1) == 0);
	pid = fork();
	CK(pid >= 0);
	if (!pid)
		target((uint16_t)port);
	CK(scif_accept(l, &peer, &a, SCIF_ACCEPT_SYNC) == 0);
	CK(scif_recv(a, &c, 1, SCIF_RECV_BLOCK) == 1);
	CK(scif_send(a, msg, sizeof(msg), 0) == sizeof(msg)); /* non-blocking */

	lb = mmap(NULL, N, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	CK(lb != MAP_FAILED);
	lo = scif_register(a, lb, N, 0, SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	CK(lo != SCIF_REGISTER_FAILED);
	CK(scif_readfrom(a, lo, N, 0x100000, SCIF_RMA_SYNC) == 0);
	for (int i = 0; i < N; i++)
		CK(lb[i] == (unsigned char)(i * 3));
	for (int i = 0; i < N; i++)
		lb[i] = (unsigned char)(i * 7 + 1);
	CK(scif_writeto(a, lo, N / 2, 0x100000, 0) == 0);
	CK(scif_vwriteto(a, lb + N / 2, N / 2, 0x100000 + N / 2,
			 SCIF_RMA_USECPU) == 0);
	CK(scif_fence_mark(a, SCIF_FENCE_INIT_SELF, &mark) == 0);
	CK(scif_fence_wait(a, mark) == 0);
	CK(scif_fence_signal(a, lo, 42, 0, 0,
			     SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL) == 0);
	CK(scif_send(a, &c, 1, SCIF_SEND_BLOCK) == 1);
	CK(scif_recv(a, &c, 1, SCIF_RECV_BLOCK) == 1);
	CK(scif_unregister(a, lo, N) == 0);
	CK(scif_send(a, &c, 1, SCIF_SEND_BLOCK) == 1);
	CK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CK(scif_close(a) == 0 && scif_close(l) == 0);
	munmap(lb, N);
	puts("PASS valgrind_smoke");
	return 0;
}
