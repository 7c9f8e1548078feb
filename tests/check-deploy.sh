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

# deploy/: HAProxy's own check of deploy/haproxy.cfg (addresses from the
# environment) and of the one in the Kubernetes manifests; the manifests parse.
if command -v haproxy >/dev/null; then
	out=$(IMAPGW_LB_BIND=127.0.0.1:1 IMAPGW_LB_STATS=/nonexistent/haproxy.sock \
		IMAPGW_REPLICA_1=127.0.0.1:2 IMAPGW_REPLICA_2=127.0.0.1:3 IMAPGW_REPLICA_3=127.0.0.1:4 \
		haproxy -c -f "$root/deploy/haproxy.cfg" 2>&1) || fail "haproxy -c deploy/haproxy.cfg: $out"
else
	echo "check-deploy: haproxy is not installed: deploy/haproxy.cfg not checked" >&2
fi
out=$(python3 - "$root/deploy/k8s" <<'PY' 2>&1
import os, subprocess, sys, tempfile, yaml
d = sys.argv[1]
kinds = []
drain = grace = None
for f in sorted(os.listdir(d)):
    for doc in yaml.safe_load_all(open(os.path.join(d, f))):
        kinds.append(doc["kind"])
        if doc["kind"] == "ConfigMap" and "IMAPGW_DRAIN_TIME" in doc["data"]:
            drain = int(doc["data"]["IMAPGW_DRAIN_TIME"])
        if doc["kind"] == "ConfigMap" and "haproxy.cfg" in doc["data"]:
            with tempfile.NamedTemporaryFile("w", suffix=".cfg") as t:
                t.write(doc["data"]["haproxy.cfg"])
                t.flush()
                r = subprocess.run(["haproxy", "-c", "-f", t.name], capture_output=True, text=True)
                if r.returncode:
                    sys.exit(f"{f}: haproxy.cfg: {r.stdout}{r.stderr}")
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "imapgw":
            spec = doc["spec"]["template"]["spec"]
            c = spec["containers"][0]
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness is not /readyz"
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness is not /healthz"
            grace = spec["terminationGracePeriodSeconds"]
# above the drain and the longest request (--request-timeout, 30 s by default)
assert drain is not None and grace is not None, "no IMAPGW_DRAIN_TIME or grace period"
assert grace > drain + 30, f"terminationGracePeriodSeconds {grace} <= drain {drain} + 30 s"
for k in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
    assert k in kinds, f"no {k} in deploy/k8s"
PY
) || fail "deploy/k8s: $out"

(( failed )) && exit 1
echo "check-deploy: systemd unit, docker and deploy files ok"
