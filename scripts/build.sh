#!/usr/bin/env bash
# What `npm run build` runs: compiles src/ and gen/ into dist/ (tsconfig.build.json), so that
# production runs `node dist/src/main.js` with no TypeScript tooling. dist/src and dist/gen
# mirror the tree; the commented descriptors that reflection reads (gen/**/*.descriptor.b64)
# are copied beside the compiled gen/. An argument names another output directory.
# The output is built aside and moved into place, so a failed build leaves the old one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$OPENLOOP_ROOT"

[ -x node_modules/.bin/tsc ] || { echo "openloop: building needs the dev dependencies: run npm ci first" >&2; exit 1; }
out="$(realpath -m "${1:-dist}")"
tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
node_modules/.bin/tsc -p tsconfig.build.json --outDir "$tmp"
(cd gen && find . -name '*.descriptor.b64' -exec cp --parents {} "$tmp/gen/" \;)
rm -rf "$out"
mv "$tmp" "$out"
