#!/usr/bin/env bash
# install-deps.sh — install the Debian 12 packages imapgw needs to build and test,
# only those that are missing. Silent and fast when everything is present.
#
# Services are not started by the installation (a temporary policy-rc.d answers 101
# while apt runs): the tests never use the system Dovecot, they start their own
# (tests/with-dovecot.sh). On a systemd host the dovecot unit is still enabled by the
# package and would start at the next boot; stop/disable it yourself if you mind.
set -euo pipefail

packages=(
	build-essential      # gcc, make, libc headers
	clang                # make CC=clang, make fuzz
	libclang-rt-14-dev   # clang's sanitizer and libFuzzer runtimes
	pkg-config
	libmicrohttpd-dev
	libjansson-dev
	libssl-dev
	libcriterion-dev     # unit and integration tests
	libcurl4-openssl-dev # one-click unsubscribe POSTs; the integration tests' HTTP client
	libpsl-dev           # Public Suffix List lookups: DKIM alignment of /senders
	libunistring-dev     # Unicode titlecase and decomposition: the SORT (SUBJECT) key
	publicsuffix         # the list itself, newer than libpsl's built-in copy
	dovecot-imapd        # private test IMAP server (dovecot, doveadm)
	openssl              # test PKI (openssl req/x509), s_client
	wrk                  # make bench
	haproxy              # make test-cluster: replicas behind deploy/haproxy.cfg
	curl                 # make demo's example calls
	procps               # ps (stopping Dovecot and its children)
	iproute2             # ss (free port search)
	python3              # openapi/embed.py, tests/openapi-check.py
	python3-yaml         # openapi/openapi.yaml to JSON
	python3-jsonschema   # tests/openapi-check.py validates responses
	zlib1g-dev           # gzip of JSON answers
	chromium             # renders GET /docs in the integration tests (headless)
	prometheus           # promtool check metrics on /metrics (the service is not started)
)
# Node.js and npm run `npm ci` in tools/ (Redocly CLI, the Redoc bundle):
# Debian's, unless a node and npm are installed already (e.g. NodeSource's,
# whose nodejs package holds npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
(( ${#missing[@]} == 0 )) && exit 0

if [[ $EUID -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (e.g. sudo $0) or install them with apt-get" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2

# Keep package scripts from starting services (Debian's policy-rc.d mechanism),
# unless the administrator already has a policy in place.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# temporary, from imapgw tests/install-deps.sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
