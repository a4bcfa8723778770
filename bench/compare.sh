#!/usr/bin/env bash
# Side-by-side benchmark: Pallas and fast-agent serving the same agent (examples/bench/), with
# the same downstream server (examples/notes_server) and the same simulated Bedrock upstream
# (`pallas simulate`), driven by the same load generator (examples/loadgen --url) at several
# client counts. Prints requests/s, p50 and p99 of both and their ratio, start-up time and
# peak RSS. Not part of CI: it installs fast-agent from PyPI and runs for minutes.
#
#   bench/compare.sh                      # 1 8 32 64 clients, 15 s each after 3 s warm-up
#   CLIENTS="1 16" DURATION=10 bench/compare.sh
#
# Needs Python >= 3.12 for fast-agent (PYTHON=/path/to/python3.13 to choose one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CLIENTS=${CLIENTS:-"1 8 32 64"}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
# fast-agent answers a few calls per second: at 64 clients one call waits ~30 s, so a window
# shorter than that measures nothing. Raise DURATION with the client count.
CALL_TIMEOUT=${CALL_TIMEOUT:-180}
FAST_AGENT_VERSION=${FAST_AGENT_VERSION:-0.10.40}
VENV=${VENV:-$root/target/bench/fast-agent-$FAST_AGENT_VERSION}
MESSAGE="Please call notes__now and tell me the time"

find_python() {
  local p
  for p in "${PYTHON:-}" python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python \
    "$HOME"/.pyenv/versions/3.12*/bin/python; do
    [ -n "$p" ] && command -v "$p" >/dev/null 2>&1 || continue
    if "$p" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# Waits until FILE contains PATTERN (or the process PID died), for at most 60 s.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3
  for _ in $(seq 600); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited:"; tail -n 20 "$file"; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$pattern' in $file"
  return 1
}

wait_for_port() {
  local port=$1 pid=$2
  for _ in $(seq 1200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

now_ms() { date +%s%3N; }

# Every loadgen report and server log stays here for a look afterwards.
work=$root/target/bench/compare-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== building Pallas, the notes server and loadgen (release)"
cargo build --release --quiet --bin pallas --example notes_server --example loadgen
pallas=$root/target/release/pallas
notes=$root/target/release/examples/notes_server
loadgen=$root/target/release/examples/loadgen

python=$(find_python) || { echo "fast-agent needs Python >= 3.12; set PYTHON=/path/to/python3.13"; exit 1; }
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/pip" show fast-agent-mcp 2>/dev/null | grep -q "^Version: $FAST_AGENT_VERSION$"; then
  echo "== installing fast-agent-mcp==$FAST_AGENT_VERSION into $VENV ($python)"
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "fast-agent-mcp==$FAST_AGENT_VERSION" boto3
fi

echo "== simulated Bedrock upstream"
sim_port=$(free_port)
"$pallas" simulate --port "$sim_port" >"$work/simulator.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
wait_for_line "$work/simulator.log" "listening" "$sim_pid"
export AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://127.0.0.1:$sim_port"
export AWS_ACCESS_KEY_ID=AKIDBENCHMARK AWS_SECRET_ACCESS_KEY=benchmark-secret AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_BEARER_TOKEN_BEDROCK || true

echo "== Pallas"
start=$(now_ms)
NOTES_SERVER=$notes "$pallas" serve --config examples/bench/agents.yaml >"$work/pallas.log" 2>&1 &
pallas_pid=$!
pids+=("$pallas_pid")
wait_for_line "$work/pallas.log" "pallas ready" "$pallas_pid"
pallas_startup=$(($(now_ms) - start))
pallas_url=$(awk '/agent bench/ {print $3}' "$work/pallas.log")

echo "== fast-agent $FAST_AGENT_VERSION"
fa_dir=$work/fast-agent
mkdir -p "$fa_dir"
cp bench/fast_agent/agent.py "$fa_dir/"
cat >"$fa_dir/fastagent.config.yaml" <<YAML
default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
logger:
  level: error
  progress_display: false
  show_chat: false
  show_tools: false
bedrock:
  region: us-east-1
mcp:
  servers:
    notes:
      command: $notes
YAML
fa_port=$(free_port)
start=$(now_ms)
(cd "$fa_dir" && exec "$VENV/bin/python" agent.py --transport http --host 127.0.0.1 --port "$fa_port" \
  --instance-scope request --quiet) >"$work/fast-agent.log" 2>&1 &
fa_pid=$!
pids+=("$fa_pid")
wait_for_port "$fa_port" "$fa_pid" || { echo "fast-agent did not start:"; tail -n 30 "$work/fast-agent.log"; exit 1; }
fa_startup=$(($(now_ms) - start))
fa_url="http://127.0.0.1:$fa_port/mcp"

run() { # name url pid clients
  "$loadgen" --url "$2" --tool bench --message "$MESSAGE" --expect "Tool results" \
    --clients "$4" --duration "$DURATION" --warmup "$WARMUP" --call-timeout "$CALL_TIMEOUT" --server-pid "$3" >"$work/$1-$4.txt" 2>&1 || true
  tail -n 1 "$work/$1-$4.txt" >"$work/$1-$4.json"
  echo "   $1 at $4 client(s): $(grep throughput "$work/$1-$4.txt" || tail -n 3 "$work/$1-$4.txt")"
}
for c in $CLIENTS; do
  run pallas "$pallas_url" "$pallas_pid" "$c"
  run fast-agent "$fa_url" "$fa_pid" "$c"
done

echo
echo "== $(date -u +%Y-%m-%d) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); fast-agent $FAST_AGENT_VERSION on $("$VENV/bin/python" --version)"
python3 - "$work" "$pallas_startup" "$fa_startup" $CLIENTS <<'PY'
import json, sys, pathlib
work, p_start, f_start, *clients = sys.argv[1:]
def load(name, c):
    try:
        return json.loads(pathlib.Path(work, f"{name}-{c}.json").read_text())
    except Exception:
        return None
def fmt(v, unit=""):
    return "n/a" if v is None else f"{v:,.1f}{unit}"
print(f"| clients | Pallas req/s | fast-agent req/s | ratio | Pallas p50 / p99 ms | fast-agent p50 / p99 ms | errors P / F |")
print("|---|---|---|---|---|---|---|")
rss = {"pallas": 0.0, "fast-agent": 0.0}
for c in clients:
    p, f = load("pallas", c), load("fast-agent", c)
    pr = p and p["requests_per_s"]; fr = f and f["requests_per_s"]
    ratio = f"{pr / fr:,.0f}×" if pr and fr else "n/a"
    for name, r in (("pallas", p), ("fast-agent", f)):
        if r and r.get("server_peak_rss_mib"):
            rss[name] = max(rss[name], r["server_peak_rss_mib"])
    print(f"| {c} | {fmt(pr)} | {fmt(fr)} | {ratio} | "
          f"{fmt(p and p['p50_ms'])} / {fmt(p and p['p99_ms'])} | "
          f"{fmt(f and f['p50_ms'])} / {fmt(f and f['p99_ms'])} | "
          f"{p and p['requests_error']} / {f and f['requests_error']} |")
print()
print(f"start-up (spawn → serving): Pallas {p_start} ms, fast-agent {f_start} ms")
print(f"reports and logs: {work}")
print(f"peak RSS: Pallas {rss['pallas']:.0f} MiB, fast-agent {rss['fast-agent']:.0f} MiB "
      "(fast-agent's figure is the Python process only, without its stdio child)")
PY
