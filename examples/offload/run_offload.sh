#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_offload.sh BINDIR SCIFD - run the offload example end to end: scifd
# with one card in a private fabric, offload_card on node 1, offload_host on
# node 0. Every step waits on a readiness signal (scifd's ready byte, the
# card's "listening" line), never on a sleep.
set -euo pipefail

bin=${1:?usage: run_offload.sh BINDIR SCIFD}
scifd=${2:?usage: run_offload.sh BINDIR SCIFD}
export SCIF_FABRIC="offload-$$-${RANDOM}"
unset SCIF_NODE

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "run_offload: FAIL: $*" >&2
	exit 1
}

mkfifo "$tmp/ready" "$tmp/card.out"
"$scifd" --cards 1 --ready-fd 3 3>"$tmp/ready" &
pids+=("$!")
n=$(timeout 30 head -c 1 <"$tmp/ready" | wc -c) || true
[[ $n == 1 ]] || fail "scifd did not become ready"

SCIF_NODE=1 "$bin/offload_card" >"$tmp/card.out" &
card=$!
pids+=("$card")
exec {fd}<"$tmp/card.out"
IFS= read -r -t 30 line <&"$fd" || fail "offload_card did not start listening"
printf '%s\n' "$line"
[[ $line == *listening* ]] || fail "unexpected: $line"
cat <&"$fd" &
pids+=("$!")
exec {fd}<&-

"$bin/offload_host" -n 300000 || fail "offload_host failed"
wait "$card" || fail "offload_card exited with status $?"
echo "run_offload: passed"
