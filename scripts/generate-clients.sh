#!/usr/bin/env bash
# Regenerates everything generated from proto/, deterministically:
#   gen/                              buf generate (buf.gen.yaml): TypeScript and descriptors
#   clients/go/gen/                   buf generate --template buf.gen.go.yaml (protoc-gen-go, protoc-gen-go-grpc)
#   clients/python/src/openloop/*/    clients/python/generate.py (grpcio-tools from examples/python/requirements.txt)
# The plugins are local (buf never reaches buf.build) and pinned, so that the output depends
# only on proto/. test/clients/generated.test.ts fails when the committed output is stale.
#
# Usage: scripts/generate-clients.sh [--out DIR]   (DIR: write the same tree under DIR instead)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$OPENLOOP_ROOT/scripts/lib.sh"
cd "$OPENLOOP_ROOT"

PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

OUT="$OPENLOOP_ROOT"
if [ "${1:-}" = "--out" ]; then
  [ -n "${2:-}" ] || die "generate-clients: --out needs a directory"
  mkdir -p "$2"
  OUT="$(cd "$2" && pwd)"
fi

BUF="$OPENLOOP_ROOT/node_modules/.bin/buf"
[ -x "$BUF" ] || die "generate-clients: $BUF is missing; run 'npm ci' first"

# The pinned Go plugins, each version in its own directory (never whatever is on PATH).
command -v go >/dev/null || die "generate-clients: Go is missing (it builds protoc-gen-go and protoc-gen-go-grpc): install Go"
PLUGINS="${XDG_CACHE_HOME:-$HOME/.cache}/openloop/go-plugins/${PROTOC_GEN_GO##*@}-${PROTOC_GEN_GO_GRPC##*@}"
for module in "$PROTOC_GEN_GO" "$PROTOC_GEN_GO_GRPC"; do
  name="${module%@*}"
  name="${name##*/}"
  if [ ! -x "$PLUGINS/$name" ]; then
    echo "generate-clients: installing $module" >&2
    GOBIN="$PLUGINS" go install "$module" >&2 || die "go install $module failed"
  fi
done

"$BUF" generate -o "$OUT"
PATH="$PLUGINS:$PATH" "$BUF" generate --template buf.gen.go.yaml -o "$OUT"

ensure_python_venv
"$OPENLOOP_ROOT/.venv/bin/python" clients/python/generate.py --out "$OUT/clients/python/src"

