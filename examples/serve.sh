#!/usr/bin/env bash
# Builds the plugins and wasmstep, then runs the daemon with every example state machine loaded
# (`examples/*/*.asl.*`) and the handlers from target/plugins. Extra arguments go to `serve`
# (e.g. --data-dir DIR; --listen 0.0.0.0:8083 needs --config with [auth] keys, see README). Stop it
# with Ctrl-C; executions resume next start.
set -euo pipefail
cd "$(dirname "$0")/.."
bash plugins/build.sh
cargo build --release --locked -q -p wasmstep
target="${CARGO_TARGET_DIR:-$PWD/target}"
exec "$target/release/wasmstep" serve --plugins "$target/plugins" --definitions examples "$@"
