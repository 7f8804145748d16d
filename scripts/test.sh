#!/usr/bin/env bash
# Run the test suite: once on SQLite, then again on PostgreSQL and Redis when
# IDP_TEST_DATABASE_URL / IDP_TEST_REDIS_URL are set. Exit 5 (no tests) is a failure.
set -u
BIN="${VENV:-.venv}/bin"

if [ -x /usr/bin/chromium ]; then
  export IDP_TEST_CHROMIUM=/usr/bin/chromium
else
  echo "NOTICE: no Chromium at /usr/bin/chromium: browser tests will be skipped."
fi

status=0
run() {
  echo "== pytest ($1)"
  shift
  env "$@" "$BIN/python" -m pytest -q -p no:cacheprovider $PYTEST_EXTRA
  rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing"
    rc=1
  fi
  [ "$rc" -ne 0 ] && status=$rc
}

"$BIN/ruff" check . || status=1

PYTEST_EXTRA="" run "SQLite" IDP_TEST_DATABASE_URL= IDP_TEST_REDIS_URL=
if [ -n "${IDP_TEST_DATABASE_URL:-}" ] || [ -n "${IDP_TEST_REDIS_URL:-}" ]; then
  # The browser, live-server, simulator and CLI suites start their own processes on
  # their own SQLite databases whatever the variables say: they ran in the first pass.
  PYTEST_EXTRA="--ignore=tests/browser --ignore=tests/live --ignore=tests/franceconnect_sim --ignore=tests/test_cli.py" \
    run "PostgreSQL/Redis" IDP_TEST_DATABASE_URL="${IDP_TEST_DATABASE_URL:-}" \
    IDP_TEST_REDIS_URL="${IDP_TEST_REDIS_URL:-}"
  # Except the CLI's production runs, which need PostgreSQL (they skip in the first pass).
  PYTEST_EXTRA="tests/test_cli.py -k on_postgresql" \
    run "CLI in production, PostgreSQL" IDP_TEST_DATABASE_URL="${IDP_TEST_DATABASE_URL:-}" \
    IDP_TEST_REDIS_URL="${IDP_TEST_REDIS_URL:-}"
fi
exit $status
