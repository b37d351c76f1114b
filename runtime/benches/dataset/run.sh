#!/usr/bin/env bash
# A Distributed Map over a CSV of ROWS rows, read from a bucket folder and exported with
# ResultWriter (JSONL, COMPACT): rows/s and the peak RSS (VmHWM), once in memory (`wasmstep
# run`) and once durably in the daemon (`wasmstep serve`, SQLite, fsync'd). Memory should stay
# flat as ROWS grows: the dataset is streamed, not loaded.
#
#   bash runtime/benches/dataset/run.sh [ROWS...]        (default: 100000 1000000)
#   WASMSTEP=path/to/wasmstep (default: target/release/wasmstep; build it with cargo build --release)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
bin=${WASMSTEP:-$root/target/release/wasmstep}
[ -x "$bin" ] || { echo "no $bin: cargo build --release first" >&2; exit 2; }
rows=("$@"); [ ${#rows[@]} -gt 0 ] || rows=(100000 1000000)
work=$(mktemp -d); trap 'kill $daemon 2>/dev/null || true; rm -rf "$work"' EXIT
daemon=
mkdir -p "$work/buckets/input" "$work/buckets/results"
cat > "$work/map.json" <<'JSON'
{"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": true, "MaxConcurrency": 1000,
  "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "CSV"},
                 "Parameters": {"Bucket": "input", "Key.$": "$.key"}},
  "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "Parameters": {"id.$": "$.id", "customer.$": "$.customer"}, "End": true}}},
  "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "results", "Prefix": "bench"},
                   "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"}}}}}
JSON
api() { curl -sf -H 'Content-Type: application/x-amz-json-1.0' -H "X-Amz-Target: AWSStepFunctions.$1" -d "$2" "http://$addr/"; }
for n in "${rows[@]}"; do
  python3 -c "
import sys
with open(sys.argv[1], 'w') as f:
    f.write('id,customer,amount\n')
    for i in range(int(sys.argv[2])): f.write(f'{i},c{i % 977},{(i * 37) % 10000 / 100}\n')
" "$work/buckets/input/rows-$n.csv" "$n"
  # In memory.
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" run "$work/map.json" --buckets "$work/buckets" --input "{\"key\":\"rows-$n.csv\"}" > "$work/out"
  t1=$(date +%s.%N)
  grep -q '"SUCCEEDED"' "$work/out" || { cat "$work/out"; exit 1; }
  printf 'run    %8d rows: %6.2f s, %8.0f rows/s, peak RSS %s KiB\n' "$n" "$(echo "$t1 - $t0" | bc)" "$(echo "$n / ($t1 - $t0)" | bc -l)" "$(cat "$work/rss")"
  # Durably, in the daemon.
  rm -rf "$work/data"
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" --buckets "$work/buckets" 2> "$work/log" &
  daemon=$!
  for _ in $(seq 100); do addr=$(grep -o 'listen=[0-9.:]*' "$work/log" | head -1 | cut -d= -f2 || true); [ -n "$addr" ] && break; sleep 0.1; done
  def=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$work/map.json")
  arn=$(api CreateStateMachine "{\"name\":\"rows$n\",\"definition\":$def,\"roleArn\":\"arn:aws:iam::123456789012:role/r\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stateMachineArn"])')
  t0=$(date +%s.%N)
  exec=$(api StartExecution "{\"stateMachineArn\":\"$arn\",\"input\":\"{\\\"key\\\":\\\"rows-$n.csv\\\"}\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["executionArn"])')
  while :; do
    status=$(api DescribeExecution "{\"executionArn\":\"$exec\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$status" != RUNNING ] && break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  [ "$status" = SUCCEEDED ] || { echo "daemon: $status"; exit 1; }
  printf 'serve  %8d rows: %6.2f s, %8.0f rows/s, peak RSS %s KiB\n' "$n" "$(echo "$t1 - $t0" | bc)" "$(echo "$n / ($t1 - $t0)" | bc -l)" "$(awk '/VmHWM/ {print $2}' /proc/$daemon/status)"
  kill $daemon; wait $daemon 2>/dev/null || true; daemon=
done
