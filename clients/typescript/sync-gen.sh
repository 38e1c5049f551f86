#!/usr/bin/env bash
# Copies the repository's generated TypeScript (gen/*_pb.ts, the one source of it) into
# src/gen/, which the package compiles and ships. src/gen/ is a build product, not committed:
# `npm pack` (prepack) and the web console's build (scripts/build-console.sh) run this first.
set -euo pipefail
PKG="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GEN="$PKG/../../gen"
[ -d "$GEN" ] || { echo "sync-gen: $GEN is missing (the package is built from the openloop repository)" >&2; exit 1; }
rm -rf "$PKG/src/gen"
(cd "$GEN" && find . -name '*_pb.ts' -print0 | sort -z | xargs -0 -I{} install -D -m 644 {} "$PKG/src/gen/{}")
