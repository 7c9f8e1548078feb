#!/usr/bin/env bash
# bench.sh — `make bench`: imapgw's throughput, latency and CPU per request against a
# private Dovecot, beside what the same IMAP work costs Dovecot alone.
#
#   1. A private Dovecot (tests/dovecot-lib.sh) in a temporary directory, with two
#      users whose INBOXes hold 10,000 and 100,000 messages, written straight into
#      their Maildirs by tests/bench/mailgen.c (seconds, not the minutes APPEND
#      would take). Each mailbox is indexed and its cache warmed once (imapbase warm).
#   2. Raw IMAP baseline: one IMAPS session issues exactly the commands imapgw issues
#      for one 50-message page (tests/bench/imapbase.c): a sequence-range FETCH for
#      arrival order; UID SORT RETURN (COUNT PARTIAL) (DATE) + UID FETCH for date
#      order (and, for reference, the full UID SORT (DATE)). Dovecot's CPU per page
#      is read from /proc (the master and all its children, reaped ones included)
#      around the page loop.
#   3. imapgw (--log-level warn, otherwise defaults) on a loopback port; its folder
#      index is loaded with each mailbox first (page requests one after another until
#      /metrics shows it held; the time, bytes per message and RSS go to the notes);
#      wrk for
#      IMAPGW_BENCH_DURATION seconds per case against
#      GET /messages?per_page=50&sort=S&page=<uniform random> (tests/bench/pages.lua),
#      at concurrency 1, 16 and 64, sort arrival and date, for both mailboxes.
#      Per case: requests/s, p50/p99 latency, non-200 answers, imapgw's and Dovecot's
#      CPU per request (utime+stime from /proc before/after), their ratio, and
#      imapgw's CPU per request over the baseline's Dovecot CPU per page.
#
#      The arrival cases run once more through a second imapgw started with
#      --index-max-mb=0 (rows "noindex"; IMAPGW_BENCH_NOINDEX=0 skips them): the
#      notes give the ratios of requests/s and imapgw CPU per request, index on/off.
#
#   4. gzip: the first mailbox, arrival order, concurrency 1, once without and once
#      with Accept-Encoding: gzip (JSON pages above --gzip-min-bytes are
#      compressed, zlib level 1): imapgw's CPU per page either way, the
#      difference (what compressing one page costs) and the bytes per answer.
#
#   5. GET /senders?folders=INBOX on each mailbox, twice (cold, then warm): wall
#      time and CPU of both sides, in the notes.
#   6. Downloads: a user whose INBOX holds one message with a base64 attachment of
#      IMAPGW_BENCH_DOWNLOAD_MB MiB. Baseline: imapbase fetch repeats the UID FETCH
#      imapgw sends (BODY.PEEK[] for the source, BODY.PEEK[2] for the attachment);
#      then wrk on GET /messages/1/raw and /messages/1/attachments/2 at concurrency
#      1 and 4: MB/s, CPU per download on both sides, and imapgw's peak RSS.
#
# The table goes to stdout and build/bench/results.txt; wrk outputs, imapgw's log and
# the run's log to build/bench/. Everything started here is stopped on exit (also on
# Ctrl-C/SIGTERM); the temporary directory is removed unless IMAPGW_BENCH_KEEP=1.
# Loopback addresses only. About 5 minutes with the defaults.
#
# Environment: IMAPGW_BIN (build/imapgw), IMAPGW_BENCH_TOOLS (build/tests/bench:
# mailgen, imapbase), IMAPGW_BENCH_DURATION (10 s per case), IMAPGW_BENCH_SIZES
# ("10000 100000"), IMAPGW_BENCH_CONCURRENCY ("1 16 64"), IMAPGW_BENCH_SORTS
# ("arrival date"; "subject" too), IMAPGW_BENCH_DOWNLOAD_MB (20; 0 skips the downloads),
# IMAPGW_BENCH_NOINDEX (1), IMAPGW_BENCH_KEEP (0).
set -uo pipefail
export LC_NUMERIC=C   # printf and awk with "." decimals

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
imapgw=${IMAPGW_BIN:-build/imapgw}
tools=${IMAPGW_BENCH_TOOLS:-build/tests/bench}
duration=${IMAPGW_BENCH_DURATION:-10}
read -r -a sizes <<<"${IMAPGW_BENCH_SIZES:-10000 100000}"
read -r -a concs <<<"${IMAPGW_BENCH_CONCURRENCY:-1 16 64}"
read -r -a sorts <<<"${IMAPGW_BENCH_SORTS:-arrival date}"
download_mb=${IMAPGW_BENCH_DOWNLOAD_MB:-20}
per_page=50
baseline_seconds=5
lua=$root/tests/bench/pages.lua
out=$root/build/bench

for f in "$imapgw" "$tools/mailgen" "$tools/imapbase"; do
	[[ -x $f ]] || { echo "bench: $f is not built (make bench builds it)" >&2; exit 2; }
done
for c in wrk curl getconf; do
	command -v "$c" >/dev/null || { echo "bench: $c is missing (tests/install-deps.sh)" >&2; exit 2; }
done
imapgw=$(cd "$(dirname "$imapgw")" && pwd)/$(basename "$imapgw")
imapbase=$(cd "$tools" && pwd)/imapbase
mailgen=$(cd "$tools" && pwd)/mailgen
tck=$(getconf CLK_TCK)

mkdir -p "$out" || exit 1
rm -f "$out"/*.log "$out/results.txt"
runlog=$out/bench.log
say() { printf '%s\n' "$*" | tee -a "$runlog" >&2; }

# shellcheck source=SCRIPTDIR/../dovecot-lib.sh
. "$root/tests/dovecot-lib.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/imapgw-bench.XXXXXX") || exit 1
gw_pid=
t_start=$(_dovecot_now)

# shellcheck disable=SC2317  # called from the traps
cleanup() {
	trap '' INT TERM HUP
	trap - EXIT
	local i
	if [[ -n $gw_pid ]] && kill -0 "$gw_pid" 2>/dev/null; then
		kill -TERM "$gw_pid" 2>/dev/null
		for (( i = 0; i < 100; i++ )); do
			kill -0 "$gw_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$gw_pid" 2>/dev/null; then
			say "bench: imapgw ignored SIGTERM for 10 s; sending SIGKILL"
			kill -KILL "$gw_pid" 2>/dev/null
		fi
		wait "$gw_pid" 2>/dev/null
	fi
	dovecot_stop "$dir"
	if [[ ${IMAPGW_BENCH_KEEP:-0} == 1 ]]; then
		say "bench: kept $dir (Dovecot is stopped)"
	else
		rm -rf -- "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

fail() { say "bench: $*"; exit 1; }

# "10000" -> "10k"
label() { (( $1 % 1000 == 0 )) && printf '%dk' $(( $1 / 1000 )) || printf '%d' "$1"; }

# awk arithmetic on the arguments: calc 'a/b' A B
calc() { awk -v a="${2:-0}" -v b="${3:-0}" -v c="${4:-0}" "BEGIN { printf \"%s\", $1 }"; }

dovecot_start "$dir" || exit 1
master=$(_dovecot_master_pid "$dir") || fail "no Dovecot master pid"
doveadm=(doveadm -c "$dir/dovecot.conf")

# ---------------------------------------------------------------- mailboxes
# add_user USER PASSWORD: the same passwd-file line format as dovecot-lib.sh's users.
# Dovecot notices the change of the file on a later lookup (it checks at most once
# a second): wait until it knows the user.
add_user() {
	local i
	printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$1" "$2" "$_dovecot_mail_uid" "$_dovecot_mail_gid" \
		"$dir/home/$1" >>"$dir/users" || exit 1
	for (( i = 0; i < 50; i++ )); do
		"${doveadm[@]}" user "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "Dovecot does not know the new user $1"
}

declare -A user_of=() pass_of=()
for n in "${sizes[@]}"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || fail "IMAPGW_BENCH_SIZES: '$n' is not a message count"
	u=bench$(label "$n") pw=bench-$n-secret
	user_of[$n]=$u pass_of[$n]=$pw
	add_user "$u" "$pw"
	mkdir -p "$dir/home/$u" || exit 1
	t0=$(_dovecot_now)
	"$mailgen" "$dir/home/$u/Maildir" "$n" "$n" >>"$runlog" 2>&1 || fail "mailgen failed for $u"
	chown -R "$_dovecot_mail_uid:$_dovecot_mail_gid" "$dir/home/$u" || exit 1
	say "bench: $u: $n messages written into its Maildir in $(_dovecot_elapsed "$t0") s ($(du -sm "$dir/home/$u" | cut -f1) MB)"
	"${doveadm[@]}" auth test "$u" "$pw" >/dev/null 2>&1 || fail "Dovecot refuses the login of $u"
done

if (( download_mb > 0 )); then
	u=benchdl pw=bench-dl-secret
	add_user "$u" "$pw"
	mkdir -p "$dir/home/$u" && chown "$_dovecot_mail_uid:$_dovecot_mail_gid" "$dir/home/$u" || exit 1
	{
		printf 'From: bench@example.com\r\nTo: benchdl@example.com\r\nSubject: download\r\n'
		printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
		printf -- '--b\r\nContent-Type: text/plain\r\n\r\nThe attachment follows.\r\n--b\r\n'
		printf 'Content-Type: application/octet-stream; name="big.bin"\r\n'
		printf 'Content-Disposition: attachment; filename="big.bin"\r\n'
		printf 'Content-Transfer-Encoding: base64\r\n\r\n'
		head -c $(( download_mb << 20 )) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
		printf -- '--b--\r\n'
	} >"$dir/download.eml" || exit 1
	"${doveadm[@]}" save -u "$u" -m INBOX <"$dir/download.eml" >>"$runlog" 2>&1 ||
		fail "cannot store the download message"
	say "bench: $u: one message of $(( $(stat -c %s "$dir/download.eml") >> 20 )) MB with a $download_mb MiB attachment"
fi

imaps=(127.0.0.1 "$IMAPGW_TEST_IMAPS_PORT" "$IMAPGW_TEST_CA")
for n in "${sizes[@]}"; do
	t0=$(_dovecot_now)
	IMAPBASE_PASSWORD=${pass_of[$n]} "$imapbase" warm "${imaps[@]}" "${user_of[$n]}" >>"$runlog" 2>&1 ||
		fail "indexing/warming ${user_of[$n]} failed (see $runlog)"
	say "bench: ${user_of[$n]}: indexed and cache warmed in $(_dovecot_elapsed "$t0") s"
done

# ---------------------------------------------------------------- baseline
declare -A base_cpu=() base_wall=() base_pages=() base_form=()
base_modes=("${sorts[@]}")
[[ " ${sorts[*]} " == *' date '* ]] && base_modes+=(date-full)   # for reference
for n in "${sizes[@]}"; do
	for s in "${base_modes[@]}"; do
		line=$(IMAPBASE_PASSWORD=${pass_of[$n]} "$imapbase" pages "${imaps[@]}" "${user_of[$n]}" \
			"$s" "$per_page" "$baseline_seconds" 3000 "$master" 2>>"$runlog") ||
			fail "baseline ${user_of[$n]} $s failed (see $runlog)"
		echo "baseline ${user_of[$n]} $s: $line" >>"$runlog"
		declare -A kv=()
		for w in $line; do kv[${w%%=*}]=${w#*=}; done
		k=$n/$s
		base_pages[$k]=${kv[pages]} base_form[$k]=${kv[sort]}
		base_cpu[$k]=$(calc 'a * 1000000 / b / c' "${kv[dovecot_ticks]}" "$tck" "${kv[pages]}")
		base_wall[$k]=$(calc 'a * 1000 / b' "${kv[seconds]}" "${kv[pages]}")
		say "bench: baseline $(label "$n") $s: ${kv[pages]} pages, Dovecot $(printf '%.0f' "${base_cpu[$k]}") µs CPU/page"
	done
done

declare -A dl_base_cpu=() dl_base_mbs=()
dl_cases=(raw:"" attachment:2)
if (( download_mb > 0 )); then
	for dc in "${dl_cases[@]}"; do
		name=${dc%%:*} sec=${dc#*:}
		line=$(IMAPBASE_PASSWORD=bench-dl-secret "$imapbase" fetch "${imaps[@]}" benchdl 1 "$sec" \
			"$baseline_seconds" "$master" 2>>"$runlog") || fail "download baseline $name failed (see $runlog)"
		echo "baseline download $name: $line" >>"$runlog"
		declare -A kv=()
		for w in $line; do kv[${w%%=*}]=${w#*=}; done
		dl_base_cpu[$name]=$(calc 'a * 1000 / b / c' "${kv[dovecot_ticks]}" "$tck" "${kv[fetches]}")
		dl_base_mbs[$name]=$(calc 'a / 1048576 / b' "${kv[bytes]}" "${kv[seconds]}")
		say "bench: baseline download $name: ${kv[fetches]} fetches, $(printf '%.0f' "${dl_base_mbs[$name]}") MB/s, Dovecot $(printf '%.1f' "${dl_base_cpu[$name]}") ms CPU/fetch"
	done
fi

# ---------------------------------------------------------------- imapgw
gwlog=$out/imapgw.log
# start_gw [ARG...]: an imapgw on a new loopback port, its log appended to $gwlog;
# sets gw_pid, port and url
start_gw() {
	local i try
	for (( try = 0; try < 3; try++ )); do  # another process may take the port first
		port=$(_dovecot_pick_port) || exit 1
		"$imapgw" --listen "127.0.0.1:$port" --imap-host 127.0.0.1 --imap-port "$IMAPGW_TEST_IMAPS_PORT" \
			--imap-tls implicit --imap-ca "$IMAPGW_TEST_CA" --log-level warn "$@" >>"$gwlog" 2>&1 &
		gw_pid=$!
		for (( i = 0; i < 100; i++ )); do
			kill -0 "$gw_pid" 2>/dev/null || break
			[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/healthz") == 200 ]] && break
			sleep 0.1
		done
		kill -0 "$gw_pid" 2>/dev/null && break
		wait "$gw_pid" 2>/dev/null
		tail -n 1 "$gwlog" | grep -q 'cannot listen' || fail "imapgw exited at start: $(tail -n 5 "$gwlog")"
	done
	kill -0 "$gw_pid" 2>/dev/null || fail "imapgw exited at start: $(tail -n 5 "$gwlog")"
	(( i < 100 )) || fail "imapgw did not answer /healthz within 10 s"
	url=http://127.0.0.1:$port/messages
}
stop_gw() {
	local i
	kill -TERM "$gw_pid" 2>/dev/null
	for (( i = 0; i < 100; i++ )); do
		kill -0 "$gw_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$gw_pid" 2>/dev/null
	wait "$gw_pid" 2>/dev/null
	gw_pid=
}
: >"$gwlog"
start_gw

# CPU ticks of Dovecot's whole instance and of imapgw
ticks() { "$imapbase" cpu "$1"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

# wait until Dovecot is idle again (requests still queued in imapgw when wrk stops
# are served to the end: suspended connections do not notice the client leaving)
quiesce() {
	local a b i
	a=$(ticks "$master")
	for (( i = 0; i < 60; i++ )); do
		sleep 0.5
		b=$(ticks "$master")
		(( b - a <= 1 )) && return 0
		a=$b
	done
	say "bench: Dovecot still busy 30 s after the case ended"
}

run_wrk() {  # run_wrk LOGFILE THREADS CONNECTIONS SECONDS
	wrk -t"$2" -c"$3" -d"$4"s --latency --timeout 15s -s "$lua" "$url" >"$1" 2>&1
}

# a value of /metrics (0 when absent)
metric() { curl -s --max-time 5 "http://127.0.0.1:$port/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'; }

# Load the mailbox into imapgw's folder index before measuring (the cases are
# then "warm"): plain page requests one after another until the index holds
# the mailbox, at most 300 s. Skipped when the index is off.
declare -A first_page=()
index_warm() {  # index_warm AUTH MESSAGES
	local t want=$(( $(metric imapgw_index_messages) + $2 )) t0 i=0 held
	(( $(metric imapgw_index_bytes_max) > 0 )) || return 0
	t0=$(_dovecot_now)
	while :; do
		t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 30 -H "Authorization: Basic $1" \
			"$url?per_page=$per_page") || break
		(( i == 0 )) && first_page[$2/index]=$t
		i=$(( i + 1 ))
		held=$(metric imapgw_index_messages)
		(( held >= want )) && break
		(( $(_dovecot_now) - t0 > 300000000 )) && break
	done
	local bytes msgs
	bytes=$(metric imapgw_index_bytes) msgs=$(metric imapgw_index_messages)
	notes+=("index warm-up $(label "$2"): $i requests, $(_dovecot_elapsed "$t0") s; index holds $msgs messages in $(( bytes / 1048576 )) MB ($(calc '(b > 0) ? a / b : 0' "$bytes" "$msgs" | cut -d. -f1) B per message), imapgw RSS $(( $(status_kb "$gw_pid" VmRSS) / 1024 )) MB")
	say "bench: ${notes[-1]}"
}

# One measured case: wrk against $url for $duration s at concurrency C, with
# the CPU of imapgw ($gw_pid) and Dovecot around it; a row of the table.
run_case() {  # run_case N SORT C LABEL (label: the sort column)
	local n=$1 s=$2 c=$3 lbl=$4 f t rc r0 r1 g0 g1 d0 d1 rss hwm thr line req rps gcpu dcpu ratio bratio errs errtxt loglines loglines0
	f=$out/wrk-${user_of[$n]}-$lbl-c$c.log
	t=$(( c < 2 ? 1 : 2 ))
	loglines0=$(wc -l <"$gwlog")
	r0=$(metric 'imapgw_index_revalidations_total{kind="status"}')
	g0=$(ticks "$gw_pid") d0=$(ticks "$master")
	run_wrk "$f" "$t" "$c" "$duration"
	rc=$?
	g1=$(ticks "$gw_pid") d1=$(ticks "$master")
	kill -0 "$gw_pid" 2>/dev/null || fail "imapgw died during ${user_of[$n]} $lbl c=$c: $(tail -n 20 "$gwlog")"
	r1=$(metric 'imapgw_index_revalidations_total{kind="status"}')
	rss=$(status_kb "$gw_pid" VmRSS) hwm=$(status_kb "$gw_pid" VmHWM)
	thr=$(status_kb "$gw_pid" Threads)
	line=$(grep '^BENCH ' "$f")
	if (( rc != 0 )) || [[ -z $line ]]; then
		say "bench: wrk failed for ${user_of[$n]} $lbl c=$c: $(tail -n 3 "$f")"
		rows+=("$(label "$n")|$lbl|$c|wrk failed|||||||||")
		return
	fi
	declare -A kv=()
	for w in ${line#BENCH }; do kv[${w%%=*}]=${w#*=}; done
	req=${kv[requests]}
	(( req > 0 )) || req=0
	rps=$(calc 'a * 1000000 / b' "$req" "${kv[duration_us]}")
	gcpu=$(calc '(b > 0) ? a * 1000000 / c / b : 0' "$(( g1 - g0 ))" "$req" "$tck")
	dcpu=$(calc '(b > 0) ? a * 1000000 / c / b : 0' "$(( d1 - d0 ))" "$req" "$tck")
	ratio=$(calc '(b > 0) ? a / b : 0' "$gcpu" "$dcpu")
	bratio=$(calc '(b > 0) ? a / b : 0' "$gcpu" "${base_cpu[$n/$s]:-0}")
	errs=$(( kv[non200] + kv[connect_err] + kv[read_err] + kv[write_err] + kv[timeouts] ))
	errtxt=${kv[non200]}
	[[ ${kv[codes]} != - ]] && errtxt="${kv[non200]} (${kv[codes]})"
	(( errs > kv[non200] )) &&
		errtxt+=" sock:${kv[connect_err]}/${kv[read_err]}/${kv[write_err]}/${kv[timeouts]}"
	loglines=$(( $(wc -l <"$gwlog") - loglines0 ))
	(( loglines > 0 )) && notes+=("$(label "$n") $lbl c=$c: imapgw logged $loglines warn/error lines, e.g. $(tail -n "$loglines" "$gwlog" | head -n 1 | cut -c1-300)")
	rows+=("$(label "$n")|$lbl|$c|$rps|$(calc 'a / 1000' "${kv[p50_us]}")|$(calc 'a / 1000' "${kv[p99_us]}")|$errtxt|$gcpu|$dcpu|$ratio|$bratio|$(( rss / 1024 ))/$(( hwm / 1024 ))|$thr|$req")
	rps_of[$n/$lbl/$c]=$rps gcpu_of[$n/$lbl/$c]=$gcpu
	(( r1 > r0 )) && notes+=("$(label "$n") $lbl c=$c: $(( r1 - r0 )) revalidation rounds (NOOP + STATUS) for $req requests")
	say "bench: $(label "$n") $lbl c=$c: $req requests, $(printf '%.1f' "$rps") req/s, p50 $(calc 'a / 1000' "${kv[p50_us]}") ms, p99 $(calc 'a / 1000' "${kv[p99_us]}") ms, non-200 ${kv[non200]}"
}

rows=()
notes=()
declare -A rps_of=() gcpu_of=()
for n in "${sizes[@]}"; do
	u=${user_of[$n]}
	export BENCH_AUTH
	BENCH_AUTH=$(printf '%s:%s' "$u" "${pass_of[$n]}" | base64 -w0)
	export BENCH_PAGES=$(( (n + per_page - 1) / per_page )) BENCH_PER_PAGE=$per_page
	index_warm "$BENCH_AUTH" "$n"
	for s in "${sorts[@]}"; do
		export BENCH_SORT=$s
		# fill the session pool and the caches on both sides; not measured
		run_wrk "$out/warmup-$u-$s.log" 1 4 2 || fail "wrk failed: $(tail -n 3 "$out/warmup-$u-$s.log")"
		quiesce
		for c in "${concs[@]}"; do
			run_case "$n" "$s" "$c" "$s"
			quiesce
		done
	done
done

# The same arrival cases through a second imapgw with --index-max-mb=0 (every
# page asked of Dovecot), for the ratios index/no index in this one run.
if [[ ${IMAPGW_BENCH_NOINDEX:-1} != 0 && " ${sorts[*]} " == *' arrival '* ]]; then
	main_pid=$gw_pid main_port=$port
	start_gw --index-max-mb=0
	export BENCH_SORT=arrival
	for n in "${sizes[@]}"; do
		BENCH_AUTH=$(printf '%s:%s' "${user_of[$n]}" "${pass_of[$n]}" | base64 -w0)
		export BENCH_AUTH BENCH_PAGES=$(( (n + per_page - 1) / per_page ))
		first_page[$n/noindex]=$(curl -s -o /dev/null -w '%{time_total}' --max-time 30 \
			-H "Authorization: Basic $BENCH_AUTH" "$url?per_page=$per_page")
		notes+=("$(label "$n") first page of a cold folder (login included): $(calc 'a * 1000' "${first_page[$n/index]:-0}") ms with the index, $(calc 'a * 1000' "${first_page[$n/noindex]:-0}") ms with --index-max-mb=0")
		run_wrk "$out/warmup-${user_of[$n]}-noindex.log" 1 4 2 || fail "wrk failed (no index)"
		quiesce
		for c in "${concs[@]}"; do
			run_case "$n" arrival "$c" noindex
			quiesce
			a=${rps_of[$n/arrival/$c]:-0} b=${rps_of[$n/noindex/$c]:-0}
			notes+=("$(label "$n") arrival c=$c: index on/off in this run: $(calc '(b > 0) ? a / b : 0' "$a" "$b" | cut -c1-5)x the requests/s, $(calc '(b > 0) ? a / b : 0' "${gcpu_of[$n/arrival/$c]:-0}" "${gcpu_of[$n/noindex/$c]:-0}" | cut -c1-5)x the imapgw CPU per request")
		done
	done
	stop_gw
	# The cold first page again, fairly: a fresh imapgw for each request,
	# with and without the index taking turns (the first figures above come
	# from different moments of the run), five rounds per mailbox.
	for n in "${sizes[@]}"; do
		BENCH_AUTH=$(printf '%s:%s' "${user_of[$n]}" "${pass_of[$n]}" | base64 -w0)
		declare -A cold=([index]="" [noindex]="")
		for round in 1 2 3 4 5; do
			for mode in index noindex; do
				if [[ $mode == index ]]; then start_gw; else start_gw --index-max-mb=0; fi
				t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 30 \
					-H "Authorization: Basic $BENCH_AUTH" "$url?per_page=$per_page")
				cold[$mode]+="$(calc 'a * 1000' "$t" | cut -d. -f1) "
				stop_gw
			done
		done
		med() { tr ' ' '\n' <<<"$1" | grep . | sort -n | sed -n 3p; }
		notes+=("$(label "$n") cold first page, a fresh imapgw each time, taking turns: with the index ${cold[index]}ms (median $(med "${cold[index]}")), with --index-max-mb=0 ${cold[noindex]}ms (median $(med "${cold[noindex]}"))")
		say "bench: ${notes[-1]}"
	done
	gw_pid=$main_pid port=$main_port url=http://127.0.0.1:$port/messages
fi

# ---------------------------------------------------------------- gzip
gz_rows=()
if (( ${#sizes[@]} )); then
	n=${sizes[0]}
	BENCH_AUTH=$(printf '%s:%s' "${user_of[$n]}" "${pass_of[$n]}" | base64 -w0)
	export BENCH_AUTH BENCH_SORT=arrival BENCH_PAGES=$(( (n + per_page - 1) / per_page ))
	for gz in 0 1; do
		export BENCH_GZIP=$gz
		run_wrk "$out/warmup-gzip$gz.log" 1 1 2 || fail "wrk failed: $(tail -n 3 "$out/warmup-gzip$gz.log")"
		quiesce
		f=$out/wrk-gzip$gz.log
		g0=$(ticks "$gw_pid")
		run_wrk "$f" 1 1 "$duration"
		g1=$(ticks "$gw_pid")
		line=$(grep '^BENCH ' "$f")
		[[ -n $line ]] || { say "bench: wrk failed for gzip=$gz"; continue; }
		declare -A kv=()
		for w in ${line#BENCH }; do kv[${w%%=*}]=${w#*=}; done
		req=${kv[requests]}
		gcpu=$(calc '(b > 0) ? a * 1000000 / c / b : 0' "$(( g1 - g0 ))" "$req" "$tck")
		bytes=$(calc '(b > 0) ? a / b : 0' "${kv[bytes]}" "$req")
		gz_rows+=("$gz|$req|$(calc 'a * 1000000 / b' "$req" "${kv[duration_us]}")|$(calc 'a / 1000' "${kv[p50_us]}")|$gcpu|$bytes|${kv[non200]}")
		say "bench: gzip=$gz: $req pages, imapgw $(printf '%.0f' "$gcpu") µs CPU/page, $(printf '%.0f' "$bytes") bytes/answer"
	done
	unset BENCH_GZIP
fi

# GET /senders over each whole mailbox: the header scan, twice in a row ("cold":
# Dovecot's cache has not served those header fields yet; "warm": the second
# scan). Wall time, and imapgw's and Dovecot's CPU, go to the notes.
for n in "${sizes[@]}"; do
	u=${user_of[$n]}
	auth=$(printf '%s:%s' "$u" "${pass_of[$n]}" | base64 -w0)
	for pass in cold warm; do
		g0=$(ticks "$gw_pid") d0=$(ticks "$master")
		res=$(curl -s -o "$out/senders-$u-$pass.json" -w '%{http_code} %{time_total}' --max-time 300 \
			-H "Authorization: Basic $auth" "http://127.0.0.1:$port/senders?folders=INBOX&per_page=5")
		g1=$(ticks "$gw_pid") d1=$(ticks "$master")
		groups=$(grep -o '"total":[0-9]*' "$out/senders-$u-$pass.json" | head -n1 | cut -d: -f2)
		notes+=("GET /senders $(label "$n") $pass: HTTP ${res% *}, ${res#* } s, ${groups:-?} groups; imapgw CPU $(calc 'a * 1000 / b' "$(( g1 - g0 ))" "$tck") ms, Dovecot CPU $(calc 'a * 1000 / b' "$(( d1 - d0 ))" "$tck") ms")
		say "bench: ${notes[-1]}"
		quiesce
	done
done

dl_rows=()
if (( download_mb > 0 )); then
	export BENCH_AUTH
	BENCH_AUTH=$(printf '%s:%s' benchdl bench-dl-secret | base64 -w0)
	for dc in "${dl_cases[@]}"; do
		name=${dc%%:*}
		if [[ $name == raw ]]; then export BENCH_PATH=/messages/1/raw
		else export BENCH_PATH=/messages/1/attachments/2; fi
		run_wrk "$out/warmup-dl-$name.log" 1 1 2 || fail "wrk failed: $(tail -n 3 "$out/warmup-dl-$name.log")"
		quiesce
		for c in 1 4; do
			f=$out/wrk-dl-$name-c$c.log
			g0=$(ticks "$gw_pid") d0=$(ticks "$master")
			run_wrk "$f" 1 "$c" "$duration"
			g1=$(ticks "$gw_pid") d1=$(ticks "$master")
			hwm=$(status_kb "$gw_pid" VmHWM)
			line=$(grep '^BENCH ' "$f")
			[[ -n $line ]] || { say "bench: wrk failed for download $name c=$c"; continue; }
			declare -A kv=()
			for w in ${line#BENCH }; do kv[${w%%=*}]=${w#*=}; done
			req=${kv[requests]}
			mbs=$(calc 'a / 1048576 / (b / 1000000)' "${kv[bytes]}" "${kv[duration_us]}")
			gcpu=$(calc '(b > 0) ? a * 1000 / c / b : 0' "$(( g1 - g0 ))" "$req" "$tck")
			dcpu=$(calc '(b > 0) ? a * 1000 / c / b : 0' "$(( d1 - d0 ))" "$req" "$tck")
			dl_rows+=("$name|$c|$req|$mbs|$(calc 'a / 1000' "${kv[p50_us]}")|$gcpu|$dcpu|$(calc '(b > 0) ? a / b : 0' "$gcpu" "${dl_base_cpu[$name]}")|$(( hwm / 1024 ))|${kv[non200]}")
			say "bench: download $name c=$c: $req downloads, $(printf '%.0f' "$mbs") MB/s"
			quiesce
		done
	done
	unset BENCH_PATH
fi

# ---------------------------------------------------------------- report
{
	echo "imapgw make bench — $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) cores, Dovecot $(dovecot --version | cut -d' ' -f1), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
	echo "imapgw: --log-level warn, all else default ($("$imapgw" --help | awk '/--workers|--pool-per-user|--http-threads/ {n=$1; getline; sub(/.*default: /, ""); sub(/;.*/, ""); printf "%s %s  ", n, $0}'))"
	echo "wrk: ${duration} s per case, GET /messages?per_page=$per_page&sort=S&page=<uniform 1..pages>, Basic auth, one user per mailbox; wrk, imapgw and Dovecot share the machine"
	echo "CPU: utime+stime from /proc (clock tick $(( 1000 / tck )) ms); Dovecot = master + all its processes (imap, imap-login with TLS, auth, ...)"
	echo
	echo "Raw IMAP baseline: one IMAPS session to Dovecot, the commands imapgw sends for one page:"
	echo "  arrival    FETCH <seq range> <summary items>"
	echo "  date       UID SORT RETURN (COUNT PARTIAL a:b) (DATE) UTF-8 ALL + UID FETCH <50 uids> <summary items>"
	echo "             (full UID SORT if the server refuses PARTIAL; the form column says which ran)"
	echo "  date-full  UID SORT (DATE) UTF-8 ALL (every UID) + the same UID FETCH, for reference"
	printf '%-8s %-10s %-8s %7s %18s %14s\n' mailbox sort form pages "Dovecot CPU/page" "wall/page"
	for n in "${sizes[@]}"; do
		for s in "${base_modes[@]}"; do
			printf '%-8s %-10s %-8s %7s %15.0f µs %11.2f ms\n' "$(label "$n")" "$s" "${base_form[$n/$s]}" \
				"${base_pages[$n/$s]}" "${base_cpu[$n/$s]}" "${base_wall[$n/$s]}"
		done
	done
	echo
	echo "Through imapgw (CPU in µs per request; gw/dc = imapgw CPU / Dovecot CPU in the same case;"
	echo "gw/base = imapgw CPU per request / baseline Dovecot CPU per page; RSS = imapgw VmRSS/VmHWM MB after the case)"
	printf '%-7s %-7s %4s %8s %8s %9s %7s %7s %8s %6s %7s %9s %4s  %s\n' \
		mailbox sort conc 'req/s' 'p50 ms' 'p99 ms' requests 'gw CPU' 'dc CPU' 'gw/dc' 'gw/base' 'RSS MB' thr non-2xx
	for r in "${rows[@]}"; do
		IFS='|' read -r m s c rps p50 p99 err g d ra br rss thr req <<<"$r"
		if [[ $rps == 'wrk failed' ]]; then
			printf '%-7s %-7s %4s  wrk failed (see build/bench/wrk-*.log)\n' "$m" "$s" "$c"
			continue
		fi
		printf '%-7s %-7s %4s %8.1f %8.1f %9.1f %7s %7.0f %8.0f %6.2f %7.2f %9s %4s  %s\n' \
			"$m" "$s" "$c" "$rps" "$p50" "$p99" "$req" "$g" "$d" "$ra" "$br" "$rss" "$thr" "$err"
	done
	if (( ${#gz_rows[@]} == 2 )); then
		echo
		echo "gzip of JSON pages ($(label "${sizes[0]}"), arrival, concurrency 1, per_page=$per_page): without and with"
		echo "Accept-Encoding: gzip. bytes = answer bytes on the wire, headers included."
		printf '%-9s %9s %8s %8s %11s %10s %s
' coding pages 'req/s' 'p50 ms' 'gw CPU µs' bytes non-2xx
		for r in "${gz_rows[@]}"; do
			IFS='|' read -r gz req rps p50 g b bad <<<"$r"
			printf '%-9s %9s %8.1f %8.2f %11.0f %10.0f %s
' "$( ((gz)) && echo gzip || echo identity)" \
				"$req" "$rps" "$p50" "$g" "$b" "$bad"
		done
		IFS='|' read -r _ _ _ _ g0 b0 _ <<<"${gz_rows[0]}"
		IFS='|' read -r _ _ _ _ g1 b1 _ <<<"${gz_rows[1]}"
		echo "gzip costs $(printf '%.0f' "$(calc 'a - b' "$g1" "$g0")") µs of imapgw CPU per page and saves $(printf '%.0f' "$(calc '(a > 0) ? 100 - b * 100 / a : 0' "$b0" "$b1")") % of the bytes."
	fi
	if (( ${#dl_rows[@]} )); then
		echo
		echo "Downloads of one message with a $download_mb MiB base64 attachment (raw: GET /messages/1/raw,"
		echo "the whole source; attachment: GET /messages/1/attachments/2, decoded). Baseline: the same"
		echo "UID FETCH repeated on one IMAPS session: raw $(printf '%.0f' "${dl_base_mbs[raw]:-0}") MB/s, Dovecot $(printf '%.1f' "${dl_base_cpu[raw]:-0}") ms CPU/fetch;"
		echo "attachment $(printf '%.0f' "${dl_base_mbs[attachment]:-0}") MB/s (encoded), Dovecot $(printf '%.1f' "${dl_base_cpu[attachment]:-0}") ms CPU/fetch."
		echo "CPU in ms per download; gw/base = imapgw CPU / baseline Dovecot CPU per fetch; HWM = imapgw peak RSS MB"
		printf '%-10s %4s %9s %8s %8s %8s %8s %8s %6s %s\n' what conc downloads 'MB/s' 'p50 ms' 'gw CPU' 'dc CPU' gw/base HWM non-2xx
		for r in "${dl_rows[@]}"; do
			IFS='|' read -r w c req mbs p50 g d br hwm bad <<<"$r"
			printf '%-10s %4s %9s %8.0f %8.1f %8.1f %8.1f %8.2f %6s %s\n' "$w" "$c" "$req" "$mbs" "$p50" "$g" "$d" "$br" "$hwm" "$bad"
		done
	fi
	if (( ${#notes[@]} )); then
		echo
		echo "Notes:"
		printf '  %s\n' "${notes[@]}"
	fi
	echo
	echo "Whole run: $(_dovecot_elapsed "$t_start") s. Logs: build/bench/ (wrk-*.log, imapgw.log, bench.log)"
} | tee "$out/results.txt"
