#!/usr/bin/env bash
# events.sh — `make bench-events`: what watched folders cost imapgw while idle.
#
# Run under tests/with-dovecot.sh (the private Dovecot's IMAPGW_TEST_* settings).
# imapgw on a free loopback port, ivan's mailbox with N folders (Bench1..BenchN,
# IMAPGW_BENCH_WATCHED, 40 by default), then one `curl -N` GET /events stream
# per folder: each is one watched folder holding one IMAP session in IDLE. Reported:
# imapgw's RSS before and after (the difference per watched folder, stream
# included) and its CPU time over IMAPGW_BENCH_IDLE seconds (30) of silence.
# Everything started here is stopped on exit, by PID.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
imapgw=${IMAPGW_BIN:-$root/build/imapgw}
n=${IMAPGW_BENCH_WATCHED:-40}
idle=${IMAPGW_BENCH_IDLE:-30}
user=ivan pass=ivan-secret
pids=()
gw=

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[[ -n $gw ]] && kill -TERM "$gw" 2>/dev/null && wait "$gw" 2>/dev/null
}
trap cleanup EXIT

port=
for _ in $(seq 100); do
	p=$(( 23000 + RANDOM % 2000 ))
	[[ -z $(ss -Hltn "sport = :$p" 2>/dev/null) ]] && { port=$p; break; }
done
[[ -n $port ]] || { echo "events bench: no free port" >&2; exit 1; }
base=http://127.0.0.1:$port
log=$(mktemp "${TMPDIR:-/tmp}/imapgw-events-bench.XXXXXX") || exit 1
"$imapgw" --listen "127.0.0.1:$port" --imap-host 127.0.0.1 --imap-port "$IMAPGW_TEST_IMAPS_PORT" \
	--imap-ca "$IMAPGW_TEST_CA" --pool-per-user 64 --pool-max 256 --events-max-per-user 1000 \
	--events-heartbeat 3600 --log-level warn 2>"$log" &
gw=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

rss() { awk '/^VmRSS/ {print $2}' "/proc/$gw/status"; }            # KiB
cpu() { awk '{print $14 + $15}' "/proc/$gw/stat"; }                 # clock ticks
tck=$(getconf CLK_TCK)

for i in $(seq "$n"); do
	curl -s -o /dev/null -u "$user:$pass" -H 'Content-Type: application/json' \
		-d "{\"path\":\"Bench$i\"}" "$base/folders"
done
curl -s -o /dev/null -u "$user:$pass" "$base/messages?folder=Bench1"   # a warm pool and caches
sleep 1
rss0=$(rss)
for i in $(seq "$n"); do
	curl -s -N -o /dev/null -u "$user:$pass" "$base/events?folders=Bench$i" &
	pids+=($!)
done
for _ in $(seq 300); do
	idling=$(curl -s "$base/metrics" | awk '/^imapgw_events_watches_idling / {print $2}')
	[[ ${idling:-0} -ge $n ]] && break
	sleep 0.1
done
sleep 2
rss1=$(rss)
c0=$(cpu)
sleep "$idle"
c1=$(cpu)
rss2=$(rss)
echo "events bench: $n watched folders in IDLE (one stream each), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  imapgw RSS: ${rss0} KiB before, ${rss1} KiB with them, ${rss2} KiB after ${idle} s"
awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "  per watched folder: %.1f KiB\n", (b - a) / n }'
awk -v c0="$c0" -v c1="$c1" -v t="$tck" -v s="$idle" \
	'BEGIN { printf "  CPU while idle: %.3f s in %d s (%.4f %%)\n", (c1 - c0) / t, s, 100 * (c1 - c0) / t / s }'
# the same number of streams more, all on Bench1: they share its watch, so
# this is what a stream alone costs (its HTTP connection and buffer)
for i in $(seq "$n"); do
	curl -s -N -o /dev/null -u "$user:$pass" "$base/events?folders=Bench1" &
	pids+=($!)
done
for _ in $(seq 300); do
	streams=$(curl -s "$base/metrics" | awk '/^imapgw_events_streams / {print $2}')
	[[ ${streams:-0} -ge $((2 * n)) ]] && break
	sleep 0.1
done
sleep 2
rss3=$(rss)
awk -v a="$rss2" -v b="$rss3" -v n="$n" 'BEGIN { printf "  per stream on a shared watch: %.1f KiB\n", (b - a) / n }'
awk -v a="$rss0" -v b="$rss1" -v c="$rss2" -v d="$rss3" -v n="$n" \
	'BEGIN { printf "  per watch alone (IMAP session and thread): %.1f KiB\n", ((b - a) - (d - c)) / n }'
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
pids=()
for i in $(seq "$n"); do
	curl -s -o /dev/null -u "$user:$pass" -X DELETE "$base/folders/Bench$i?force=true"
done
rm -f "$log"
