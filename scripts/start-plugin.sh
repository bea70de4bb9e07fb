#!/usr/bin/env bash
# Runs weave as a container, as the 2015 plugin's start-plugin.sh did: privileged, in the host's
# network namespace, with Docker's plugin directory and API socket mounted, plus the state
# directory, so that nothing is lost when the container is restarted or replaced.
#
#   scripts/start-plugin.sh [--image IMAGE] [--name NAME] [--caps-only] [--] [LAUNCH FLAGS...]
#
#   --image  the image (default weave:latest, built by scripts/build-image.sh)
#   --name   the container's name (default weave)
#   --caps-only  instead of --privileged, give the container only the capabilities the managed
#            plugin gets (NET_ADMIN, NET_RAW, SYS_ADMIN). /proc/sys is then read-only: IPv4
#            forwarding must be on already (dockerd turns it on). This is also what happens, with a
#            warning, when Docker cannot start privileged containers ("unable to apply caps", e.g.
#            a dockerd that itself runs without some capability).
#   LAUNCH FLAGS go to `weave launch --foreground` (see `docker run --rm weave:latest weave launch
#   --help`), e.g. --log-level debug. Every WEAVE_* variable of the caller's environment is passed
#   into the container too (WEAVE_LOG_LEVEL=debug scripts/start-plugin.sh).
#
# An existing container of that name is replaced (idempotent). The state directory on the host is
# WEAVE_STATE_DIR (default /var/lib/weave), mounted at the same path. The script returns once the
# daemon answers and Docker has weave's default network; it prints the container's ID.
# The docker CLI's usual settings apply (DOCKER_HOST, ...). See docs/running.md.
set -euo pipefail

image=weave:latest
name=weave
caps_only=false

usage() {
  echo "usage: $0 [--image IMAGE] [--name NAME] [--caps-only] [--] [LAUNCH FLAGS...]" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --image | --name)
      [[ $# -ge 2 ]] || usage
      if [[ "$1" == --image ]]; then image=$2; else name=$2; fi
      shift 2
      ;;
    --image=*) image=${1#*=} && shift ;;
    --name=*) name=${1#*=} && shift ;;
    --caps-only) caps_only=true && shift ;;
    --) shift && break ;;
    -h | --help) usage ;;
    *) break ;;
  esac
done

die() {
  echo "start-plugin: $*" >&2
  exit 1
}

docker image inspect "$image" >/dev/null 2>&1 ||
  die "no image $image in this Docker (build it with: scripts/build-image.sh --tag $image)"

state_dir=${WEAVE_STATE_DIR:-/var/lib/weave}
env_args=()
while IFS='=' read -r var _; do
  [[ "$var" =~ ^WEAVE_[A-Z0-9_]+$ ]] && env_args+=(-e "$var")
done < <(env)

if docker container inspect "$name" >/dev/null 2>&1; then
  echo "start-plugin: replacing the container $name" >&2
  docker rm -f "$name" >/dev/null
fi

# iptables-legacy serialises with the host's programs (dockerd) through /run/xtables.lock; a bind
# mount of a missing file would make Docker create a directory there, so make sure the file exists
# (on the Docker host, which may not be this machine).
docker run --rm --net=none -v /run:/host-run --entrypoint /bin/sh "$image" \
  -c ': >>/host-run/xtables.lock' >/dev/null

run() {
  local privilege=(--privileged)
  if $caps_only; then privilege=(--cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_ADMIN); fi
  docker run -d --name "$name" --restart=always "${privilege[@]}" --net=host \
    -v /run/docker/plugins:/run/docker/plugins \
    -v /var/run/docker.sock:/var/run/docker.sock \
    -v "$state_dir:$state_dir" \
    --mount type=bind,source=/run/xtables.lock,target=/run/xtables.lock \
    "${env_args[@]}" "$image" "$@"
}

errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT
if ! id=$(run "$@" 2>"$errfile"); then
  err=$(cat "$errfile")
  if $caps_only || [[ "$err" != *"unable to apply caps"* ]]; then die "$err"; fi
  echo "start-plugin: this Docker cannot start privileged containers (unable to apply caps);" \
    "running weave with NET_ADMIN, NET_RAW and SYS_ADMIN only (--caps-only)" >&2
  docker rm -f "$name" >/dev/null 2>&1 || true
  caps_only=true
  id=$(run "$@")
fi

# Wait until the daemon answers and Docker has the default network (as `weave launch` does).
deadline=$((SECONDS + 60))
while :; do
  running=$(docker container inspect -f '{{.State.Running}}' "$name" 2>/dev/null || echo false)
  status=$(docker exec "$name" weave status --json 2>/dev/null | tr -d ' \n' || true)
  if [[ "$status" =~ \"defaultNetwork\":\{[^}]*\"ready\":true ]] ||
    [[ "$status" =~ \"defaultNetwork\":\{\"name\":\"\" ]]; then
    break
  fi
  if [[ "$status" =~ \"status\":\"unreachable\" ]]; then
    echo "start-plugin: weave runs but cannot reach Docker yet; it creates its default network when it can" >&2
    break
  fi
  if [[ "$running" != true || $SECONDS -ge $deadline ]]; then
    docker logs --tail 20 "$name" >&2 || true
    die "weave did not come up in the container $name (logs above; docker logs $name)"
  fi
  sleep 0.5
done
echo "$id"
