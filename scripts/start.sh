#!/usr/bin/env bash
# What `npm start` runs: installs what is missing, then starts the server on its
# config (./openloop.yaml or OPENLOOP_CONFIG, plus OPENLOOP_* overrides).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$OPENLOOP_ROOT/scripts/lib.sh"
cd "$OPENLOOP_ROOT"

ensure_node_modules
fetch_model
build_console
exec node --import tsx src/main.ts "$@"
