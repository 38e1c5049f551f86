# Helpers shared by the project scripts (sourced after scripts/env.sh).
# Each ensure_* installs what is missing, or stops with an error naming the tool.

die() {
  echo "openloop: $*" >&2
  exit 1
}

# Runs apt-get as root (directly, or through sudo).
apt_install() {
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "$1 is missing and installing it needs root: run 'apt-get install $*' as root"
    as_root=(sudo)
  fi
  command -v apt-get >/dev/null || die "$1 is missing and this machine has no apt-get: install $* yourself"
  echo "openloop: installing $* (apt-get)" >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed; install $* yourself"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}

# Installs when node_modules was installed from another package-lock.json: compared by content
# (a stamp npm ci's result gets), not by modification time, which a checkout or a git worktree
# sharing node_modules resets without changing what is installed.
ensure_node_modules() {
  command -v npm >/dev/null || die "npm is missing: install Node.js (22 or newer) with npm"
  local stamp="$OPENLOOP_ROOT/node_modules/.openloop-lock.sha256" want
  want=$(sha256sum "$OPENLOOP_ROOT/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$OPENLOOP_ROOT/node_modules/.package-lock.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "openloop: installing npm dependencies (npm ci)" >&2
    (cd "$OPENLOOP_ROOT" && flock /tmp/openloop-npm.lock npm ci --loglevel=error --no-audit --no-fund >&2) || die "npm ci failed"
    echo "$want" > "$stamp"
  fi
}

# Exports deploy/runtime.env, the production server's process settings: NODE_OPTIONS appended to
# the caller's, other keys only where the caller has not set them.
export_runtime_env() {
  local line key value
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}" value="${line#*=}"
    if [ "$key" = NODE_OPTIONS ]; then
      export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }$value"
    elif [ -z "${!key+x}" ]; then
      export "$key=$value"
    fi
  done < "$OPENLOOP_ROOT/deploy/runtime.env"
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-server >/dev/null || die "redis-server is still missing after apt-get install redis-server"
}

# PostgreSQL server binaries (initdb, pg_ctl) for the shared-storage tests, which start a private cluster.
ensure_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_install postgresql
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || die "initdb is still missing after apt-get install postgresql"
}

# SeaweedFS (a real S3-compatible server) for the object-storage tests. `go install` refuses its
# module (replace directives), so it is built from the downloaded module source, about 10 minutes
# on two busy cores: once per machine, into a cache outside the clone that later clones and CI reuse.
# test/support/seaweedfs.ts finds it there (or at OPENLOOP_WEED).
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
ensure_seaweedfs() {
  local out="${XDG_CACHE_HOME:-$HOME/.cache}/openloop/seaweedfs-$SEAWEEDFS_VERSION"
  [ -x "$out/weed" ] && return 0
  command -v go >/dev/null || die "SeaweedFS is missing, and Go is not installed to build it: install Go (1.22+)"
  command -v python3 >/dev/null || die "python3 is needed to read 'go mod download -json'"
  echo "openloop: building SeaweedFS $SEAWEEDFS_VERSION into $out (once per machine, about 10 minutes)" >&2
  mkdir -p "$(dirname "$out")"
  (
    flock 9
    [ -x "$out/weed" ] && exit 0
    local dir src
    dir=$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || exit 1
    src=$(mktemp -d)
    cp -r "$dir/." "$src" && chmod -R u+w "$src" || exit 1
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    (cd "$src" && nice -n 5 go build -o "$out.tmp/weed" ./weed) >&2 || { rm -rf "$src" "$out.tmp"; exit 1; }
    rm -rf "$src"
    mv "$out.tmp" "$out"
  ) 9>"$(dirname "$out")/.seaweedfs.lock" || die "building SeaweedFS failed"
  [ -x "$out/weed" ] || die "SeaweedFS is still missing after the build ($out/weed)"
}

# ensure_go_tool NAME MODULE@VERSION: installs a Go command with `go install` when absent.
ensure_go_tool() {
  local name="$1" module="$2"
  if command -v go >/dev/null; then
    PATH="$PATH:$(go env GOPATH)/bin"
    export PATH
  fi
  command -v "$name" >/dev/null && return 0
  command -v go >/dev/null || die "$name is missing, and Go is not installed to build it: install Go (1.22+) or $name itself"
  echo "openloop: installing $name (go install $module)" >&2
  go install "$module" >&2 || die "go install $module failed"
  command -v "$name" >/dev/null || die "$name is still missing after go install $module"
}

# A Python virtualenv .venv from examples/python/requirements.txt: grpcio and grpcio-tools for the
# Python client example and the registry bench, River for the learner-quality bench, mypy-protobuf
# for the Python client package's type stubs, the openai SDK for the OpenAI-compatible API test.
ensure_python_venv() {
  local venv="$OPENLOOP_ROOT/.venv"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import grpc, grpc_tools, river, mypy_protobuf, openai" 2>/dev/null; then
    return 0
  fi
  command -v python3 >/dev/null || die "python3 is missing: install Python 3.9+ (with venv) for the Python client test"
  if ! python3 -m venv "$venv" >&2 2>/dev/null; then
    apt_install python3-venv
    python3 -m venv "$venv" >&2 || die "python3 -m venv failed: install python3-venv"
  fi
  echo "openloop: installing examples/python/requirements.txt (grpcio, grpcio-tools, river, openai) into .venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$OPENLOOP_ROOT/examples/python/requirements.txt" >&2 ||
    die "pip install grpcio grpcio-tools failed"
}

# The embedded local model used by the LLM service (models/, git-ignored).
fetch_model() {
  bash "$OPENLOOP_ROOT/scripts/fetch-model.sh" >&2 || die "scripts/fetch-model.sh failed"
}

# The web console (console/ -> console/dist, git-ignored), rebuilt only when its sources changed.
build_console() {
  bash "$OPENLOOP_ROOT/scripts/build-console.sh" || die "scripts/build-console.sh failed"
}

# Debian's chromium, driven by playwright-core in the console's browser tests.
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
  [ -x /usr/bin/chromium ] || die "chromium is still missing after apt-get install chromium"
}
