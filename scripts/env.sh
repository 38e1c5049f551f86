# Sourced by every project script: puts Node >= 22.19 first on PATH.
# The machine's Node may be older (Node 20 is end-of-life and current packages
# refuse it), so we install Node 24 from the npm registry into .tools/ once.
OPENLOOP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OPENLOOP_ROOT

# True when the node on PATH is at least 22.19 (package.json's engines).
node_recent() { node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)' 2>/dev/null; }

if [ -x "$OPENLOOP_ROOT/.tools/node_modules/.bin/node" ]; then
  export PATH="$OPENLOOP_ROOT/.tools/node_modules/.bin:$PATH"
fi

if ! node_recent; then
  if ! command -v npm >/dev/null; then
    echo "openloop: needs Node >= 22.19, or npm to install Node 24 with" >&2
    exit 1
  fi
  echo "openloop: Node $(node --version 2>/dev/null || echo none) is older than 22.19; installing Node 24 into .tools/" >&2
  mkdir -p "$OPENLOOP_ROOT/.tools"
  # Its own package.json, or npm would walk up and install into the project.
  echo '{"private":true}' > "$OPENLOOP_ROOT/.tools/package.json"
  (cd "$OPENLOOP_ROOT/.tools" && npm install --no-save --no-package-lock --loglevel=error node@24 >&2)
  export PATH="$OPENLOOP_ROOT/.tools/node_modules/.bin:$PATH"
fi
