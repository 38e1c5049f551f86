#!/usr/bin/env bash
# What `npm start` runs: installs what is missing, builds dist/ when it is missing or older
# than the sources, then starts the compiled server on its config (./openloop.yaml or
# OPENLOOP_CONFIG, plus OPENLOOP_* overrides). Production runs `node dist/src/main.js` with the
# process settings of deploy/runtime.env.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$OPENLOOP_ROOT/scripts/lib.sh"
cd "$OPENLOOP_ROOT"

ensure_node_modules
fetch_model
build_console
if [ ! -f dist/src/main.js ] || [ -n "$(find src gen tsconfig.json tsconfig.build.json scripts/build.sh -newer dist/src/main.js -print -quit)" ]; then
  echo "openloop: building dist/ (npm run build)" >&2
  bash scripts/build.sh >&2 || die "npm run build failed"
fi
export_runtime_env
exec node dist/src/main.js "$@"
