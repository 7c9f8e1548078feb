#!/usr/bin/env bash
# demo.sh IMAPGW SEEDGEN — `make demo`: imapgw in front of a private, seeded Dovecot.
#
# Starts a private Dovecot on loopback (tests/dovecot-lib.sh) in a temporary
# directory, seeds alice's mailbox with SEEDGEN's messages, starts IMAPGW on
# 127.0.0.1:8080 (IMAPGW_DEMO_PORT=N for another port) against Dovecot's implicit-TLS
# port, verified with the test CA, prints example curl calls, and then waits.
# Ctrl-C (SIGINT) or SIGTERM stops imapgw (SIGTERM to its PID), then Dovecot, and
# removes the temporary directory, and exits 0. Loopback addresses only.
#
# Started in the background from a non-interactive shell (`tests/demo.sh ... &`),
# bash ignores SIGINT for it and the script cannot undo that: stop it with SIGTERM,
# or start it under `set -m` / setsid.
set -uo pipefail

usage() {
	echo "usage: $0 IMAPGW SEEDGEN   (normally: make demo)" >&2
	exit 2
}
[[ $# -eq 2 ]] || usage

abspath() { printf '%s/%s' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"; }

imapgw=$1 seedgen=$2
[[ -x $imapgw ]] || { echo "demo: $imapgw is not executable (run make)" >&2; exit 2; }
[[ -x $seedgen ]] || { echo "demo: $seedgen is not executable (make seedgen)" >&2; exit 2; }
imapgw=$(abspath "$imapgw") seedgen=$(abspath "$seedgen")

port=${IMAPGW_DEMO_PORT:-8080}
if ! [[ $port =~ ^[0-9]+$ ]] || (( port < 1 || port > 65535 )); then
	echo "demo: IMAPGW_DEMO_PORT must be a TCP port number, not '$port'" >&2
	exit 2
fi
user=alice password=alice-secret     # tests/dovecot-lib.sh's seeded user
base=http://127.0.0.1:$port

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/dovecot-lib.sh
. "$here/dovecot-lib.sh"

# The port must be free before anything starts (imapgw would fail to bind anyway,
# but this says why).
if ! _dovecot_port_free "$port"; then
	echo "demo: TCP port $port is already in use:" >&2
	ss -Hltnp "sport = :$port" >&2 2>/dev/null
	echo "demo: stop that program, or pick another port: IMAPGW_DEMO_PORT=8081 make demo" >&2
	exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/imapgw-demo.XXXXXX") || exit 1
gw_pid=

# shellcheck disable=SC2317  # called from the traps
cleanup() {
	trap '' INT TERM HUP
	trap - EXIT
	local i
	echo >&2
	if [[ -n $gw_pid ]] && kill -0 "$gw_pid" 2>/dev/null; then
		echo "demo: stopping imapgw (pid $gw_pid)" >&2
		kill -TERM "$gw_pid" 2>/dev/null
		for (( i = 0; i < 100; i++ )); do
			kill -0 "$gw_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$gw_pid" 2>/dev/null; then
			echo "demo: imapgw did not stop within 10 s of SIGTERM; sending SIGKILL" >&2
			kill -KILL "$gw_pid" 2>/dev/null
		fi
		wait "$gw_pid" 2>/dev/null
	fi
	dovecot_stop "$dir"
	rm -rf -- "$dir"
	echo "demo: stopped, $dir removed" >&2
}
trap cleanup EXIT
# Ctrl-C and SIGTERM are how the demo is meant to end: a normal stop, exit 0
# (so `make demo` reports no error); imapgw exiting by itself is not (exit 1).
trap 'exit 0' INT TERM
trap 'exit 129' HUP

dovecot_start "$dir" || exit 1
dovecot_seed "$dir" "$seedgen" || exit 1

log=$dir/imapgw.log
"$imapgw" --listen "127.0.0.1:$port" \
	--imap-host "$IMAPGW_TEST_HOST" --imap-port "$IMAPGW_TEST_IMAPS_PORT" --imap-tls implicit \
	--imap-ca "$IMAPGW_TEST_CA" >"$log" 2>&1 &
gw_pid=$!

# GET on loopback without curl: prints the status code (000 when nothing answers)
http_status() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
		printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&3
		IFS= read -r -t 2 line <&3 || exit 1
		line=${line#HTTP/1.? }
		printf '%s' "${line%% *}"
	) 2>/dev/null || printf '000'
}

ready=0
for (( i = 0; i < 100; i++ )); do
	if ! kill -0 "$gw_pid" 2>/dev/null; then
		echo "demo: imapgw exited at start; its log:" >&2
		cat "$log" >&2
		exit 1
	fi
	if [[ $(http_status /healthz) == 200 ]]; then
		ready=1
		break
	fi
	sleep 0.1
done
if (( ! ready )); then
	echo "demo: imapgw did not answer /healthz within 10 s; its log:" >&2
	cat "$log" >&2
	exit 1
fi

# One real call through to Dovecot, so the demo never prints commands that cannot
# work; it also gives the cursor the example below continues from.
first=$(curl -sS --max-time 10 -u "$user:$password" -w '\n%{http_code}' \
	"$base/messages?per_page=5") || first=$'\n000'
code=${first##*$'\n'}
if [[ $code != 200 ]]; then
	echo "demo: GET /messages answered $code: ${first%$'\n'*}" >&2
	echo "demo: imapgw log:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
cursor=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' <<<"${first%$'\n'*}")
openapi=$(http_status /openapi.json)

c="curl -u $user:$password"
cat <<EOF

imapgw $("$imapgw" --version | sed 's/^imapgw //') is listening on $base (pid $gw_pid)
IMAP: Dovecot on $IMAPGW_TEST_HOST:$IMAPGW_TEST_IMAPS_PORT (implicit TLS, CA $IMAPGW_TEST_CA)
Login: $user / $password     Log: $log

Try, in another terminal (add | jq . for pretty output, when jq is installed):

  # liveness (no login)
  curl $base/healthz

  # all folders, with message counts, nested as a tree
  $c '$base/folders?counts=true&tree=true'

  # one folder's status (the path may contain slashes and UTF-8)
  $c '$base/folders/Archive/2024'

  # INBOX, newest first (the default: arrival order, descending), 5 per page
  $c '$base/messages?per_page=5'

  # page 2 of that listing; -i shows the Link header (rel="next"/"prev")
  $c -i '$base/messages?per_page=5&page=2'

  # sorted by the Date header, oldest first
  $c '$base/messages?sort=date&order=asc&per_page=5'

  # filters: unread mail that carries List-Unsubscribe
  $c '$base/messages?has_unsubscribe=true&unseen=true'

  # infinite scroll: continue after page 1 with its next_cursor
  $c '$base/messages?per_page=5&cursor=$cursor'
  # ... or take the cursor from the answer yourself:
  cur=\$($c -sS '$base/messages?per_page=5' | sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p')
  $c "$base/messages?per_page=5&cursor=\$cur"

  # one message in full: people, chosen headers, decoded text and html, attachments
  $c '$base/messages/9?headers=subject,x-seed-id'

  # its attachments (from BODYSTRUCTURE), then one downloaded under its own name
  $c '$base/messages/9/attachments'
  $c -OJ '$base/messages/9/attachments/2'

  # the source, byte for byte, streamed
  $c '$base/messages/9/raw'

  # a bad parameter is a 400 with an application/problem+json body
  $c -i '$base/messages?per_page=0'

  # append a message to Drafts (mail.eml is made here first)
  printf 'From: alice@example.com\\r\\nTo: bob@example.com\\r\\nSubject: Draft from curl\\r\\n\\r\\nHello.\\r\\n' >mail.eml
  $c -X POST -H 'Content-Type: message/rfc822' --data-binary @mail.eml \\
       '$base/messages?folder=Drafts&flags=%5CDraft'

  # the HTML reference of the API, in a browser
  $base/docs
EOF
if [[ $openapi == 200 ]]; then
	cat <<EOF

  # the API contract
  curl $base/openapi.json
EOF
fi
cat <<EOF

Press Ctrl-C to stop imapgw and Dovecot and remove $dir.
EOF

# In the foreground until a signal (the traps run cleanup) or until imapgw exits.
wait "$gw_pid"
rc=$?
gw_pid=
# Ctrl-C reaches imapgw too (one process group): it stops cleanly, and its
# exit may be seen here before the shell runs its INT trap. A clean stop is
# the normal end either way.
(( rc == 0 )) && exit 0
echo "demo: imapgw exited on its own (status $rc); last lines of its log:" >&2
tail -n 20 "$log" >&2
exit 1
