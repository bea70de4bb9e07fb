/**
 * IPAM across hosts. The local bookkeeping stays in IpamService (SQLite); around it:
 *  - a pool is reserved cluster-wide (pools/<cidr>, create-if-absent) with a new cluster ID, or,
 *    for a network weave replicates from another host (option weave.cluster.id), checked against
 *    that reservation;
 *  - addresses come from blocks this host owns (blocks/<cluster id>/<cidr>, create-if-absent, no
 *    lease: a block changes owner only through `weave rmpeer`). Allocation inside owned blocks is
 *    local, so a container start does not wait for the store while the host has free addresses;
 *    a new block is claimed only when they are full. An explicit address (--ip) is given when its
 *    block is this host's or free (then claimed); the network's gateway and --aux-address entries
 *    are the same on every host and never come from a block.
 * Replays (Docker re-reserving what it had after a restart) stay local.
 *
 * Every call runs inside IpamService's serialisation (IpamService.exclusive), store round trips
 * included, as the sweep's changes to the blocks do (BlockLedger): pools, addresses and blocks
 * keep one writer each, and no two of these calls interleave.
 */
import { randomBytes } from "node:crypto";
import { errorMessage, isWeaveError, WeaveError } from "../core/index.js";
import type {
  AddressRequest,
  HostRoutes,
  IpamLedger,
  IpamPort,
  IpamService,
  PoolRequest,
  Prefix,
} from "../ipam/index.js";
import {
  blockOf,
  containsAddress,
  formatAddress,
  formatPrefix,
  GATEWAY_REQUEST,
  overlaps,
  parseAddress,
  parsePrefix,
  poolId,
  routesToAvoid,
} from "../ipam/index.js";
import type { PoolRecord } from "../store/index.js";
import { CLUSTER_ID_OPTION, poolClusterId } from "../store/index.js";
import type { BlockLedgerDeps, ListedBlock } from "./block-ledger.js";
import { BlockLedger } from "./block-ledger.js";
import { keyCidr, keyParts, parsePoolClaim, poolKey, POOLS } from "./records.js";

/** Its `state`: pools (read) and this host's blocks (written by the BlockLedger alone). */
export interface ClusterIpamDeps extends BlockLedgerDeps {
  /** The owner of pools and addresses; every call here runs in its serialisation. */
  ipam: IpamService;
  /** Gateway and aux addresses of a cluster network (same on every host), from the mirror. */
  sharedAddresses: (clusterId: string) => ReadonlySet<string>;
  /** True when the network of `clusterId` is published in the cluster. */
  isPublished: (clusterId: string) => boolean;
  newId?: () => string;
}

const MAX_ATTEMPTS = 10;

export class ClusterIpam implements IpamPort {
  private readonly newId: () => string;
  private readonly blocks: BlockLedger;

  constructor(private readonly d: ClusterIpamDeps) {
    this.newId = d.newId ?? (() => randomBytes(8).toString("hex"));
    this.blocks = new BlockLedger(d);
  }

  beginReplay(): Promise<void> {
    return this.d.ipam.beginReplay();
  }

  requestPool(req: PoolRequest, hostRoutes: HostRoutes): Promise<{ poolId: string; pool: string }> {
    return this.d.ipam.exclusive(async (ledger) =>
      this.reservePool(ledger, req, await routesToAvoid(req, hostRoutes)),
    );
  }

  releasePool(id: string): Promise<void> {
    return this.d.ipam.exclusive((ledger) => this.freePool(ledger, id));
  }

  requestAddress(req: AddressRequest): Promise<{ address: string }> {
    return this.d.ipam.exclusive((ledger) => this.allocate(ledger, req));
  }

  releaseAddress(poolIdValue: string, address: string): Promise<void> {
    return this.d.ipam.releaseAddress(poolIdValue, address);
  }

  /**
   * A network created here: its pools were reserved one by one (RequestPool does not say which
   * network a pool is for), each with its own cluster ID. The network takes the first pool's ID and
   * the others are rebound to it, in the store and locally, so that a replica's IPAM finds every
   * subnet under the network's ID and all hosts use one set of blocks per subnet. Runs in
   * CreateNetwork, before any address of the network is handed out.
   */
  bindNetwork(subnets: readonly string[]): Promise<string | undefined> {
    return this.d.ipam.exclusive((ledger) => this.bind(ledger, subnets));
  }

  /** The cluster sweep's changes to this host's blocks (BlockLedger.reconcile), in turn. */
  reconcileBlocks(
    listed: readonly ListedBlock[],
    before: ReadonlySet<string>,
    reserved: ReadonlySet<string>,
  ): Promise<void> {
    return this.d.ipam.exclusive(() => this.blocks.reconcile(listed, before, reserved));
  }

  private async reservePool(
    ledger: IpamLedger,
    req: PoolRequest,
    hostRoutes: readonly Prefix[],
  ): Promise<{ poolId: string; pool: string }> {
    const { state } = this.d;
    if (req.pool !== "") {
      const sub = req.subPool !== "" ? parsePrefix(req.subPool) : undefined;
      const existing = state.getPool(poolId(req.addressSpace, parsePrefix(req.pool, { strict: true }), sub));
      if (existing?.replayPending) return ledger.requestPool(req, hostRoutes);
    }
    const bound = req.options[CLUSTER_ID_OPTION];
    if (bound) {
      await this.checkBound(req, bound);
      return ledger.requestPool(req, hostRoutes);
    }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const res = await this.reserveNew(ledger, req, hostRoutes);
      if (res) return res;
    }
    throw new WeaveError(
      "WEAVE_IPAM_EXHAUSTED",
      "Cannot reserve a subnet in the cluster: too many concurrent reservations; retry",
    );
  }

  /** A replica's pool (option weave.cluster.id): its subnet must be reserved under that ID. */
  private async checkBound(req: PoolRequest, bound: string): Promise<void> {
    if (req.pool === "") {
      throw new WeaveError("WEAVE_BAD_REQUEST", `The IPAM option ${CLUSTER_ID_OPTION} needs a --subnet`);
    }
    const cidr = formatPrefix(parsePrefix(req.pool, { strict: true }));
    const claim = await this.d.health.need("check the subnet's reservation", this.d.store.get(poolKey(cidr)));
    const parsed = claim && parsePoolClaim(claim.value);
    if (!parsed) {
      throw new WeaveError(
        "WEAVE_NOT_FOUND",
        `Subnet "${cidr}" is not reserved in the cluster (its network was removed)`,
      );
    }
    if (parsed.clusterId !== bound) {
      throw new WeaveError(
        "WEAVE_IPAM_POOL_OVERLAP",
        `Subnet "${cidr}" belongs to another network of the cluster (created on host ${parsed.host})`,
      );
    }
  }

  /**
   * One attempt to reserve a new subnet cluster-wide: undefined when another host reserved the
   * carved subnet first (try again).
   */
  private async reserveNew(
    ledger: IpamLedger,
    req: PoolRequest,
    hostRoutes: readonly Prefix[],
  ): Promise<{ poolId: string; pool: string } | undefined> {
    const { store } = this.d;
    const listing = await this.d.health.need("list the cluster's subnets", store.list(POOLS));
    const taken: { prefix: Prefix; host: string }[] = [];
    for (const kv of listing.items) {
      const segment = keyParts(kv.key, POOLS)?.[0];
      try {
        if (segment)
          taken.push({
            prefix: parsePrefix(keyCidr(segment)),
            host: parsePoolClaim(kv.value)?.host ?? "?",
          });
      } catch {
        // A damaged key: not a subnet, nothing to avoid.
      }
    }
    if (req.pool !== "") {
      const wanted = parsePrefix(req.pool, { strict: true });
      const clash = taken.find((t) => overlaps(t.prefix, wanted));
      if (clash) {
        throw new WeaveError(
          "WEAVE_IPAM_POOL_OVERLAP",
          `Subnet "${formatPrefix(wanted)}" overlaps subnet "${formatPrefix(clash.prefix)}" of another network of the cluster (created on host ${clash.host})`,
        );
      }
    }
    const clusterId = this.newId();
    const res = ledger.requestPool({ ...req, options: { ...req.options, [CLUSTER_ID_OPTION]: clusterId } }, [
      ...hostRoutes,
      ...taken.map((t) => t.prefix),
    ]);
    const value = JSON.stringify({ clusterId, host: this.d.host, createdAt: this.d.now() });
    let created: boolean;
    try {
      created = await this.d.health.need(
        "reserve the subnet cluster-wide",
        store.create(poolKey(res.pool), value),
      );
    } catch (err) {
      ledger.releasePool(res.poolId);
      throw err;
    }
    if (created) {
      this.d.logger.info("subnet reserved in the cluster", { pool: res.pool, clusterId });
      return res;
    }
    ledger.releasePool(res.poolId);
    if (req.pool !== "") {
      throw new WeaveError(
        "WEAVE_IPAM_POOL_OVERLAP",
        `Subnet "${res.pool}" was just reserved by another host of the cluster`,
      );
    }
    return undefined;
  }

  private async freePool(ledger: IpamLedger, id: string): Promise<void> {
    const { state, store } = this.d;
    const pool = state.getPool(id);
    // A refused duplicate's rollback: the pool, its blocks and its claim stay the live network's.
    if (ledger.isRollback(id)) return ledger.releasePool(id);
    ledger.releasePool(id);
    const clusterId = poolClusterId(pool);
    if (!pool || !clusterId) return;
    await this.blocks.releaseAll(clusterId);
    // A subnet reserved here for a network that never reached the cluster (creation failed) is freed.
    if (this.d.isPublished(clusterId)) return;
    try {
      const claim = await this.d.health.track(store.get(poolKey(pool.pool)));
      const parsed = claim && parsePoolClaim(claim.value);
      if (claim && parsed?.clusterId === clusterId) {
        await this.d.health.track(store.compareAndDelete(claim.key, claim.modRevision));
      }
    } catch (err) {
      this.d.logger.warning("cannot free the subnet's reservation now; the cluster sweep will", {
        pool: pool.pool,
        error: errorMessage(err),
      });
    }
  }

  private async allocate(ledger: IpamLedger, req: AddressRequest): Promise<{ address: string }> {
    const { state } = this.d;
    const pool = state.getPool(req.poolId);
    const clusterId = poolClusterId(pool);
    if (!pool || !clusterId || req.options["RequestAddressType"] === GATEWAY_REQUEST) {
      return ledger.requestAddress(req);
    }
    const prefix = parsePrefix(pool.pool);
    const range = pool.subPool ? parsePrefix(pool.subPool) : prefix;
    if (req.address !== "") {
      const addr = parseAddress(req.address);
      const text = formatAddress(addr);
      // Replays, addresses in use and the network's shared addresses are decided locally.
      if (state.getAddress(pool.id, text) || this.d.sharedAddresses(clusterId).has(text)) {
        return ledger.requestAddress(req);
      }
      if (containsAddress(prefix, addr)) {
        const block = blockOf(range, addr.value);
        if (!this.blocks.owns(clusterId, block)) await this.blocks.claim(clusterId, block, text);
      }
      return ledger.requestAddress(req);
    }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const within = this.blocks.own(clusterId, range);
      if (within.length > 0) {
        try {
          return ledger.requestAddress(req, within);
        } catch (err) {
          if (!isWeaveError(err, "WEAVE_IPAM_EXHAUSTED")) throw err;
        }
      }
      await this.blocks.claimNext(clusterId, range, pool.pool);
    }
    throw new WeaveError("WEAVE_IPAM_EXHAUSTED", `Cannot allocate an address in "${pool.pool}": retry`);
  }

  private async bind(ledger: IpamLedger, subnets: readonly string[]): Promise<string | undefined> {
    const { state, store } = this.d;
    const pools = subnets
      .map((s) => {
        try {
          const cidr = formatPrefix(parsePrefix(s));
          return state.listPools().find((p) => p.pool === cidr && poolClusterId(p));
        } catch {
          return undefined;
        }
      })
      .filter((p): p is PoolRecord => p !== undefined);
    const clusterId = poolClusterId(pools[0]);
    if (!clusterId) return undefined;
    for (const pool of pools.slice(1)) {
      const own = poolClusterId(pool);
      if (own === clusterId) continue;
      const claim = await this.d.health.need("bind the subnet to its network", store.get(poolKey(pool.pool)));
      const parsed = claim && parsePoolClaim(claim.value);
      if (!claim || !parsed || parsed.clusterId !== own) {
        throw new WeaveError("WEAVE_CONFLICT", `The reservation of subnet "${pool.pool}" changed; retry`);
      }
      const value = JSON.stringify({ ...parsed, clusterId });
      if (
        !(await this.d.health.need(
          "bind the subnet to its network",
          store.compareAndSwap(claim.key, claim.modRevision, value),
        ))
      ) {
        throw new WeaveError("WEAVE_CONFLICT", `The reservation of subnet "${pool.pool}" changed; retry`);
      }
      ledger.setPoolOption(pool.id, CLUSTER_ID_OPTION, clusterId);
    }
    return clusterId;
  }
}
