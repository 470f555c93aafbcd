/*
 * endpoint.c - the endpoint table, scif_open, scif_close, scif_get_fd.
 *
 * An endpoint is the file descriptor the user holds. Before it is listening
 * or connected it is the write end of a full pipe whose read end is closed:
 * poll() then reports exactly POLLERR, as SCIF does for unbound and bound
 * endpoints. The bound socket is kept aside until listen/connect, and then
 * dup3()'d onto the same number, so the descriptor never changes.
 *
 * Endpoint structs are never returned to malloc (closed ones go to a free
 * list): a thread racing with scif_close() on the same endpoint finds a
 * closed endpoint, never freed memory.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knob.h"
#include "nodeq.h"

#define CHUNK_BITS 10
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS 4096 /* descriptors up to 4M */

static _Atomic(struct skiff_ep *) *table[NCHUNKS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct skiff_ep *free_list; /* linked through ->sock, under table_lock */

static struct skiff_ctx ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_init(void)
{
	ctx.fabric_err = skiff_fabric(ctx.fabric);
	if (ctx.fabric_err < 0)
		skiff_log(SKIFF_LOG_WARN, "SCIF_FABRIC=%s is not 1 to %d "
			  "characters of [A-Za-z0-9._-]", getenv("SCIF_FABRIC"),
			  SKIFF_FABRIC_MAX);
	ctx.node = skiff_self_node();
}

const struct skiff_ctx *skiff_ctx(void)
{
	pthread_once(&ctx_once, ctx_init);
	return &ctx;
}

static _Atomic(struct skiff_ep *) *slot(int fd, int create)
{
	unsigned c = (unsigned)fd >> CHUNK_BITS;
	_Atomic(struct skiff_ep *) *chunk;

	if (fd < 0 || c >= NCHUNKS)
		return NULL;
	chunk = __atomic_load_n(&table[c], __ATOMIC_ACQUIRE);
	if (!chunk && create) {
		pthread_mutex_lock(&table_lock);
		chunk = table[c];
		if (!chunk) {
			chunk = calloc(CHUNK, sizeof(*chunk));
			if (chunk)
				__atomic_store_n(&table[c], chunk,
						 __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&table_lock);
	}
	return chunk ? &chunk[(unsigned)fd & (CHUNK - 1)] : NULL;
}

struct skiff_ep *skiff_ep_alloc(void)
{
	struct skiff_ep *ep;

	pthread_mutex_lock(&table_lock);
	ep = free_list;
	if (ep)
		free_list = (struct skiff_ep *)(uintptr_t)ep->region_size;
	pthread_mutex_unlock(&table_lock);
	if (!ep) {
		ep = calloc(1, sizeof(*ep));
		if (!ep)
			return NULL;
		pthread_mutex_init(&ep->send_lock, NULL);
		pthread_mutex_init(&ep->recv_lock, NULL);
		pthread_mutex_init(&ep->lock, NULL);
	}
	/* keep the mutexes, reset everything else */
	ep->fd = -1;
	ep->sock = -1;
	ep->dev = 0;
	ep->ino = 0;
	ep->state = SKIFF_EP_UNBOUND;
	ep->node = ep->port = ep->peer_node = ep->peer_port = 0;
	ep->backlog = 0;
	ep->side = 0;
	ep->cookie = 0;
	ep->region = NULL;
	ep->region_size = 0;
	memset(&ep->tx, 0, sizeof(ep->tx));
	memset(&ep->rx, 0, sizeof(ep->rx));
	ep->rma = NULL;
	atomic_store(&ep->dead, 0);
	return ep;
}

void skiff_ep_free(struct skiff_ep *ep)
{
	pthread_mutex_lock(&table_lock);
	ep->fd = -1;
	ep->region_size = (size_t)(uintptr_t)free_list;
	free_list = ep;
	pthread_mutex_unlock(&table_lock);
}

int skiff_ep_refresh_identity(struct skiff_ep *ep)
{
	struct stat st;

	if (fstat(ep->fd, &st) < 0)
		return -errno;
	ep->dev = st.st_dev;
	ep->ino = st.st_ino;
	return 0;
}

int skiff_ep_verify(struct skiff_ep *ep)
{
	struct stat st;

	if (fstat(ep->fd, &st) < 0 || st.st_dev != ep->dev || st.st_ino != ep->ino)
		return -EBADF;
	return 0;
}

static void drop_stale(int fd, struct skiff_ep *ep);

int skiff_ep_register(struct skiff_ep *ep)
{
	_Atomic(struct skiff_ep *) *s = slot(ep->fd, 1);
	struct skiff_ep *old;
	int r;

	if (!s)
		return -EMFILE;
	r = skiff_ep_refresh_identity(ep);
	if (r < 0)
		return r;
	/* The number is free again, so whatever the slot holds is an endpoint
	 * the user closed with close(): release it. */
	old = atomic_load_explicit(s, memory_order_acquire);
	if (old && old != ep)
		drop_stale(ep->fd, old);
	atomic_store_explicit(s, ep, memory_order_release);
	return 0;
}

/* Release what a stale entry holds (the user closed its fd with close()). */
static void drop_stale(int fd, struct skiff_ep *ep)
{
	_Atomic(struct skiff_ep *) *s = slot(fd, 0);
	struct skiff_ep *expect = ep;

	if (!s || !atomic_compare_exchange_strong(s, &expect, NULL))
		return;
	pthread_mutex_lock(&ep->lock);
	pthread_mutex_lock(&ep->send_lock);
	pthread_mutex_lock(&ep->recv_lock);
	skiff_rma_detach(ep);
	skiff_conn_detach(ep);
	skiff_port_release(ep);
	if (ep->sock >= 0)
		close(ep->sock);
	ep->sock = -1;
	ep->state = SKIFF_EP_UNBOUND;
	pthread_mutex_unlock(&ep->recv_lock);
	pthread_mutex_unlock(&ep->send_lock);
	pthread_mutex_unlock(&ep->lock);
	skiff_ep_free(ep);
}

int skiff_ep_get_fast(int epd, struct skiff_ep **out)
{
	_Atomic(struct skiff_ep *) *s = slot(epd, 0);
	struct skiff_ep *ep;

	ep = s ? atomic_load_explicit(s, memory_order_acquire) : NULL;
	if (!ep) {
		if (epd >= 0 && fcntl(epd, F_GETFD) >= 0)
			return -ENOTTY; /* open, but not an endpoint */
		return -EBADF;
	}
	*out = ep;
	return 0;
}

int skiff_ep_get(int epd, struct skiff_ep **out)
{
	struct skiff_ep *ep;
	struct stat st;
	int r = skiff_ep_get_fast(epd, &ep);

	if (r < 0)
		return r;
	/* A descriptor closed with plain close() and reused must not be taken
	 * for the old endpoint. */
	if (fstat(epd, &st) < 0) {
		drop_stale(epd, ep);
		return -EBADF;
	}
	if (st.st_dev != ep->dev || st.st_ino != ep->ino) {
		drop_stale(epd, ep);
		return -ENOTTY;
	}
	*out = ep;
	return 0;
}

/* Make @sock the user's descriptor, keeping the number and its flags. */
int skiff_ep_make_visible(struct skiff_ep *ep, int sock)
{
	int fl = fcntl(ep->fd, F_GETFL);

	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	if (dup3(sock, ep->fd, O_CLOEXEC) < 0)
		return -errno;
	if (sock != ep->sock)
		close(sock);
	else
		close(ep->sock);
	ep->sock = -1;
	return skiff_ep_refresh_identity(ep);
}

/* The write end of a full pipe with no reader polls as POLLERR only. */
int skiff_error_pipe(void)
{
	int p[2];

	/* packet mode: every write takes a slot of its own, so with a single
	 * slot one byte fills the pipe */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK | O_DIRECT) < 0 &&
	    pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	while (write(p[1], "", 1) == 1)
		;
	close(p[0]);
	fcntl(p[1], F_SETFL, 0);
	return p[1];
}

scif_epd_t skiff_api_open(void)
{
	const struct skiff_ctx *c = skiff_ctx();
	struct skiff_ep *ep;
	int fd, r;

	if (c->fabric_err < 0) {
		errno = -c->fabric_err;
		return -1;
	}
	if (c->node < 0) {
		errno = -c->node;
		return -1;
	}
	if (c->node != 0) {
		r = skiff_node_online(c->fabric, (unsigned)c->node);
		if (r <= 0) {
			skiff_log(SKIFF_LOG_INFO,
				  "scif_open: SCIF_NODE=%d is not online in "
				  "fabric '%s' (%s)", c->node, c->fabric,
				  r == 0 ? "no scifd there has that many cards"
					 : strerror(-r));
			errno = r < 0 ? -r : ENODEV;
			if (errno != ENOMEM && errno != EMFILE && errno != ENFILE)
				errno = ENODEV;
			return -1;
		}
	}
	ep = skiff_ep_alloc();
	if (!ep) {
		errno = ENOMEM;
		return -1;
	}
	fd = skiff_error_pipe();
	if (fd < 0) {
		skiff_ep_free(ep);
		errno = -fd;
		return -1;
	}
	ep->fd = fd;
	ep->node = (uint16_t)c->node;
	r = skiff_ep_register(ep);
	if (r < 0) {
		close(fd);
		skiff_ep_free(ep);
		errno = -r;
		return -1;
	}
	return fd;
}

int skiff_api_close(scif_epd_t epd)
{
	_Atomic(struct skiff_ep *) *s;
	struct skiff_ep *ep, *expect;
	int r = skiff_ep_get(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	s = slot(epd, 0);
	expect = ep;
	if (!atomic_compare_exchange_strong(s, &expect, NULL))
		SKIFF_RET(-EBADF); /* another thread closed it */

	/* Wake threads blocked on this endpoint (accept, send, recv): they
	 * poll the socket and see it shut down. */
	if (ep->state != SKIFF_EP_UNBOUND && ep->state != SKIFF_EP_BOUND)
		shutdown(ep->fd, SHUT_RDWR);
	pthread_mutex_lock(&ep->lock);
	pthread_mutex_lock(&ep->send_lock);
	pthread_mutex_lock(&ep->recv_lock);
	/* RMAs in progress complete, windows are unregistered */
	skiff_rma_detach(ep);
	if (ep->region)
		__atomic_store_n(&ep->region->closed[ep->side], 1,
				 __ATOMIC_RELEASE);
	skiff_conn_detach(ep);
	skiff_port_release(ep);
	if (ep->sock >= 0)
		close(ep->sock);
	ep->sock = -1;
	close(ep->fd);
	ep->state = SKIFF_EP_UNBOUND;
	pthread_mutex_unlock(&ep->recv_lock);
	pthread_mutex_unlock(&ep->send_lock);
	pthread_mutex_unlock(&ep->lock);
	skiff_ep_free(ep);
	return 0;
}

int skiff_api_get_fd(scif_epd_t epd)
{
	struct skiff_ep *ep;
	int r = skiff_ep_get(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	return ep->fd;
}
