#!/usr/bin/env bash
# Builds wasmstep and runs every example case, printing each result line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash plugins/build.sh
cargo build --release --locked -q -p wasmstep
target="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$target/release/wasmstep"
for dir in examples/*/; do
  name=$(basename "$dir")
  [ -d "${dir}cases" ] || continue  # needs the daemon (see its README)
  def=$(ls "$dir$name".asl.* "$dir$name".express.asl.* 2>/dev/null | head -n 1 || true)
  for input in "$dir"cases/*.input.json; do
    echo "== $name / $(basename "$input" .input.json)"
    "$bin" run "$def" --input-file "$input" --skip-waits --plugins "$target/plugins" || true
  done
done
