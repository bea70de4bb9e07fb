#!/usr/bin/env bash
# Assembles the root file system of a weave (or etcd) image from this machine's files: no base
# image, no registry. Used by scripts/build-image.sh and scripts/build-plugin.sh.
#
#   scripts/build-rootfs.sh [--target weave|etcd] [--skip-build] DIR
#
# weave: /usr/bin/node, the built weave (dist/, bin/, package.json and the production node_modules,
# better-sqlite3's .node included) in /usr/lib/weave, iproute2 (ip, bridge), nft, iptables (nf_tables
# and legacy, with the xtables modules), sysctl, wg and wireguard-go, dash as /bin/sh, busybox (static) for the small tools,
# and packaging/docker/entrypoint.sh as /usr/bin/weave-entrypoint. Every program comes with the
# shared libraries `ldd` lists for it and the dynamic loader.
# etcd: Debian's etcd and etcdctl (etcd-server, etcd-client) with their libraries, dash and busybox.
#
# DIR must not exist or be empty, or be a root file system this script made (it is then rebuilt).
# Unless --skip-build is given, weave is built first (`npm run build`). Needs: node, npm, busybox
# (static: Debian's busybox-static), ip, bridge, nft, iptables, sysctl, wg, wireguard-go (Debian's
# wireguard-tools and wireguard-go); for etcd: etcd, etcdctl.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
target=weave
skip_build=false
dir=""

usage() {
  echo "usage: $0 [--target weave|etcd] [--skip-build] DIR" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --target)
      [[ $# -ge 2 ]] || usage
      target=$2
      shift 2
      ;;
    --target=*)
      target=${1#*=}
      shift
      ;;
    --skip-build)
      skip_build=true
      shift
      ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
      [[ -z "$dir" ]] || usage
      dir=$1
      shift
      ;;
  esac
done
[[ -n "$dir" ]] || usage
case "$target" in weave | etcd) ;; *) usage ;; esac
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

die() {
  echo "build-rootfs: $*" >&2
  exit 1
}

MARKER=.weave-rootfs
if [[ -e "$dir" ]]; then
  if [[ -e "$dir/$MARKER" ]]; then
    rm -rf "$dir"
  elif [[ -n "$(ls -A "$dir")" ]]; then
    die "$dir exists and is not empty (and not a root file system made by this script)"
  fi
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
echo "$target" >"$dir/$MARKER"

# Debian's merged /usr: /bin, /sbin, /lib and /lib64 are links into /usr.
mkdir -p "$dir"/usr/{bin,sbin,lib,lib64} "$dir"/{etc,proc,sys,dev,run,root,var/lib,tmp}
chmod 1777 "$dir/tmp"
for d in bin sbin lib lib64; do ln -sfn "usr/$d" "$dir/$d"; done

# Where a path of this machine lands in the root file system: /bin/x and /usr/bin/x are one file
# (merged /usr), so everything is put below /usr.
dest_of() {
  case "$1" in
    /bin/* | /sbin/* | /lib/* | /lib64/*) echo "$dir/usr$1" ;;
    *) echo "$dir$1" ;;
  esac
}

# copy_file PATH: copies the file PATH names (following links) to the same path in the root file
# system; if PATH is a link, the link's own name is kept too (as a link to the copy).
copy_file() {
  local path=$1 real
  real=$(readlink -f "$path") || die "cannot resolve $path"
  [[ -f "$real" ]] || die "$path is not a file"
  local to
  to=$(dest_of "$real")
  if [[ ! -e "$to" ]]; then
    mkdir -p "$(dirname "$to")"
    cp -p "$real" "$to"
  fi
  local as
  as=$(dest_of "$path")
  if [[ "$as" != "$to" && ! -e "$as" && ! -L "$as" ]]; then
    mkdir -p "$(dirname "$as")"
    ln -s "$real" "$as"
  fi
}

# copy_libs FILE...: the shared libraries (and the dynamic loader) the ELF files need.
copy_libs() {
  local f lib
  for f in "$@"; do
    # Statically linked files make ldd exit 1 ("not a dynamic executable").
    while read -r lib; do
      [[ -n "$lib" ]] && copy_file "$lib"
    done < <(ldd "$f" 2>/dev/null | awk '
      /=> not found/ { print "MISSING " $1; next }
      /=>/ && $3 ~ /^\// { print $3; next }
      $1 ~ /^\// { print $1 }' | {
      missing=""
      while read -r l rest; do
        if [[ "$l" == MISSING ]]; then missing="$missing $rest"; else echo "$l"; fi
      done
      [[ -z "$missing" ]] || echo "build-rootfs: $f needs missing libraries:$missing" >&2
    })
  done
}

# copy_program NAME: a program found on PATH, with its libraries.
copy_program() {
  local path
  path=$(command -v "$1") || die "$1 is not installed"
  copy_file "$path"
  copy_libs "$(readlink -f "$path")"
}

# /bin/sh is dash when this machine has it (Debian's /bin/sh): busybox's own sh runs its applets
# before the programs on PATH, so `sh -c 'ip ...'` would get busybox's ip instead of iproute2's.
add_shell() {
  if command -v dash >/dev/null; then
    copy_program dash
    ln -s dash "$dir/usr/bin/sh"
  else
    echo "build-rootfs: dash is not installed; /bin/sh is busybox (its applets win over PATH in sh)" >&2
  fi
}

# The static busybox as /usr/bin/busybox and its applets, except where a real program of the same
# name is in the image (ip, sysctl, sh, ...).
add_busybox() {
  local bb
  bb=$(command -v busybox) || die "busybox is not installed (apt-get install busybox-static)"
  if ldd "$bb" >/dev/null 2>&1; then
    die "$bb is dynamically linked (install busybox-static)"
  fi
  cp -p "$(readlink -f "$bb")" "$dir/usr/bin/busybox"
  local applet
  while read -r applet; do
    [[ -z "$applet" || "$applet" == busybox || "$applet" == */* ]] && continue
    [[ -e "$dir/usr/bin/$applet" || -e "$dir/usr/sbin/$applet" ]] && continue
    ln -s busybox "$dir/usr/bin/$applet"
  done < <("$bb" --list)
}

add_etc() {
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  printf 'hosts: files dns\n' >"$dir/etc/nsswitch.conf"
  : >"$dir/etc/hosts"
  : >"$dir/etc/resolv.conf"
  local f
  for f in /etc/protocols /etc/services /etc/ethertypes; do
    [[ -f "$f" ]] && cp -p "$f" "$dir$f"
  done
  return 0
}

build_weave() {
  if ! $skip_build; then
    (cd "$repo" && npm run build >&2) || die "npm run build failed"
  fi
  [[ -f "$repo/dist/cli/main.js" ]] || die "weave is not built (run: npm run build)"

  # Node.js (always as /usr/bin/node, whatever its path here) and the weave application.
  local node
  node=$(command -v node) || die "node is not installed"
  node=$(readlink -f "$node")
  cp -p "$node" "$dir/usr/bin/node"
  copy_libs "$node"
  local app="$dir/usr/lib/weave"
  mkdir -p "$app"
  cp -a "$repo/dist" "$repo/bin" "$repo/package.json" "$app/"
  # Production dependencies, as npm resolved them (each package without its nested node_modules,
  # which npm lists separately); better-sqlite3 without its sources and build intermediates.
  local pkg rel
  while read -r pkg; do
    [[ "$pkg" == "$repo" || -z "$pkg" ]] && continue
    rel=${pkg#"$repo"/}
    mkdir -p "$app/$rel"
    tar -C "$pkg" -cf - --exclude=./node_modules --exclude=./deps --exclude=./src \
      --exclude=./build/Release/obj --exclude=./build/Release/obj.target --exclude=./build/Release/.deps \
      --exclude=./build/Release/test_extension.node --exclude='./build/Release/*.a' --exclude=./build/deps \
      . | tar -C "$app/$rel" -xf -
  done < <(npm ls --prefix "$repo" --omit=dev --all --parseable 2>/dev/null || true)
  local native
  native=$(find "$app/node_modules" -name '*.node' -type f)
  [[ -n "$native" ]] || die "no native module (better-sqlite3) in the production node_modules"
  # shellcheck disable=SC2086 # one path per word
  copy_libs $native
  ln -s ../lib/weave/bin/weave "$dir/usr/bin/weave"

  # The data plane's programs.
  copy_program ip
  copy_program bridge
  copy_program nft
  copy_program sysctl
  # Encryption between hosts: wg, and wireguard-go for kernels without the wireguard module.
  copy_program wg
  copy_program wireguard-go
  local multi mode
  for mode in nft legacy; do
    multi=$(command -v "xtables-$mode-multi") || die "xtables-$mode-multi is not installed (apt-get install iptables)"
    copy_file "$multi"
    copy_libs "$multi"
    # Debian's names for each back end, and a directory per back end with the plain names, which the
    # entrypoint puts first on PATH.
    local name
    for name in iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore; do
      ln -sfn "xtables-$mode-multi" "$dir/usr/sbin/${name/tables/tables-$mode}"
    done
    mkdir -p "$dir/usr/lib/weave/iptables-$mode"
    for name in iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore; do
      ln -sfn "/usr/sbin/xtables-$mode-multi" "$dir/usr/lib/weave/iptables-$mode/$name"
    done
  done
  # Plain names default to nf_tables, Debian's default.
  for name in iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore; do
    ln -sfn xtables-nft-multi "$dir/usr/sbin/$name"
  done
  local xt=/usr/lib/x86_64-linux-gnu/xtables
  if [[ ! -d "$xt" ]]; then
    xt=$(dirname "$(find /usr/lib /lib -path '*/xtables/libxt_standard.so' -print -quit 2>/dev/null)")
  fi
  [[ -d "$xt" ]] || die "cannot find the xtables modules (libxt_*.so)"
  mkdir -p "$(dest_of "$xt")"
  cp -a "$xt/." "$(dest_of "$xt")/"
  copy_libs "$xt"/*.so
  [[ -d /etc/iproute2 ]] && cp -a /etc/iproute2 "$dir/etc/"
  [[ -d /usr/share/iproute2 ]] && mkdir -p "$dir/usr/share" && cp -a /usr/share/iproute2 "$dir/usr/share/"

  install -m 0755 "$repo/packaging/docker/entrypoint.sh" "$dir/usr/bin/weave-entrypoint"
  mkdir -p "$dir/var/lib/weave" "$dir/run/docker/plugins" "$dir/run/weave"
}

build_etcd() {
  copy_program etcd
  copy_program etcdctl
  mkdir -p "$dir/var/lib/etcd"
}

add_etc
case "$target" in
  weave) build_weave ;;
  etcd) build_etcd ;;
esac
add_shell
add_busybox
echo "$dir"
