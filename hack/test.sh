#!/usr/bin/env bash
# Runs every test: installs (cached) and starts the real Kubernetes 1.20 test control
# plane, then `cargo test` over the whole workspace. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/testenv.sh install
started_here=0
if ! hack/testenv.sh start 2>&1 | tee /dev/stderr | grep -q 'already running'; then
  started_here=1
fi
# Leave a control plane the developer started alone; stop the one started for this run.
[ "$started_here" = 1 ] && trap 'hack/testenv.sh stop' EXIT

# A real node that runs pods (containerd + kubelet + kube-proxy) beside the fake ones, for
# tests/real_cluster.rs; required here so that a broken node fails instead of skipping.
# containerd, the kubelet and iptables need root (CI runs as root); elsewhere that test skips.
if [ "$(id -u)" = 0 ]; then
  hack/testenv.sh start-node
  export NETGPT_REQUIRE_REAL_NODE=1
else
  echo "test.sh: not root: no real node, tests/real_cluster.rs will skip" >&2
fi

# The official OpenAI Python client (PyPI), for the structured-output test against the
# model server; a virtual environment cached per client version.
openai_version=3.63.0
openai_venv="$HOME/.cache/netgpt/openai-venv-$openai_version"
if ! "$openai_venv/bin/python" -c 'import openai' 2>/dev/null; then
  rm -rf "$openai_venv"
  python3 -m venv "$openai_venv"
  "$openai_venv/bin/pip" install --quiet "openai==$openai_version"
fi
export NETGPT_OPENAI_PYTHON="$openai_venv/bin/python"

cargo test --workspace --all-targets "$@"
