#!/usr/bin/env bash
# The Rasa backend in one command: a Python 3.10 venv with pinned Rasa 3.6 outside the repo,
# an NLU model trained on nlu/data (the built-in model's own files), served on 127.0.0.1.
#
#   scripts/rasa.sh [setup|train|serve|stop|all]     (default: all = setup, train, serve)
#
# Environment: FARMCHAT_RASA_HOME (default ~/.cache/farmchat), RASA_PORT (5005),
# FARMCHAT_NLU__RASA__TOKEN (optional auth token), RASA_PYTHON (a python3.10).
# Each step is cached: the venv by the lock file's hash, the model by its inputs' hash.
set -euo pipefail
cd "$(dirname "$0")/.."

HOME_DIR="${FARMCHAT_RASA_HOME:-$HOME/.cache/farmchat}"
VENV="$HOME_DIR/rasa-venv"
MODELS="$HOME_DIR/rasa-models"
PORT="${RASA_PORT:-5005}"
LOCK=rasa/requirements.lock
export RASA_TELEMETRY_ENABLED=false PYTHONPATH="$PWD/rasa${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=2

find_python() {
  local c
  for c in "${RASA_PYTHON:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do
    if [ -n "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      echo "$c"; return
    fi
  done
  echo "rasa.sh: no Python 3.10 found (set RASA_PYTHON)" >&2; exit 1
}

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

setup() {
  local stamp="$VENV/.farmchat-lock" want
  want=$(hash_of "$LOCK")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  rm -rf "$VENV"; mkdir -p "$HOME_DIR"
  "$(find_python)" -m venv "$VENV"
  "$VENV/bin/pip" install -q 'pip==24.0'
  # The lock is a full `pip freeze` of a working install: no resolver, same versions every time.
  "$VENV/bin/pip" install -q --no-deps -r "$LOCK"
  "$VENV/bin/rasa" --version >/dev/null
  echo "$want" > "$stamp"
}

model_path() {
  echo "$MODELS/nlu-$(hash_of "$LOCK" rasa/config.yml rasa/jieba/* rasa/farmchat_rasa/*.py nlu/data/*.yml).tar.gz"
}

train() {
  local model; model=$(model_path)
  if [ -f "$model" ]; then echo "rasa model up to date: $model"; return; fi
  mkdir -p "$MODELS"
  local name; name=$(basename "$model" .tar.gz)
  "$VENV/bin/rasa" train nlu -c rasa/config.yml -u nlu/data --out "$MODELS" --fixed-model-name "$name"
  echo "rasa model: $model"
}

serve() {
  local model; model=$(model_path)
  [ -f "$model" ] || { echo "rasa.sh: no trained model, run train first" >&2; exit 1; }
  stop_server
  local auth=()
  [ -n "${FARMCHAT_NLU__RASA__TOKEN:-}" ] && auth=(--auth-token "$FARMCHAT_NLU__RASA__TOKEN")
  nohup "$VENV/bin/rasa" run --enable-api -m "$model" -i 127.0.0.1 -p "$PORT" "${auth[@]}" \
    > "$HOME_DIR/rasa-server.log" 2>&1 &
  echo $! > "$HOME_DIR/rasa-server.pid"
  for _ in $(seq 1 180); do
    if curl -fsS "http://127.0.0.1:$PORT/version" >/dev/null 2>&1; then
      echo "rasa serving on http://127.0.0.1:$PORT (pid $(cat "$HOME_DIR/rasa-server.pid"))"; return
    fi
    kill -0 "$(cat "$HOME_DIR/rasa-server.pid")" 2>/dev/null || break
    sleep 1
  done
  echo "rasa.sh: server did not start; see $HOME_DIR/rasa-server.log" >&2; tail -20 "$HOME_DIR/rasa-server.log" >&2; exit 1
}

stop_server() {
  local pidfile="$HOME_DIR/rasa-server.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"; sleep 2
  fi
  rm -f "$pidfile"
}

case "${1:-all}" in
  setup) setup ;;
  train) setup; train ;;
  serve) serve ;;
  stop) stop_server ;;
  all) setup; train; serve ;;
  *) echo "usage: $0 [setup|train|serve|stop|all]" >&2; exit 2 ;;
esac
