#!/usr/bin/env bash
# What `npm test` runs: installs everything the suite needs, then runs it.
# Arguments are passed to vitest (e.g. `npm test -- test/platform`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$OPENLOOP_ROOT/scripts/lib.sh"
cd "$OPENLOOP_ROOT"

ensure_node_modules
ensure_redis
ensure_postgres
ensure_seaweedfs
ensure_go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
ensure_go_tool grpc-health-probe github.com/grpc-ecosystem/grpc-health-probe@v0.4.63 # the health test reads health as Kubernetes users do
ensure_go_tool h2spec github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible # HTTP/2 conformance of the gRPC transport
ensure_go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0 # checks deploy/kubernetes (schemas made offline from k8s.io/kubernetes)
command -v buf >/dev/null || PATH="$OPENLOOP_ROOT/node_modules/.bin:$PATH"
ensure_python_venv
ensure_chromium # the web console tests drive Debian's Chromium (never a downloaded browser)
fetch_model
build_console

mkdir -p test-output
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=test-output/vitest.json "$@" || status=$?
# One plain closing line, whatever the reporter printed above.
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-output/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`);
' 2>/dev/null || true
exit "$status"
