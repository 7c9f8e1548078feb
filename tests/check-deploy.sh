#!/usr/bin/env bash
# check-deploy.sh IMAPGW — the deployment files, as far as this machine can check them
# (part of make test):
#   - systemd/imapgw.service through `systemd-analyze verify` (when systemd is
#     installed), with ExecStart pointed at the built binary; any complaint fails;
#   - docker/: what has gone wrong there before, and each file the Dockerfile
#     copies exists (no Docker engine is needed).
set -uo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 IMAPGW" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
failed=0
fail() { echo "check-deploy: $*" >&2; failed=1; }

if command -v systemd-analyze >/dev/null; then
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf -- "$tmp"' EXIT
	sed "s#^ExecStart=.*#ExecStart=$bin#" "$root/systemd/imapgw.service" >"$tmp/imapgw.service"
	out=$(systemd-analyze verify "$tmp/imapgw.service" 2>&1)
	rc=$?
	if (( rc != 0 )) || [[ -n $out ]]; then
		fail "systemd-analyze verify systemd/imapgw.service (exit $rc): $out"
	fi
	for key in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= \
	           MemoryDenyWriteExecute=yes SystemCallFilter=@system-service; do
		grep -qx "$key" "$root/systemd/imapgw.service" || fail "systemd/imapgw.service lacks $key"
	done
else
	echo "check-deploy: systemd-analyze is not installed: systemd/imapgw.service not verified" >&2
fi

df=$root/docker/Dockerfile compose=$root/docker/compose.yaml
# The gateway's ENTRYPOINT must leave --listen to IMAPGW_LISTEN (a flag wins over it).
grep -E '^ENTRYPOINT \["/usr/local/bin/imapgw"' "$df" | grep -q -- '--listen' &&
	fail "docker/Dockerfile: the imapgw ENTRYPOINT hard-codes --listen (IMAPGW_LISTEN would be ignored)"
grep -q '^ENV IMAPGW_LISTEN=0.0.0.0:8080' "$df" || fail "docker/Dockerfile: no ENV IMAPGW_LISTEN"
grep -q '/readyz' "$df" || fail "docker/Dockerfile: HEALTHCHECK does not ask /readyz"
grep -q 'strip' "$df" || fail "docker/Dockerfile: the binary is not stripped"
for key in 'read_only: true' 'no-new-privileges:true' 'cap_drop: [ALL]' 'mem_limit:' 'pids_limit:'; do
	grep -qF -- "$key" "$compose" || fail "docker/compose.yaml lacks $key"
done
while read -r src; do
	[[ -e $root/$src ]] || fail "docker/Dockerfile copies $src, which does not exist"
done < <(grep -E '^COPY ' "$df" | grep -v -- '--from=' | grep -v '<<' \
         | sed -E 's/^COPY( --[a-z]+=[^ ]+)* //' | awk '{ for (i = 1; i < NF; i++) print $i }')

(( failed )) && exit 1
echo "check-deploy: systemd unit and docker files ok"
