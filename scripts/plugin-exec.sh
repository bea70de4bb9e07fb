#!/usr/bin/env bash
# Runs a command inside weave's managed plugin (its mount namespace, where the control socket
# /run/weave/weave.sock and the image's programs are), e.g. `weave status`: a managed plugin is not
# a container, so `docker exec` cannot reach it. Run it as root on the Docker host.
#
#   scripts/plugin-exec.sh [--name NAME] COMMAND [ARGS...]
#
#   --name  the plugin (default weave:latest)
#
# Examples: scripts/plugin-exec.sh weave status; scripts/plugin-exec.sh weave ps;
# scripts/plugin-exec.sh weave dns-lookup db. The plugin's process is found through its cgroup,
# whose path holds the plugin's ID (cgroupfs and systemd cgroup drivers alike).
set -euo pipefail

name=weave:latest
if [[ "${1:-}" == --name ]]; then
  [[ $# -ge 2 ]] || { echo "usage: $0 [--name NAME] COMMAND [ARGS...]" >&2; exit 2; }
  name=$2
  shift 2
elif [[ "${1:-}" == --name=* ]]; then
  name=${1#*=}
  shift
fi
[[ $# -gt 0 ]] || { echo "usage: $0 [--name NAME] COMMAND [ARGS...]" >&2; exit 2; }

id=$(docker plugin inspect -f '{{.Id}}' "$name") || exit 1
[[ "$(docker plugin inspect -f '{{.Enabled}}' "$name")" == true ]] || {
  echo "plugin-exec: $name is not enabled" >&2
  exit 1
}
pid=""
for f in /proc/[0-9]*/cgroup; do
  if grep -q -- "$id" "$f" 2>/dev/null; then
    pid=${f#/proc/}
    pid=${pid%/cgroup}
    break
  fi
done
[[ -n "$pid" ]] || {
  echo "plugin-exec: no process of plugin $name ($id) on this machine (run it on the Docker host, as root)" >&2
  exit 1
}
exec nsenter --target "$pid" --mount -- "$@"
