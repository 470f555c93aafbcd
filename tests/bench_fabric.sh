#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench_fabric.sh SCIF SCIFD - the benchmarks of issue 10 work, briefly, on
# one host (ctest -L bench):
#
#   fabric   scif bench fabric serve on 127.0.0.1 (a free port), and a
#            few iterations of lat and write against it, text and JSON;
#            a client asking more buffer than the server has is refused,
#            one with no server fails within its --timeout
#   remote   scif bench lat and bw in remote mode: a private scifd --cards 1,
#            the server on SCIF_NODE=1, the client on node 0 with
#            --fabric-peer (the raw libfabric figure in the same run)
#
# Exit 77 (skipped) if no libfabric provider serves 127.0.0.1 here, or
# if this scif was built without libfabric.
set -euo pipefail

SCIF=${1:?usage: bench_fabric.sh SCIF SCIFD}
SCIFD=${2:?usage: bench_fabric.sh SCIF SCIFD}
NAME=bench_fabric
T=$(mktemp -d "${TMPDIR:-/tmp}/skiff-benchfab.XXXXXX")
PIDS=()
export SCIF_FABRIC="t-benchfab-$$"
unset SCIF_NODE

cleanup() {
	local p
	set +e
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

say() { printf '[%s] %s\n' "$NAME" "$*"; }
fail() {
	say "FAIL: $*"
	for f in "$T"/*.log "$T"/*.err; do
		[[ -f $f ]] && { echo "---- $(basename "$f")"; tail -n 20 "$f"; }
	done
	exit 1
}

# wait_line LOG TEXT MS: LOG gets a line with TEXT within MS.
wait_line() {
	local end=$(($(date +%s%3N) + $3))
	until grep -q -- "$2" "$1" 2>/dev/null; do # the file may not be there yet
		(($(date +%s%3N) < end)) || fail "no '$2' in $(basename "$1") within $3 ms"
		sleep 0.05
	done
}

# The fabric server on a free port of 127.0.0.1: its port in FPORT.
start_fabric_serve() {
	"$SCIF" bench fabric serve --addr 127.0.0.1 --port 0 --max "$1" \
		--clients 0 --timeout 60 >"$T/fserve.log" 2>&1 &
	FSERVE=$!
	PIDS+=("$FSERVE")
	local end=$(($(date +%s%3N) + 10000))
	until grep -q "serving on" "$T/fserve.log" 2>/dev/null; do
		if ! kill -0 "$FSERVE" 2>/dev/null; then
			grep -q "without libfabric\|no libfabric provider" "$T/fserve.log" &&
				{ echo "SKIP $NAME: $(cat "$T/fserve.log")"; exit 77; }
			fail "scif bench fabric serve: $(cat "$T/fserve.log")"
		fi
		(($(date +%s%3N) < end)) || fail "scif bench fabric serve not ready in 10 s"
		sleep 0.05
	done
	FPORT=$(sed -n 's/.*serving on [^ ]*:\([0-9][0-9]*\) .*/\1/p' "$T/fserve.log")
	[[ $FPORT =~ ^[0-9]+$ ]] || fail "no port in: $(cat "$T/fserve.log")"
}

# --- fabric: the raw measurements ---
start_fabric_serve 1M
say "$(head -n 1 "$T/fserve.log")"
out=$("$SCIF" bench fabric lat --peer "127.0.0.1:$FPORT" -n 300 --json 2>"$T/lat.err") ||
	fail "fabric lat: $(cat "$T/lat.err")"
[[ $out == '{"bench":"fabric_lat",'*'"samples":300,'*'"echo_mismatches":0}' ]] ||
	fail "fabric lat --json: $out"
say "fabric lat: ${out:0:160}..."
out=$("$SCIF" bench fabric lat --peer "127.0.0.1:$FPORT" -n 100 2>"$T/lat.err") ||
	fail "fabric lat: $(cat "$T/lat.err")"
[[ $out == *"median "*" us, p99 "* ]] || fail "fabric lat: $out"
out=$("$SCIF" bench fabric write --peer "127.0.0.1:$FPORT" -s 64K,1M -r 2 \
	-t 5 -w 4 --json 2>"$T/write.err") || fail "fabric write: $(cat "$T/write.err")"
[[ $out == '{"bench":"fabric_write",'*'"window":4,'*'{"size":65536,"gbps":'*'{"size":1048576,"gbps":'* ]] ||
	fail "fabric write --json: $out"
say "fabric write: ${out:0:160}..."
# more than the server registered: refused, with the reason
if "$SCIF" bench fabric write --peer "127.0.0.1:$FPORT" -m 4M -r 1 -t 1 \
	>/dev/null 2>"$T/big.err"; then
	fail "a write larger than the server's buffer was not refused"
fi
grep -q "refused: Message too long" "$T/big.err" || fail "refusal: $(cat "$T/big.err")"
say "too large: $(cat "$T/big.err")"
# SIGTERM stops the server cleanly (libfabric's providers must not have
# taken the signal over)
kill -TERM "$FSERVE"
st=0
wait "$FSERVE" || st=$?
((st == 0)) || fail "scif bench fabric serve exited $st on SIGTERM: $(tail -n 3 "$T/fserve.log")"
grep -q "stopped by signal 15" "$T/fserve.log" || fail "no stop line: $(tail -n 3 "$T/fserve.log")"
# no server: a clear error within the timeout, no hang
t0=$(date +%s)
if timeout 30 "$SCIF" bench fabric lat --peer "127.0.0.1:$FPORT" -n 10 \
	--timeout 2 >/dev/null 2>"$T/none.err"; then
	fail "lat with no server succeeded"
fi
grep -q "no answer within 2000 ms" "$T/none.err" || fail "no server: $(cat "$T/none.err")"
say "no server ($(($(date +%s) - t0)) s): $(cat "$T/none.err")"

# --- remote: scif bench lat/bw between node 0 and node 1 of this host ---
mkfifo "$T/ready"
exec {rfd}<>"$T/ready"
"$SCIFD" --cards 1 --card-mem 1M --ready-fd 9 9>"$T/ready" >"$T/scifd.log" 2>&1 &
PIDS+=("$!")
read -r -t 10 -N 1 -u "$rfd" b || fail "scifd --cards 1 did not become ready"
start_fabric_serve 1M

env SCIF_NODE=1 "$SCIF" bench lat --serve 0 --timeout 30 >"$T/lserve.log" 2>&1 &
PIDS+=("$!")
wait_line "$T/lserve.log" "serving on node 1 port" 10000
lport=$(sed -n 's/.*serving on node 1 port \([0-9]*\).*/\1/p' "$T/lserve.log")
out=$("$SCIF" bench lat --node 1 --port "$lport" --fabric-peer "127.0.0.1:$FPORT" \
	-n 2000 -r 2 --json 2>"$T/rlat.err") || fail "bench lat --node 1: $(cat "$T/rlat.err")"
[[ $out == '{"bench":"lat","mode":"remote","node":1,'*'"method":"scif","samples":2000,'*'"method":"fabric","samples":2000,'*'"ratio":{"median":'*'"echo_mismatches":0}' ]] ||
	fail "bench lat --node 1 --json: $out"
say "lat remote: ${out:0:200}..."
wait_line "$T/lserve.log" "client done, 2200 round trips" 5000

env SCIF_NODE=1 "$SCIF" bench bw --serve 0 -m 1M --timeout 30 >"$T/bserve.log" 2>&1 &
PIDS+=("$!")
wait_line "$T/bserve.log" "serving on node 1 port" 10000
bport=$(sed -n 's/.*serving on node 1 port \([0-9]*\).*/\1/p' "$T/bserve.log")
out=$("$SCIF" bench bw --node 1 --port "$bport" --fabric-peer "127.0.0.1:$FPORT" \
	-s 64K,1M -r 1 -t 5 2>"$T/rbw.err") || fail "bench bw --node 1: $(cat "$T/rbw.err")"
[[ $out == *"fi_write"*"wr/fw"*"1 MiB"*"goal: every RMA/fw >= 0.9 from 1 MiB: "* ]] ||
	fail "bench bw --node 1: $out"
say "bw remote: $(grep '^1 MiB' <<<"$out")"
wait_line "$T/bserve.log" "client done" 5000
# the target's window is smaller than --max: refused before any RMA
env SCIF_NODE=1 "$SCIF" bench bw --serve 0 -m 64K --timeout 30 >"$T/bserve2.log" 2>&1 &
PIDS+=("$!")
wait_line "$T/bserve2.log" "serving on node 1 port" 10000
bport=$(sed -n 's/.*serving on node 1 port \([0-9]*\).*/\1/p' "$T/bserve2.log")
if "$SCIF" bench bw --node 1 --port "$bport" -s 1M -r 1 -t 1 >/dev/null 2>"$T/small.err"; then
	fail "bench bw against a smaller window succeeded"
fi
grep -q "is smaller than --max" "$T/small.err" || fail "small window: $(cat "$T/small.err")"
say "PASS"
