#!/usr/bin/env bash
# Stop the demo model server started by scripts/serve-model.sh.
#
#   usage:  scripts/stop-model.sh [--port P]      (default port 8765)
#
# Reads the pid file ${JIANZHEN_CACHE:-~/.cache/jianzhen}/llm/server-P.pid, checks
# that the process really is our llama-server on that port, sends SIGTERM (SIGKILL
# after 15 s) and removes the pid file. Exits 0 if nothing was running.
set -euo pipefail

PORT=8765
while (( $# )); do
  case "$1" in
    --port) [[ $# -ge 2 ]] || { echo "stop-model.sh: --port needs a value" >&2; exit 2; }
            PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#--port=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stop-model.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then echo "stop-model.sh: bad port '$PORT'" >&2; exit 2; fi

DIR="${JIANZHEN_CACHE:-$HOME/.cache/jianzhen}/llm"
PID_FILE="$DIR/server-$PORT.pid"
log() { echo "[stop-model] $*" >&2; }

is_ours() {  # $1 = pid: a live llama-server started with --port $PORT
  local pid=$1 args
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    args=$(tr '\0' ' ' < "/proc/$pid/cmdline")
  else
    args=$(ps -o args= -p "$pid" 2>/dev/null || true)
  fi
  [[ "$args" == *llama-server* && "$args" == *"--port $PORT "* ]]
}

if [[ ! -f "$PID_FILE" ]]; then
  if curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$PORT/" 2>/dev/null; then
    log "no pid file $PID_FILE, but something answers on port $PORT; it was not started by serve-model.sh, leaving it alone"
    exit 1
  fi
  log "no server on port $PORT (no pid file)"
  exit 0
fi

pid=$(tr -dc '0-9' < "$PID_FILE")
if [[ -z "$pid" ]] || ! is_ours "$pid"; then
  log "stale pid file (pid '${pid}' is not a running llama-server on port $PORT); removing it"
  rm -f "$PID_FILE"
  exit 0
fi

log "stopping llama-server on port $PORT (pid $pid)"
kill -TERM "$pid"
for _ in $(seq 1 150); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  log "still running after 15 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$PID_FILE"
log "stopped"
