#!/usr/bin/env bash
# weave's test command: `sudo ./scripts/test.sh [unit|integration|e2e]` (also `npm test`).
#
# As root it first installs the Debian packages the tests use (only the missing ones), then
# installs node modules when needed, builds, runs `npm run check`, and runs the test tiers in order:
# unit (no root), integration (root, throwaway network namespaces), e2e (root, its own dockerds).
# A tier that cannot run here prints `SKIPPED <tier>: <reason>`; with CI=true a skip is a failure.
# Prints one summary line per tier and exits non-zero if anything failed.
# It never stops or reconfigures a system-wide dockerd: the e2e tier starts its own.
set -euo pipefail

cd "$(dirname "$0")/.."

PACKAGES=(docker.io iptables iproute2 nftables busybox-static etcd-server etcd-client dnsmasq dnsperf
  bind9-dnsutils iperf3 conntrack python3 make g++ curl util-linux chromium systemd procps openssl iputils-ping
  docker-compose wireguard-tools wireguard-go tcpdump)
ALL_TIERS=(unit integration e2e)

usage() {
  echo "usage: $0 [unit|integration|e2e]" >&2
  exit 2
}

tiers=("${ALL_TIERS[@]}")
if [[ $# -gt 1 ]]; then usage; fi
if [[ $# -eq 1 ]]; then
  case "$1" in
    unit | integration | e2e) tiers=("$1") ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
fi

ci=false
if [[ "${CI:-}" == "true" ]]; then ci=true; fi
is_root=false
if [[ "$(id -u)" -eq 0 ]]; then is_root=true; fi
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

declare -A result=()
failed=false

log() { printf '\n=== %s\n' "$*"; }

# Records a tier (or step) outcome; a skip under CI=true counts as a failure.
skip() {
  local tier=$1 reason=$2
  echo "SKIPPED $tier: $reason"
  if $ci; then
    result[$tier]="FAIL (skipped under CI=true: $reason)"
    failed=true
  else
    result[$tier]="SKIPPED ($reason)"
  fi
}

missing_commands() {
  local missing=()
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  echo "${missing[*]:-}"
}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then return 0; fi
  log "Installing missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
}

# Node modules: `npm ci` when node_modules is missing or older than package-lock.json.
install_node_modules() {
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    log "npm ci"
    npm ci --no-audit --no-fund
  fi
}

# Runs one tier (`npm run test:<tier>`, node's test runner; root tiers with --test-concurrency=1),
# or reports it skipped with the reason.
run_tier() {
  local tier=$1 reason="" files=()
  case "$tier" in
    unit) ;;
    integration)
      if ! $is_root; then
        reason="needs root (run: sudo $0 integration)"
      else
        local m
        m=$(missing_commands ip nft iptables)
        [[ -z "$m" ]] || reason="missing commands: $m"
      fi
      ;;
    e2e)
      if ! $is_root; then
        reason="needs root and real Docker (run: sudo $0 e2e)"
      else
        local m
        m=$(missing_commands dockerd docker busybox nsenter unshare ip iptables tar)
        [[ -z "$m" ]] || reason="missing commands: $m"
      fi
      ;;
    *) usage ;;
  esac
  if [[ -d "test/$tier" ]]; then
    mapfile -t files < <(find "test/$tier" -type f -name '*.test.ts' | sort)
  fi
  if [[ -z "$reason" && ${#files[@]} -eq 0 ]]; then reason="no test files in test/$tier"; fi
  if [[ -n "$reason" ]]; then
    skip "$tier" "$reason"
    return 0
  fi

  log "Tier $tier: ${#files[@]} test file(s): npm run test:$tier"
  local start=$SECONDS
  if npm run "test:$tier"; then
    result[$tier]="PASS ($((SECONDS - start)) s)"
  else
    result[$tier]="FAIL ($((SECONDS - start)) s)"
    failed=true
  fi
}

summary() {
  log "Summary"
  for step in build check "${tiers[@]}"; do
    printf '%-12s %s\n' "$step:" "${result[$step]:-NOT RUN}"
  done
}

if $is_root; then
  if [[ "${tiers[*]}" != unit ]]; then install_packages; fi
else
  echo "Not root: not installing Debian packages; the integration and e2e tiers will be skipped."
fi

command -v node >/dev/null 2>&1 || { echo "node (20 or later) is not installed" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "npm is not installed" >&2; exit 1; }
install_node_modules

log "npm run build"
if npm run build; then
  result[build]=PASS
else
  result[build]=FAIL
  failed=true
  summary
  exit 1
fi

log "npm run check"
if npm run check; then
  result[check]=PASS
else
  result[check]=FAIL
  failed=true
fi

for tier in "${tiers[@]}"; do
  run_tier "$tier"
done

summary
if $failed; then exit 1; fi
