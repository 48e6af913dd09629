#!/usr/bin/env bash
# Builds NetGPT with the `cuda` feature on a machine without a system CUDA toolkit or
# GPU driver, for Hopper GPUs (H100/H200, compute capability 9.0) with driver >= 580.
#
#   hack/build-cuda.sh                       # netgpt binary (release, stripped)
#   hack/build-cuda.sh --example gpu_bench   # any extra arguments go to cargo build
#
# Steps (each cached, so re-runs only rebuild what changed):
#  1. The CUDA 13.0.2 toolkit from PyPI wheels, installed with `pip --target` into
#     ~/.cache/netgpt/cuda-13.0.2 (outside the repository). nvcc must be 13.0: driver 580
#     cannot load PTX written by a newer nvcc, and the cu12 wheels link libcublas.so.12,
#     which GPU nodes with a CUDA 13 PyTorch lack.
#  2. A CUDA root folder (bin, include, nvvm, lib64) in the same cache: the wheels keep
#     only versioned libraries (libcublas.so.13), and the linker wants libcublas.so.
#  3. A placeholder libcuda.so: cudarc links -lcuda at build time, and no wheel ships the
#     driver library. The placeholder defines every cu* function cudarc declares as an
#     empty function, with the driver's soname (libcuda.so.1), so the binary loads the
#     node's real driver at run time. It is used only for linking and never shipped.
#  4. cargo build --release --features cuda, then strip: what travels to a GPU node is
#     often size-limited, and the symbols are most of the binary.
#
# Environment: CUDA_COMPUTE_CAP (default 90), CARGO_TARGET_DIR (default ./target),
# NETGPT_CUDA_CACHE (default ~/.cache/netgpt/cuda-13.0.2), CARGO_NICE (default 15).
set -euo pipefail
cd "$(dirname "$0")/.."

version=13.0.2
cache=${NETGPT_CUDA_CACHE:-$HOME/.cache/netgpt/cuda-$version}
site=$cache/site
root=$cache/root
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}

if [ ! -x "$site/nvidia/cu13/bin/nvcc" ]; then
  echo "installing the CUDA $version toolkit wheels into $site" >&2
  python3 -m pip install --quiet --target "$site" \
    "cuda-toolkit[nvcc,crt,nvvm,cccl,cudart,cublas,curand,nvrtc]==$version"
fi
cu=$site/nvidia/cu13

mkdir -p "$root/lib64"
for dir in bin include nvvm; do
  ln -sfn "$cu/$dir" "$root/$dir"
done
# Unversioned names for every versioned library (libcublas.so.13 -> libcublas.so).
for lib in "$cu"/lib/lib*.so.*; do
  name=$(basename "$lib")
  ln -sfn "$lib" "$root/lib64/${name%%.so.*}.so"
done
for lib in "$cu"/lib/*.a; do
  ln -sfn "$lib" "$root/lib64/$(basename "$lib")"
done

stub=$root/lib64/libcuda.so
if [ ! -f "$stub" ]; then
  cudarc=$(find "${CARGO_HOME:-$HOME/.cargo}"/registry/src -mindepth 2 -maxdepth 2 -type d -name 'cudarc-*' | sort -V | tail -1)
  if [ -z "$cudarc" ]; then
    cargo fetch
    cudarc=$(find "${CARGO_HOME:-$HOME/.cargo}"/registry/src -mindepth 2 -maxdepth 2 -type d -name 'cudarc-*' | sort -V | tail -1)
  fi
  echo "generating the placeholder libcuda.so from $cudarc" >&2
  source=$(mktemp --suffix .c)
  grep -rhoE 'pub unsafe fn cu[A-Z][A-Za-z0-9_]*' "$cudarc/src/driver/sys" |
    awk '{print $4}' | sort -u | sed 's/.*/void &(void) {}/' >"$source"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub" "$source"
  rm -f "$source"
fi

export CUDA_ROOT=$root CUDA_PATH=$root
export PATH=$root/bin:$PATH
export LIBRARY_PATH=$root/lib64${LIBRARY_PATH:+:$LIBRARY_PATH}
nice -n "${CARGO_NICE:-15}" cargo build --release --features cuda "$@"

target=${CARGO_TARGET_DIR:-target}/release
for binary in "$target/netgpt" "$target/examples/gpu_bench"; do
  # Strip only what this run (re)built.
  if [ -f "$binary" ] && { [ ! -f "$binary.stripped" ] || [ "$binary" -nt "$binary.stripped" ]; }; then
    strip -o "$binary.stripped" "$binary"
    echo "stripped: $binary.stripped ($(du -h "$binary.stripped" | cut -f1))" >&2
  fi
done
