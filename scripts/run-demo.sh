#!/usr/bin/env bash
# What `make run` calls: migrate the SQLite database under var/, load the demo data
# when the database is empty, start the demo client "Scolarité Services" on
# http://127.0.0.1:5001 and the FranceConnect SIMULATOR (a development tool, never
# for production) on http://127.0.0.1:5002 in the background, then serve the provider
# on http://127.0.0.1:5000 in the foreground. Ctrl-C stops all three.
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

# The provider logs in with FranceConnect through the simulator (demo credentials).
export IDP_FC_ISSUER="${IDP_FC_ISSUER:-http://127.0.0.1:5002/api/v2}"
export IDP_FC_CLIENT_ID="${IDP_FC_CLIENT_ID:-idp-demo}"
export IDP_FC_CLIENT_SECRET="${IDP_FC_CLIENT_SECRET:-dev-secret-change-me}"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$BIN/python" -m examples.franceconnect_sim --port 5002 --issuer "$IDP_FC_ISSUER" \
  --client-id "$IDP_FC_CLIENT_ID" --client-secret="$IDP_FC_CLIENT_SECRET" \
  --redirect-uri http://127.0.0.1:5000/federation/franceconnect/retour \
  --post-logout-redirect-uri http://127.0.0.1:5000/federation/franceconnect/deconnexion &
pids+=($!)
"$BIN/python" -m examples.sample_client --host 127.0.0.1 --port 5001 --exit-with-parent &
pids+=($!)

echo "Demo client:            http://127.0.0.1:5001  (s.legrand1 / Demo-EduConnect-2026, j.legrand1 / Demo-EduConnect-2026)"
echo "FranceConnect simulator: http://127.0.0.1:5002  (development tool; test people, password 123)"
echo "Provider:               http://127.0.0.1:5000"
"$BIN/idp" run --host 127.0.0.1 --port 5000
