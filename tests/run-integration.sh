#!/usr/bin/env bash
# run-integration.sh [--partial] TESTS [ARGS...]
#
# Runs under tests/with-dovecot.sh: the integration test binary TESTS with ARGS,
# then tests/corpus-content.py (the corpus acceptance test, named
# "corpus/content": run when ARGS hold no --filter=PATTERN or PATTERN matches
# that name), then tests/openapi-check.py on the responses all of them
# recorded ($IMAPGW_TEST_DIR/responses.jsonl, written by
# tests/support/gateway.c and the corpus test) against openapi/openapi.yaml.
# Each step runs even when an earlier one failed, so every report is seen;
# fails when any failed. --partial (a filtered run) is passed on to the
# checker: no minimum number of responses.
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

corpus=0
filter=
for arg in "$@"; do
	[[ $arg == --filter=* ]] && filter=${arg#--filter=}
done
# shellcheck disable=SC2053  # the filter is a glob pattern, as Criterion's
if [[ -z $filter || corpus/content == $filter ]]; then
	"${PYTHON:-python3}" "$root/tests/corpus-content.py"
	corpus=$?
fi

"${PYTHON:-python3}" "$root/tests/openapi-check.py" "${partial[@]}" "$responses" \
	"$root/openapi/openapi.yaml"
check=$?

(( tests != 0 )) && exit "$tests"
(( corpus != 0 )) && exit "$corpus"
exit "$check"
