#!/usr/bin/env bash
# End-to-end latency of the NetGPT workflow through `netgpt local` (docs/benchmarks.md,
# "Workflow latency"): edge-answered and cloud-answered requests, before (the classic
# graph: an edge draft on every request, no prefix reuse) and after (the fast path of
# examples/workflow-fast-path.yaml routed from the completion, prefix reuse on), at 1
# and 8 concurrent users. Routes are forced (thresholds 0 and 1) so each row measures one
# path. Prints one markdown table. Needs a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --bin netgpt
cargo build -q --release -p netgpt-gateway --example workflow_bench
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
models=$(awk '/kind: LogicalAIWorkflow/{exit} {print}' examples/netgpt-local.yaml | sed '$d')

manifest() { # variant route
  local steps routing
  if [ "$1" = before ]; then
    steps='    - {name: complete, kind: promptCompletion}
    - {name: scrub, kind: desensitize}
    - {name: answer, kind: generate, target: cloud}'
    routing="confidenceThreshold: $([ "$2" = edge ] && echo 0 || echo 1)"
  else
    local t; t=$([ "$2" = edge ] && echo 0 || echo 1)
    steps="    - {name: complete, kind: promptCompletion}
    - {name: local, kind: generate, target: edge, dependsOn: [complete], when: {step: complete, confidenceAtLeast: $t}}
    - {name: scrub, kind: desensitize, dependsOn: [complete], when: {step: complete, confidenceBelow: $t}}
    - {name: answer, kind: generate, target: cloud, dependsOn: [scrub]}"
    routing="confidenceThreshold: 0.7"  # not used: the graph has its own conditions
  fi
  cat <<YAML
$models
---
apiVersion: netgpt.io/v1alpha1
kind: LogicalAIWorkflow
metadata: {name: bench}
spec:
  edgeRef: {name: local-edge}
  cloudRef: {name: local-cloud}
  steps:
$steps
  routing: {$routing, latencyBudgetMs: 120000}
YAML
}

echo "| graph | users | path | requests | latency p50 ms | p99 ms | first byte p50 ms | p99 ms | requests/s |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
for variant in before after; do
  for route in edge cloud; do
    manifest "$variant" "$route" > "$work/$variant-$route.yaml"
    cache=$([ "$variant" = before ] && echo 0 || echo 256)
    NETGPT_PREFIX_CACHE_MIB=$cache target/release/netgpt local -f "$work/$variant-$route.yaml" --gateway-port 18080 > "$work/local.log" 2>&1 &
    pid=$!
    for _ in $(seq 120); do grep -q "Press Ctrl-C" "$work/local.log" && break; sleep 1; done
    # Only the first site's gateway (pudong) is measured.
    for users in 1 8; do
      target/release/examples/workflow_bench --gateway http://127.0.0.1:18080 --users "$users" \
        --requests $((users == 1 ? 16 : 32)) --label "$variant" \
        || { echo "bench failed; netgpt local said:"; tail -20 "$work/local.log"; exit 1; }
    done
    kill -INT "$pid"; wait "$pid" || true
  done
done
