#!/usr/bin/env bash
# How soon a killed daemon's executions go on elsewhere: two release daemons share one
# PostgreSQL (a server of its own, as the tests start); COUNT executions, each waiting 5 s in a
# Wait state, start on the second, which is then killed with SIGKILL. Prints the time from the kill
# until the first daemon has claimed all of them (lease expiry plus the claim), and until all
# have ended.
#   usage: bash runtime/benches/cluster/takeover.sh [LEASE=10s] [COUNT=200]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
lease="${1:-10s}"
count="${2:-200}"
target="${CARGO_TARGET_DIR:-$root/target}"
[ -f "$target/plugins/add.wasm" ] || bash plugins/build.sh
cargo build --release --locked -q -p wasmstep
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
server=$(WASMSTEP_PG_DURABLE=1 bash .ci/postgres "$(mktemp -d)" $$)
psql -q "$server" -c "CREATE DATABASE takeover"
db="${server%/*}/takeover"
urls=()
for i in 1 2; do
  port=$((18190 + i))
  "$target/release/wasmstep" serve --listen "127.0.0.1:$port" --data-dir "$work/node-$i" \
    --plugins "$target/plugins" --store "$db" --node-id "node-$i" --lease "$lease" 2>"$work/log-$i" &
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
done
for u in "${urls[@]}"; do
  for _ in $(seq 300); do curl -sf "$u/healthz" >/dev/null && break; sleep 0.1; done
done
call() {
  curl -sf "$1" -H "X-Amz-Target: AWSStepFunctions.$2" -H 'Content-Type: application/x-amz-json-1.0' -d "$3"
}
def='{\"StartAt\":\"Pause\",\"States\":{\"Pause\":{\"Type\":\"Wait\",\"Seconds\":5,\"Next\":\"Add\"},\"Add\":{\"Type\":\"Task\",\"Resource\":\"wasm:add\",\"End\":true}}}'
call "${urls[0]}" CreateStateMachine \
  "{\"name\":\"takeover\",\"roleArn\":\"arn:aws:iam::123456789012:role/bench\",\"definition\":\"$def\"}" >/dev/null
for n in $(seq "$count"); do
  call "${urls[1]}" StartExecution \
    "{\"stateMachineArn\":\"arn:aws:states:us-east-1:123456789012:stateMachine:takeover\",\"name\":\"e$n\",\"input\":\"{\\\"a\\\":1,\\\"b\\\":2}\"}" >/dev/null
done
kill -9 "${pids[1]}"
t0=$(date +%s.%N)
wait "${pids[1]}" 2>/dev/null || true
metric() { curl -sf "${urls[0]}/metrics" | awk -v k="$1" 'index($0, k " ") == 1 {print $2}'; }
claimed_at=""
for _ in $(seq 6000); do
  c=$(metric 'wasmstep_node_executions_claimed_total{node="node-1"}')
  if [ -z "$claimed_at" ] && [ "${c%.*}" -ge "$count" ] 2>/dev/null; then claimed_at=$(date +%s.%N); fi
  if [ -n "$claimed_at" ]; then
    s=$(call "${urls[0]}" ListExecutions \
      '{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:takeover","statusFilter":"SUCCEEDED","maxResults":1000}' \
      | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["executions"]))')
    [ "$s" = "$count" ] && break
  fi
  sleep 0.01
done
t1=$(date +%s.%N)
awk -v l="$lease" -v n="$count" -v a="$t0" -v c="${claimed_at:-$t1}" -v b="$t1" \
  'BEGIN {printf "lease %s: %d executions of a killed daemon claimed %.2fs after the kill, all ended %.2fs after it\n", l, n, c - a, b - a}'
