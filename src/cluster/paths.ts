/**
 * Which transport carries this host's traffic to each peer, and whether it is encrypted. Pure.
 *
 *   --transport vxlan    VXLAN to every peer
 *   --transport routed   routed to every peer (the peers must be reachable without a router that
 *                        drops foreign source addresses: on one segment, or inside WireGuard)
 *   --transport auto     routed to a peer whose advertised address is inside a subnet this host is
 *                        directly attached to, VXLAN to the others
 * With a password every path runs inside WireGuard, and a peer that does not prove the same password
 * (no WireGuard record, or a check that does not verify) is a mismatch: nothing is programmed to it.
 * Without a password, a peer that encrypts is a mismatch too (it would drop our plain traffic).
 */
import { containsAddress, parseAddress, parsePrefix } from "../core/index.js";
import type { PeerRecord } from "./records.js";

export type TransportMode = "auto" | "vxlan" | "routed";
export const TRANSPORT_MODES: readonly TransportMode[] = ["auto", "vxlan", "routed"];
/** A transport a path can use (a planner of that name runs it). */
export type TransportName = "vxlan" | "routed";
export type PathEncryption = "none" | "wireguard" | "mismatch";

/** Bytes each transport adds to a container's packet over an IPv4 underlay. */
export const OVERHEAD = {
  routed: 0,
  vxlan: 50,
  /** WireGuard over IPv4: IPv4 20 + UDP 8 + WireGuard 32. */
  wireguard: 60,
  /** VXLAN inside WireGuard reaches the peer's IPv6 tunnel address: IPv6 40 + UDP 8 + VXLAN 8 + Ethernet 14. */
  vxlanInTunnel: 70,
} as const;

/** The overhead containers must leave room for under `mode` (auto counts as VXLAN: some peer may need it). */
export function transportOverhead(mode: TransportMode, encrypted: boolean): number {
  if (mode === "routed") return encrypted ? OVERHEAD.wireguard : OVERHEAD.routed;
  return encrypted ? OVERHEAD.wireguard + OVERHEAD.vxlanInTunnel : OVERHEAD.vxlan;
}

export interface PeerPath {
  peer: string;
  /** The peer's underlay address. */
  address: string;
  transport: TransportName;
  encryption: PathEncryption;
  /** Why the path is not used ("" when it is). */
  problem: string;
  /** Where the transport sends to: the underlay address, or the tunnel address inside WireGuard. */
  nextHop: string;
  /** Where VXLAN frames for the peer go (the tunnel address when encrypted), whatever the transport:
   * a routed peer still gets the network's broadcast and multicast by VXLAN. */
  vxlanTo: string;
  /** The largest IP packet the path carries between containers (before the network's own MTU). */
  mtu: number;
}

/** What this host knows of itself when choosing. */
export interface PathOptions {
  mode: TransportMode;
  /** The subnets (CIDR) of this host's own interface addresses (auto's "directly attached"). */
  attached: readonly string[];
  /** The underlay MTU. */
  underlayMtu: number;
  /** Set with a password: verifies a peer's WireGuard record (same password). */
  verify?: (peer: PeerRecord) => boolean;
}

function onAttachedSubnet(address: string, attached: readonly string[]): boolean {
  let addr;
  try {
    addr = parseAddress(address);
  } catch {
    return false;
  }
  return attached.some((cidr) => {
    try {
      return containsAddress(parsePrefix(cidr), addr);
    } catch {
      return false;
    }
  });
}

function encryptionOf(peer: PeerRecord, o: PathOptions): { encryption: PathEncryption; problem: string } {
  if (!o.verify) {
    return peer.wireguard
      ? {
          encryption: "mismatch",
          problem: "encryption mismatch: the peer encrypts and this host has no password",
        }
      : { encryption: "none", problem: "" };
  }
  if (!peer.wireguard)
    return { encryption: "mismatch", problem: "encryption mismatch: the peer has no password" };
  if (!o.verify(peer))
    return { encryption: "mismatch", problem: "encryption mismatch: the peer uses another password" };
  return { encryption: "wireguard", problem: "" };
}

/** The path to each peer, sorted by peer name. */
export function choosePaths(peers: readonly PeerRecord[], o: PathOptions): PeerPath[] {
  return [...peers]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((peer) => {
      const transport: TransportName =
        o.mode === "auto" ? (onAttachedSubnet(peer.address, o.attached) ? "routed" : "vxlan") : o.mode;
      const { encryption, problem } = encryptionOf(peer, o);
      const tunnel = encryption === "wireguard" ? peer.wireguard?.tunnel : undefined;
      const nextHop = transport === "vxlan" && tunnel ? tunnel : peer.address;
      const overhead =
        (transport === "vxlan" ? (tunnel ? OVERHEAD.vxlanInTunnel : OVERHEAD.vxlan) : 0) +
        (encryption === "wireguard" ? OVERHEAD.wireguard : 0);
      return {
        peer: peer.name,
        address: peer.address,
        transport,
        encryption,
        problem,
        nextHop,
        vxlanTo: tunnel ?? peer.address,
        mtu: o.underlayMtu - overhead,
      };
    });
}

/** The paths that carry traffic (not a mismatch). */
export function usablePaths(paths: readonly PeerPath[]): PeerPath[] {
  return paths.filter((p) => p.problem === "");
}
