#!/usr/bin/env bash
# Scale benchmark (not a test): N objects split evenly between EdgeLLM (2 sites each),
# CloudLLM and LogicalAIWorkflow (each workflow ties one EdgeLLM to one CloudLLM, so it
# renders 2 gateways + 2 NetworkPolicies; each model also owns an isolation
# NetworkPolicy). Prints time until every object's status reports
# its generation, child counts, and the operator's RSS.
# Usage: hack/bench-operator-scale.sh [N]   (needs `hack/testenv.sh start`)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
per=$((N / 3))
eval "$(hack/testenv.sh env)"
cargo build --release -q --bin netgpt
BIN=target/release/netgpt
LOG=$(mktemp)
ns=bench-scale-$$
cleanup() {
  kill "$OP" 2>/dev/null || true
  kubectl delete ns "$ns" --wait=false >/dev/null 2>&1 || true
  rm -f "$LOG"
}
trap cleanup EXIT
$BIN crd | kubectl apply -f - >/dev/null
kubectl create ns "$ns" >/dev/null
$BIN operator --listen 127.0.0.1:0 --leader-elect=false --namespace "$ns" >"$LOG" 2>&1 &
OP=$!
sleep 2
manifest=$(mktemp)
for i in $(seq 1 "$per"); do cat >>"$manifest" <<M
---
apiVersion: netgpt.io/v1alpha1
kind: EdgeLLM
metadata: {name: edge-$i}
spec:
  model: {architecture: llama, format: gguf, source: {uri: "file:///models/m.gguf"}}
  sites:
    - {name: a, nodeSelector: {netgpt.io/site: site-a}, replicas: 0}
    - {name: b, nodeSelector: {netgpt.io/site: site-b}, replicas: 0}
---
apiVersion: netgpt.io/v1alpha1
kind: CloudLLM
metadata: {name: cloud-$i}
spec:
  model: {architecture: llama, format: gguf, source: {uri: "file:///models/big.gguf"}}
  replicas: 0
---
apiVersion: netgpt.io/v1alpha1
kind: LogicalAIWorkflow
metadata: {name: wf-$i}
spec:
  edgeRef: {name: edge-$i}
  cloudRef: {name: cloud-$i}
  steps:
    - {name: complete, kind: promptCompletion}
    - {name: scrub, kind: desensitize}
    - {name: answer, kind: generate, target: cloud}
M
done
t0=$(date +%s.%N)
kubectl apply -n "$ns" -f "$manifest" >/dev/null
observed() {
  kubectl get "$1" -n "$ns" -o jsonpath='{range .items[*]}{.status.observedGeneration}{"\n"}{end}' | grep -c '^1$' || true
}
until [ "$(observed edgellm)" -ge "$per" ] && [ "$(observed cloudllm)" -ge "$per" ] && [ "$(observed logicalaiworkflow)" -ge "$per" ]; do
  sleep 1
done
converge=$(awk "BEGIN {print $(date +%s.%N) - $t0}")
deployments=$(kubectl get deploy -n "$ns" -o name | wc -l)
policies=$(kubectl get networkpolicy -n "$ns" -o name | wc -l)
sleep 3
rss=$(awk '/VmRSS/ {print $2/1024}' /proc/$OP/status)
hwm=$(awk '/VmHWM/ {print $2/1024}' /proc/$OP/status)
rm -f "$manifest"
printf '\n| measure | value |\n|---|---|\n'
printf '| objects applied (EdgeLLM / CloudLLM / LogicalAIWorkflow) | %d / %d / %d |\n' "$per" "$per" "$per"
printf '| time until every status reports generation 1 | %.1f s |\n' "$converge"
printf '| children: Deployments / NetworkPolicies | %d / %d |\n' "$deployments" "$policies"
printf '| operator RSS (current / peak) | %.0f MiB / %.0f MiB |\n' "$rss" "$hwm"
