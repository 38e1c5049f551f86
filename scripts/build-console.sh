#!/usr/bin/env bash
# Builds the web console (console/ -> console/dist) with Vite: type-checks it, then
# bundles it. Idempotent: does nothing when console/dist was built from the same
# sources (console sources, the TypeScript client package it uses, gen/ and the lock
# file). The new build replaces the old one by rename, so a running server never
# serves half a build.
#
# Usage: scripts/build-console.sh [--force]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=env.sh
source "$ROOT/scripts/env.sh"
cd "$ROOT"

OUT="console/dist"
WORK="node_modules/.cache/openloop-console"
STAMP="$WORK/stamp"

[ -x node_modules/.bin/vite ] || { echo "build-console: node_modules/.bin/vite is missing; run 'npm ci' first" >&2; exit 1; }
mkdir -p "$WORK"

sources_hash() {
  {
    find console/index.html console/vite.config.ts console/tsconfig.json console/src clients/typescript/src gen -type f -print0 | sort -z | xargs -0 sha256sum
    sha256sum package-lock.json
  } | sha256sum | cut -d' ' -f1
}

# Serialise concurrent builds (the start script and the test suite may both call us).
exec 9>"$WORK/lock"
flock 9

bash clients/typescript/sync-gen.sh # the client package's copy of gen/, which the console imports
HASH="$(sources_hash)"
if [ "${1:-}" != "--force" ] && [ -f "$OUT/index.html" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$HASH" ]; then
  exit 0
fi

echo "build-console: building the web console into $OUT" >&2
node_modules/.bin/tsc --noEmit -p console >&2 || { echo "build-console: the console does not type-check" >&2; exit 1; }
TMP="$WORK/dist.$$"
rm -rf "$TMP"
trap 'rm -rf "$TMP"' EXIT
node_modules/.bin/vite build console --outDir "$ROOT/$TMP" --emptyOutDir --logLevel warn >&2
rm -rf "$OUT.old"
[ -d "$OUT" ] && mv "$OUT" "$OUT.old"
mv "$TMP" "$OUT"
rm -rf "$OUT.old"
echo "$HASH" > "$STAMP"
