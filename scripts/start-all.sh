#!/usr/bin/env bash
# Starts weave with an example cluster store, as the 2015 plugin's start-all.sh started the Weave
# router and then the plugin: first an etcd container, then weave as a container
# (scripts/start-plugin.sh) with `--store etcd://IP:2379`.
#
#   scripts/start-all.sh [--etcd-ip IP] [--image IMAGE] [--] [LAUNCH FLAGS...]
#
#   --image    the weave image (default weave:latest)
#   --etcd-ip  the address etcd listens on and weave uses (default 127.0.0.1; use the host's
#              address that other hosts reach for a multi-host store)
#   LAUNCH FLAGS (and WEAVE_* variables) go to weave as with start-plugin.sh.
#
# Images: weave-etcd:latest and weave:latest, built with
# scripts/build-image.sh --target etcd and scripts/build-image.sh. etcd keeps its data in
# /var/lib/weave-etcd on the Docker host. Both containers are replaced when they exist.
#
# Other hosts join the same cluster with `weave launch --store etcd://IP:2379` (docs/multihost.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
etcd_ip=127.0.0.1
etcd_image=weave-etcd:latest
etcd_name=weave-etcd
image=weave:latest

usage() {
  echo "usage: $0 [--etcd-ip IP] [--image IMAGE] [--] [LAUNCH FLAGS...]" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --etcd-ip | --image)
      [[ $# -ge 2 ]] || usage
      if [[ "$1" == --image ]]; then image=$2; else etcd_ip=$2; fi
      shift 2
      ;;
    --etcd-ip=*) etcd_ip=${1#*=} && shift ;;
    --image=*) image=${1#*=} && shift ;;
    --) shift && break ;;
    -h | --help) usage ;;
    *) break ;;
  esac
done

die() {
  echo "start-all: $*" >&2
  exit 1
}

for i in "$etcd_image" "$image"; do
  docker image inspect "$i" >/dev/null 2>&1 || {
    case "$i" in
      "$etcd_image") hint="scripts/build-image.sh --target etcd" ;;
      *) hint="scripts/build-image.sh --tag $i" ;;
    esac
    die "no image $i in this Docker (build it with: $hint)"
  }
done

# 1. etcd, one member, on the host's network.
if docker container inspect "$etcd_name" >/dev/null 2>&1; then
  docker rm -f "$etcd_name" >/dev/null
fi
client="http://$etcd_ip:2379"
peer="http://$etcd_ip:2380"
docker run -d --name "$etcd_name" --restart=always --net=host \
  -v /var/lib/weave-etcd:/var/lib/etcd \
  "$etcd_image" --name "$etcd_name" --data-dir /var/lib/etcd \
  --listen-client-urls "$client" --advertise-client-urls "$client" \
  --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
  --initial-cluster "$etcd_name=$peer" >/dev/null
deadline=$((SECONDS + 30))
until docker exec "$etcd_name" etcdctl --endpoints "$client" endpoint health >/dev/null 2>&1; do
  if [[ $SECONDS -ge $deadline ]]; then
    docker logs --tail 20 "$etcd_name" >&2 || true
    die "etcd did not become healthy (logs above)"
  fi
  sleep 0.5
done
echo "start-all: etcd is up at $client (container $etcd_name)" >&2

# 2. weave, with etcd as its cluster store.
exec "$here/start-plugin.sh" --image "$image" -- --store "etcd://$etcd_ip:2379" "$@"
