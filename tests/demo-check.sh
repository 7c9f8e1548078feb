#!/usr/bin/env bash
# demo-check.sh — `make demo` as a user runs it (part of make test): it starts on a
# free port, every command it prints runs without a curl error and without a 5xx,
# and Ctrl-C (SIGINT to its process group, as a terminal sends it) ends it with no
# make error and nothing left behind. DEMO_CHECK_SIGNALS="INT TERM" also checks a
# SIGTERM to the group (the same trap in tests/demo.sh; one more Dovecot start).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/dovecot-lib.sh
. "$root/tests/dovecot-lib.sh"

failed=0
examples_done=0
fail() { echo "demo-check: $*" >&2; failed=1; }

free_port() {
	local p
	for (( i = 0; i < 100; i++ )); do
		p=$(( 20000 + RANDOM % 40000 ))
		_dovecot_port_free "$p" && { echo "$p"; return 0; }
	done
	return 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/imapgw-demo-check.XXXXXX") || exit 1
trap 'rm -rf -- "$work"' EXIT

# run_demo SIGNAL: start make demo in its own process group, wait for its
# examples, run them (first time only), stop it with SIGNAL to the group.
run_demo() {
	local sig=$1 port out pid rc
	port=$(free_port) || { fail "no free port"; return; }
	out=$work/demo-$sig.out
	set -m
	IMAPGW_DEMO_PORT=$port make -C "$root" --no-print-directory demo >"$out" 2>&1 &
	pid=$!
	set +m
	for (( i = 0; i < 1200; i++ )); do
		grep -q 'Press Ctrl-C' "$out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q 'Press Ctrl-C' "$out"; then
		fail "make demo did not become ready: $(tail -n 20 "$out")"
		kill -TERM -- -"$pid" 2>/dev/null
		wait "$pid"
		return
	fi
	if (( ! examples_done )); then
		examples_done=1
		# the commands the demo prints, as printed, in a directory of their own
		sed -n '/^Try, in another terminal/,/^Press Ctrl-C/p' "$out" \
			| grep -E '^  [^ #]' | grep -vE '^  https?://' >"$work/examples.sh"
		mkdir -p "$work/run"
		local n
		n=$(grep -c . "$work/examples.sh")
		if (( n < 15 )); then
			fail "only $n example commands printed"
		elif ! (cd "$work/run" && bash -e "$work/examples.sh" >"$work/examples.out" 2>&1); then
			fail "an example failed: $(tail -n 5 "$work/examples.out")"
		elif grep -qE '^HTTP/1\.1 5' "$work/examples.out"; then
			fail "an example got a 5xx: $(grep -E '^HTTP/1\.1 5' "$work/examples.out")"
		else
			echo "demo-check: $n example commands ran"
		fi
		grep -q '"uid":' "$work/examples.out" || fail "the append example stored nothing"
	fi
	kill -"$sig" -- -"$pid"
	wait "$pid"
	rc=$?
	if grep -qE 'make(\[[0-9]+\])?: \*\*\*' "$out"; then
		fail "SIG$sig: make reported an error: $(grep -E 'make(\[[0-9]+\])?: \*\*\*' "$out")"
	fi
	# make itself dies of the SIGINT the terminal sends it (status 130) after its
	# child ended well; a SIGTERM to the group ends the same way (143). (Run from
	# make test, this make's messages say make[2], hence the pattern above.)
	if (( rc != 0 && rc != 130 && rc != 143 )); then
		fail "SIG$sig: make demo exited $rc; its last lines: $(tail -n 15 "$out")"
	fi
	grep -q 'demo: stopped' "$out" || fail "SIG$sig: the demo did not clean up: $(tail -n 5 "$out")"
	if ! _dovecot_port_free "$port"; then
		fail "SIG$sig: port $port is still taken after the demo"
	fi
}

# Another program may take the demo's port while Dovecot starts (the machine is
# shared): then the demo says so and stops, and one more try on another port
# tells that apart from a failure of the demo.
for sig in ${DEMO_CHECK_SIGNALS:-INT}; do
	failed_before=$failed
	run_demo "$sig"
	if (( failed && ! failed_before )) && grep -q 'Address already in use' "$work/demo-$sig.out"; then
		echo "demo-check: the port was taken meanwhile; once more on another" >&2
		failed=0
		run_demo "$sig"
	fi
done
(( failed )) && exit 1
echo "demo-check: make demo starts, its examples work, ${DEMO_CHECK_SIGNALS:-INT} stops it cleanly"
