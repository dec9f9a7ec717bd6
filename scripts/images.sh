#!/usr/bin/env bash
# Builds the container images (make images) with buildah, from a Debian base made here by mmdebstrap: no Docker daemon, no registry.
#
#   scripts/images.sh [build_dir]        (default: build)
#
# The base is made from Debian's packages as the real debian:bookworm-slim is (minbase, no docs,
# man pages or locales, no apt lists) and tagged docker.io/library/debian:bookworm-slim in
# buildah's local storage, so the Dockerfiles are built as written, with --pull=never. It is
# kept as a tarball under <build_dir>/images/ keyed by the mmdebstrap options: delete
# <build_dir>/images/base-*.tar to take Debian's newer packages. Writes the size table to
# <build_dir>/images/sizes.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_dir=${1:-build}
out="$build_dir/images"
# This machine's containers have neither overlayfs nor user namespaces; vfs and chroot work
# everywhere (set them to overlay / oci where the kernel allows, for speed).
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

scripts/ensure-packages.sh buildah mmdebstrap podman
mkdir -p "$out"

version=$(sed -n 's/^project(aggregator VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "images: no project version in CMakeLists.txt" >&2; exit 1; }
programs=()
for f in */Dockerfile; do programs+=("${f%/Dockerfile}"); done
base_image=$(sed -n 's/^FROM \([^ ]*\).*/\1/p' "${programs[0]}/Dockerfile" | head -1)
for p in "${programs[@]}"; do
  if grep '^FROM ' "$p/Dockerfile" | grep -qv " $base_image\( \|$\)"; then
    echo "images: $p/Dockerfile uses another base than $base_image" >&2; exit 1
  fi
done

# ---- the base ---------------------------------------------------------------------------------
suite=bookworm
mirror=http://deb.debian.org/debian
mmdebstrap_args=(--variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --skip=output/dev --aptopt='Acquire::Languages "none"'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
  "$suite" "TARBALL" "deb $mirror $suite main" "deb $mirror $suite-updates main"
  "deb http://deb.debian.org/debian-security $suite-security main")
key=$(printf '%s\n' "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)
base_tar="$out/base-$suite-$key.tar"
base_id_file="$out/base-$suite-$key.id"

image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }

t0=$(date +%s)
if [ -s "$base_id_file" ] && [ "$(image_id "$base_image")" = "$(cat "$base_id_file")" ]; then
  echo "images: base $base_image is the cached one ($base_tar)"
else
  if [ ! -s "$base_tar" ]; then
    echo "images: making the base with mmdebstrap ($suite, minbase)"
    args=("${mmdebstrap_args[@]}")
    args=("${args[@]/#TARBALL/$base_tar.part}")
    mmdebstrap --format=tar "${args[@]}" > "$out/mmdebstrap.log" 2>&1 \
      || { tail -20 "$out/mmdebstrap.log" >&2; exit 1; }
    mv "$base_tar.part" "$base_tar"
    tar -xOf "$base_tar" ./var/lib/dpkg/status | sed -n 's/^Package: //p' | sort > "${base_tar%.tar}.packages"
  fi
  echo "images: tagging $base_tar as $base_image"
  ctr=$(buildah from --pull=never scratch)
  buildah add --quiet "$ctr" "$base_tar" / >/dev/null
  # What debian:bookworm-slim's own configuration holds.
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash "$ctr"
  buildah commit --quiet --rm --format docker "$ctr" "$base_image" >/dev/null
  image_id "$base_image" > "$base_id_file"
fi
t_base=$(( $(date +%s) - t0 ))

# ---- the images -------------------------------------------------------------------------------
source_url=${IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || echo "unknown (set IMAGE_SOURCE)")}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
declare -A seconds
for p in "${programs[@]}"; do
  echo "images: building aggregator/$p:$version"
  t0=$(date +%s)
  buildah bud --quiet --layers --format docker --pull=never \
    --build-arg VERSION="$version" --build-arg SOURCE="$source_url" --build-arg REVISION="$revision" \
    --build-arg AGG_GIT_COMMIT="$revision" \
    -f "$p/Dockerfile" -t "aggregator/$p:$version" . >/dev/null
  seconds[$p]=$(( $(date +%s) - t0 ))
done

{
  printf '%-42s %10s %8s\n' IMAGE "SIZE (MB)" "BUILD s"
  printf '%-42s %10s %8s\n' "$base_image" \
    "$(podman image inspect --format '{{.Size}}' "$base_image" | awk '{printf "%.1f", $1/1e6}')" "$t_base"
  for p in "${programs[@]}"; do
    img="localhost/aggregator/$p:$version"
    printf '%-42s %10s %8s\n' "$img" \
      "$(podman image inspect --format '{{.Size}}' "$img" | awk '{printf "%.1f", $1/1e6}')" "${seconds[$p]}"
  done
} | tee "$out/sizes.txt"
