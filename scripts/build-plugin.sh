#!/usr/bin/env bash
# Builds weave as a managed Docker plugin (plugin v2): a bundle directory with config.json and the
# same root file system as the weave image (scripts/build-rootfs.sh), and optionally creates and
# enables it with `docker plugin create` / `docker plugin enable` (no registry needed).
#
#   scripts/build-plugin.sh [--name NAME] [--dir DIR] [--rootfs DIR] [--skip-build]
#                           [--create] [--enable] [--replace]
#
#   --name     the plugin's name (default weave:latest; Docker adds ":latest" to a name without a
#              tag). Docker names the network and IPAM driver after it: -d weave:latest. The name is
#              written into the bundle as the default of WEAVE_DRIVER_NAME; a plugin created under
#              another name needs `docker plugin set NAME WEAVE_DRIVER_NAME=NAME`.
#   --dir      where the bundle goes (default .tmp/plugin in the repository); replaced if it holds
#              a bundle made by this script
#   --rootfs   copy this root file system (made by build-rootfs.sh or build-image.sh --rootfs)
#              instead of assembling one
#   --skip-build  do not run `npm run build` first
#   --create   `docker plugin create NAME DIR` (the plugin is created disabled)
#   --enable   --create, then `docker plugin enable NAME`
#   --replace  remove an existing plugin of that name first (`docker plugin rm -f`)
#
# The docker CLI's usual settings apply (DOCKER_HOST, ...). Settings: `docker plugin set NAME
# WEAVE_LOG_LEVEL=debug` (every WEAVE_* setting of the daemon except the paths the plugin's layout
# fixes), `docker plugin set NAME args="--flag value ..."`, `docker plugin set NAME state.source=DIR`.
# See docs/running.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
name=weave:latest
bundle="$repo/.tmp/plugin"
rootfs=""
skip_build=false
create=false
enable=false
replace=false

usage() {
  echo "usage: $0 [--name NAME] [--dir DIR] [--rootfs DIR] [--skip-build] [--create] [--enable] [--replace]" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --name | --dir | --rootfs)
      [[ $# -ge 2 ]] || usage
      case "$1" in
        --name) name=$2 ;;
        --dir) bundle=$2 ;;
        --rootfs) rootfs=$2 ;;
      esac
      shift 2
      ;;
    --name=*) name=${1#*=} && shift ;;
    --dir=*) bundle=${1#*=} && shift ;;
    --rootfs=*) rootfs=${1#*=} && shift ;;
    --skip-build) skip_build=true && shift ;;
    --create) create=true && shift ;;
    --enable) create=true && enable=true && shift ;;
    --replace) replace=true && shift ;;
    *) usage ;;
  esac
done

die() {
  echo "build-plugin: $*" >&2
  exit 1
}

# Docker's reference with its default tag: the driver name Docker will use.
last=${name##*/}
[[ "$last" == *:* ]] || name="$name:latest"

MARKER=.weave-plugin-bundle
if [[ -e "$bundle" ]]; then
  if [[ -e "$bundle/$MARKER" ]]; then
    rm -rf "$bundle"
  elif [[ -n "$(ls -A "$bundle")" ]]; then
    die "$bundle exists and is not empty (and not a bundle made by this script)"
  fi
fi
mkdir -p "$bundle"
bundle=$(cd "$bundle" && pwd)
: >"$bundle/$MARKER"

if [[ -n "$rootfs" ]]; then
  [[ "$(cat "$rootfs/.weave-rootfs" 2>/dev/null)" == weave ]] ||
    die "$rootfs is not a weave root file system made by build-rootfs.sh"
  cp -a "$rootfs" "$bundle/rootfs"
else
  flags=()
  if $skip_build; then flags+=(--skip-build); fi
  "$here/build-rootfs.sh" --target weave "${flags[@]}" "$bundle/rootfs" >/dev/null
fi
rm -f "$bundle/rootfs/.weave-rootfs"

# config.json, with one settable variable per daemon flag (from the built weave's flag table), so
# that it always matches `weave launch --help`.
WEAVE_PLUGIN_NAME=$name node --input-type=module - "$repo/dist/config/config.js" >"$bundle/config.json" <<'EOF'
import { pathToFileURL } from "node:url";
const { FLAGS } = await import(pathToFileURL(process.argv[2]).href);
const name = process.env.WEAVE_PLUGIN_NAME;
// Paths the plugin's layout fixes: Docker serves the socket's directory, the mounts below put
// the state and the Docker socket there, and the daemon runs in the foreground.
const fixed = {
  WEAVE_SOCKET: "/run/docker/plugins/weave.sock",
  WEAVE_STATE_DIR: "/var/lib/weave",
  WEAVE_RUN_DIR: "/run/weave",
  WEAVE_DOCKER_SOCKET: "/var/run/docker.sock",
  WEAVE_FOREGROUND: "true",
  WEAVE_LOG_FILE: "",
};
const env = FLAGS.map((f) =>
  f.env in fixed
    ? { Name: f.env, Description: f.help, Settable: [], Value: fixed[f.env] }
    : {
        Name: f.env,
        Description: f.help,
        Settable: ["value"],
        Value: f.env === "WEAVE_DRIVER_NAME" ? name : f.default,
      },
);
env.push({
  Name: "WEAVE_PASSWORD",
  Description:
    "cluster password (encryption between hosts); docker plugin inspect shows it: prefer WEAVE_PASSWORD_FILE=/var/lib/weave/password",
  Settable: ["value"],
  Value: "",
});
env.push({
  Name: "WEAVE_IPTABLES",
  Description: "iptables back end: auto (the one the host uses), nft or legacy",
  Settable: ["value"],
  Value: "auto",
});
const config = {
  Description: "weave: Docker network and IPAM driver with its own data plane, weaveDNS and durable state",
  Documentation: "docs/running.md in weave's source tree",
  Entrypoint: ["/usr/bin/weave-entrypoint"],
  WorkDir: "/",
  Interface: {
    Types: ["docker.networkdriver/1.0", "docker.ipamdriver/1.0"],
    Socket: "weave.sock",
    ProtocolScheme: "moby.plugins.http/v1",
  },
  Network: { Type: "host" },
  PidHost: false,
  IpcHost: false,
  PropagatedMount: "",
  Linux: {
    Capabilities: ["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_NET_RAW"],
    AllowAllDevices: false,
    // wireguard-go (encryption where the kernel has no wireguard module) needs a tun device.
    Devices: [{ Name: "tun", Description: "tun device for wireguard-go", Settable: [], Path: "/dev/net/tun" }],
  },
  Mounts: [
    {
      Name: "state",
      Description: "weave's state directory (SQLite database); must exist on the host",
      Settable: ["source"],
      Source: "/var/lib/weave",
      Destination: "/var/lib/weave",
      Type: "bind",
      Options: ["rbind", "rw"],
    },
    {
      Name: "docker-socket",
      Description: "Docker Engine API: default network, weaveDNS names, reconciliation",
      Settable: ["source"],
      Source: "/var/run/docker.sock",
      Destination: "/var/run/docker.sock",
      Type: "bind",
      Options: ["rbind", "rw"],
    },
  ],
  Env: env,
  Args: {
    Name: "args",
    Description: "extra `weave launch` flags, e.g. --log-level debug",
    Settable: ["value"],
    Value: [],
  },
};
process.stdout.write(JSON.stringify(config, null, 2) + "\n");
EOF
echo "build-plugin: bundle $bundle (config.json, rootfs/) for $name" >&2

if $create; then
  command -v docker >/dev/null || die "the docker CLI is not installed"
  if docker plugin inspect "$name" >/dev/null 2>&1; then
    $replace || die "the plugin $name exists (use --replace, or: docker plugin rm -f $name)"
    docker plugin rm -f "$name" >/dev/null
  fi
  # The state directory must exist before the plugin is enabled (a missing bind-mount source fails).
  if [[ -z "${DOCKER_HOST:-}" && -z "${DOCKER_CONTEXT:-}" ]]; then
    mkdir -p /var/lib/weave 2>/dev/null || echo "build-plugin: create /var/lib/weave on the Docker host" >&2
  fi
  # The bundle must not contain our marker (docker plugin create takes the whole directory).
  rm -f "$bundle/$MARKER"
  docker plugin create "$name" "$bundle" >/dev/null
  : >"$bundle/$MARKER"
  echo "build-plugin: created $name (disabled)" >&2
  if $enable; then
    docker plugin enable "$name" >/dev/null
    echo "build-plugin: enabled $name: docker network create -d $name --ipam-driver $name NET" >&2
  fi
fi
echo "$bundle"
