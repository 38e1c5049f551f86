#!/usr/bin/env bash
# Alternated one-round registry benches (500 MiB, compiled server, no MLflow) of production's
# process settings (A) against the same with extra environment (B), for settings of the server
# process such as malloc's. Prints each run's server peak, its peak per transfer (MB, in the
# bench's row order) and its server CPU per MiB. Not one of `npm run bench`'s sections.
#   npm run build
#   flock /tmp/openloop-bench.lock bash bench/support/registry-alternate.sh "MALLOC_ARENA_MAX=1" [pairs]
# B's assignments are added to the environment (NODE_OPTIONS before deploy/runtime.env's own).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/env.sh"
cd "$OPENLOOP_ROOT"
read -ra variant <<< "${1:?environment assignments of B, e.g. MALLOC_ARENA_MAX=1}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for pair in $(seq "${2:-3}"); do
  for side in A B; do
    extra=()
    [ "$side" = B ] && extra=("${variant[@]}")
    env "${extra[@]}" OPENLOOP_PEERS_DIR=/nonexistent node --import tsx bench/registry.ts --mb 500 --rounds 1 --compiled > "$out/run.md"
    peaks="$(grep '^| openloop' "$out/run.md" | awk -F'|' '{ gsub(/ /, "", $8); printf "%s ", $8 }')"
    echo "$side $pair: $(grep -o 'peak [0-9]* MiB ([0-9]* MB)' "$out/run.md"); per transfer: $peaks; $(grep 'Server CPU per MiB' "$out/run.md" | sed 's/Server CPU per MiB: //')"
  done
done
