/**
 * This host's membership: a lease (TTL 15 s, renewed every 5 s) and peers/<name> under it, written
 * when it registers and when its record changes (a renewal that finds the record as it should be
 * only renews the lease: a live lease is what says the host is alive). Everything else
 * the host publishes (endpoints, DNS records) hangs on the same lease: when the host dies, it all
 * disappears from the cluster once the lease expires.
 *
 * The lease ID is kept in the local state, so a restarted daemon (or a crash) goes on with the same
 * lease while it lives: nothing this host published disappears during a restart. When the lease is
 * gone (etcd expired it while the host was cut off), a new one is granted and every publisher
 * re-publishes under it.
 */
import type { Clock, Logger } from "../core/index.js";
import { errorMessage, Reconciler } from "../core/index.js";
import type { ClusterStore, MetaStore } from "../store/index.js";
import type { StoreHealth } from "./health.js";
import type { PeerRecord } from "./records.js";
import { parsePeer, peerKey } from "./records.js";

export interface SessionOptions {
  store: ClusterStore;
  health: StoreHealth;
  /** Keeps the lease ID (meta key of its own). */
  state: MetaStore;
  logger: Logger;
  now: () => number;
  /** This host's record, without `seenAt` (set when the record is written). */
  peer: Omit<PeerRecord, "seenAt">;
  ttlSeconds?: number;
  renewMs?: number;
  /** The renewal timer's clock (`now` above stamps the registration). */
  clock?: Clock | undefined;
}

const LEASE_META = "cluster_lease";

export class Session {
  /** The current lease, once granted. */
  lease: string | undefined;
  /** Set when another live host registered the same name (this host then stays out). */
  conflict = "";
  /** The lease the listeners last heard of. */
  private announced: string | undefined;
  private readonly listeners = new Set<(lease: string) => void>();
  /** Renews every `renewMs` from the end of the last renewal, failed or not. */
  private readonly loop: Reconciler;
  /** This host's record, without `seenAt`. */
  peer: Omit<PeerRecord, "seenAt">;

  constructor(private readonly o: SessionOptions) {
    this.peer = o.peer;
    this.loop = new Reconciler({
      pass: () => this.renew(),
      onError: (err) => o.logger.debug("cluster registration failed; retrying", { error: errorMessage(err) }),
      intervalMs: o.renewMs ?? 5_000,
      clock: o.clock,
    });
  }

  get name(): string {
    return this.peer.name;
  }

  /** Called with every new lease (the first one included). */
  onLease(listener: (lease: string) => void): void {
    this.listeners.add(listener);
  }

  start(): void {
    this.loop.start();
  }

  /** Stops renewing. The lease is left to expire: a restart within its TTL loses nothing. */
  close(): Promise<void> {
    return this.loop.close();
  }

  /** Publishes a changed record of this host (a new WireGuard key) at once. */
  updatePeer(peer: Omit<PeerRecord, "seenAt">): Promise<void> {
    this.peer = peer;
    return this.loop.flush();
  }

  /** Renews now, or joins the renewal under way (tests, and after the store came back). */
  renewNow(): Promise<void> {
    return this.loop.runNow();
  }

  private async renew(): Promise<void> {
    const { store, health, state, logger } = this.o;
    if (this.lease === undefined) {
      const kept = state.getMeta(LEASE_META);
      if (kept && (await health.track(store.keepAlive(kept))) > 0) this.lease = kept;
      else {
        this.lease = await health.track(store.grantLease(this.o.ttlSeconds ?? 15));
        state.putMeta(LEASE_META, this.lease);
      }
    } else if ((await health.track(store.keepAlive(this.lease))) <= 0) {
      logger.warning("this host's cluster lease expired; registering again");
      this.lease = await health.track(store.grantLease(this.o.ttlSeconds ?? 15));
      state.putMeta(LEASE_META, this.lease);
    }
    if (!(await this.register())) return;
    if (this.lease !== this.announced) {
      this.announced = this.lease;
      logger.info("registered in the cluster", { name: this.name, address: this.peer.address });
      for (const l of this.listeners) l(this.lease);
    }
  }

  /** Writes peers/<name>; false when a live host of another address holds the name. */
  private async register(): Promise<boolean> {
    const { store, health, logger, now } = this.o;
    const lease = this.lease ?? "";
    const key = peerKey(this.name);
    const existing = await health.track(store.get(key));
    const other = existing && parsePeer(existing.value);
    if (existing && existing.lease !== lease && other && other.address !== this.peer.address) {
      const message = `Another host (${other.address}) is registered as "${this.name}" in the cluster: give each host its own --name`;
      if (this.conflict !== message) logger.error("cannot join the cluster", { error: message });
      this.conflict = message;
      return false;
    }
    this.conflict = "";
    if (existing?.lease === lease && sameRecord(existing.value, this.peer)) return true;
    await health.track(store.put(key, JSON.stringify({ ...this.peer, seenAt: now() }), { lease }));
    return true;
  }
}

/**
 * True when `stored` (a peers/<name> value) holds `peer`, whatever its `seenAt`. A renewal rewrites
 * the record only when it changed: every write reaches every host's watch, and at 1,000 hosts a
 * rewrite per renewal would be 200 writes/s for the cluster and 200 events/s for each host.
 */
function sameRecord(stored: string, peer: Omit<PeerRecord, "seenAt">): boolean {
  const normal = (text: string) => {
    const p = parsePeer(text);
    return p && JSON.stringify({ ...p, seenAt: 0 });
  };
  return normal(stored) === normal(JSON.stringify(peer));
}
