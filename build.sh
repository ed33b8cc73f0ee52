#!/usr/bin/env bash
# Build, serve and test the in-browser T5 summarizer. Every subcommand installs what it lacks and
# can be run again at no cost.
#
#   ./build.sh build   wasm-pack build (release, --target web) into www/pkg
#   ./build.sh serve   build, then serve www/ on http://localhost:8080 (PORT=... to change)
#   ./build.sh test    every test: fmt + clippy, native, wasm in headless Chrome, page tests
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# Outside the clone so fresh clones on the same machine (CI) reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/t5-summarizer/target}"
export PATH="$HOME/.cargo/bin:$PATH"
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' Cargo.toml)
WASM_PACK_VERSION=0.15.1
PORT="${PORT:-8080}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_install() {
  say "Installing Debian packages: $*"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need_rust() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
  rustup target list --installed | grep -qx wasm32-unknown-unknown || {
    say "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  }
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt
}

need_wasm_tools() {
  need_rust
  if ! command -v wasm-pack >/dev/null; then
    say "Installing wasm-pack $WASM_PACK_VERSION"
    cargo install wasm-pack --version "$WASM_PACK_VERSION"
  fi
  # The CLI must match the crate exactly; --locked fails for this version, so it is not used.
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

need_node() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
}

need_browser() {
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || apt_install chromium chromium-driver
}

build() {
  need_wasm_tools
  say "Building the wasm package into www/pkg"
  wasm-pack build --release --target web --out-dir www/pkg
  build_relaxed www/pkg-relaxed
  build_threads www/pkg-threads
}

# The relaxed-SIMD build (fused multiply-add, int8 dot products), which the worker picks where
# the browser validates relaxed SIMD (Chrome, Edge; not Safari). Its own target folder, like the
# threaded build's.
RELAXED_FLAGS="-C target-feature=+simd128,+relaxed-simd"
build_relaxed() {
  local out=$1
  shift
  say "Building the relaxed-SIMD wasm package into $out"
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR-relaxed" RUSTFLAGS="$RELAXED_FLAGS" \
    wasm-pack build --release --target web --out-dir "$out" --no-pack -- ${1:+--features "$1"}
}

# The threaded build (used when the page is cross-origin isolated and the browser has relaxed
# SIMD, which it uses too): wasm atomics need a std
# compiled with them, so std is rebuilt from rust-src (RUSTC_BOOTSTRAP lets stable do that). Its
# own target folder: different RUSTFLAGS would otherwise rebuild everything on every switch.
# rustc 1.95 no longer asks wasm-ld for a shared memory by itself: without these the module's
# memory is not shared and the pool cannot start ("#<Memory> could not be cloned").
THREADS_LINK_ARGS="-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
-C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
-C link-arg=--export=__tls_base"

build_threads() {
  local out=$1
  shift
  rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
  say "Building the threaded wasm package into $out"
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR-threads" RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128,+relaxed-simd $THREADS_LINK_ARGS" \
    wasm-pack build --release --target web --out-dir "$out" --no-pack -- \
    --features "threads${1:+,$1}" -Z build-std=panic_abort,std
}

serve() {
  build
  need_node
  say "Serving www/ at http://localhost:$PORT/  (the tiny test model: http://localhost:$PORT/?model=tiny-t5)"
  # MODEL_HOST=https://models.example.org: a host besides the hub the page may load models from.
  exec node tools/serve.mjs --root www --mount /fixtures=tests/fixtures --port "$PORT" \
    ${MODEL_HOST:+--model-host "$MODEL_HOST"}
}

# Runs a test command, echoing its output and adding its pass/fail counts to the totals.
PASSED=0
FAILED=0
run_counted() {
  local log
  log=$(mktemp)
  set +e
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  set -e
  local p f
  p=$(grep -E '^test result:|^# pass ' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/; s/^# pass ([0-9]+)/\1/' | paste -sd+ | bc)
  f=$(grep -E '^test result:|^# fail ' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/; s/^# fail ([0-9]+)/\1/' | paste -sd+ | bc)
  PASSED=$((PASSED + ${p:-0}))
  FAILED=$((FAILED + ${f:-0}))
  rm -f "$log"
  [ "$status" = 0 ] || { echo "tests: $PASSED passed, $((FAILED > 0 ? FAILED : 1)) failed"; die "failed: $*"; }
}

test_all() {
  local started=$SECONDS
  need_wasm_tools
  need_browser
  need_node
  command -v bc >/dev/null || apt_install bc

  say "Formatting and lints (native and wasm32)"
  cargo fmt --check
  cargo clippy --all-targets --features bench -- -D warnings
  cargo clippy --lib --tests --features threads -- -D warnings
  cargo clippy --lib --tests --target wasm32-unknown-unknown -- -D warnings
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR-relaxed" RUSTFLAGS="$RELAXED_FLAGS" \
    cargo clippy --lib --tests --target wasm32-unknown-unknown -- -D warnings
  cargo clippy --lib --target wasm32-unknown-unknown --features bench -- -D warnings

  say "Native tests"
  run_counted cargo test
  say "Benchmark harness (its own unit tests; the speed itself is never asserted)"
  run_counted cargo test --features bench --lib bench::
  say "Kernels split over a native rayon pool (the threaded build's code path)"
  run_counted cargo test --features threads --test kernels

  say "wasm tests in headless Chrome (dedicated worker)"
  CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 \
    run_counted cargo test --release --target wasm32-unknown-unknown --test web --test web_store --test web_metrics
  say "wasm kernel, parity and summary tests again in the relaxed-SIMD build"
  CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 \
    CARGO_TARGET_DIR="$CARGO_TARGET_DIR-relaxed" RUSTFLAGS="$RELAXED_FLAGS" \
    run_counted cargo test --release --target wasm32-unknown-unknown --test web

  build
  say "Page tests (playwright-core + /usr/bin/chromium)"
  (cd tests/page && npm ci --no-audit --no-fund --loglevel=error)
  say "TypeScript declarations of the JS API and the wasm package type-check"
  (cd www && ../tests/page/node_modules/.bin/tsc --noEmit --strict --lib esnext,dom \
    --module es2022 --moduleResolution bundler pkg/t5_summarizer.d.ts summarizer.d.ts)
  run_counted npm --prefix tests/page test

  say "All tests passed in $((SECONDS - started)) s"
  echo "tests: $PASSED passed, $FAILED failed"
}

# Speed benchmark: ours against the stock candle-transformers T5 on random t5-small- and
# flan-t5-small-shaped models: natively (one thread) and as wasm in headless Chromium (one thread,
# each system in a fresh worker; ours f32 and q8_0 also on all cores with the threaded build). Extra arguments (--lengths 128,256,512 --steps 64 --repeats 5)
# go to both halves; SHAPES="t5-small" limits the shapes. Writes bench-out/bench-<shape>.{json,txt}.
bench() {
  need_wasm_tools
  need_browser
  need_node
  (cd tests/page && npm ci --no-audit --no-fund --loglevel=error)
  say "Building the bench wasm package (with the stock T5 baseline) into bench-out/pkg"
  wasm-pack build --release --target web --out-dir bench-out/pkg --no-pack -- --features bench
  build_relaxed bench-out/pkg-relaxed bench
  build_threads bench-out/pkg-threads bench
  mkdir -p bench-out
  for shape in ${SHAPES:-t5-small flan-t5-small}; do
    say "Native benchmark: $shape"
    RAYON_NUM_THREADS=1 cargo run --release --features bench --bin bench -- \
      --shape "$shape" --out bench-out/models --json "bench-out/bench-$shape.json" "$@"
    say "wasm benchmark in headless Chromium: $shape"
    node tools/bench/wasm-bench.mjs --shape "$shape" --json "bench-out/bench-$shape.json" "$@"
  done
}

# Side-by-side benchmark through the public APIs: ours (www/summarizer.js, the app's builds)
# against transformers.js (npm, onnxruntime-web) on the same generated t5-small-shaped weights,
# exported to ONNX (fp32, and q8 by onnxruntime's dynamic quantization) in a Python virtual
# environment of its own (optimum-onnx wants transformers < 4.58). Extra arguments
# (--rounds 3 --tokens 64 --only 'q8;f32' --beam 0 --warmups 1 --pause 0 --baseline DIR) go to tools/bench/peer-bench.mjs.
# Writes bench-out/peer-t5-small.{json,txt}.
PEER_VENV="$HOME/.cache/t5-summarizer/peer-venv"
bench_peer() {
  need_browser
  need_node
  build
  (cd tests/page && npm ci --no-audit --no-fund --loglevel=error)
  # onnxruntime-node's install script downloads binaries: the browser bench needs none of them.
  (cd tools/bench/peer && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  local shape=t5-small models=bench-out/models
  if [ ! -f "$models/$shape/model-q8_0.gguf" ]; then
    say "Generating the random $shape model into $models/$shape"
    cargo run --features bench --bin bench -- --shape "$shape" --out "$models" --models-only
  fi
  cp tests/fixtures/tiny-t5/tokenizer.json "$models/$shape/tokenizer.json"
  if [ ! -x "$PEER_VENV/bin/python" ] || ! "$PEER_VENV/bin/python" -c 'import optimum.exporters.onnx, onnxruntime' 2>/dev/null; then
    say "Installing the ONNX exporter into $PEER_VENV"
    command -v python3 >/dev/null || apt_install python3 python3-venv
    python3 -m venv "$PEER_VENV"
    "$PEER_VENV/bin/pip" install -q "optimum==2.1.0" "optimum-onnx==0.1.0" "transformers==4.57.1" \
      "torch==2.9.1" "onnx==1.19.1" "onnxruntime==1.23.2" safetensors
  fi
  if [ ! -f "bench-out/peer/$shape/onnx/decoder_model_merged_quantized.onnx" ] \
    || [ "$models/$shape/model.safetensors" -nt "bench-out/peer/$shape/onnx/encoder_model.onnx" ]; then
    say "Exporting $shape to ONNX for transformers.js (fp32 and q8)"
    "$PEER_VENV/bin/python" tools/bench/export_onnx.py "$models/$shape" "bench-out/peer/$shape"
  fi
  say "Ours against transformers.js in headless Chromium"
  node tools/bench/peer-bench.mjs --shape "$shape" --models "$models" --peer bench-out/peer "$@"
}

case "${1:-}" in
  build) build ;;
  serve) serve ;;
  test) test_all ;;
  bench)
    shift
    if [ "${1:-}" = --peer ]; then shift; bench_peer "$@"; else bench "$@"; fi ;;
  fetch-model) shift; need_node; node tools/fetch-model.mjs "$@" ;;
  *) echo "usage: ./build.sh build|serve|test|bench [--peer]|fetch-model <repo id> [--quantize q8_0]" >&2; exit 2 ;;
esac
