# shellcheck shell=bash
# dovecot-lib.sh — start, seed and stop a private Dovecot for imapgw's tests.
#
# Source this file from bash, then:
#
#   dir=$(mktemp -d)
#   dovecot_start "$dir"            # PKI, config, users; start; wait until ready; export env
#   dovecot_seed  "$dir" SEEDGEN    # generate the seed messages and load them into alice
#   ...                              # use IMAPGW_TEST_* (also written to $dir/env)
#   dovecot_stop  "$dir"            # stop the master started above and wait until it is gone
#
# DOVECOT_LOGIN_PENALTY=1 in the environment of dovecot_start: Dovecot's delay of
# failed logins is on, and loopback may name the real client (see
# _dovecot_penalty_conf); only for the tests of that, with a Dovecot of their own.
#
# Everything lives under DIR: its own dovecot.conf (the system /etc/dovecot is never
# read), base_dir, state_dir, log, mail, PKI. Only loopback addresses are used. The
# functions do not rely on `set -e`; each returns non-zero on failure after printing
# a message (and, for start-up failures, the tail of Dovecot's log) to stderr.
#
# Exported by dovecot_start (and written as `export` lines to DIR/env):
#   IMAPGW_TEST_DIR          DIR
#   IMAPGW_TEST_HOST         127.0.0.1  (named by the server certificate)
#   IMAPGW_TEST_ALT_HOST     127.0.0.2  (same server; NOT named by the certificate)
#   IMAPGW_TEST_IMAP_PORT    IMAP port, STARTTLS offered (see "Loopback and LOGINDISABLED")
#   IMAPGW_TEST_IMAPS_PORT   IMAPS port (implicit TLS)
#   IMAPGW_TEST_CA           the test CA certificate (PEM) that signed the server cert
#   IMAPGW_TEST_OTHER_CA     an unrelated CA certificate (verification must fail with it)
#   IMAPGW_TEST_DOVEADM      command prefix: "doveadm -c DIR/dovecot.conf"
#   IMAPGW_TEST_DOVECOT_LOG  Dovecot's log file
# Exported by dovecot_seed:
#   IMAPGW_TEST_SEED_MANIFEST  DIR/seed/manifest.tsv (see tests/seed/seedgen.c)
#
# Users (passwd-file, {PLAIN}): alice / alice-secret (seeded), bob / b"o\b p@ss,
# carol / pässwörd, dave / dave-secret (for tests that kick sessions: no other
# test may use dave), erin / erin-secret (write tests: they create what they
# need), frank / frank-secret (message content tests: they append what they
# need), grace / grace-secret and heidi / heidi-secret (the tests that run on
# every server, see tests/servers-lib.sh), kim / kim-secret (the threading
# tests: they append their conversations), ivan / ivan-secret (change feed and
# event tests, on every server: they write only into ivan's own folders), judy /
# judy-secret (the /senders tests, on every server: they append the mail they
# group), liam / liam-secret (the scale-out test's writes, tests/cluster.py: no
# other test may use liam), crowd01 ... crowd16 / crowd01-secret ... (the crowd: the
# event stream tests that need many users at once; they only read and watch; only the
# first is checked at start). Mail is owned by uid/gid 65534 (nobody/nogroup).
#
# Loopback and LOGINDISABLED: Dovecot treats a connection whose remote IP equals its
# local IP as secure. A client on this machine reaching 127.0.0.1 comes from
# 127.0.0.1, so there the plain port offers STARTTLS but also AUTH=PLAIN and allows
# LOGIN without TLS. Reaching 127.0.0.2 it still comes from 127.0.0.1, so there the
# plain port says STARTTLS LOGINDISABLED and refuses LOGIN before STARTTLS.

_dovecot_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_dovecot_mail_uid=65534
_dovecot_mail_gid=65534
_dovecot_users=(alice bob carol dave erin frank grace heidi kim ivan judy liam)
_dovecot_passwords=('alice-secret' 'b"o\b p@ss' 'pässwörd' 'dave-secret' 'erin-secret' 'frank-secret'
	'grace-secret' 'heidi-secret' 'kim-secret' 'ivan-secret' 'judy-secret' 'liam-secret')
_dovecot_checked=${#_dovecot_users[@]}
for _i in $(seq -w 1 16); do
	_dovecot_users+=("crowd$_i")
	_dovecot_passwords+=("crowd$_i-secret")
done
unset _i

_dovecot_err() { printf 'dovecot-lib: %s\n' "$*" >&2; }

_dovecot_now() { printf '%s' "${EPOCHREALTIME/[.,]/}"; }   # microseconds

# elapsed seconds since a _dovecot_now value, as "1.234"
_dovecot_elapsed() {
	local us=$(( $(_dovecot_now) - $1 ))
	printf '%d.%03d' $(( us / 1000000 )) $(( us % 1000000 / 1000 ))
}

_dovecot_log_tail() {
	local log=$1/dovecot.log
	if [[ -s $log ]]; then
		_dovecot_err "last lines of $log:"
		tail -n 25 "$log" >&2
	fi
}

# true when nothing listens on TCP port $1 (any address)
_dovecot_port_free() {
	local out
	out=$(ss -Hltn "sport = :$1" 2>/dev/null) || return 1
	[[ -z $out ]]
}

# a random currently free port in 20000..60000, distinct from $1 (may be empty)
_dovecot_pick_port() {
	local p i
	for (( i = 0; i < 50; i++ )); do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
		[[ $p == "${1:-}" ]] && continue
		_dovecot_port_free "$p" && { printf '%s' "$p"; return 0; }
	done
	_dovecot_err "no free TCP port found"
	return 1
}

# _dovecot_pki DIR: test CA, server cert (localhost + 127.0.0.1 only), other CA
_dovecot_pki() {
	local pki=$1/pki
	mkdir -p "$pki" && chmod 0755 "$pki" || return 1
	cp "$_dovecot_lib_dir/pki.cnf" "$pki/openssl.cnf" || return 1
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
	local serial
	serial=$(printf '0x%04x%04x%04x' "$RANDOM" "$RANDOM" "$RANDOM")
	(
		set -e
		cd "$pki"
		umask 077
		export PKI_SAN="DNS:localhost, IP:127.0.0.1"
		openssl req -x509 -config openssl.cnf -extensions ca_ext "${ec[@]}" -days 3650 \
			-subj '/O=imapgw tests/CN=imapgw test CA' -keyout ca.key -out ca.crt
		openssl req -x509 -config openssl.cnf -extensions ca_ext "${ec[@]}" -days 3650 \
			-subj '/O=imapgw tests/CN=imapgw other CA' -keyout other-ca.key -out other-ca.crt
		openssl req -new -config openssl.cnf "${ec[@]}" \
			-subj '/O=imapgw tests/CN=localhost' -keyout server.key -out server.csr
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial "$serial" \
			-days 825 -extfile openssl.cnf -extensions server_ext -out server.crt
		chmod 0644 ca.crt other-ca.crt server.crt
	) >"$pki/openssl.log" 2>&1 || {
		_dovecot_err "test PKI generation failed:"
		cat "$pki/openssl.log" >&2
		return 1
	}
}

# _dovecot_passwd_file DIR: passwd-file with {PLAIN} passwords. No field contains ':' so
# nothing needs escaping; printf '%s' writes the bytes exactly.
_dovecot_passwd_file() {
	local d=$1 u pw i
	: >"$d/users" || return 1
	for i in "${!_dovecot_users[@]}"; do
		u=${_dovecot_users[$i]} pw=${_dovecot_passwords[$i]}
		printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$u" "$pw" \
			"$_dovecot_mail_uid" "$_dovecot_mail_gid" "$d/home/$u" >>"$d/users"
	done
	# read by the auth process, which runs as default_internal_user (dovecot)
	if getent group dovecot >/dev/null; then
		chgrp dovecot "$d/users" && chmod 0640 "$d/users"
	else
		chmod 0644 "$d/users"
	fi
}

# _dovecot_oauth DIR: the HS256 key Dovecot validates bearer tokens with
# (dict key /shared/default/HS256/default, the key base64-encoded) and the
# oauth2 passdb settings.
_dovecot_oauth() {
	local o=$1/oauth
	mkdir -p "$o/keys/default/HS256" || return 1
	openssl rand 32 >"$o/key.bin" || return 1
	od -An -tx1 -v "$o/key.bin" | tr -d ' \n' >"$o/key.hex" || return 1
	base64 -w0 <"$o/key.bin" >"$o/keys/default/HS256/default" || return 1
	cat >"$o/dovecot-oauth2.conf.ext" <<EOF
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$o/keys/
username_attribute = sub
EOF
	chmod -R a+rX "$o"
}

_b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# _dovecot_token DIR USER [SECONDS]: an HS256 JWT for USER valid for SECONDS
# (default 3600; negative: already expired), signed with DIR's key.
_dovecot_token() {
	local d=$1 user=$2 ttl=${3:-3600} now head body sig
	now=$(date +%s)
	head=$(printf '{"alg":"HS256","typ":"JWT"}' | _b64url)
	body=$(printf '{"sub":"%s","iat":%d,"nbf":%d,"exp":%d}' "$user" $((now - 60)) $((now - 60)) \
		$((now + ttl)) | _b64url)
	sig=$(printf '%s.%s' "$head" "$body" |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(cat "$d/oauth/key.hex")" -binary | _b64url)
	printf '%s.%s.%s' "$head" "$body" "$sig"
}

# _dovecot_conf DIR IMAP_PORT IMAPS_PORT
# The authentication penalty part of the configuration. Normally off: Dovecot
# delays every login from an IP by up to 15 s after failed ones, and tests fail
# logins on purpose; the auth process cannot reach an anvil socket of mode 0,
# which turns the penalty off. With DOVECOT_LOGIN_PENALTY=1 it is on, as in a
# default installation, and loopback is trusted to name the real client
# (ID "x-originating-ip"), so failed logins are delayed per named client. A
# trusted client counts as secured: the plain port then offers LOGIN on
# 127.0.0.2 too.
_dovecot_penalty_conf() {
	if [[ ${DOVECOT_LOGIN_PENALTY:-0} == 1 ]]; then
		printf '%s\n' 'login_trusted_networks = 127.0.0.0/8'
	else
		printf '%s\n' 'service anvil {' '  unix_listener anvil-auth-penalty {' \
			'    mode = 0' '  }' '}'
	fi
}

_dovecot_conf() {
	local d=$1
	cat >"$d/dovecot.conf" <<EOF
# Private Dovecot for imapgw tests (generated by tests/dovecot-lib.sh).
# Self-contained: the system /etc/dovecot configuration is not included.
instance_name = imapgw-test-${d##*/}
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap
listen = 127.0.0.1, 127.0.0.2
shutdown_clients = yes

ssl = yes
ssl_cert = <$d/pki/server.crt
ssl_key = <$d/pki/server.key
ssl_min_protocol = TLSv1.2

disable_plaintext_auth = yes
auth_mechanisms = plain login oauthbearer xoauth2
auth_verbose = yes
# Test-speed settings: no extra 2 s delay before answering a failed login (Dovecot
# still batches failure replies every ~0.5 s); allow a pooled gateway plus parallel
# tests more than the default 10 connections per user and IP; no fsync.
auth_failure_delay = 0
mail_max_userip_connections = 100
mail_fsync = never

passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u $d/users
}
# OAuth 2.0 bearer tokens (OAUTHBEARER, XOAUTH2): JWTs checked locally against
# the HS256 key in $d/oauth/keys (see _dovecot_token).
passdb {
  driver = oauth2
  mechanisms = oauthbearer xoauth2
  args = $d/oauth/dovecot-oauth2.conf.ext
}
userdb {
  driver = passwd-file
  args = username_format=%u $d/users
}

mail_location = maildir:~/Maildir:LAYOUT=fs

# Quota (RFC 9208 GETQUOTAROOT for GET /account): counted by Dovecot itself,
# limits far above what any test stores.
mail_plugins = \$mail_plugins quota
protocol imap {
  mail_plugins = \$mail_plugins imap_quota
}
plugin {
  quota = count:User quota
  quota_rule = *:storage=1G:messages=1000000
  quota_vsizes = yes
}

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}

$(_dovecot_penalty_conf)
$([[ -n ${DOVECOT_USERNAME_FORMAT:-} ]] && printf 'auth_username_format = %s\n' "$DOVECOT_USERNAME_FORMAT")

# Login processes in "high-performance" mode (reused, started in advance): a new
# connection never meets a login process that is still connecting to auth (which
# greets with "* OK Waiting for authentication process to respond.." first).
service imap-login {
  service_count = 0
  process_min_avail = 2
  inet_listener imap {
    port = $2
  }
  inet_listener imaps {
    port = $3
    ssl = yes
  }
}
EOF
}

# true when the master whose pid is $1 no longer runs (a zombie counts as gone)
_dovecot_pid_gone() {
	local st
	[[ -r /proc/$1/stat ]] || return 0
	st=$(<"/proc/$1/stat") 2>/dev/null || return 0
	st=${st##*) }
	[[ ${st%% *} == Z ]]
}

_dovecot_master_pid() {
	local f=$1/run/master.pid pid
	[[ -r $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	printf '%s' "$pid"
}

# the greeting on the plain IMAP port must offer STARTTLS, and on the alternate
# address also LOGINDISABLED ($3 = 1). Dovecot counts a connection whose remote IP
# equals its local IP (127.0.0.1 -> 127.0.0.1) as secured and allows LOGIN there;
# a client reaching 127.0.0.2 comes from 127.0.0.1, so that one is not secured.
_dovecot_probe_imap() {
	( exec 3<>"/dev/tcp/$1/$2" || exit 1
	  IFS= read -r -t 2 line <&3 || exit 1
	  exec 3>&-
	  [[ $line == '* OK '* && $line == *STARTTLS* ]] || exit 1
	  [[ $3 != 1 || $line == *LOGINDISABLED* ]]
	) 2>/dev/null
}

_dovecot_probe_tcp() {
	( exec 3<>"/dev/tcp/$1/$2" ) 2>/dev/null
}

# dovecot_start DIR — DIR must exist (e.g. from mktemp -d) and be owned by root
dovecot_start() {
	local d=${1:?usage: dovecot_start DIR}
	local t0 imap_port imaps_port attempt pid ready i h out logindisabled
	t0=$(_dovecot_now)
	[[ $EUID -eq 0 ]] || { _dovecot_err "must run as root (Dovecot drops to uid 65534 for mail)"; return 1; }
	if ! command -v dovecot >/dev/null || ! command -v doveadm >/dev/null; then
		_dovecot_err "dovecot/doveadm not installed (run tests/install-deps.sh)"
		return 1
	fi
	[[ -d $d ]] || { _dovecot_err "no such directory: $d"; return 1; }
	d=$(cd "$d" && pwd) || return 1
	# login processes (dovenull) and the mail user must be able to traverse DIR
	chmod 0755 "$d" || return 1
	mkdir -p "$d/run" "$d/state" "$d/home" || return 1
	chown "$_dovecot_mail_uid:$_dovecot_mail_gid" "$d/home" && chmod 0700 "$d/home" || return 1
	_dovecot_pki "$d" || return 1
	_dovecot_passwd_file "$d" || return 1

	for (( attempt = 1; ; attempt++ )); do
		imap_port=$(_dovecot_pick_port) || return 1
		imaps_port=$(_dovecot_pick_port "$imap_port") || return 1
		_dovecot_oauth "$d" && _dovecot_conf "$d" "$imap_port" "$imaps_port" || return 1
		# the master binds its listeners before it daemonizes, so a port taken in the
		# meantime shows up here as a failed start
		# (output to a file: the daemon keeps its stdout open, a pipe would never close)
		if dovecot -c "$d/dovecot.conf" >"$d/dovecot-start.out" 2>&1; then
			break
		fi
		out=$(<"$d/dovecot-start.out")
		if (( attempt < 5 )) && [[ $out$(tail -n 5 "$d/dovecot.log" 2>/dev/null) == *"in use"* ]]; then
			continue
		fi
		_dovecot_err "dovecot failed to start: $out"
		_dovecot_log_tail "$d"
		return 1
	done

	# bounded wait: both ports on both loopback addresses accept connections and the
	# plain port greets with STARTTLS (+ LOGINDISABLED on 127.0.0.2, see above)
	ready=0
	for (( i = 0; i < 200; i++ )); do
		ready=1
		for h in 127.0.0.1 127.0.0.2; do
			logindisabled=0
			[[ $h == 127.0.0.2 && ${DOVECOT_LOGIN_PENALTY:-0} != 1 ]] && logindisabled=1
			if ! _dovecot_probe_imap "$h" "$imap_port" "$logindisabled" ||
				! _dovecot_probe_tcp "$h" "$imaps_port"; then
				ready=0
				break
			fi
		done
		(( ready )) && break
		pid=$(_dovecot_master_pid "$d") && _dovecot_pid_gone "$pid" && break
		sleep 0.05
	done
	if ! (( ready )); then
		_dovecot_err "dovecot did not become ready on ports $imap_port/$imaps_port within 10 s"
		_dovecot_log_tail "$d"
		dovecot_stop "$d"
		return 1
	fi

	unset IMAPGW_TEST_SEED_MANIFEST    # until dovecot_seed has run
	export IMAPGW_TEST_DIR=$d
	export IMAPGW_TEST_HOST=127.0.0.1
	export IMAPGW_TEST_ALT_HOST=127.0.0.2
	export IMAPGW_TEST_IMAP_PORT=$imap_port
	export IMAPGW_TEST_IMAPS_PORT=$imaps_port
	export IMAPGW_TEST_CA=$d/pki/ca.crt
	export IMAPGW_TEST_OTHER_CA=$d/pki/other-ca.crt
	export IMAPGW_TEST_DOVEADM="doveadm -c $d/dovecot.conf"
	export IMAPGW_TEST_DOVECOT_LOG=$d/dovecot.log
	IMAPGW_TEST_TOKEN_ALICE=$(_dovecot_token "$d" alice) || return 1
	IMAPGW_TEST_TOKEN_EXPIRED=$(_dovecot_token "$d" alice -600) || return 1
	export IMAPGW_TEST_TOKEN_ALICE IMAPGW_TEST_TOKEN_EXPIRED
	_dovecot_write_env "$d"

	# every user must be able to log in with exactly its password (of the
	# crowd, the first: they are made alike)
	for (( i = 0; i <= _dovecot_checked; i++ )); do
		if ! out=$(doveadm -c "$d/dovecot.conf" auth test "${_dovecot_users[$i]}" \
			"${_dovecot_passwords[$i]}" 2>&1); then
			_dovecot_err "login check failed for ${_dovecot_users[$i]}: $out"
			_dovecot_log_tail "$d"
			dovecot_stop "$d"
			return 1
		fi
	done
	_dovecot_err "dovecot ready on 127.0.0.1/127.0.0.2 ports $imap_port (STARTTLS) and $imaps_port (TLS) in $(_dovecot_elapsed "$t0") s"
}

_dovecot_write_env() {
	local d=$1 v
	: >"$d/env" || return 1
	for v in IMAPGW_TEST_DIR IMAPGW_TEST_HOST IMAPGW_TEST_ALT_HOST IMAPGW_TEST_IMAP_PORT \
		IMAPGW_TEST_IMAPS_PORT IMAPGW_TEST_CA IMAPGW_TEST_OTHER_CA IMAPGW_TEST_DOVEADM \
		IMAPGW_TEST_DOVECOT_LOG IMAPGW_TEST_SEED_MANIFEST IMAPGW_TEST_TOKEN_ALICE \
		IMAPGW_TEST_TOKEN_EXPIRED; do
		[[ -n ${!v:-} ]] && printf 'export %s=%q\n' "$v" "${!v}" >>"$d/env"
	done
	return 0
}

# dovecot_second_start DIR — a second, independent Dovecot in DIR/second for the
# tests of one gateway in front of several servers: its own CA, ports and mail, the
# same users and passwords, nothing seeded. It drops the domain of a user name
# (auth_username_format %Ln: alice@two.test logs in as alice), so that a gateway's
# domain routes can be tested with the same users. Exports, and appends to DIR/env:
#   IMAPGW_TEST_DOVECOT2_IMAP_PORT, IMAPGW_TEST_DOVECOT2_IMAPS_PORT, IMAPGW_TEST_DOVECOT2_CA
# Stop it with dovecot_stop DIR/second.
dovecot_second_start() {
	local d=${1:?usage: dovecot_second_start DIR} ports
	mkdir -p "$d/second" || return 1
	# in a subshell: dovecot_start exports the first instance's variable names
	ports=$(DOVECOT_USERNAME_FORMAT=%Ln dovecot_start "$d/second" &&
		printf '%s %s' "$IMAPGW_TEST_IMAP_PORT" "$IMAPGW_TEST_IMAPS_PORT") || return 1
	export IMAPGW_TEST_DOVECOT2_IMAP_PORT=${ports% *}
	export IMAPGW_TEST_DOVECOT2_IMAPS_PORT=${ports#* }
	export IMAPGW_TEST_DOVECOT2_CA=$d/second/pki/ca.crt
	local v
	for v in IMAPGW_TEST_DOVECOT2_IMAP_PORT IMAPGW_TEST_DOVECOT2_IMAPS_PORT IMAPGW_TEST_DOVECOT2_CA; do
		printf 'export %s=%q\n' "$v" "${!v}" >>"$d/env"
	done
}

# dovecot_seed DIR SEEDGEN — generate the seed set into DIR/seed and load it into alice.
#
# Folders: one `doveadm mailbox create -s` (created and subscribed, parents first).
# Messages: one IMAP session in PREAUTH mode (`doveadm exec imap -u alice`, no network)
# APPENDs every message in manifest order, with its flags and keywords and, as
# INTERNALDATE, the date of its first Received header; LITERAL+ lets the whole stream
# be written at once. (`doveadm save` costs ~30 ms a message and `doveadm batch`
# cannot carry `save`; this loads everything in well under a second.) So a folder's
# UIDs follow manifest order, INTERNALDATE follows the Received headers and the Date
# headers are the generator's: three different, deterministic orders.
# Every APPEND must answer OK [APPENDUID ...] with the expected UID; then each stored
# message's folder, UID, flags and X-Seed-Id are read back with doveadm fetch and
# compared with the manifest.
dovecot_seed() {
	local d=${1:?usage: dovecot_seed DIR SEEDGEN} seedgen=${2:?usage: dovecot_seed DIR SEEDGEN}
	local t0 out manifest
	local -a doveadm
	t0=$(_dovecot_now)
	d=$(cd "$d" && pwd) || return 1
	doveadm=(doveadm -c "$d/dovecot.conf")
	out=$d/seed
	rm -rf "$out" && mkdir -p "$out" || return 1
	if ! "$seedgen" "$out" >"$d/seedgen.log" 2>&1; then
		_dovecot_err "seed generator $seedgen failed:"
		cat "$d/seedgen.log" >&2
		return 1
	fi
	manifest=$out/manifest.tsv
	[[ -s $manifest ]] || { _dovecot_err "seed generator wrote no $manifest"; return 1; }
	chmod -R a+rX "$out"

	# read the manifest (tab-separated; empty fields are significant, so split on a
	# non-whitespace separator)
	local id folder flags file n=0
	local -a m_id=() m_folder=() m_flags=() m_file=() folders=()
	local -A seen_folder=()
	while IFS=$'\x1f' read -r id folder flags file _; do
		[[ -z $id || $id == '#'* ]] && continue
		[[ -n $folder ]] || { _dovecot_err "manifest: no folder for $id"; return 1; }
		if [[ $folder != INBOX && -z ${seen_folder[$folder]:-} ]]; then
			seen_folder[$folder]=1
			folders+=("$folder")
		fi
		[[ $id == - ]] && continue
		[[ -f $out/$file ]] || { _dovecot_err "manifest: $id: no file $out/$file"; return 1; }
		m_id+=("$id") m_folder+=("$folder") m_flags+=("$flags") m_file+=("$out/$file")
		(( n++ ))
	done < <(tr '\t' '\037' <"$manifest")
	(( n > 0 )) || { _dovecot_err "manifest lists no messages"; return 1; }

	# folders: the auto-created special-use ones exist once listed; create the rest,
	# parents before children (byte order puts "a" before "a/b")
	local existing f
	local -a create=()
	local -A have=()
	existing=$("${doveadm[@]}" mailbox list -u alice 2>&1) ||
		{ _dovecot_err "doveadm mailbox list failed: $existing"; return 1; }
	while IFS= read -r f; do have[$f]=1; done <<<"$existing"
	while IFS= read -r f; do
		[[ -n $f && -z ${have[$f]:-} ]] && create+=("$f")
	done < <(printf '%s\n' "${folders[@]}" | LC_ALL=C sort -u)
	if (( ${#create[@]} )); then
		"${doveadm[@]}" mailbox create -s -u alice "${create[@]}" ||
			{ _dovecot_err "doveadm mailbox create failed"; return 1; }
	fi

	# IMAP names (modified UTF-7) of the message folders, sizes, INTERNALDATEs
	local -a boxes=() sizes=() rcvd=() idates=() out_lines=()
	local -A box_imap=()
	mapfile -t boxes < <(printf '%s\n' "${m_folder[@]}" | LC_ALL=C sort -u)
	mapfile -t out_lines < <(doveadm mailbox mutf7 -8 "${boxes[@]}")
	(( ${#out_lines[@]} == ${#boxes[@]} )) || { _dovecot_err "doveadm mailbox mutf7 failed"; return 1; }
	for i in "${!boxes[@]}"; do box_imap[${boxes[$i]}]=${out_lines[$i]}; done
	mapfile -t sizes < <(stat -c %s -- "${m_file[@]}")
	mapfile -t rcvd < <(_dovecot_received_dates "${m_file[@]}")
	(( ${#sizes[@]} == n && ${#rcvd[@]} == n )) ||
		{ _dovecot_err "could not read sizes/Received dates of the seed files"; return 1; }
	_dovecot_imap_dates rcvd idates || return 1

	# the APPEND stream, and what each tag must answer
	local i uid q resp
	local -A next_uid=() expect=() want_uid=()
	for (( i = 0; i < n; i++ )); do
		folder=${m_folder[$i]}
		uid=$(( ${next_uid[$folder]:-0} + 1 ))
		next_uid[$folder]=$uid
		want_uid[s$i]=$uid
		expect["$folder"$'\t'"$uid"]="${m_id[$i]}"$'\t'"$(_dovecot_sort_words "${m_flags[$i]}")"
	done
	resp=$d/seed-imap.log
	{
		for (( i = 0; i < n; i++ )); do
			q=${box_imap[${m_folder[$i]}]}
			q=${q//\\/\\\\}
			q=${q//\"/\\\"}
			printf 's%d APPEND "%s"' "$i" "$q"
			[[ -n ${m_flags[$i]} ]] && printf ' (%s)' "${m_flags[$i]}"
			[[ -n ${idates[$i]} ]] && printf ' "%s"' "${idates[$i]}"
			printf ' {%d+}\r\n' "${sizes[$i]}"
			cat -- "${m_file[$i]}"
			printf '\r\n'
		done
		printf 'z LOGOUT\r\n'
	} | "${doveadm[@]}" exec imap -u alice >"$resp" 2>"$d/seed-imap.err"
	local tag rest line bad=0
	local -A done_tag=()
	while IFS=' ' read -r tag rest; do
		rest=${rest%$'\r'}
		[[ $tag == s[0-9]* ]] || continue
		done_tag[$tag]=1
		if [[ $rest =~ ^OK\ \[APPENDUID\ [0-9]+\ ([0-9]+)\] ]]; then
			if [[ ${BASH_REMATCH[1]} != "${want_uid[$tag]:-}" ]]; then
				_dovecot_err "seed: ${m_id[${tag#s}]} got UID ${BASH_REMATCH[1]}, expected ${want_uid[$tag]:-?}"
				bad=1
			fi
		else
			_dovecot_err "seed: APPEND of ${m_id[${tag#s}]} to ${m_folder[${tag#s}]} failed: $rest"
			bad=1
		fi
	done <"$resp"
	for (( i = 0; i < n; i++ )); do
		[[ -n ${done_tag[s$i]:-} ]] || { _dovecot_err "seed: no answer to APPEND of ${m_id[$i]}"; bad=1; }
	done
	if (( bad )); then
		cat "$d/seed-imap.err" >&2
		return 1
	fi

	# read everything back and compare with the manifest
	local got key mbox fl sid
	local -A found=()
	got=$("${doveadm[@]}" -f tab fetch -u alice 'mailbox uid flags hdr.x-seed-id' all 2>&1) ||
		{ _dovecot_err "doveadm fetch failed: $got"; return 1; }
	while IFS=$'\x1f' read -r mbox uid fl sid; do
		[[ $mbox == mailbox && $uid == uid ]] && continue        # header line
		key=$mbox$'\t'$uid
		fl=$(_dovecot_sort_words "${fl//\\Recent/}")
		line=$sid$'\t'$fl
		found[$key]=1
		if [[ ${expect[$key]:-} != "$line" ]]; then
			_dovecot_err "seed mismatch at $mbox uid $uid: got '$line', want '${expect[$key]:-<no message>}'"
			bad=1
		fi
	done < <(printf '%s\n' "$got" | tr '\t' '\037')
	for key in "${!expect[@]}"; do
		[[ -n ${found[$key]:-} ]] ||
			{ _dovecot_err "seed message missing: ${key/$'\t'/ uid } (${expect[$key]%%$'\t'*})"; bad=1; }
	done
	(( bad == 0 )) || return 1

	export IMAPGW_TEST_SEED_MANIFEST=$manifest
	_dovecot_write_env "$d"
	_dovecot_err "seeded alice: $n messages, ${#folders[@]} folders besides INBOX, in $(_dovecot_elapsed "$t0") s"
}

# words of $1 (space separated) sorted and joined by single spaces (pure bash: it
# runs twice per message)
_dovecot_sort_words() {
	local -a w
	local i j t
	read -r -a w <<<"$1"
	for (( i = 1; i < ${#w[@]}; i++ )); do
		t=${w[$i]}
		for (( j = i - 1; j >= 0; j-- )); do
			[[ ${w[$j]} > $t ]] || break
			w[j+1]=${w[$j]}
		done
		w[j+1]=$t
	done
	printf '%s' "${w[*]}"
}

# one line per FILE: the date part (after the last ';') of its first Received
# header, unfolded; an empty line when it has none
_dovecot_received_dates() {
	awk '
		function emit(  v) {
			if (!started) return
			v = rcv
			if (v != "") sub(/.*;[ \t]*/, "", v)
			print v
		}
		FNR == 1 { emit(); started = 1; inhdr = 1; rcv = ""; got = 0; cur = 0 }
		!inhdr { next }
		{ sub(/\r$/, "") }
		$0 == "" { inhdr = 0; next }
		/^[ \t]/ { if (cur) rcv = rcv " " $0; next }
		{
			cur = 0
			if (!got && tolower($0) ~ /^received:/) { rcv = $0; got = 1; cur = 1 }
		}
		END { emit() }
	' "$@"
}

# _dovecot_imap_dates IN_ARRAY OUT_ARRAY: RFC 5322 dates -> IMAP date-time strings
# ("04-Mar-2024 09:17:00 +0000"); empty stays empty
_dovecot_imap_dates() {
	local -n _in=$1 _out=$2
	local -a idx=() conv=()
	local i
	_out=()
	for i in "${!_in[@]}"; do
		_out[i]=
		[[ -n ${_in[$i]} ]] && idx+=("$i")
	done
	(( ${#idx[@]} )) || return 0
	mapfile -t conv < <(for i in "${idx[@]}"; do printf '%s\n' "${_in[$i]}"; done |
		TZ=UTC LC_ALL=C date -f - '+%d-%b-%Y %H:%M:%S %z')
	if (( ${#conv[@]} != ${#idx[@]} )); then
		_dovecot_err "bad Received date in the seed messages"
		return 1
	fi
	for i in "${!idx[@]}"; do _out[${idx[$i]}]=${conv[$i]}; done
}

# dovecot_stop DIR — stop the master started by dovecot_start DIR (pid from its pid
# file) and wait until it and its child processes are gone. Safe to call twice.
dovecot_stop() {
	local d=${1:?usage: dovecot_stop DIR} pid t0 i c
	local -a kids=()
	t0=$(_dovecot_now)
	# interrupted right after `dovecot` returned, the daemon may not have written
	# its pid file yet: give it a moment when a start was attempted
	if [[ -e $d/dovecot-start.out && ! -e $d/run/master.pid ]]; then
		for (( i = 0; i < 20; i++ )); do
			[[ -e $d/run/master.pid ]] && break
			sleep 0.05
		done
	fi
	pid=$(_dovecot_master_pid "$d") || return 0
	if _dovecot_pid_gone "$pid"; then
		rm -f "$d/run/master.pid" "$d/dovecot-start.out"
		return 0
	fi
	# make sure the pid is really our master (pid files can go stale)
	if [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) != *"$d/dovecot.conf"* ]]; then
		_dovecot_err "pid $pid in $d/run/master.pid is not our dovecot; not killing it"
		return 1
	fi
	# Disconnect logged-in sessions first (Dovecot's own tool, through this instance's
	# anvil): with a client still connected the master otherwise needs ~6 s to stop.
	doveadm -c "$d/dovecot.conf" kick '*' >/dev/null 2>&1
	mapfile -t kids < <(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ')
	kill -TERM "$pid" 2>/dev/null
	for (( i = 0; i < 200; i++ )); do
		_dovecot_pid_gone "$pid" && break
		sleep 0.05
	done
	if ! _dovecot_pid_gone "$pid"; then
		_dovecot_err "dovecot master $pid ignored SIGTERM for 10 s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null
		sleep 0.1
	fi
	# the master's children notice its exit at once; give them a moment, then insist
	for (( i = 0; i < 100; i++ )); do
		local alive=0
		for c in "${kids[@]}"; do _dovecot_pid_gone "$c" || { alive=1; break; }; done
		(( alive )) || break
		sleep 0.05
	done
	for c in "${kids[@]}"; do
		# still a dovecot process (not a recycled pid)?
		_dovecot_pid_gone "$c" && continue
		[[ $(tr "\\0" " " <"/proc/$c/cmdline" 2>/dev/null) == dovecot* ]] && kill -KILL "$c" 2>/dev/null
	done
	rm -f "$d/run/master.pid" "$d/dovecot-start.out"
	_dovecot_err "dovecot stopped in $(_dovecot_elapsed "$t0") s"
}
