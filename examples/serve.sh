#!/usr/bin/env bash
# Builds the plugins and wasmstep, then runs the daemon with every example state machine loaded
# (`examples/*/*.asl.*`) and the examples' handlers from target/plugins (not the test-only
# ones). Extra arguments go to `serve` (e.g. --data-dir DIR; --listen 0.0.0.0:8083 needs
# --config with [auth] keys, see README). Stop it with Ctrl-C; executions resume next start.
set -euo pipefail
cd "$(dirname "$0")/.."
bash plugins/build.sh
cargo build --release --locked -q -p wasmstep
target="${CARGO_TARGET_DIR:-$PWD/target}"
# The examples' handlers, without the ones only the tests use (hostile handlers among them).
served="$target/example-plugins"
rm -rf "$served" && mkdir -p "$served"
for f in "$target"/plugins/*.wasm "$target"/plugins/*.toml; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in
    hostile.*|hostile_component.*|work.*|lambda_behaviour.*) continue ;;
  esac
  cp -p "$f" "$served/"
done
exec "$target/release/wasmstep" serve --plugins "$served" --definitions examples "$@"
