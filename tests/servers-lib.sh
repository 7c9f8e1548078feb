# shellcheck shell=bash
# servers-lib.sh — private Cyrus and Courier for the tests that run against every
# server, beside the Dovecot of tests/dovecot-lib.sh.
#
# The servers come from ../shared/servers/ (run from there, never copied): each
# script installs what it needs from the Debian packages, keeps its state in one
# directory and stops by the PID it recorded. Source this file, then:
#
#   servers_start DIR &   # start Cyrus and Courier (free loopback ports), seed grace
#   servers_wait DIR      # wait for that, export the settings
#   servers_stop DIR      # stop them again (down scripts, by recorded PID)
#
# IMAPGW_TEST_SERVERS (default "cyrus courier") says which to start. When all
# are up and seeded, DIR/servers.env holds, for each server X (CYRUS, COURIER),
# export lines of IMAPGW_TEST_X_IMAPS_PORT, IMAPGW_TEST_X_IMAP_PORT and
# IMAPGW_TEST_X_CA (its self-signed certificate), and DIR/servers.done the
# status (0: ready). servers_wait exports them; the test programs may instead
# wait for the files themselves (tests/support/gateway.c does), so the tests
# that need only Dovecot run meanwhile.
#
# Users on every server (Dovecot's are in tests/dovecot-lib.sh): grace /
# grace-secret, whose mailbox ../shared/servers/seed_any.py fills (the same
# deterministic set on every server, folders under the server's own namespace),
# read only by the tests; heidi / heidi-secret, for tests that write (they create
# what they need and take turns, test_user_lock); alice / alice-secret, holding
# the seed set Dovecot's alice has (tests/seed-imap.py loads what the generator
# in $IMAPGW_TEST_SEEDGEN makes, when set), read only; frank / frank-secret, for
# the content tests that append messages of their own; ivan / ivan-secret, for
# the change feed and event tests (they write only into ivan's own folders).

_servers_shared=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../shared/servers" 2>/dev/null && pwd)
_servers_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_servers_users="grace:grace-secret heidi:heidi-secret alice:alice-secret frank:frank-secret ivan:ivan-secret"

_servers_err() { printf 'servers-lib: %s\n' "$*" >&2; }

# a free port in 21000..22999, not in the list $1
_servers_port() {
	local p i
	for (( i = 0; i < 100; i++ )); do
		p=$(( 21000 + RANDOM % 2000 ))
		[[ " $1 " == *" $p "* ]] && continue
		[[ -z $(ss -Hltn "sport = :$p" 2>/dev/null) ]] && { printf '%s' "$p"; return 0; }
	done
	return 1
}

# _servers_one NAME DIR: start and seed one server; writes DIR/NAME.env on success
_servers_one() {
	local name=$1 d=$2 up port tport try used=""
	local -a envs
	up=$_servers_shared/$name-up.sh
	[[ -x $up ]] || { _servers_err "no $up"; return 1; }
	for (( try = 1; try <= 3; try++ )); do
		port=$(_servers_port "$used") && used="$used $port" &&
			tport=$(_servers_port "$used") && used="$used $tport" || return 1
		case $name in
		cyrus) envs=(CYRUS_PORT="$port" CYRUS_TLS_PORT="$tport" CYRUS_USERS="$_servers_users") ;;
		courier) envs=(COURIER_PORT="$port" COURIER_TLS_PORT="$tport" COURIER_USERS="$_servers_users") ;;
		esac
		if env "${envs[@]}" "$up" "$d/$name" >>"$d/$name-up.log" 2>&1; then
			break
		fi
		# a port taken meanwhile: try others; anything else is fatal
		grep -q 'already in use' "$d/$name-up.log" || { tail -n 20 "$d/$name-up.log" >&2; return 1; }
		"$_servers_shared/$name-down.sh" "$d/$name" >>"$d/$name-up.log" 2>&1
	done
	[[ -f $d/$name/READY ]] || { _servers_err "$name did not start (see $d/$name-up.log)"; return 1; }
	if ! python3 "$_servers_shared/seed_any.py" --port "$port" --user grace \
		--password grace-secret >"$d/$name-seed.log" 2>&1; then
		_servers_err "seeding $name failed:"
		tail -n 20 "$d/$name-seed.log" >&2
		return 1
	fi
	if [[ -n ${IMAPGW_TEST_SEEDGEN:-} ]] &&
		! python3 "$_servers_here/seed-imap.py" --port "$port" --user alice \
			--password alice-secret "$d/seed-servers" >"$d/$name-seed-alice.log" 2>&1; then
		_servers_err "seeding alice on $name failed:"
		tail -n 20 "$d/$name-seed-alice.log" >&2
		return 1
	fi
	local up_name=${name^^}
	{
		printf 'export IMAPGW_TEST_%s_IMAPS_PORT=%s\n' "$up_name" "$tport"
		printf 'export IMAPGW_TEST_%s_IMAP_PORT=%s\n' "$up_name" "$port"
		printf 'export IMAPGW_TEST_%s_CA=%q\n' "$up_name" "$d/$name/tls/cert.pem"
	} >"$d/$name.env"
}

# servers_start DIR: start every server of IMAPGW_TEST_SERVERS at once; DIR/servers.done
# holds the exit status when all are up and seeded (or one failed)
servers_start() {
	local d=$1 s rc=0 t0=$SECONDS
	local -a pids=()
	rm -f "$d/servers.done"
	if [[ -n ${IMAPGW_TEST_SEEDGEN:-} ]] &&
		! "$IMAPGW_TEST_SEEDGEN" "$d/seed-servers" >"$d/seedgen-servers.log" 2>&1; then
		_servers_err "seed generator failed (see $d/seedgen-servers.log)"
		echo 1 >"$d/servers.done.tmp" && mv "$d/servers.done.tmp" "$d/servers.done"
		return 1
	fi
	for s in ${IMAPGW_TEST_SERVERS-cyrus courier}; do
		_servers_one "$s" "$d" &
		pids+=($!)
	done
	for s in "${pids[@]}"; do wait "$s" || rc=1; done
	: >"$d/servers.env.tmp"
	for s in ${IMAPGW_TEST_SERVERS-cyrus courier}; do
		cat "$d/$s.env" >>"$d/servers.env.tmp" 2>/dev/null || rc=1
	done
	mv "$d/servers.env.tmp" "$d/servers.env"
	(( rc == 0 )) && _servers_err "${IMAPGW_TEST_SERVERS-cyrus courier} ready and seeded in $(( SECONDS - t0 )) s"
	echo "$rc" >"$d/servers.done.tmp" && mv "$d/servers.done.tmp" "$d/servers.done"
	return "$rc"
}

# servers_wait DIR: wait for servers_start (up to 10 minutes: a first run installs
# packages), then export what it wrote
servers_wait() {
	local d=$1 s i
	for (( i = 0; i < 6000; i++ )); do
		[[ -f $d/servers.done ]] && break
		sleep 0.1
	done
	[[ $(cat "$d/servers.done" 2>/dev/null) == 0 ]] || { _servers_err "the other servers are not ready"; return 1; }
	# shellcheck disable=SC1091
	. "$d/servers.env"
	export IMAPGW_TEST_SERVERS=${IMAPGW_TEST_SERVERS-cyrus courier}
}

# servers_stop DIR: the down scripts stop exactly the processes their up scripts recorded
servers_stop() {
	local d=$1 s
	for s in cyrus courier; do
		[[ -d $d/$s ]] && "$_servers_shared/$s-down.sh" "$d/$s" >>"$d/$s-down.log" 2>&1
	done
	return 0
}
