/**
 * The WireGuard layer: one device per host, one WireGuard peer per encrypting peer with the same
 * password. A peer's allowed IPs are its tunnel address (VXLAN inside the tunnel is sent there) and
 * the addresses of its containers that are routed to it. It runs before the other transports, which
 * send into it. Without a password the device is removed (when a previous run left one).
 */
import type { WireguardDataplane, WireguardPeerSpec, WireguardSpec } from "../../dataplane/index.js";
import type { Transport, TransportInput } from "./transport.js";
import { pathsOf } from "./transport.js";

/** This host's WireGuard identity, as the planner needs it. */
export interface WireguardSelf {
  device: string;
  port: number;
  /** This host's tunnel address (IPv6, plain). */
  tunnel: string;
  privateKey: string;
  presharedKey: string;
  mtu: number;
}

/** Seconds between keepalives: handshakes stay fresh (and visible in `weave status peers`) when idle. */
export const KEEPALIVE_S = 25;

const hostPrefix = (ip: string): string => (ip.includes(":") ? `${ip}/128` : `${ip}/32`);

/** The device and peers this host should have. Pure. */
export function wireguardSpec(input: TransportInput, self: WireguardSelf): WireguardSpec {
  const routed = pathsOf(input, "routed");
  const allowed = new Map<string, string[]>();
  for (const n of input.view.networks) {
    for (const r of n.remotes) {
      if (!routed.has(r.peer)) continue;
      const list = allowed.get(r.peer) ?? [];
      for (const ip of [r.ipv4, r.ipv6]) if (ip !== undefined) list.push(hostPrefix(ip));
      allowed.set(r.peer, list);
    }
  }
  const usable = new Set(input.paths.filter((p) => p.encryption === "wireguard").map((p) => p.peer));
  const peers: WireguardPeerSpec[] = [];
  for (const p of input.view.peers) {
    const wg = p.wireguard;
    if (!wg || !usable.has(p.name)) continue;
    const endpoint = p.address.includes(":") ? `[${p.address}]:${wg.port}` : `${p.address}:${wg.port}`;
    peers.push({
      publicKey: wg.publicKey,
      presharedKey: self.presharedKey,
      endpoint,
      allowedIps: [hostPrefix(wg.tunnel), ...[...new Set(allowed.get(p.name) ?? [])].sort()],
      persistentKeepalive: KEEPALIVE_S,
    });
  }
  return {
    name: self.device,
    privateKey: self.privateKey,
    listenPort: self.port,
    address: `${self.tunnel}/64`,
    mtu: self.mtu,
    peers: peers.sort((a, b) => a.publicKey.localeCompare(b.publicKey)),
  };
}

/** Without a password: removes the device a previous run with one left behind. */
export function noWireguard(wireguard: WireguardDataplane): Transport {
  return {
    name: "wireguard",
    // A slice changes nothing of a device that should not be there (full passes still remove it).
    apply: async (_input, pass) => (pass.slice ? { applied: [] } : wireguard.reconcile(undefined)),
  };
}
