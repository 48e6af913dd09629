#!/usr/bin/env bash
# Operator benchmark on the test control plane (not a test): prints a table.
#  1. time from `kubectl apply` of examples/ to all nine children present (5 runs, median);
#  2. 200 EdgeLLMs x 3 sites: time until every child exists and every status is written,
#     and the operator's RSS (current and peak).
# Usage: hack/bench-operator.sh [N_EDGELLMS]   (needs `hack/testenv.sh start`)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
eval "$(hack/testenv.sh env)"
cargo build --release -q --bin netgpt
BIN=target/release/netgpt
LOG=$(mktemp); trap 'kill $OP 2>/dev/null || true; rm -f $LOG' EXIT
$BIN crd | kubectl apply -f - >/dev/null
$BIN operator --listen 127.0.0.1:0 --leader-elect=false >"$LOG" 2>&1 &
OP=$!
sleep 2
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

times=()
for i in 1 2 3 4 5; do
  ns=bench-examples-$i-$$
  kubectl create ns "$ns" >/dev/null
  t0=$(now)
  kubectl apply -n "$ns" -f examples/ >/dev/null
  until [ "$(kubectl get deploy,svc,cm -n "$ns" -l app.kubernetes.io/managed-by=netgpt-operator -o name | wc -l)" -ge 9 ]; do sleep 0.05; done
  times+=("$(awk "BEGIN {print $(now) - $t0}")")
  kubectl delete pods --all -n "$ns" --force --grace-period=0 >/dev/null 2>&1 || true
  kubectl delete ns "$ns" --wait=false >/dev/null
done
apply_median=$(printf '%s\n' "${times[@]}" | median)

ns=bench-scale-$$
kubectl create ns "$ns" >/dev/null
manifest=$(mktemp)
for i in $(seq 1 "$N"); do cat >>"$manifest" <<M
---
apiVersion: netgpt.io/v1alpha1
kind: EdgeLLM
metadata: {name: edge-$i}
spec:
  model: {architecture: llama, format: gguf, source: {uri: "file:///models/m.gguf"}}
  sites:
    - {name: a, nodeSelector: {netgpt.io/site: site-a}, replicas: 1}
    - {name: b, nodeSelector: {netgpt.io/site: site-b}, replicas: 1}
    - {name: c, nodeSelector: {netgpt.io/site: site-b}, replicas: 1}
M
done
t0=$(now)
kubectl apply -n "$ns" -f "$manifest" >/dev/null
want=$((N * 3))
until [ "$(kubectl get deploy -n "$ns" -o name | wc -l)" -ge "$want" ] \
   && [ "$(kubectl get edgellm -n "$ns" -o jsonpath='{range .items[*]}{.status.observedGeneration}{"\n"}{end}' | grep -c '^1$')" -ge "$N" ]; do
  sleep 0.5
done
converge=$(awk "BEGIN {print $(now) - $t0}")
sleep 5
rss=$(awk '/VmRSS/ {print $2/1024}' /proc/$OP/status)
hwm=$(awk '/VmHWM/ {print $2/1024}' /proc/$OP/status)
# No kubelet runs here: pods must be force-deleted or they hold node capacity forever.
kubectl delete pods --all -n "$ns" --force --grace-period=0 >/dev/null 2>&1 || true
kubectl delete ns "$ns" --wait=false >/dev/null
rm -f "$manifest"

printf '\n| measure | value |\n|---|---|\n'
printf '| examples applied -> 9 children present (median of 5) | %.2f s |\n' "$apply_median"
printf '| %d EdgeLLMs x 3 sites: all %d Deployments + statuses | %.1f s |\n' "$N" "$want" "$converge"
printf '| operator RSS managing them (current / peak) | %.0f MiB / %.0f MiB |\n' "$rss" "$hwm"
