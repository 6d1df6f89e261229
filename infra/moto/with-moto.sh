#!/usr/bin/env bash
# Runs a command with a moto server of its own: starts infra/moto/server.py on a free port,
# exports its URL as LEARNERS_TEST_MOTO_URL (and AWS_ENDPOINT_URL plus dummy credentials for
# tools), runs the command, and stops the server whatever happens.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
port_file="$(mktemp)"
rm -f "$port_file"
"$root/.venv/bin/python" "$root/infra/moto/server.py" --port 0 --port-file "$port_file" >/dev/null 2>"$root/target/moto.log" &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -f "$port_file"' EXIT
for _ in $(seq 1 200); do
  [ -s "$port_file" ] && break
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto server failed to start; see target/moto.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$port_file" ] || { echo "moto server did not start within 20 s" >&2; exit 1; }
url="$(cat "$port_file")"
echo "moto server: $url (log: target/moto.log)" >&2
export LEARNERS_TEST_MOTO_URL="$url" AWS_ENDPOINT_URL="$url"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}" AWS_REGION="${AWS_REGION:-us-east-1}"
"$@"
