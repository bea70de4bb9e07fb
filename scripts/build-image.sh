#!/usr/bin/env bash
# Builds the weave image (or the etcd image start-all.sh uses) without any base image or registry:
# the root file system comes from this machine's files (scripts/build-rootfs.sh) and goes into the
# Docker daemon with `docker import`. The docker CLI's usual settings apply (DOCKER_HOST,
# DOCKER_CONTEXT, ...), so the image can be built into another daemon than the local one.
#
#   scripts/build-image.sh [--target weave|etcd] [--tag TAG] [--rootfs DIR] [--skip-build]
#
#   --target   weave (default; tag weave:latest) or etcd (tag weave-etcd:latest)
#   --tag      the image's name (default per target, above)
#   --rootfs   use (or, when missing, make and keep) the root file system in DIR instead of a
#              temporary one; scripts/build-plugin.sh can take the same DIR
#   --skip-build  do not run `npm run build` first (dist/ must be up to date)
#
# Prints the image's name and ID. The weave image runs `weave launch --foreground` with the
# container's arguments as flags (packaging/docker/entrypoint.sh); run it with
# scripts/start-plugin.sh. See docs/running.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
target=weave
tag=""
rootfs=""
build_flags=()

usage() {
  echo "usage: $0 [--target weave|etcd] [--tag TAG] [--rootfs DIR] [--skip-build]" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --target | --tag | --rootfs)
      [[ $# -ge 2 ]] || usage
      case "$1" in
        --target) target=$2 ;;
        --tag) tag=$2 ;;
        --rootfs) rootfs=$2 ;;
      esac
      shift 2
      ;;
    --target=*) target=${1#*=} && shift ;;
    --tag=*) tag=${1#*=} && shift ;;
    --rootfs=*) rootfs=${1#*=} && shift ;;
    --skip-build) build_flags+=(--skip-build) && shift ;;
    *) usage ;;
  esac
done

case "$target" in
  weave)
    tag=${tag:-weave:latest}
    changes=(
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
      --change 'ENTRYPOINT ["/usr/bin/weave-entrypoint"]'
      --change 'WORKDIR /'
    )
    ;;
  etcd)
    tag=${tag:-weave-etcd:latest}
    changes=(
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
      --change 'ENV ETCDCTL_API=3'
      --change 'ENTRYPOINT ["/usr/bin/etcd"]'
      --change 'WORKDIR /'
    )
    ;;
  *) usage ;;
esac

command -v docker >/dev/null || {
  echo "build-image: the docker CLI is not installed" >&2
  exit 1
}

cleanup=""
trap '[[ -z "$cleanup" ]] || rm -rf "$cleanup"' EXIT
if [[ -z "$rootfs" ]]; then
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/weave-rootfs.XXXXXX")
  cleanup=$rootfs
  "$here/build-rootfs.sh" --target "$target" "${build_flags[@]}" "$rootfs" >/dev/null
elif [[ "$(cat "$rootfs/.weave-rootfs" 2>/dev/null)" != "$target" ]]; then
  "$here/build-rootfs.sh" --target "$target" "${build_flags[@]}" "$rootfs" >/dev/null
fi

echo "build-image: importing $rootfs as $tag" >&2
# Owners as numbers and 0: the files are the image's, not this machine's users'.
id=$(tar -C "$rootfs" --numeric-owner --owner=0 --group=0 --exclude=./.weave-rootfs -cf - . |
  docker import "${changes[@]}" --message "weave $target image built by scripts/build-image.sh" - "$tag")
echo "$tag $id"
