#!/usr/bin/env bash
# Durable throughput of 1, 2 or 3 daemons on one store: starts NODES release daemons (SQLite: one
# daemon on a file; PostgreSQL: a server of its own in a temporary directory, as the tests do),
# drives StartExecution through all of them at once with wrk for DURATION, waits until every
# execution has ended, and prints StartExecution/s, executions/s and state transitions/s (from
# the first request until the last execution ended), and for PostgreSQL the database
# transactions per transition (pg_stat_database: writer commits and reads together).
#   usage: bash runtime/benches/cluster/run.sh [NODES=1] [STORE=postgres|sqlite] [DURATION=10s] [CONNECTIONS=32]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
nodes="${1:-1}"
store="${2:-postgres}"
duration="${3:-10s}"
conns="${4:-32}"
command -v wrk >/dev/null || { echo "error: wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
[ "$store" = postgres ] || [ "$nodes" = 1 ] || { echo "error: SQLite is one daemon's file: NODES=1" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
[ -f "$target/plugins/add.wasm" ] || bash plugins/build.sh
cargo build --release --locked -q -p wasmstep
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
store_args=()
if [ "$store" = postgres ]; then
  # Durable (fsync on every commit), to compare with SQLite's fsync per group commit.
  server=$(WASMSTEP_PG_DURABLE=1 bash .ci/postgres "$(mktemp -d)" $$)
  psql -q "$server" -c "CREATE DATABASE bench"
  db="${server%/*}/bench"
  store_args=(--store "$db")
fi
urls=()
for i in $(seq "$nodes"); do
  port=$((18090 + i))
  extra=()
  [ "$store" = postgres ] && extra=(--node-id "bench-$i")
  "$target/release/wasmstep" serve --listen "127.0.0.1:$port" --data-dir "$work/node-$i" \
    --plugins "$target/plugins" "${store_args[@]}" "${extra[@]}" 2>"$work/log-$i" &
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
done
for u in "${urls[@]}"; do
  for _ in $(seq 300); do curl -sf "$u/healthz" >/dev/null && break; sleep 0.1; done
done
def='{\"StartAt\":\"Add\",\"States\":{\"Add\":{\"Type\":\"Task\",\"Resource\":\"wasm:add\",\"ResultPath\":\"$.r\",\"Next\":\"Done\"},\"Done\":{\"Type\":\"Pass\",\"End\":true}}}'
curl -sf "${urls[0]}" -H 'X-Amz-Target: AWSStepFunctions.CreateStateMachine' \
  -d "{\"name\":\"http-bench\",\"roleArn\":\"arn:aws:iam::123456789012:role/bench\",\"definition\":\"$def\"}" >/dev/null
xacts() { psql -qtA "$server" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench'"; }
[ "$store" = postgres ] && x0=$(xacts)
t0=$(date +%s.%N)
per=$(( (conns + nodes - 1) / nodes ))
wpids=()
for i in $(seq "$nodes"); do
  wrk -t1 -c"$per" -d"$duration" -s runtime/benches/http/start_execution.lua "${urls[$((i - 1))]}" >"$work/wrk-$i" &
  wpids+=($!)
done
wait "${wpids[@]}"
# Sums one series over the nodes.
total() {
  local s=0
  for u in "${urls[@]}"; do
    v=$(curl -sf "$u/metrics" | awk -v k="$1" 'index($0, k " ") == 1 {print $2}')
    s=$(awk -v a="$s" -v b="${v:-0}" 'BEGIN {print a + b}')
  done
  echo "$s"
}
for _ in $(seq 1200); do
  [ "$(total 'wasmstep_executions_running')" = "0" ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
secs=$(awk -v a="$t1" -v b="$t0" 'BEGIN {print a - b}')
started=$(total 'wasmstep_executions_started_total{state_machine="http-bench"}')
succeeded=$(total 'wasmstep_executions_succeeded_total{state_machine="http-bench"}')
transitions=0
for t in Task Pass; do
  n=$(total "wasmstep_state_transitions_total{state_machine=\"http-bench\",state_type=\"$t\"}")
  transitions=$(awk -v a="$transitions" -v b="$n" 'BEGIN {print a + b}')
done
rps=$(cat "$work"/wrk-* | awk '/^Requests\/sec:/ {s += $2} END {printf "%.0f", s}')
errors=$(cat "$work"/wrk-* | grep -c '^HTTP ' || true)
printf 'store=%s nodes=%s connections=%s: StartExecution %s/s (%s errors); %s started, %s succeeded in %.1fs: %.0f executions/s, %.0f transitions/s\n' \
  "$store" "$nodes" "$conns" "$rps" "$errors" "$started" "$succeeded" "$secs" \
  "$(awk -v a="$succeeded" -v b="$secs" 'BEGIN {print a / b}')" "$(awk -v a="$transitions" -v b="$secs" 'BEGIN {print a / b}')"
if [ "$store" = postgres ]; then
  x1=$(xacts)
  printf 'database transactions per transition: %.2f\n' "$(awk -v a="$x1" -v b="$x0" -v t="$transitions" 'BEGIN {print (a - b) / t}')"
fi
