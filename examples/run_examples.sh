#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_examples.sh BINDIR - run the example programs against each other.
#
# Everything runs on node 0 (the host) in a private fabric: loopback needs no
# daemon. Servers are waited for by reading their "listening" line through a
# fifo, never by sleeping.
set -euo pipefail

bin=${1:?usage: run_examples.sh BINDIR}
export SCIF_FABRIC="examples-$$-${RANDOM}"
unset SCIF_NODE

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "run_examples: FAIL: $*" >&2
	exit 1
}

# start_server NAME CMD... : start CMD in the background and return once it
# has printed its "listening" line; sets server_pid. The rest of its output is
# forwarded to ours.
start_server() {
	local name=$1 fifo line fd
	shift
	fifo=$tmp/$name.out
	mkfifo "$fifo"
	"$@" >"$fifo" &
	server_pid=$!
	pids+=("$server_pid")
	exec {fd}<"$fifo"
	while :; do
		IFS= read -r -t 30 line <&"$fd" ||
			fail "$name exited or hung before listening"
		printf '%s\n' "$line"
		[[ $line == *listening* ]] && break
	done
	cat <&"$fd" &
	pids+=("$!")
	exec {fd}<&-
}

# 1. hello_card serves one hello_host.
start_server card "$bin/hello_card" -p 2000 -c 1
card=$server_pid
"$bin/hello_host" -N 0 -p 2000 -n 3 | tee "$tmp/host1.out" ||
	fail "hello_host exited with an error"
[[ $(grep -c "round trip [0-9]" "$tmp/host1.out") == 3 ]] ||
	fail "hello_host did not print 3 round trips"
grep -q "hello back from node 0 (#3)" "$tmp/host1.out" ||
	fail "hello_host did not get the card's third reply"
wait "$card" || fail "hello_card exited with status $?"

# 2. poll_server (scif_poll) echoes to three concurrent clients, then exits.
start_server poll "$bin/poll_server" -p 2001 -c 3
srv=$server_pid
hosts=()
for i in 1 2 3; do
	"$bin/hello_host" -N 0 -p 2001 -n 50 >"$tmp/poll$i.out" &
	hosts+=("$!")
done
for i in 1 2 3; do
	wait "${hosts[$((i - 1))]}" || fail "client $i exited with status $?"
	grep -q "reply 50: 'hello #50 from node 0'" "$tmp/poll$i.out" ||
		fail "client $i did not get its echoes"
done
wait "$srv" || fail "poll_server exited with status $?"

# 3. The same with poll() on scif_get_fd() descriptors.
start_server pollP "$bin/poll_server" -P -p 2002 -c 2
srv=$server_pid
"$bin/hello_host" -N 0 -p 2002 -n 10 >"$tmp/pollP1.out" &
h1=$!
"$bin/hello_host" -N 0 -p 2002 -n 10 >"$tmp/pollP2.out" || fail "client 2 (-P)"
wait "$h1" || fail "client 1 (-P) exited with status $?"
grep -q "reply 10: 'hello #10 from node 0'" "$tmp/pollP1.out" || fail "echo (-P)"
wait "$srv" || fail "poll_server -P exited with status $?"

echo "run_examples: all examples passed"
