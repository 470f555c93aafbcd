/* SPDX-License-Identifier: MIT */
/*
 * test_nodes: scif_get_nodeIDs, SCIF_NODE, and connections between nodes of
 * one fabric while scifd brings cards online.
 *
 * - no daemon: only node 0 is online (count 1, self 0); other nodes ENODEV.
 * - scifd --cards 3: count 4, ids 0..3 in order, at most len filled, *self
 *   is SCIF_NODE; a process on node 2 can listen and connect; ports are per
 *   node; node 4 is ENODEV.
 * - after scifd stops, only node 0 is online again.
 */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>

#define SENTINEL 0xbeef

static void check_ids(int expect_count, uint16_t expect_self)
{
	uint16_t nodes[16], self = SENTINEL;
	int n;

	for (int i = 0; i < 16; i++)
		nodes[i] = SENTINEL;
	STEP("scif_get_nodeIDs, len 16: expect %d nodes", expect_count);
	n = (int)EXPECT_OK(scif_get_nodeIDs(nodes, 16, &self));
	EXPECT_EQ(n, expect_count);
	EXPECT_EQ(self, expect_self);
	for (int i = 0; i < expect_count && i < 16; i++)
		EXPECT_EQ(nodes[i], i);
	for (int i = expect_count; i < 16; i++)
		EXPECT_EQ(nodes[i], SENTINEL);

	STEP("scif_get_nodeIDs, len 2: fills at most 2, returns %d",
	     expect_count);
	for (int i = 0; i < 16; i++)
		nodes[i] = SENTINEL;
	self = SENTINEL;
	n = (int)EXPECT_OK(scif_get_nodeIDs(nodes, 2, &self));
	EXPECT_EQ(n, expect_count);
	EXPECT_EQ(self, expect_self);
	EXPECT_EQ(nodes[0], 0);
	if (expect_count > 1)
		EXPECT_EQ(nodes[1], 1);
	else
		EXPECT_EQ(nodes[1], SENTINEL);
	for (int i = 2; i < 16; i++)
		EXPECT_EQ(nodes[i], SENTINEL);

	STEP("scif_get_nodeIDs, len 1");
	for (int i = 0; i < 16; i++)
		nodes[i] = SENTINEL;
	n = (int)EXPECT_OK(scif_get_nodeIDs(nodes, 1, &self));
	EXPECT_EQ(n, expect_count);
	EXPECT_EQ(nodes[0], 0);
	EXPECT_EQ(nodes[1], SENTINEL);
}

/* Role on another node: arg "wr,rd,expected_count". */
static int role_node_peer(const char *arg)
{
	int wr, rd, count, me = atoi(getenv("SCIF_NODE"));
	struct scif_portID peer, dst;
	scif_epd_t l, ne, c, c2;
	char buf[8];

	CHECK(sscanf(arg, "%d,%d,%d", &wr, &rd, &count) == 3);
	check_ids(count, (uint16_t)me);

	STEP("node %d: listen on port 3000 (same number as node 0's)", me);
	l = h_listen(3000, 4, NULL);
	h_put(wr, 1);
	STEP("node %d: accept a connection from node 0", me);
	CHECK_OK(scif_accept(l, &peer, &ne, SCIF_ACCEPT_SYNC));
	EXPECT_EQ(peer.node, 0);
	h_put(wr, peer.port);
	CHECK_EQ(scif_recv(ne, buf, 4, SCIF_RECV_BLOCK), 4);
	CHECK_EQ(scif_send(ne, buf, 4, SCIF_SEND_BLOCK), 4);

	STEP("node %d: loopback on this node", me);
	c = (scif_epd_t)CHECK_OK(scif_open());
	{
		/* non-blocking, so one thread can do both sides */
		int fl = fcntl(c, F_GETFL);
		CHECK(fcntl(c, F_SETFL, fl | O_NONBLOCK) == 0);
		dst.node = (uint16_t)me;
		dst.port = 3000;
		CHECK_ERR(scif_connect(c, &dst), EINPROGRESS);
		CHECK_OK(scif_accept(l, &peer, &c2, SCIF_ACCEPT_SYNC));
		EXPECT_EQ(peer.node, me);
		struct scif_pollepd p = { .epd = c, .events = POLLOUT };
		CHECK_EQ(scif_poll(&p, 1, 5000), 1);
		EXPECT_EQ(scif_connect(c, &dst), peer.port);
		CHECK_EQ(scif_send(c, "lo", 2, SCIF_SEND_BLOCK), 2);
		CHECK_EQ(scif_recv(c2, buf, 2, SCIF_RECV_BLOCK), 2);
		EXPECT(memcmp(buf, "lo", 2) == 0);
		scif_close(c);
		scif_close(c2);
	}

	STEP("node %d: connect to node 0", me);
	h_get_must(rd, 10000);
	c = h_connect(0, 3000);
	CHECK_EQ(scif_send(c, "hey!", 4, SCIF_SEND_BLOCK), 4);
	EXPECT_ERR(scif_recv(c, buf, 1, SCIF_RECV_BLOCK), ECONNRESET);
	scif_close(c);

	STEP("node %d: offline and missing targets", me);
	dst.node = (uint16_t)(count); /* one past the last card */
	dst.port = 3000;
	c = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_connect(c, &dst), ENODEV);
	dst.node = 0;
	dst.port = 3999;
	EXPECT_ERR(scif_connect(c, &dst), ECONNREFUSED);
	scif_close(c);
	scif_close(ne);
	scif_close(l);
	return 0;
}

/* Role: just check what scif_get_nodeIDs and scif_open say; arg
 * "count,open_errno". */
static int role_ids(const char *arg)
{
	int count, err;
	const char *node = getenv("SCIF_NODE");

	CHECK(sscanf(arg, "%d,%d", &count, &err) == 2);
	STEP("SCIF_NODE=%s: scif_open", node ? node : "(unset)");
	if (err) {
		uint16_t nodes[4], self;

		EXPECT_ERR(scif_open(), err);
		/* a process on no node has no count "including the caller" */
		STEP("SCIF_NODE=%s: scif_get_nodeIDs", node ? node : "(unset)");
		EXPECT_ERR(scif_get_nodeIDs(nodes, 4, &self), err);
	} else {
		scif_epd_t ep = (scif_epd_t)EXPECT_OK(scif_open());
		scif_close(ep);
		check_ids(count, (uint16_t)(node ? atoi(node) : 0));
	}
	return 0;
}

static const struct h_role roles[] = {
	{ "node_peer", role_node_peer },
	{ "ids", role_ids },
	{ NULL, NULL },
};

static void spawn_ids(const char *node, int count, int err)
{
	char arg[32], env[32];
	const char *envv[] = { env, NULL };

	snprintf(arg, sizeof(arg), "%d,%d", count, err);
	snprintf(env, sizeof(env), "SCIF_NODE=%s", node);
	EXPECT_CHILD_OK(h_spawn("ids", arg, envv), 10000);
}

int main(int argc, char **argv)
{
	struct scif_portID dst;
	scif_epd_t l, c, ne;
	struct scif_portID peer;
	pid_t d, pid;

	h_init(argc, argv, "nodes", 60, roles);

	STEP("no daemon");
	check_ids(1, 0);
	spawn_ids("0", 1, 0);
	spawn_ids("1", 1, ENODEV);
	spawn_ids("3", 1, ENODEV);
	spawn_ids("99999", 1, ENODEV);
	/* not a number: EINVAL (and a warning), never taken as node 0 */
	spawn_ids("abc", 1, EINVAL);
	spawn_ids("-1", 1, EINVAL);
	spawn_ids("1x", 1, EINVAL);
	c = (scif_epd_t)CHECK_OK(scif_open());
	dst.node = 1;
	dst.port = 3000;
	EXPECT_ERR(scif_connect(c, &dst), ENODEV);
	scif_close(c);

	STEP("start scifd --cards 3");
	d = h_scifd_start(3);
	check_ids(4, 0);
	spawn_ids("3", 4, 0);
	spawn_ids("4", 4, ENODEV);

	STEP("node 0 <-> node 2");
	{
		struct h_pipe up, down;
		char arg[64];
		const char *envv[] = { "SCIF_NODE=2", NULL };
		char buf[4];
		int32_t port;

		h_pipe_init(&up, 1);
		h_pipe_init(&down, 1);
		snprintf(arg, sizeof(arg), "%d,%d,%d", up.wr, down.rd, 4);
		l = h_listen(3000, 4, NULL); /* node 0 port 3000 */
		pid = h_spawn("node_peer", arg, envv);
		close(up.wr);
		close(down.rd);
		h_get_must(up.rd, 10000); /* node 2 listens */
		STEP("connect to node 2 port 3000");
		c = h_connect(2, 3000);
		port = h_get_must(up.rd, 10000);
		CHECK_EQ(scif_send(c, "ping", 4, SCIF_SEND_BLOCK), 4);
		CHECK_EQ(scif_recv(c, buf, 4, SCIF_RECV_BLOCK), 4);
		EXPECT(memcmp(buf, "ping", 4) == 0);
		(void)port;
		STEP("accept from node 2");
		h_put(down.wr, 1);
		CHECK_OK(scif_accept(l, &peer, &ne, SCIF_ACCEPT_SYNC));
		EXPECT_EQ(peer.node, 2);
		EXPECT_GE(peer.port, SCIF_PORT_RSVD + 1);
		CHECK_EQ(scif_recv(ne, buf, 4, SCIF_RECV_BLOCK), 4);
		EXPECT(memcmp(buf, "hey!", 4) == 0);
		scif_close(ne);
		scif_close(c);
		EXPECT_CHILD_OK(pid, 20000);
		scif_close(l);
		h_pipe_close(&up);
		h_pipe_close(&down);
	}

	STEP("node 3 has nobody listening");
	c = (scif_epd_t)CHECK_OK(scif_open());
	dst.node = 3;
	dst.port = 3000;
	EXPECT_ERR(scif_connect(c, &dst), ECONNREFUSED);
	dst.node = 4;
	EXPECT_ERR(scif_connect(c, &dst), ENODEV);
	scif_close(c);

	STEP("stop scifd");
	h_scifd_stop(d);
	check_ids(1, 0);
	spawn_ids("1", 1, ENODEV);
	c = (scif_epd_t)CHECK_OK(scif_open());
	dst.node = 2;
	dst.port = 3000;
	EXPECT_ERR(scif_connect(c, &dst), ENODEV);
	scif_close(c);

	STEP("restart with 1 card");
	d = h_scifd_start(1);
	check_ids(2, 0);
	spawn_ids("1", 2, 0);
	spawn_ids("2", 2, ENODEV);
	h_scifd_stop(d);
	return h_finish();
}
