#!/usr/bin/env bash
# with-dovecot.sh SEEDGEN -- COMMAND [ARGS...]
#
# Starts a private Dovecot on loopback (127.0.0.1 and 127.0.0.2, random free ports),
# seeds alice's mailbox with SEEDGEN's messages, a second, empty Dovecot (for a gateway
# in front of several servers: dovecot_second_start), and beside them a private Cyrus and
# Courier (tests/servers-lib.sh; grace's mailbox seeded on all three), runs COMMAND
# with IMAPGW_TEST_* describing them (see both libraries), then stops the servers
# and removes the temporary directory (kept when IMAPGW_TEST_KEEP=1). Exits with
# COMMAND's status.
#
# Cleanup runs on normal exit, on failure and on SIGINT/SIGTERM/SIGHUP. COMMAND runs
# in the foreground, so Ctrl-C reaches it directly; a signal sent to this script alone
# is acted on once COMMAND has returned.
set -uo pipefail

usage() {
	echo "usage: $0 SEEDGEN -- COMMAND [ARGS...]" >&2
	exit 2
}
[[ $# -ge 3 && $2 == -- ]] || usage
seedgen=$1
shift 2
[[ -x $seedgen ]] || { echo "with-dovecot: seed generator '$seedgen' is not executable (make seedgen)" >&2; exit 2; }
[[ $seedgen == */* ]] || seedgen=./$seedgen
seedgen=$(cd "$(dirname "$seedgen")" && pwd)/$(basename "$seedgen")

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/dovecot-lib.sh
. "$here/dovecot-lib.sh"
# shellcheck source=SCRIPTDIR/servers-lib.sh
. "$here/servers-lib.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/imapgw-test.XXXXXX") || exit 1

# shellcheck disable=SC2317  # called from the traps
cleanup() {
	# finish the teardown even if more signals arrive (a second Ctrl-C, a group TERM)
	trap '' INT TERM HUP
	trap - EXIT
	# let a start still under way finish (it may be installing packages), then
	# stop what it started
	[[ -n ${servers_pid:-} ]] && wait "$servers_pid" 2>/dev/null
	servers_stop "$dir"
	dovecot_stop "$dir/second"
	dovecot_stop "$dir"
	if [[ ${IMAPGW_TEST_KEEP:-0} == 1 ]]; then
		echo "with-dovecot: kept $dir (Dovecot is stopped; $dir/env has the settings it ran with)" >&2
	else
		rm -rf -- "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Cyrus and Courier start meanwhile, in the background (IMAPGW_TEST_SERVERS= for none)
chmod 0755 "$dir"
export IMAPGW_TEST_SEEDGEN=$seedgen  # the seed set for alice on the other servers too
servers_start "$dir" &
servers_pid=$!
dovecot_start "$dir" || exit 1
# a second Dovecot, for one gateway in front of several servers (tests/dovecot-lib.sh);
# IMAPGW_TEST_DOVECOT2=0 for runs that do not need it
if [[ ${IMAPGW_TEST_DOVECOT2:-1} == 1 ]]; then
	dovecot_second_start "$dir" || exit 1
fi
dovecot_seed "$dir" "$seedgen" || exit 1
if ! "${PYTHON:-python3}" "$here/../../shared/servers/seed_any.py" --port "$IMAPGW_TEST_IMAP_PORT" \
	--user grace --password grace-secret >"$dir/dovecot-seed-grace.log" 2>&1; then
	echo "with-dovecot: seeding grace failed:" >&2
	tail -n 20 "$dir/dovecot-seed-grace.log" >&2
	exit 1
fi
# The tests that need Cyrus or Courier wait for them (tests/support/gateway.c
# reads $dir/servers.done and $dir/servers.env); the others need not.
export IMAPGW_TEST_SERVERS=${IMAPGW_TEST_SERVERS-cyrus courier}

"$@"
exit $?
