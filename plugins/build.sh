#!/usr/bin/env bash
# Builds every plugin from source into $WASMSTEP_PLUGINS_OUT (default: <target dir>/plugins),
# installing the toolchains it needs. The test command runs it; run it yourself to get the
# handlers for `wasmstep run --plugins DIR`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${WASMSTEP_PLUGINS_OUT:-$target/plugins}"
mkdir -p "$out"

step() { printf '== %s\n' "$*" >&2; }

# Rust: components through wasmstep-sdk (wasm32-wasip2) and WASI commands (wasm32-wasip1).
step "Rust plugins"
rustup target add wasm32-wasip2 wasm32-wasip1 >/dev/null 2>&1
components=(add identity total_rust hostile_component lambda_behaviour)
commands=(hostile add_command)
cargo build --locked --quiet --profile plugin --target wasm32-wasip2 $(printf -- '-p %s ' "${components[@]}")
cargo build --locked --quiet --profile plugin --target wasm32-wasip1 $(printf -- '-p %s ' "${commands[@]}")
for p in "${components[@]}"; do cp "$target/wasm32-wasip2/plugin/$p.wasm" "$out/$p.wasm"; done
for p in "${commands[@]}"; do cp "$target/wasm32-wasip1/plugin/$p.wasm" "$out/$p.wasm"; done

step "plugins in $out:"
ls -1 "$out" >&2
