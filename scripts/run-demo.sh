#!/usr/bin/env bash
# What `make run` calls: migrate the SQLite database under var/, load the demo data
# when the database is empty, start the demo client "Scolarité Services" on
# http://127.0.0.1:5001 in the background, then serve the provider on
# http://127.0.0.1:5000 in the foreground.
#
# The provider replaces this shell (exec), so that Ctrl-C and signals reach it
# directly. The demo client is this shell's child, hence the provider's: it is
# stopped by the trap if anything fails before the exec, and afterwards stops by
# itself when the provider ends (--exit-with-parent).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
export IDP_VAR_DIR="${IDP_VAR_DIR:-var}"
# The provider and the demo client call each other on 127.0.0.1: never via a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

"$BIN/idp" db upgrade
"$BIN/idp" demo load --if-empty

config="${SAMPLE_CLIENT_CONFIG:-$IDP_VAR_DIR/sample_client.json}"
if [ ! -f "$config" ]; then
  echo "NOTICE: $config is missing (a database loaded by an older version?):" \
       "the demo client's page says how to register it." >&2
fi

"$BIN/python" -m examples.sample_client --host 127.0.0.1 --port 5001 --exit-with-parent &
client_pid=$!
trap 'kill "$client_pid" 2>/dev/null || true' EXIT

echo "Demo client: http://127.0.0.1:5001  (c.durand / Demo-Parent-2026, e.durand3 / Demo-Eleve-2026)"
echo "Provider:    http://127.0.0.1:5000"
trap - EXIT
exec "$BIN/idp" run --host 127.0.0.1 --port 5000
