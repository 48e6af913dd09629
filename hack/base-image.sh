#!/usr/bin/env bash
# Makes the base image the Dockerfile starts from (`debian:bookworm-slim`) out of Debian's
# packages, for machines that cannot pull from an image registry (the test bed, air-gapped
# build hosts). Where a registry is reachable this script is not needed: `docker build`
# pulls the same name.
#
#   hack/base-image.sh            # into buildah/podman storage (skipped when already there)
#   hack/base-image.sh --print    # print the image name and exit
#
# The root filesystem is `debootstrap --variant=minbase bookworm` with what the official
# slim image also leaves out (documentation, man pages, locales other than C, apt lists),
# cached as a tarball under $NETGPT_CACHE (default ~/.cache/netgpt), keyed by suite.
set -euo pipefail

SUITE=bookworm
IMAGE=debian:$SUITE-slim
MIRROR=${NETGPT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${NETGPT_CACHE:-$HOME/.cache/netgpt}
TARBALL=$CACHE/base-image/debian-$SUITE-minbase.tar

log() { echo "base-image: $*" >&2; }

[ "${1:-}" = --print ] && { echo "$IMAGE"; exit 0; }

if buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE already present"; echo "$IMAGE"; exit 0
fi

if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { log "needs debootstrap (apt-get install debootstrap)"; exit 1; }
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  log "debootstrap --variant=minbase $SUITE (a few minutes, once)"
  debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$CACHE.debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE.debootstrap.log" >&2; exit 1; }
  # What the official slim image drops too.
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
         "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
         "$root"/var/log/* "$root"/tmp/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
  mkdir -p "$(dirname "$TARBALL")"
  tar --numeric-owner -C "$root" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
fi

log "importing $TARBALL as $IMAGE"
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$TARBALL" / >/dev/null
buildah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
buildah commit --quiet "$ctr" "$IMAGE" >/dev/null
echo "$IMAGE"
