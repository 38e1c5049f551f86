#!/usr/bin/env bash
# Installs Feast (the feature bench's peer) into its own venv, once per machine, outside the
# clone: ~/.cache/openloop/peers/feast-0.67.0. The bench runs it when present.
set -euo pipefail
venv="$HOME/.cache/openloop/peers/feast-0.67.0"
if [ -x "$venv/bin/feast" ]; then exit 0; fi
command -v python3 >/dev/null || { echo "openloop: python3 is needed to install Feast" >&2; exit 1; }
echo "openloop: installing feast[redis]==0.67.0 into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "feast[redis]==0.67.0" >&2
