#!/usr/bin/env bash
# Installs MLflow 3.17.2, the peer bench/registry.ts compares artifact transfer with, into a
# virtualenv of its own outside the project: $OPENLOOP_PEERS_DIR/mlflow-3.17.2 (default
# ~/.cache/openloop/peers/mlflow-3.17.2), so every clone of the repository on the machine
# reuses it. Idempotent: does nothing when that venv already runs `mlflow --version`.
# A failed install leaves no half-made venv behind (the bench then says it skipped MLflow).
# 3.17.2 is the newest release that installs here: on 2026-11-30 the index had mlflow 3.18.0
# but not the mlflow-skinny 3.18.0 it pins. MLFLOW_VERSION picks another release (the bench
# takes the same variable).
set -euo pipefail

VERSION="${MLFLOW_VERSION:-3.17.2}"
PEERS_DIR="${OPENLOOP_PEERS_DIR:-$HOME/.cache/openloop/peers}"
VENV="$PEERS_DIR/mlflow-$VERSION"

if [ -x "$VENV/bin/mlflow" ] && "$VENV/bin/mlflow" --version 2>/dev/null | grep -q "$VERSION"; then
  exit 0
fi
command -v python3 >/dev/null || { echo "openloop: python3 is needed to install MLflow $VERSION" >&2; exit 1; }

mkdir -p "$PEERS_DIR"
# A venv's scripts name their own path, so it is built in place, under a lock: two clones
# installing at once wait for each other, and a failed install is removed.
exec 9> "$PEERS_DIR/.mlflow-$VERSION.lock"
flock 9
if [ -x "$VENV/bin/mlflow" ] && "$VENV/bin/mlflow" --version 2>/dev/null | grep -q "$VERSION"; then
  exit 0
fi
rm -rf "$VENV"
echo "openloop: installing MLflow $VERSION into $VENV" >&2
if ! { python3 -m venv "$VENV" &&
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "mlflow==$VERSION" >&2 &&
  "$VENV/bin/mlflow" --version >&2; }; then
  echo "openloop: installing MLflow $VERSION failed; bench/registry.ts skips it" >&2
  rm -rf "$VENV"
  exit 1
fi
