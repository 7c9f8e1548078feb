#!/usr/bin/env bash
# run-integration.sh [--partial] TESTS [ARGS...]
#
# Runs under tests/with-dovecot.sh: the integration test binary TESTS with ARGS,
# then tests/openapi-check.py on the responses the tests recorded
# ($IMAPGW_TEST_DIR/responses.jsonl, written by tests/support/gateway.c)
# against openapi/openapi.yaml. The checker runs even when tests failed, so
# both reports are seen; fails when either failed. --partial (a filtered run)
# is passed on to the checker: no minimum number of responses.
set -uo pipefail

partial=()
if [[ ${1:-} == --partial ]]; then
	partial=(--partial)
	shift
fi
[[ $# -ge 1 ]] || { echo "usage: $0 [--partial] TESTS [ARGS...]" >&2; exit 2; }
[[ -n ${IMAPGW_TEST_DIR:-} ]] || { echo "run-integration: run under tests/with-dovecot.sh" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
responses=$IMAPGW_TEST_DIR/responses.jsonl
rm -f -- "$responses"

"$@"
tests=$?

"${PYTHON:-python3}" "$root/tests/openapi-check.py" "${partial[@]}" "$responses" \
	"$root/openapi/openapi.yaml"
check=$?

(( tests != 0 )) && exit "$tests"
exit "$check"
