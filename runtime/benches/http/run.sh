#!/usr/bin/env bash
# StartExecution requests/s over HTTP: starts a release daemon on a fresh data directory, creates
# a Standard state machine calling the `add` Wasm handler, drives StartExecution with wrk, then
# waits for every started execution to finish and prints the daemon's own counters.
#   usage: bash runtime/benches/http/run.sh [DURATION=10s] [CONNECTIONS=32]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
duration="${1:-10s}"
conns="${2:-32}"
command -v wrk >/dev/null || { echo "error: wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
[ -f "$target/plugins/add.wasm" ] || bash plugins/build.sh
cargo build --release --locked -q -p wasmstep
data=$(mktemp -d)
port=18083
"$target/release/wasmstep" serve --listen "127.0.0.1:$port" --data-dir "$data" --plugins "$target/plugins" 2>"$data/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
def='{\"StartAt\":\"Add\",\"States\":{\"Add\":{\"Type\":\"Task\",\"Resource\":\"wasm:add\",\"ResultPath\":\"$.r\",\"Next\":\"Done\"},\"Done\":{\"Type\":\"Pass\",\"End\":true}}}'
curl -sf "$url" -H 'X-Amz-Target: AWSStepFunctions.CreateStateMachine' \
  -d "{\"name\":\"http-bench\",\"roleArn\":\"arn:aws:iam::123456789012:role/bench\",\"definition\":\"$def\"}" >/dev/null
wrk -t2 -c"$conns" -d"$duration" --latency -s runtime/benches/http/start_execution.lua "$url"
started=0
for _ in $(seq 600); do
  m=$(curl -sf "$url/metrics")
  started=$(echo "$m" | awk '/^wasmstep_executions_started_total\{state_machine="http-bench"\}/ {print $2}')
  done_=$(echo "$m" | awk '/^wasmstep_executions_succeeded_total\{state_machine="http-bench"\}/ {print $2}')
  running=$(echo "$m" | awk '/^wasmstep_executions_running / {print $2}')
  [ "${running:-1}" = "0" ] && break
  sleep 0.5
done
echo "executions started: $started, succeeded: ${done_:-0}, still running: ${running:-?}"
