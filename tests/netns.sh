#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# netns.sh CASE - real hosts of one fabric (issue 10): each host is a network
# namespace with its own munged and its own scifd --config, all joined by a
# bridge in a "switch" namespace, with private addresses (10.77.0.0/24, or
# fd77::/64 for ipv6).
#
#   two      two hosts see each other's nodes (scif_get_nodeIDs, scif info)
#   ipv6     the same over IPv6, on another port than the default
#   kill     a daemon killed (SIGKILL): the other host drops its nodes within
#            5 s; restarted, they come back, nothing else restarted
#   linkcut  the same with the link cut (ip link set down) and restored
#   bye      a daemon stopped (SIGTERM) says goodbye: the other host drops
#            its nodes at once; restarted at once after a SIGKILL, its new
#            boot id makes the other host re-authenticate it
#   badkey   a host whose munged has another key is refused: its nodes never
#            appear and the log says why
#   replay   a replayed HELLO (tests/link_replay) is refused
#   hostile  a host floods another's daemon with garbage, forged HELLOs and
#            records claiming to be a third host: the daemon survives,
#            keeps its link to that host and logs a bounded number of lines
#   uid      a HELLO whose credential is another user's (not root, not the
#            daemon's) is refused
#   three    three hosts with cards on each: every host lists all nodes
#
# Needs root (namespaces), ip (iproute2), munged and mungekey (munge); exits
# 77 (ctest: skipped) with a "not root: ..." or "no ip/munged: ..." line
# when it cannot run. Programs come from the environment: SKIFF_SCIFD,
# SKIFF_SCIF, SKIFF_NODES (tests/netns_nodes), SKIFF_REPLAY
# (tests/link_replay). Nothing sleeps to synchronise: scifd reports
# readiness on --ready-fd, munged returns once it serves, and everything
# else is a condition polled until a deadline. Everything started is
# stopped, and the namespaces deleted, on any exit (trap).
# SKIFF_NETNS_KEEP=1 keeps the temporary directory (logs) for a post-mortem.
# The set-up of hosts lives in tests/netns_lib.sh (shared with other scripts).
set -euo pipefail

CASE=${1:-}
NAME="netns_$CASE"
# shellcheck source=netns_lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"

case $CASE in
two | ipv6 | kill | bye | linkcut | badkey | replay | hostile | uid | three) ;;
*) echo "usage: netns.sh two|ipv6|kill|bye|linkcut|badkey|replay|hostile|uid|three" >&2; exit 2 ;;
esac
netns_init SKIFF_SCIFD SKIFF_SCIF SKIFF_NODES

case $CASE in
two)
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	expect_nodes 1 2 0,1,2,3,4 10000
	# a process may only be on its own host's nodes
	expect_open 0 1 ok
	expect_open 0 3 ENODEV
	expect_open 1 4 ok
	expect_open 1 0 ENODEV
	json=$(info_of 0 --json)
	[[ $json == *'"nodes":[0,1,2,3,4]'* ]] || fail "scif info --json on a: $json"
	[[ $json == *'"name":"a","address":"10.77.0.1","port":7351,"first":0,"last":1,"link":"self"'* &&
		$json == *'"name":"b","address":"10.77.0.2","port":7351,"first":2,"last":4,"link":"up"'* ]] ||
		fail "scif info --json on a: hosts: $json"
	say "scif info --json on a lists nodes 0-4, a (self) and b (up)"
	info_of 1 | sed -n '/^hosts:/,/^$/p' >"$T/info-b.txt"
	grep -Eq '^ +a +10\.77\.0\.1:7351 +0-1 +up ' "$T/info-b.txt" ||
		fail "scif info on b: $(cat "$T/info-b.txt")"
	say "scif info on b: $(grep -E '^ +a ' "$T/info-b.txt")"
	log_has 0 "host 'b' up (nodes 2-4)" || fail "a's log does not say b is up"
	;;
ipv6)
	V6=1
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	expect_nodes 1 2 0,1,2,3,4 10000
	json=$(info_of 0 --json)
	[[ $json == *'"name":"b","address":"fd77::2","port":7400,"first":2,"last":4,"link":"up"'* ]] ||
		fail "scif info --json on a: $json"
	say "scif info on a: $(info_of 0 | grep -E '^ +b ')"
	;;
kill)
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	kill_scifd 1
	t0=$(now_ms)
	expect_nodes 0 0 0,1 5000
	say "a dropped b's nodes $(($(now_ms) - t0)) ms after SIGKILL"
	[[ $(info_of 0 --json) == *'"name":"b",'*'"link":"down"'* ]] ||
		fail "scif info on a does not show b down: $(info_of 0 --json)"
	start_scifd 1
	expect_nodes 0 0 0,1,2,3,4 15000
	expect_nodes 1 2 0,1,2,3,4 15000
	log_has 0 "host 'b' down: no record for 3 s" || fail "a's log does not say why b went down"
	;;
bye)
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	kill -TERM "${SCIFD_PID[1]}"
	t0=$(now_ms)
	# well before the 3 s of silence that would take it down otherwise
	expect_nodes 0 0 0,1 2000
	say "a dropped b's nodes $(($(now_ms) - t0)) ms after SIGTERM"
	wait "${SCIFD_PID[1]}" || fail "scifd of b did not exit 0 on SIGTERM"
	SCIFD_PID[1]=
	log_has 0 "host 'b' down: it said goodbye" || fail "a's log does not say b said goodbye"
	start_scifd 1
	expect_nodes 0 0 0,1,2,3,4 15000
	# SIGKILL and an immediate restart: a hears the new daemon before it
	# misses the old one (unless the machine is slow enough to take 3 s);
	# either way b goes down on a once more, then comes back
	kill_scifd 1
	start_scifd 1
	downs() { (($(grep -c "host 'b' down" "$T/scifd0.log") >= 2)); }
	wait_for 15000 "a takes the old b down" downs
	expect_nodes 0 0 0,1,2,3,4 15000
	expect_nodes 1 2 0,1,2,3,4 15000
	if log_has 0 "host 'b' down: restarted (new boot id)"; then
		say "a re-authenticated b after its restart (new boot id)"
	else
		log_has 0 "host 'b' down: no record for 3 s" ||
			fail "a's log does not say b went down"
		say "the restart took over 3 s: a timed b out first"
	fi
	;;
linkcut)
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	expect_nodes 1 2 0,1,2,3,4 10000
	ip -n "$(ns 1)" link set "${P}h1" down
	t0=$(now_ms)
	expect_nodes 0 0 0,1 5000
	expect_nodes 1 2 2,3,4 5000
	say "both hosts dropped the other's nodes $(($(now_ms) - t0)) ms after the cut"
	ip -n "$(ns 1)" link set "${P}h1" up
	t0=$(now_ms)
	expect_nodes 0 0 0,1,2,3,4 30000
	expect_nodes 1 2 0,1,2,3,4 30000
	say "linked again $(($(now_ms) - t0)) ms after the link came back"
	;;
badkey)
	add_host a 0-1
	add_host b 2-4 "$T/other.key"
	mungekey --create --keyfile="$T/other.key" >/dev/null 2>&1 ||
		mungekey -c -k "$T/other.key" >/dev/null
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	# each refuses the other; meanwhile neither ever lists the other's
	refused_both() {
		sees 0 0,1 || fail "a lists b's nodes: $(nodes_of 0)"
		sees 1 2,3,4 || fail "b lists a's nodes: $(nodes_of 1)"
		log_has 0 "refused host 'b': credential refused by munged" &&
			log_has 1 "refused host 'a': credential refused by munged"
	}
	wait_for 15000 "both hosts log the refusal" refused_both
	say "a: $(grep "refused host 'b'" "$T/scifd0.log" | head -n 1)"
	! log_has 0 "host 'b' up" || fail "a linked to b"
	;;
replay)
	[[ -x ${SKIFF_REPLAY:-} ]] || { echo "$NAME: SKIFF_REPLAY is not set" >&2; exit 2; }
	add_host a 0-1
	add_host r 2 # played by link_replay
	for i in 0 1; do start_munged $i; done
	start_scifd 0
	ip netns exec "$(ns 1)" "$SKIFF_REPLAY" "$T/fabric" r a "$FAB" \
		"$T/munged1.sock" >"$T/replay.log" 2>&1 ||
		fail "link_replay: $(cat "$T/replay.log")"
	wait_for 10000 "a logs the replay" log_has 0 "refused host 'r': credential refused by munged: Replayed credential"
	say "a: $(grep "refused host 'r'" "$T/scifd0.log" | head -n 1)"
	! log_has 0 "host 'r' up" || fail "a linked to the replaying host"
	sees 0 0,1 || fail "a lists r's node: $(nodes_of 0)"
	;;
hostile)
	[[ -x ${SKIFF_REPLAY:-} ]] || { echo "$NAME: SKIFF_REPLAY is not set" >&2; exit 2; }
	add_host a 0-1
	add_host b 2-4
	add_host r 5 # played by link_replay --flood
	for i in 0 1 2; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	t0=$(now_ms)
	ip netns exec "$(ns 2)" "$SKIFF_REPLAY" --flood 5000 "$T/fabric" r a \
		"$FAB" "$T/munged2.sock" >"$T/replay.log" 2>&1 ||
		fail "link_replay: $(cat "$T/replay.log")"
	secs=$((($(now_ms) - t0) / 1000 + 1))
	say "$(cat "$T/replay.log") in about $secs s"
	kill -0 "${SCIFD_PID[0]}" || fail "a's scifd died"
	expect_nodes 0 0 0,1,2,3,4 1000
	expect_nodes 1 2 0,1,2,3,4 1000
	! log_has 0 "host 'b' down" || fail "the flood took b down on a: $(grep "host 'b' down" "$T/scifd0.log")"
	lines=$(grep -c "refused host 'r'" "$T/scifd0.log" || true)
	say "a logged $lines refusal(s) of r"
	((lines >= 1)) || fail "a did not log the forged credentials"
	((lines <= secs + 1)) || fail "a logged $lines refusals in $secs s"
	;;
uid)
	[[ -x ${SKIFF_REPLAY:-} ]] || { echo "$NAME: SKIFF_REPLAY is not set" >&2; exit 2; }
	command -v setpriv >/dev/null 2>&1 || skip "no setpriv (util-linux)"
	add_host a 0-1
	add_host r 2
	for i in 0 1; do start_munged $i; done
	start_scifd 0
	# nobody (65534): munged vouches for that uid, which is neither root
	# nor the daemon's
	ip netns exec "$(ns 1)" setpriv --reuid=65534 --regid=65534 \
		--clear-groups "$SKIFF_REPLAY" --once "$T/fabric" r a "$FAB" \
		"$T/munged1.sock" >"$T/replay.log" 2>&1 &
	SCIFD_PID[1]=$! # stopped with the daemons
	wait_for 10000 "a logs the refusal" log_has 0 "refused host 'r': credential of uid 65534, not 0 or 0"
	say "a: $(grep "refused host 'r'" "$T/scifd0.log" | head -n 1)"
	! log_has 0 "host 'r' up" || fail "a linked to r"
	;;
three)
	add_host a 0-2
	add_host b 3-5
	add_host c 6-9
	for i in 0 1 2; do start_munged $i; done
	for i in 0 1 2; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4,5,6,7,8,9 15000
	expect_nodes 1 3 0,1,2,3,4,5,6,7,8,9 15000
	expect_nodes 2 6 0,1,2,3,4,5,6,7,8,9 15000
	expect_open 2 9 ok
	expect_open 2 5 ENODEV
	;;
esac

status=0
say "PASS"
