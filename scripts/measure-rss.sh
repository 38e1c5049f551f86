#!/usr/bin/env bash
# Resident memory (VmRSS) of the server with all five services on the embedded defaults:
# once listening, after one call to each service (plus health), and after 20 s idle (V8's
# memory reducer shrinks the heap about 10 s after activity stops).
# Usage: bash scripts/measure-rss.sh [dist|tsx]...   (default: both; dist is rebuilt first)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$OPENLOOP_ROOT/scripts/lib.sh"
cd "$OPENLOOP_ROOT"

rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# One call to each service over gRPC; the client is a separate process, so it adds nothing.
call_each_service() {
  node --import tsx --input-type=module -e '
    import { createClient } from "@connectrpc/connect";
    import { createGrpcTransport } from "@connectrpc/connect-node";
    import { Health } from "./gen/grpc/health/v1/health_pb.js";
    import { LLMService } from "./gen/openloop/llm/v1/llm_service_pb.js";
    import { PipelineService } from "./gen/openloop/pipeline/v1/pipeline_service_pb.js";
    import { RegistryService } from "./gen/openloop/registry/v1/registry_service_pb.js";
    import { FeatureService } from "./gen/openloop/feature/v1/feature_service_pb.js";
    import { FeedbackService } from "./gen/openloop/feedback/v1/feedback_service_pb.js";
    const t = createGrpcTransport({ baseUrl: process.argv[1] });
    await createClient(Health, t).check({});
    await createClient(LLMService, t).listModels({});
    await createClient(PipelineService, t).listPipelines({});
    await createClient(RegistryService, t).listModels({});
    await createClient(FeatureService, t).listFeatureSets({});
    await createClient(FeedbackService, t).listOnlineModels({});
  ' "$1"
}

measure() {
  local mode="$1" cmd
  case "$mode" in
    dist) cmd=(node dist/src/main.js) ;;
    tsx) cmd=(node --import tsx src/main.ts) ;;
    *) echo "unknown mode '$mode': dist or tsx" >&2; exit 2 ;;
  esac
  local tmp pid port
  tmp="$(mktemp -d)"
  # The compiled server runs as production does, with deploy/runtime.env's process settings.
  ( if [ "$mode" = dist ]; then export_runtime_env; fi
    exec env OPENLOOP_HOST=127.0.0.1 OPENLOOP_PORT=0 OPENLOOP_DATA_DIR="$tmp/data" OPENLOOP_LOG_LEVEL=info "${cmd[@]}" ) > "$tmp/log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    port="$(grep -m1 '"msg":"openloop listening"' "$tmp/log" | grep -o '"port":[0-9]*' | cut -d: -f2 || true)"
    [ -n "$port" ] && break
    kill -0 "$pid" 2> /dev/null || { cat "$tmp/log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "server did not start" >&2; cat "$tmp/log" >&2; kill "$pid"; exit 1; }
  local listening calls idle
  listening="$(rss_mb "$pid")"
  call_each_service "http://127.0.0.1:$port"
  calls="$(rss_mb "$pid")"
  sleep 20
  idle="$(rss_mb "$pid")"
  kill -TERM "$pid"
  wait "$pid" || { echo "server exited with $?" >&2; cat "$tmp/log" >&2; }
  rm -rf "$tmp"
  printf '%-5s %10s %12s %14s\n' "$mode" "$listening" "$calls" "$idle"
}

modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(dist tsx)
[[ " ${modes[*]} " != *" dist "* ]] || bash scripts/build.sh
printf '%-5s %10s %12s %14s\n' "" "listening" "after calls" "idle 20 s (MB)"
for m in "${modes[@]}"; do measure "$m"; done
