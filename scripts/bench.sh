#!/usr/bin/env bash
# What `npm run bench` runs: installs what the benches need, runs every bench/*.ts
# (or those named: `npm run bench -- platform llm`), and rewrites each bench's section
# of BENCHMARKS.md, between <!-- bench:NAME:start --> and <!-- bench:NAME:end -->,
# with what that bench printed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$OPENLOOP_ROOT/scripts/lib.sh"
cd "$OPENLOOP_ROOT"

ensure_node_modules
ensure_redis
ensure_go_tool ghz github.com/bojand/ghz/cmd/ghz@v0.93.0
ensure_go_tool hey github.com/rakyll/hey@v0.1.5
fetch_model

# Peers the llm bench compares with, each in its own cached install outside the project's
# dependencies (bench/peers.ts finds them there). A peer that fails to install is skipped by
# the bench, which says so, rather than failing every bench.
PEERS_DIR="${OPENLOOP_PEERS_DIR:-$HOME/.cache/openloop/peers}"
export OPENLOOP_PEERS_DIR="$PEERS_DIR"
ensure_peers() {
  local portkey="$PEERS_DIR/portkey-1.15.2" litellm="$PEERS_DIR/litellm-1.106.12"
  if [ ! -f "$portkey/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
    echo "openloop: installing the Portkey gateway 1.15.2 into $portkey" >&2
    mkdir -p "$portkey"
    # @hono/node-server 1.19.x fails every stream ("TypeError: immutable"); 1.13.8 works.
    cat > "$portkey/package.json" <<'JSON'
{ "private": true, "dependencies": { "@portkey-ai/gateway": "1.15.2" }, "overrides": { "@hono/node-server": "1.13.8" } }
JSON
    (cd "$portkey" && npm install --loglevel=error --no-audit --no-fund >&2) || echo "openloop: installing Portkey failed; the llm bench skips it" >&2
  fi
  if [ ! -x "$litellm/bin/litellm" ]; then
    echo "openloop: installing LiteLLM 1.106.12 into $litellm" >&2
    mkdir -p "$PEERS_DIR"
    { python3 -m venv "$litellm" && "$litellm/bin/python" -m pip install -q --disable-pip-version-check 'litellm[proxy]==1.106.12' >&2; } ||
      { echo "openloop: installing LiteLLM failed; the llm bench skips it" >&2; rm -rf "$litellm"; }
  fi
}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in bench/*.ts; do
    case "$(basename "$f" .ts)" in
      peers*) ;; # modules of the llm bench, not benches
      *) names+=("$(basename "$f" .ts)") ;;
    esac
  done
fi
case " ${names[*]} " in *" llm "*) ensure_peers ;; esac
# The feature and registry benches' peers (Feast, MLflow) and the Python gRPC client.
case " ${names[*]} " in *" feature "*) bash scripts/install-peer-feast.sh || echo "openloop: installing Feast failed; the feature bench skips it" >&2 ;; esac
case " ${names[*]} " in *" registry "*) bash scripts/install-peer-mlflow.sh || echo "openloop: installing MLflow failed; the registry bench skips it" >&2 ;; esac
case " ${names[*]} " in *" registry "* | *" learner-quality "*) ensure_python_venv ;; esac # grpcio, River
# The shared-storage benches start their own PostgreSQL and SeaweedFS (S3), as the tests do.
case " ${names[*]} " in *" shared-"* | *" s3-artifacts "*) ensure_postgres; ensure_seaweedfs ;; esac

[ -f BENCHMARKS.md ] || printf '# Benchmarks\n\nWritten by `npm run bench`; each section comes from `bench/<name>.ts`.\n' > BENCHMARKS.md
failed=()
for name in "${names[@]}"; do
  [ -f "bench/$name.ts" ] || die "no such bench: bench/$name.ts"
  echo "openloop: bench $name" >&2
  out="$(mktemp)"
  if ! node --import tsx "bench/$name.ts" > "$out"; then
    echo "openloop: bench $name failed; its section is left as it was" >&2
    failed+=("$name")
    rm -f "$out"
    continue
  fi
  cat "$out"
  node -e '
    const fs = require("fs");
    const [name, file] = process.argv.slice(1);
    const start = `<!-- bench:${name}:start -->`, end = `<!-- bench:${name}:end -->`;
    const body = fs.readFileSync(file, "utf8").trim();
    const doc = fs.readFileSync("BENCHMARKS.md", "utf8");
    const section = `${start}\n${body}\n${end}`;
    const i = doc.indexOf(start), j = doc.indexOf(end);
    const next = i >= 0 && j > i ? doc.slice(0, i) + section + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
    fs.writeFileSync("BENCHMARKS.md", next);
  ' "$name" "$out"
  rm -f "$out"
done
[ ${#failed[@]} -eq 0 ] || die "benches failed: ${failed[*]}"
