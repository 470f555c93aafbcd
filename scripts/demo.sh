#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - build skiff, then show a host process and a process on an emulated
# card exchanging SCIF messages, and the message latency.
#
#   scripts/demo.sh            (from anywhere; builds into ./build)
#
# Environment: BUILD_DIR (default build), DEMO_BENCH_N (round trips for the
# latency benchmark, default 200000).
#
# Every step waits on a readiness signal (scifd's ready byte, the "listening"
# line of hello_card), never on a sleep.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
BENCH_N=${DEMO_BENCH_N:-200000}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
[[ -t 1 ]] || say() { printf '\n== %s\n' "$*"; }
fail() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

say "configure and build ($BUILD, Release)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)"

scifd=$BUILD/src/daemon/scifd
scif=$BUILD/src/tools/scif
hello_card=$BUILD/examples/hello_card
hello_host=$BUILD/examples/hello_host
for f in "$scifd" "$scif" "$hello_card" "$hello_host"; do
	[[ -x $f ]] || fail "$f was not built"
done

# A private fabric: nothing else on this machine sees these nodes and ports.
export SCIF_FABRIC="demo-$$"
unset SCIF_NODE
tmp=$(mktemp -d)
daemon_pid='' card_pid='' host_pid='' host_in=''
helpers=()

cleanup() {
	local st=$? p
	trap - EXIT
	if [[ -n $host_in ]]; then exec {host_in}>&- || true; fi
	for p in "$host_pid" "$card_pid"; do
		if [[ -n $p ]]; then kill -TERM "$p" 2>/dev/null || true; fi
	done
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	for p in "${helpers[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- scifd
say "start scifd --cards 1 in fabric $SCIF_FABRIC"
mkfifo "$tmp/ready"
"$scifd" --cards 1 --ready-fd 3 3>"$tmp/ready" \
	> >(sed -u 's/^/  [scifd] /') 2>&1 &
daemon_pid=$!
exec {rfd}<"$tmp/ready"
# One byte when the nodes are up; end of file if scifd died first.
n=$(timeout 30 head -c 1 <&"$rfd" | wc -c) || true
exec {rfd}<&-
[[ $n == 1 ]] || fail "scifd did not become ready"
echo "scifd (pid $daemon_pid) is ready: node 1 is online"

# ---------------------------------------------------------------- card side
say "start hello_card on node 1 (SCIF_NODE=1)"
mkfifo "$tmp/card.out"
SCIF_NODE=1 "$hello_card" -p 2000 -c 1 >"$tmp/card.out" 2>&1 &
card_pid=$!
exec {cfd}<"$tmp/card.out"
while :; do
	IFS= read -r -t 30 line <&"$cfd" ||
		fail "hello_card exited or hung before listening"
	printf '  [card] %s\n' "$line"
	[[ $line == *listening* ]] && break
done
sed -u 's/^/  [card] /' <&"$cfd" &
helpers+=("$!")
exec {cfd}<&-

# ---------------------------------------------------------------- host side
say "run hello_host on node 0: connect to node 1 port 2000, exchange messages"
mkfifo "$tmp/host.in" "$tmp/host.out"
"$hello_host" -N 1 -p 2000 -n 5 -w <"$tmp/host.in" >"$tmp/host.out" 2>&1 &
host_pid=$!
exec {host_in}>"$tmp/host.in"
exec {hfd}<"$tmp/host.out"
held=0
while IFS= read -r -t 60 line <&"$hfd"; do
	printf '  [host] %s\n' "$line"
	if [[ $line == *"holding the connection"* ]]; then
		held=1
		break
	fi
done
if ((held)); then
	say "scif info while the host is connected to the card"
	"$scif" info || fail "scif info failed"
fi
# Let the host close the connection, and show what it prints.
exec {host_in}>&-
host_in=''
sed -u 's/^/  [host] /' <&"$hfd" &
helpers+=("$!")
exec {hfd}<&-
host_st=0
wait "$host_pid" || host_st=$?
host_pid=''
((host_st == 0)) || fail "hello_host exited with status $host_st"
((held)) || fail "hello_host did not complete its exchanges"
card_st=0
wait "$card_pid" || card_st=$?
card_pid=''
((card_st == 0)) || fail "hello_card exited with status $card_st"
# Their last lines, before the next step prints anything.
for p in "${helpers[@]}"; do
	wait "$p" || true
done
helpers=()

# ---------------------------------------------------------------- latency
say "scif bench lat -n $BENCH_N: 8-byte send/recv round trip vs a raw shared-memory spin"
"$scif" bench lat -n "$BENCH_N" || fail "scif bench lat failed"

# ---------------------------------------------------------------- RMA
say "scif bench bw -m 64M: RMA throughput vs memcpy, send/recv and TCP loopback"
"$scif" bench bw -m "${DEMO_BW_MAX:-64M}" -r 3 || fail "scif bench bw failed"

# ---------------------------------------------------------------- micmem
say "scif bench micmem -m 64M: host<->card copies into the card's memory vs memcpy"
"$scif" bench micmem -m "${DEMO_BW_MAX:-64M}" || fail "scif bench micmem failed"

# ---------------------------------------------------------------- stop
say "stop scifd (SIGTERM)"
kill -TERM "$daemon_pid"
daemon_st=0
wait "$daemon_pid" || daemon_st=$?
daemon_pid=''
((daemon_st == 0)) || fail "scifd exited with status $daemon_st"
echo "scifd stopped cleanly"
say "demo finished: all steps succeeded"
