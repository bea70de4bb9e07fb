/**
 * The peers as this host shows them: those registered in the store (alive, or this host itself)
 * and those this daemon saw leave (gone, until `weave rmpeer` or a restart); and `weave rmpeer`.
 */
import type { Logger } from "../core/index.js";
import { VERSION, WeaveError } from "../core/index.js";
import type { ClusterStore } from "../store/index.js";
import type { StoreHealth } from "./health.js";
import type { PeerRecord } from "./records.js";
import { BLOCKS, dnsPrefix, endpointPrefix, parseBlockClaim, peerKey } from "./records.js";

export type PeerState = "self" | "alive" | "gone";

export interface PeerStatus {
  name: string;
  address: string;
  state: PeerState;
  /**
   * When this host last knew the peer alive (ms): now for a registered peer (its lease is live, so
   * it renewed within the lease's TTL), the moment its registration went for a peer that is gone.
   */
  lastSeen: number;
  version: string;
  /** How this host reaches the peer (null for this host itself and for a peer that is gone). */
  transport: string | null;
  encryption: "none" | "wireguard" | "mismatch" | null;
  /** The largest IP packet a container here can send to the peer's containers. */
  mtu: number | null;
  /** Seconds since the last WireGuard handshake with the peer; null when never or not encrypted. */
  handshakeAgeS: number | null;
  /** The path is programmed and, when encrypted, had a handshake within HANDSHAKE_FRESH_S. */
  up: boolean;
  /** Why the peer is unreachable ("" when it is not), e.g. an encryption mismatch. */
  problem: string;
}

/** A WireGuard handshake older than this means the path is down (WireGuard rekeys every 2 minutes). */
export const HANDSHAKE_FRESH_S = 180;

const NO_PATH = { transport: null, encryption: null, mtu: null, handshakeAgeS: null, up: false, problem: "" };

export class PeerTracker {
  private readonly known = new Map<string, PeerRecord>();
  /** Peers that left, with the time this host saw their registration go. */
  private readonly gone = new Map<string, { record: PeerRecord; at: number }>();

  constructor(
    private readonly self: string,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** The registered peers now: logs joins and departures. */
  changed(registered: readonly PeerRecord[]): void {
    const now = new Map(registered.map((p) => [p.name, p]));
    for (const [name, p] of this.known) {
      if (!now.has(name) && name !== this.self) {
        this.gone.set(name, { record: p, at: this.now() });
        this.logger.info("peer left the cluster", { peer: name, address: p.address });
      }
    }
    for (const [name, p] of now) {
      if (!this.known.has(name) && name !== this.self)
        this.logger.info("peer joined the cluster", { peer: name, address: p.address });
      this.gone.delete(name);
    }
    this.known.clear();
    for (const [name, p] of now) this.known.set(name, p);
  }

  /**
   * One peer's registration changed (a watch event): `record` is undefined when it went (or no
   * longer parses). Logs as `changed` does, in work independent of the number of peers.
   */
  peerChanged(name: string, record: PeerRecord | undefined): void {
    const known = this.known.get(name);
    if (record) {
      if (!known && name !== this.self)
        this.logger.info("peer joined the cluster", { peer: name, address: record.address });
      this.gone.delete(name);
      this.known.set(name, record);
      return;
    }
    if (!known) return;
    this.known.delete(name);
    if (name === this.self) return;
    this.gone.set(name, { record: known, at: this.now() });
    this.logger.info("peer left the cluster", { peer: name, address: known.address });
  }

  forget(name: string): void {
    this.gone.delete(name);
  }

  /** Every peer with its state, sorted by name; this host is listed even before it registered. */
  list(registered: readonly PeerRecord[], selfAddress: string): PeerStatus[] {
    const view = (p: PeerRecord, state: PeerState, lastSeen: number): PeerStatus => ({
      name: p.name,
      address: p.address,
      state,
      lastSeen,
      version: p.version,
      ...NO_PATH,
    });
    const now = this.now();
    const peers = registered.map((p) => view(p, p.name === this.self ? "self" : "alive", now));
    for (const { record, at } of this.gone.values())
      if (!peers.some((x) => x.name === record.name)) peers.push(view(record, "gone", at));
    if (!peers.some((p) => p.name === this.self)) {
      peers.push({
        name: this.self,
        address: selfAddress,
        state: "self",
        lastSeen: 0,
        version: VERSION,
        ...NO_PATH,
      });
    }
    return peers.sort((a, b) => a.name.localeCompare(b.name));
  }
}

/**
 * `weave rmpeer NAME`: releases the address blocks of a host that is gone for good, and whatever it
 * left under its (expired) lease. Refused for this host and for a host that is registered (alive).
 * Returns the number of blocks released.
 */
export async function removePeer(
  o: { store: ClusterStore; health: StoreHealth; self: string },
  name: string,
): Promise<number> {
  const { store, health } = o;
  if (name === o.self)
    throw new WeaveError("WEAVE_BAD_REQUEST", `"${name}" is this host: run weave rmpeer on another host`);
  const call = <T>(p: Promise<T>) => health.need(`remove peer "${name}"`, p);
  if (await call(store.get(peerKey(name)))) {
    throw new WeaveError(
      "WEAVE_CONFLICT",
      `Host "${name}" is registered in the cluster (alive): stop weave there first; its registration expires 15 s later`,
    );
  }
  let released = 0;
  for (const kv of (await call(store.list(BLOCKS))).items) {
    if (parseBlockClaim(kv.value)?.host !== name) continue;
    if (await call(store.compareAndDelete(kv.key, kv.modRevision))) released++;
  }
  for (const prefix of [endpointPrefix(name), dnsPrefix(name)]) {
    for (const kv of (await call(store.list(prefix))).items) await call(store.delete(kv.key));
  }
  return released;
}
