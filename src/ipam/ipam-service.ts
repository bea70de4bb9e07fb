/**
 * The owner of IPAM pools and addresses: the only component that writes them (through its
 * IpamLedger). Every change runs in its one serial queue, in arrival order, so no change starts
 * while another is under way. That matters once a change spans awaits: a multi-host call
 * (ClusterIpam) waits on the cluster store between its reads and its writes, and the cluster sweep
 * changes this host's address blocks; both run inside this queue through `exclusive`. Other
 * components read pools and addresses through the state's IpamReader view.
 */
import { KeyedSerialQueue } from "../core/index.js";
import type { AddressRecord, IpamStore, NetworkReader, PoolRecord } from "../store/index.js";
import type { Prefix } from "../core/index.js";
import type { AddressRequest, IpamConfig, PoolRequest } from "./ipam-ledger.js";
import { IpamLedger } from "./ipam-ledger.js";

/** Destinations a carved pool must not overlap (the host's routes), read when they are needed. */
export type HostRoutes = () => Promise<readonly Prefix[]>;

/**
 * What the plugin routes need of an IPAM: IpamService on one host, ClusterIpam (src/cluster) in a
 * cluster, which adds the cluster-wide reservations around the same ledger. Each serialises its
 * calls itself.
 */
export interface IpamPort {
  beginReplay(): Promise<void>;
  requestPool(req: PoolRequest, hostRoutes: HostRoutes): Promise<{ poolId: string; pool: string }>;
  releasePool(id: string): Promise<void>;
  requestAddress(req: AddressRequest): Promise<{ address: string }>;
  releaseAddress(poolId: string, address: string): Promise<void>;
}

/** The routes a pool request must avoid: only a carved pool (no --subnet) reads them. */
export async function routesToAvoid(req: PoolRequest, hostRoutes: HostRoutes): Promise<readonly Prefix[]> {
  return req.pool === "" ? hostRoutes() : [];
}

const KEY = "ipam";

export class IpamService implements IpamPort {
  private readonly ledger: IpamLedger;
  private readonly queue = new KeyedSerialQueue();

  /** Clears replay marks left by a replay our own restart cut short (see IpamLedger). */
  constructor(state: IpamStore & NetworkReader, config: IpamConfig, now: () => number) {
    this.ledger = new IpamLedger(state, config, now);
  }

  /**
   * Runs `task` with the ledger, alone: after every call queued before it and before every call
   * queued after it, awaits included. ClusterIpam makes its calls this way, and the cluster sweep
   * its changes to this host's blocks. The task uses the ledger it is given; calling this service's
   * other methods from inside it would wait for the task itself.
   */
  exclusive<T>(task: (ledger: IpamLedger) => Promise<T> | T): Promise<T> {
    return this.queue.run(KEY, () => task(this.ledger));
  }

  /** A new engine registered us: opens the replay window, after the calls already queued. */
  beginReplay(): Promise<void> {
    return this.exclusive((l) => l.beginReplay());
  }

  /**
   * Reserves a pool (see IpamLedger.requestPool); `hostRoutes` is read in turn, only for a
   * carved pool. Rejects with WEAVE_BAD_REQUEST, WEAVE_IPAM_POOL_OVERLAP or WEAVE_IPAM_EXHAUSTED.
   */
  requestPool(req: PoolRequest, hostRoutes: HostRoutes): Promise<{ poolId: string; pool: string }> {
    return this.exclusive(async (l) => l.requestPool(req, await routesToAvoid(req, hostRoutes)));
  }

  releasePool(id: string): Promise<void> {
    return this.exclusive((l) => l.releasePool(id));
  }

  /** Reserves an address (see IpamLedger.requestAddress). */
  requestAddress(req: AddressRequest): Promise<{ address: string }> {
    return this.exclusive((l) => l.requestAddress(req));
  }

  releaseAddress(poolId: string, address: string): Promise<void> {
    return this.exclusive((l) => l.releaseAddress(poolId, address));
  }

  /** Re-creates a pool and its addresses from what Docker reports (see IpamLedger.adoptPool). */
  adoptPool(...args: Parameters<IpamLedger["adoptPool"]>): Promise<string> {
    return this.exclusive((l) => l.adoptPool(...args));
  }

  /**
   * Frees a pool reconciliation found unused, in turn: the decision was taken on a snapshot, so
   * a pool released and requested again before its turn stays (see IpamLedger.reclaimPool).
   */
  reclaimPool(found: Pick<PoolRecord, "id" | "createdAt">): Promise<void> {
    return this.exclusive((l) => l.reclaimPool(found));
  }

  /** Frees an address reconciliation found unused, in turn (see reclaimPool). */
  reclaimAddress(found: Pick<AddressRecord, "poolId" | "address" | "createdAt">): Promise<void> {
    return this.exclusive((l) => l.reclaimAddress(found));
  }

  /**
   * See IpamLedger.expectRollback. Runs at once, outside the queue: it only notes subnets in
   * memory, and the driver calls it before it answers Docker, so before the rollback's releases.
   */
  expectRollback(pools: readonly string[]): void {
    this.ledger.expectRollback(pools);
  }
}
