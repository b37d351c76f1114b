#!/usr/bin/env bash
# Soak: hours of steady load compressed into minutes with a short retention. A release daemon
# keeps finished executions for RETENTION only; wrk starts Standard executions (Pass -> Wait 1 s ->
# Pass, durable) at a steady rate for DURATION; every SAMPLE seconds the database's size on disk
# (file + WAL) and the daemon's RSS are printed. Flat columns after the first retention period
# mean deletion keeps up and the space is reused.
#   usage: bash runtime/benches/soak/run.sh [DURATION=10m] [RETENTION=60s] [RATE=200] [SAMPLE=30]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
duration="${1:-10m}"
retention="${2:-60s}"
rate="${3:-200}"
sample="${4:-30}"
command -v wrk >/dev/null || { echo "error: wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release --locked -q -p wasmstep
data=$(mktemp -d)
port=18084
"$target/release/wasmstep" serve --listen "127.0.0.1:$port" --data-dir "$data" --retention "$retention" 2>"$data/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
def='{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Result\":{\"order\":42},\"Next\":\"W\"},\"W\":{\"Type\":\"Wait\",\"Seconds\":1,\"Next\":\"B\"},\"B\":{\"Type\":\"Pass\",\"End\":true}}}'
curl -sf "$url" -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: AWSStepFunctions.CreateStateMachine' \
  -d "{\"name\":\"soak\",\"roleArn\":\"arn:aws:iam::123456789012:role/soak\",\"definition\":\"$def\"}" >/dev/null

# wrk has no rate limit: one connection whose script paces itself (RATE requests/s).
lua="$data/soak.lua"
cat >"$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "AWSStepFunctions.StartExecution"
wrk.body = '{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:soak", "input": "{\\\\"n\\\\": 1}"}'
function delay() return math.floor(1000 / $rate) end
LUA
wrk -t1 -c1 -d"$duration" -s "$lua" "$url" >"$data/wrk.out" &
load=$!
printf '%8s %12s %10s %10s %12s\n' seconds db_MiB rss_MiB running succeeded
t0=$(date +%s)
while kill -0 $load 2>/dev/null; do
  sleep "$sample"
  db=$(du -cb "$data"/wasmstep.db* 2>/dev/null | tail -1 | cut -f1)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  m=$(curl -sf "$url/metrics")
  running=$(echo "$m" | awk '/^wasmstep_executions_running / {print $2}')
  ok=$(echo "$m" | awk '/^wasmstep_executions_succeeded_total\{state_machine="soak"\}/ {print $2}')
  printf '%8d %12.1f %10.1f %10s %12s\n' $(( $(date +%s) - t0 )) "$(echo "$db / 1048576" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "${running:-0}" "${ok:-0}"
done
tail -4 "$data/wrk.out"
grep -c "retention: finished executions deleted" "$data/log" | xargs echo "retention sweeps that deleted something:"
