#!/usr/bin/env bash
# Builds wasmstep and runs every example case, printing each result line.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p wasmstep
bin="${CARGO_TARGET_DIR:-target}/release/wasmstep"
for dir in examples/*/; do
  name=$(basename "$dir")
  def=$(ls "$dir$name".asl.* | head -n 1)
  for input in "$dir"cases/*.input.json; do
    echo "== $name / $(basename "$input" .input.json)"
    "$bin" run "$def" --input-file "$input" --skip-waits || true
  done
done
