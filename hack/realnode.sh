#!/usr/bin/env bash
# A real node for the test control plane: containerd + runc + kubelet + kube-proxy on this
# machine, with a CNI bridge and a small cluster DNS, so pods actually run (the fake nodes
# of hack/testenv.sh only let the scheduler place them). Called by hack/testenv.sh:
#
#   hack/testenv.sh start-node   # start (idempotent); prints the node name
#   hack/testenv.sh stop-node    # stop it, kill its pods, remove its rules and mounts
#   hack/testenv.sh load-image REF   # copy an image from buildah storage into the node
#
# Like kind's single node, the one node carries both the edge and the cloud role. It is
# tainted `netgpt.io/real-node=true:NoSchedule` and labelled `netgpt.io/real-node=true`, so
# only workloads that ask for it land here; the other tests keep using the fake nodes.
#
# Everything here is test-bed code, not product: in particular the DNS (dnsmasq fed from
# the apiserver's Services) stands in for CoreDNS, which has no Debian package. The
# product only relies on ordinary `<service>.<namespace>.svc` names.
# Pitfalls and why each setting is here: shared research notes "real-nodes.md".
set -euo pipefail

: "${BIN:?set by hack/testenv.sh}" "${RUN:?set by hack/testenv.sh}"
NODE_NAME=${NETGPT_NODE_NAME:-netgpt-node-1}
NODE=$RUN/node
# The node's address is the CNI bridge's gateway: the kubelet refuses a loopback node IP,
# and pods reach the apiserver, the DNS and the kubelet's host through it.
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
BRIDGE=netgpt0
SOCK=/run/netgpt-containerd/containerd.sock
KUBELET_TOKEN=netgpt-test-kubelet-token
PROXY_TOKEN=netgpt-test-kube-proxy-token

log() { echo "realnode: $*" >&2; }
kc() { kubectl --kubeconfig "$RUN/kubeconfig" "$@"; }
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }

install_packages() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  command -v buildah >/dev/null || need+=(buildah)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null || need+=(iptables)
  command -v conntrack >/dev/null || need+=(conntrack)
  command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v ip >/dev/null || need+=(iproute2)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
  fi
}

# The bridge exists before anything binds to its address (the apiserver advertises it,
# dnsmasq and the kubelet listen on it); the CNI bridge plugin adopts it.
ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  [[ "$(ip -4 -o addr show dev "$BRIDGE")" == *" $NODE_IP/"* ]] || ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1
  # Pod → Service → pod on the same bridge must pass iptables for kube-proxy's DNAT.
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
  return 0
}

# Writes stdin to FILE only when the content differs: kube-proxy exits when its
# configuration file changes, so a second `start` must not touch the files in use.
put() {
  local tmp; tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

write_configs() {
  mkdir -p "$NODE"/{containerd,cni,kubelet,dns,logs} /run/netgpt-containerd
  containerd config default >"$NODE/containerd/config.toml.default"
  sed -e "s|^root = .*|root = \"$NODE/containerd/root\"|" \
      -e "s|^state = .*|state = \"/run/netgpt-containerd/state\"|" \
      -e "0,/^  address = \"\/run\/containerd\/containerd.sock\"/s||  address = \"$SOCK\"|" \
      -e 's|restrict_oom_score_adj = false|restrict_oom_score_adj = true|' \
      -e 's|bin_dir = "/opt/cni/bin"|bin_dir = "/usr/lib/cni"|' \
      -e "s|conf_dir = \"/etc/cni/net.d\"|conf_dir = \"$NODE/cni\"|" \
      "$NODE/containerd/config.toml.default" | put "$NODE/containerd/config.toml"
  # The VM does not let even root lower oom_score_adj (the kubelet asks -998 for sandboxes).
  grep -q 'restrict_oom_score_adj = true' "$NODE/containerd/config.toml"
  grep -q "address = \"$SOCK\"" "$NODE/containerd/config.toml"
  put "$NODE/cni/10-netgpt.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "netgpt",
 "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$NODE/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CNI
  kubeconfig_for "$NODE/kubelet/kubeconfig" "$KUBELET_TOKEN"
  kubeconfig_for "$NODE/kube-proxy.kubeconfig" "$PROXY_TOKEN"
  # Pods with dnsPolicy Default get this; cluster pods get clusterDNS below.
  echo "nameserver $NODE_IP" | put "$NODE/resolv.conf"
  put "$NODE/kubelet/config.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failSwapOn: false
enforceNodeAllocatable: []
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: $NODE/resolv.conf
staticPodPath: ""
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
KUBELET
  put "$NODE/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $NODE/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: 10.244.0.0/16
mode: iptables
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the VM's conntrack table settings alone (its sysctls may be read-only).
conntrack: {maxPerCore: 0, min: 0}
PROXY
}

kubeconfig_for() { # kubeconfig_for FILE TOKEN
  sed -e "s|token: [^}]*}|token: $2}|" "$RUN/kubeconfig" | put "$1"
}

running() { [ -f "$NODE/$1.pid" ] && kill -0 "$(cat "$NODE/$1.pid")" 2>/dev/null; }

start_containerd() {
  running containerd && return 0
  containerd --config "$NODE/containerd/config.toml" >"$NODE/logs/containerd.log" 2>&1 &
  echo $! >"$NODE/containerd.pid"
  for _ in $(seq 1 100); do ctr_ version >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "containerd did not start:"; tail -20 "$NODE/logs/containerd.log" >&2; return 1
}

# No pause image can be pulled: the kubelet's sandbox process is built with the control
# plane (hack/testenv.sh) and packaged here under the name containerd asks for.
load_pause_image() {
  local ref=registry.k8s.io/pause:3.6
  ctr_ images ls -q | grep -qx "$ref" && return 0
  local ctx; ctx=$(mktemp -d)
  cp "$BIN/pause" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
  buildah inspect --type image "$ref" >/dev/null 2>&1 || buildah bud -q -t "$ref" "$ctx" >/dev/null
  rm -rf "$ctx"
  load_image "$ref"
}

# Copies an image from buildah's storage into the node's containerd (like `kind load`).
load_image() {
  local ref=$1 archive
  archive=$(mktemp -u --suffix .tar)
  buildah push -q "$ref" "docker-archive:$archive:$ref" >/dev/null
  ctr_ images import --no-unpack=false "$archive" >/dev/null
  rm -f "$archive"
  log "image $ref in the node's containerd"
}

# Test-bed DNS: answers <svc>.<ns>.svc.cluster.local (and <svc>.<ns>.svc) with the
# Service's ClusterIP, NXDOMAIN for anything else in cluster.local, nothing upstream.
run_dnsmasq() {
  # As root: it reads the hosts file from under $HOME, which `nobody` cannot.
  dnsmasq --keep-in-foreground --user=root --no-resolv --no-hosts --bind-interfaces --listen-address "$NODE_IP" \
    --except-interface lo --local=/cluster.local/ --local=/svc/ --addn-hosts "$NODE/dns/hosts" \
    --pid-file="$NODE/dns/dnsmasq.pidfile" --log-facility="$NODE/logs/dnsmasq.log" &
  echo $! >"$NODE/dnsmasq.pid"
}

start_dns() {
  running dnsmasq && return 0
  : >"$NODE/dns/hosts"
  rm -f "$NODE/dns/dnsmasq.pidfile"
  run_dnsmasq
  # The feeder also keeps dnsmasq alive: without it no pod resolves a Service, and the
  # symptom (a gateway that never gets ready) is far from the cause.
  (
    set +e +o pipefail
    while [ -f "$NODE/dnsmasq.pid" ]; do
      if ! running dnsmasq; then
        echo "$(date -Is) dnsmasq is not running; restarting it"
        rm -f "$NODE/dns/dnsmasq.pidfile"
        run_dnsmasq
      fi
      # dnsmasq writes its pid file once it is set up; a SIGHUP before that kills it.
      if [ -f "$NODE/dns/dnsmasq.pidfile" ] &&
        kc --request-timeout=10s get services -A \
          -o jsonpath='{range .items[*]}{.spec.clusterIP}{" "}{.metadata.name}{" "}{.metadata.namespace}{"\n"}{end}' |
        awk '$1 != "None" && $1 != "" {print $1, $2"."$3".svc.cluster.local", $2"."$3".svc"}' |
          sort >"$NODE/dns/hosts.new" &&
        [ -s "$NODE/dns/hosts.new" ] && ! cmp -s "$NODE/dns/hosts.new" "$NODE/dns/hosts"; then
        mv "$NODE/dns/hosts.new" "$NODE/dns/hosts"
        kill -HUP "$(cat "$NODE/dnsmasq.pid")"
      fi
      sleep 1
    done
  ) >>"$NODE/logs/dns-feeder.log" 2>&1 &
  echo $! >"$NODE/dns-feeder.pid"
}

start_kubelet() {
  running kubelet && return 0
  "$BIN/kubelet" --config "$NODE/kubelet/config.yaml" --kubeconfig "$NODE/kubelet/kubeconfig" \
    --root-dir "$NODE/kubelet/root" --cert-dir "$NODE/kubelet/pki" \
    --container-runtime=remote --container-runtime-endpoint "unix://$SOCK" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "netgpt.io/real-node=true,kubernetes.io/hostname=$NODE_NAME" \
    --register-with-taints "netgpt.io/real-node=true:NoSchedule" \
    --v=1 >"$NODE/logs/kubelet.log" 2>&1 &
  echo $! >"$NODE/kubelet.pid"
}

start_kube_proxy() {
  running kube-proxy && return 0
  "$BIN/kube-proxy" --config "$NODE/kube-proxy.yaml" --v=1 >"$NODE/logs/kube-proxy.log" 2>&1 &
  echo $! >"$NODE/kube-proxy.pid"
}

wait_ready() {
  for _ in $(seq 1 180); do
    if [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; then
      # No node-lifecycle controller runs in the test bed (fake nodes have no heartbeats),
      # so nobody else removes the taint the kubelet registers with.
      kc taint node "$NODE_NAME" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
      return 0
    fi
    sleep 1
  done
  log "node $NODE_NAME did not become Ready:"; tail -30 "$NODE/logs/kubelet.log" >&2; return 1
}

start() {
  [ -x "$BIN/kubelet" ] || { log "not installed: run hack/testenv.sh install"; exit 1; }
  install_packages
  ensure_bridge
  write_configs
  start_containerd
  load_pause_image
  start_dns
  start_kube_proxy
  start_kubelet
  wait_ready
  log "node $NODE_NAME Ready (logs in $NODE/logs)"
  echo "$NODE_NAME"
}

stop() {
  local p
  for p in kubelet kube-proxy dns-feeder dnsmasq; do
    running "$p" && kill "$(cat "$NODE/$p.pid")" 2>/dev/null || true
    rm -f "$NODE/$p.pid"
  done
  if running containerd; then
    # Kill every pod's processes, then containerd and its shims.
    local t
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 1
    kill "$(cat "$NODE/containerd.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do running containerd || break; sleep 0.2; done
  fi
  pkill -f "containerd-shim-runc-v2.*$SOCK" 2>/dev/null || true
  [ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # Unmount what the kubelet and containerd mounted under the node's directories.
  if [ -d "$NODE" ]; then
    { grep -o " $NODE[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  { grep -o ' /run/netgpt-containerd[^ ]*' /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for n in /run/netns/cni-*; do [ -e "$n" ] && { umount "$n" 2>/dev/null; rm -f "$n"; }; done
  ip link del "$BRIDGE" 2>/dev/null || true
  kc delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
  rm -rf /run/netgpt-containerd
  # Imported images live in the node's containerd root: gone with it, loaded again next run.
  rm -rf "$NODE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  load-image) load_image "$2" ;;
  *) echo "usage: $0 start|stop|load-image REF" >&2; exit 2 ;;
esac
