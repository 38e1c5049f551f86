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
ensure_go_tool ghz github.com/bojand/ghz/cmd/ghz@latest
fetch_model

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in bench/*.ts; do names+=("$(basename "$f" .ts)"); done
fi

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
