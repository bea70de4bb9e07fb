#!/bin/sh
# Entrypoint of the weave image (scripts/build-image.sh) and of the managed plugin
# (scripts/build-plugin.sh): runs `weave launch --foreground` with the given flags.
#
#   docker run ... weave:latest [LAUNCH FLAGS...]   the daemon (flags as for `weave launch`)
#   docker run ... weave:latest weave COMMAND ...   any weave command (e.g. `weave launch --help`)
#   docker run ... weave:latest sh                  any other program of the image
#
# weave edits the host's iptables FORWARD chain, so it must use the same iptables back end as the
# host (and dockerd): nf_tables or legacy. WEAVE_IPTABLES=auto (the default) picks the one that
# holds more rules, as Kubernetes' iptables-wrapper does; nft or legacy force one.
set -eu

case "${1:-}" in
  "" | -*) ;;
  *) exec "$@" ;;
esac

mode=${WEAVE_IPTABLES:-auto}
if [ "$mode" = auto ]; then
  legacy=$( (iptables-legacy-save || true; ip6tables-legacy-save || true) 2>/dev/null | grep -c '^-' || true)
  nft=$( (iptables-nft-save || true; ip6tables-nft-save || true) 2>/dev/null | grep -c '^-' || true)
  if [ "${legacy:-0}" -gt "${nft:-0}" ]; then mode=legacy; else mode=nft; fi
fi
case "$mode" in
  nft | legacy) ;;
  *)
    echo "weave-entrypoint: WEAVE_IPTABLES must be auto, nft or legacy (got \"$mode\")" >&2
    exit 2
    ;;
esac
# A managed plugin (and a container without --privileged) gets /proc/sys read-only, but weave turns
# on net.ipv4.ip_forward. With CAP_SYS_ADMIN it may make its own view of /proc/sys writable; this
# changes nothing outside its mount namespace.
if grep -q ' /proc/sys ro[, ]' /proc/self/mountinfo 2>/dev/null; then
  mount -o remount,rw /proc/sys 2>/dev/null || true
fi

PATH="/usr/lib/weave/iptables-$mode:$PATH"
export PATH
printf '{"time":"%s","level":"info","component":"entrypoint","msg":"iptables back end chosen","iptables":"%s"}\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$mode"

exec /usr/lib/weave/bin/weave launch --foreground "$@"
