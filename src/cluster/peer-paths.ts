/** The peers as `weave status peers` shows them, with the path this host uses to each. Pure. */
import type { PeerPath } from "./paths.js";
import type { PeerStatus } from "./peers.js";
import { HANDSHAKE_FRESH_S } from "./peers.js";
import type { PeerRecord } from "./records.js";

export interface PathFacts {
  /** The last pass's paths. */
  paths: readonly PeerPath[];
  /** The last pass programmed every transport. */
  programmed: boolean;
  /** The MTU of this host's containers (the default network's). */
  containerMtu: number;
  /** Set when this host encrypts: the handshake ages. */
  encryption?: { handshakeAgeS(publicKey: string): number | null } | undefined;
  records: readonly PeerRecord[];
}

export function withPaths(peers: readonly PeerStatus[], f: PathFacts): PeerStatus[] {
  const byPeer = new Map(f.paths.map((p) => [p.peer, p]));
  const keyOf = new Map(f.records.map((r) => [r.name, r.wireguard?.publicKey]));
  return peers.map((peer) => {
    const path = byPeer.get(peer.name);
    if (peer.state !== "alive" || !path) return { ...peer, up: peer.state === "self" };
    const key = keyOf.get(peer.name);
    const age =
      path.encryption === "wireguard" && key && f.encryption ? f.encryption.handshakeAgeS(key) : null;
    const fresh = path.encryption !== "wireguard" || (age !== null && age <= HANDSHAKE_FRESH_S);
    return {
      ...peer,
      transport: path.transport,
      encryption: path.encryption,
      mtu: Math.min(path.mtu, f.containerMtu),
      handshakeAgeS: age,
      up: path.problem === "" && f.programmed && fresh,
      problem: path.problem,
    };
  });
}
