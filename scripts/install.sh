#!/usr/bin/env bash
# Installs and starts weave on this Docker host: `sudo ./scripts/install.sh`.
#
# 1. Installs the Debian packages weave needs at run time (iproute2, nftables, iptables), and
#    docker.io when the machine has no dockerd; starts dockerd when it is not answering.
# 2. Installs node modules (`npm ci`) and builds weave (`npm run build`).
# 3. Links /usr/local/bin/weave to this checkout's bin/weave.
# 4. Runs `weave launch` (restarting a running weave daemon so the new build runs), which creates
#    Docker's default network `weave`, and prints `weave status`.
# Running it again is fine.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# The docker CLI may be newer than the engine (e.g. a 28.x client with Debian's 20.10 dockerd).
export DOCKER_API_VERSION="${DOCKER_API_VERSION:-1.41}"

step() { printf '\n=== %s\n' "$*"; }
die() {
  echo "install.sh: $*" >&2
  exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "must run as root: sudo $0"
command -v node >/dev/null 2>&1 || die "node 20 or later is required (https://nodejs.org/en/download)"
command -v npm >/dev/null 2>&1 || die "npm is required (it comes with node)"
node -e 'const [M, m] = process.versions.node.split(".").map(Number); process.exit(M > 20 || (M === 20 && m >= 9) ? 0 : 1)' ||
  die "node $(node --version) is too old: weave needs node 20.9 or later"

# --- 1. Debian packages -------------------------------------------------------------------------
# python3, make and g++ build better-sqlite3 when no prebuilt binary can be downloaded; wireguard-tools
# and wireguard-go encrypt between hosts (--password-file) where the kernel has no wireguard module.
packages=(iproute2 nftables iptables python3 make g++ wireguard-tools wireguard-go)
if ! command -v dockerd >/dev/null 2>&1; then packages+=(docker.io); fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  step "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

docker_answers() { docker info >/dev/null 2>&1; }

if ! docker_answers; then
  step "Starting dockerd"
  if [[ "$(ps -p 1 -o comm= 2>/dev/null)" == systemd ]] && systemctl start docker; then
    echo "started with systemctl start docker"
  else
    nohup setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
    echo "dockerd started in the background, log: /var/log/dockerd.log"
  fi
  for _ in $(seq 1 60); do
    docker_answers && break
    sleep 1
  done
  docker_answers || die "dockerd does not answer after 60 s (see /var/log/dockerd.log or journalctl -u docker)"
fi

# --- 2. Build -------------------------------------------------------------------------------------
step "npm ci"
npm ci --no-audit --no-fund
step "npm run build"
npm run build

# --- 3. Link the CLI ------------------------------------------------------------------------------
[[ -x "$repo/bin/weave" ]] || die "$repo/bin/weave is missing or not executable"
ln -sfn "$repo/bin/weave" /usr/local/bin/weave
echo "/usr/local/bin/weave -> $repo/bin/weave"

# --- 4. Launch ------------------------------------------------------------------------------------
if weave status >/dev/null 2>&1; then
  step "Stopping the running weave daemon, so the new build runs"
  weave stop
fi
step "weave launch"
weave launch
step "weave status"
weave status
