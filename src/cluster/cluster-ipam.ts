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
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../core/index.js";
import { errorMessage, isWeaveError, WeaveError } from "../core/index.js";
import type { AddressRequest, IpamPort, IpamService, PoolRequest, Prefix } from "../ipam/index.js";
import {
  blockOf,
  containsAddress,
  containsPrefix,
  formatAddress,
  formatPrefix,
  freeBlock,
  GATEWAY_REQUEST,
  overlaps,
  parseAddress,
  parsePrefix,
  poolId,
} from "../ipam/index.js";
import type { ClusterStore, LocalState, PoolRecord } from "../store/index.js";
import { CLUSTER_ID_OPTION, poolClusterId } from "../store/index.js";
import type { StoreHealth } from "./health.js";
import {
  blockKey,
  blockPrefix,
  keyCidr,
  keyParts,
  parseBlockClaim,
  parsePoolClaim,
  poolKey,
  POOLS,
} from "./records.js";

export interface ClusterIpamDeps {
  ipam: IpamService;
  state: LocalState;
  store: ClusterStore;
  health: StoreHealth;
  /** This host's name. */
  host: string;
  now: () => number;
  logger: Logger;
  /** Gateway and aux addresses of a cluster network (same on every host), from the mirror. */
  sharedAddresses: (clusterId: string) => ReadonlySet<string>;
  /** True when the network of `clusterId` is published in the cluster. */
  isPublished: (clusterId: string) => boolean;
  newId?: () => string;
}

const MAX_ATTEMPTS = 10;

export class ClusterIpam implements IpamPort {
  private readonly newId: () => string;

  constructor(private readonly d: ClusterIpamDeps) {
    this.newId = d.newId ?? (() => randomBytes(8).toString("hex"));
  }

  beginReplay(): void {
    this.d.ipam.beginReplay();
  }

  async requestPool(
    req: PoolRequest,
    hostRoutes: readonly Prefix[],
  ): Promise<{ poolId: string; pool: string }> {
    const { ipam, state, store } = this.d;
    if (req.pool !== "") {
      const sub = req.subPool !== "" ? parsePrefix(req.subPool) : undefined;
      const existing = state.getPool(poolId(req.addressSpace, parsePrefix(req.pool, { strict: true }), sub));
      if (existing?.replayPending) return ipam.requestPool(req, hostRoutes);
    }
    const bound = req.options[CLUSTER_ID_OPTION];
    if (bound) {
      if (req.pool === "") {
        throw new WeaveError("WEAVE_BAD_REQUEST", `The IPAM option ${CLUSTER_ID_OPTION} needs a --subnet`);
      }
      const cidr = formatPrefix(parsePrefix(req.pool, { strict: true }));
      const claim = await this.d.health.need("check the subnet's reservation", store.get(poolKey(cidr)));
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
      return ipam.requestPool(req, hostRoutes);
    }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
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
      const res = ipam.requestPool({ ...req, options: { ...req.options, [CLUSTER_ID_OPTION]: clusterId } }, [
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
        ipam.releasePool(res.poolId);
        throw err;
      }
      if (created) {
        this.d.logger.info("subnet reserved in the cluster", { pool: res.pool, clusterId });
        return res;
      }
      ipam.releasePool(res.poolId);
      if (req.pool !== "") {
        throw new WeaveError(
          "WEAVE_IPAM_POOL_OVERLAP",
          `Subnet "${res.pool}" was just reserved by another host of the cluster`,
        );
      }
    }
    throw new WeaveError(
      "WEAVE_IPAM_EXHAUSTED",
      "Cannot reserve a subnet in the cluster: too many concurrent reservations; retry",
    );
  }

  async releasePool(id: string): Promise<void> {
    const { ipam, state, store } = this.d;
    const pool = state.getPool(id);
    // A refused duplicate's rollback: the pool, its blocks and its claim stay the live network's.
    if (ipam.isRollback(id)) return ipam.releasePool(id);
    ipam.releasePool(id);
    const clusterId = poolClusterId(pool);
    if (!pool || !clusterId) return;
    for (const b of state.listBlocks(clusterId)) {
      state.deleteBlock(clusterId, b.block);
      await this.releaseBlockKey(clusterId, b.block);
    }
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

  async requestAddress(req: AddressRequest): Promise<{ address: string }> {
    const { ipam, state } = this.d;
    const pool = state.getPool(req.poolId);
    const clusterId = poolClusterId(pool);
    if (!pool || !clusterId || req.options["RequestAddressType"] === GATEWAY_REQUEST) {
      return ipam.requestAddress(req);
    }
    const prefix = parsePrefix(pool.pool);
    const range = pool.subPool ? parsePrefix(pool.subPool) : prefix;
    if (req.address !== "") {
      const addr = parseAddress(req.address);
      const text = formatAddress(addr);
      // Replays, addresses in use and the network's shared addresses are decided locally.
      if (state.getAddress(pool.id, text) || this.d.sharedAddresses(clusterId).has(text)) {
        return ipam.requestAddress(req);
      }
      if (containsAddress(prefix, addr)) {
        const block = blockOf(range, addr.value);
        if (!this.owns(clusterId, block)) await this.claim(clusterId, block, text);
      }
      return ipam.requestAddress(req);
    }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const within = this.ownBlocks(clusterId, range);
      if (within.length > 0) {
        try {
          return ipam.requestAddress(req, within);
        } catch (err) {
          if (!isWeaveError(err, "WEAVE_IPAM_EXHAUSTED")) throw err;
        }
      }
      await this.claimNext(clusterId, range, pool.pool);
    }
    throw new WeaveError("WEAVE_IPAM_EXHAUSTED", `Cannot allocate an address in "${pool.pool}": retry`);
  }

  /**
   * A network created here: its pools were reserved one by one (RequestPool does not say which
   * network a pool is for), each with its own cluster ID. The network takes the first pool's ID and
   * the others are rebound to it, in the store and locally, so that a replica's IPAM finds every
   * subnet under the network's ID and all hosts use one set of blocks per subnet. Runs in
   * CreateNetwork, before any address of the network is handed out.
   */
  async bindNetwork(subnets: readonly string[]): Promise<string | undefined> {
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
      state.putPool({ ...pool, options: { ...pool.options, [CLUSTER_ID_OPTION]: clusterId } });
    }
    return clusterId;
  }

  releaseAddress(poolIdValue: string, address: string): void {
    this.d.ipam.releaseAddress(poolIdValue, address);
  }

  /** This host's blocks of a network, clipped to the allocation range, lowest first. */
  private ownBlocks(clusterId: string, range: Prefix): Prefix[] {
    const out: Prefix[] = [];
    for (const b of this.d.state.listBlocks(clusterId)) {
      const block = parsePrefix(b.block);
      if (containsPrefix(range, block)) out.push(block);
      else if (containsPrefix(block, range)) out.push(range);
    }
    return out.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  }

  private owns(clusterId: string, block: Prefix): boolean {
    const text = formatPrefix(block);
    return this.d.state.listBlocks(clusterId).some((b) => b.block === text);
  }

  /** Claims the lowest block of `range` no host owns. */
  private async claimNext(clusterId: string, range: Prefix, pool: string): Promise<void> {
    const listing = await this.d.health.need(
      `claim a new address block in "${pool}" (this host's blocks are full)`,
      this.d.store.list(blockPrefix(clusterId)),
    );
    const claimed: Prefix[] = [];
    for (const kv of listing.items) {
      const segment = keyParts(kv.key, blockPrefix(clusterId))?.[0];
      try {
        if (segment) claimed.push(parsePrefix(keyCidr(segment)));
      } catch {
        // Not a block key.
      }
    }
    const block = freeBlock(range, claimed);
    if (!block) {
      throw new WeaveError(
        "WEAVE_IPAM_EXHAUSTED",
        `Cannot allocate an address in "${pool}": this host's blocks are full and every other block belongs to another host (weave rmpeer frees the blocks of hosts that are gone)`,
      );
    }
    await this.claim(clusterId, block, "").catch((err: unknown) => {
      // Lost a race for this block: the next attempt lists again.
      if (!isWeaveError(err, "WEAVE_IPAM_ADDRESS_IN_USE")) throw err;
    });
  }

  /** Claims `block` for this host; WEAVE_IPAM_ADDRESS_IN_USE when another host owns it. */
  private async claim(clusterId: string, block: Prefix, address: string): Promise<void> {
    const { store, state, host, now } = this.d;
    const text = formatPrefix(block);
    const key = blockKey(clusterId, text);
    const created = await this.d.health.need(
      `claim the address block ${text}`,
      store.create(key, JSON.stringify({ host, createdAt: now() })),
    );
    let owner = host;
    if (!created)
      owner =
        parseBlockClaim((await this.d.health.need("read a block's owner", store.get(key)))?.value ?? "")
          ?.host ?? "";
    if (owner !== host) {
      throw new WeaveError(
        "WEAVE_IPAM_ADDRESS_IN_USE",
        address
          ? `Address "${address}" is in the address block ${text} of host ${owner || "(unknown)"}: give this container an address weave picks, or one of this host's blocks`
          : `The address block ${text} belongs to host ${owner}`,
      );
    }
    state.putBlock({ clusterId, block: text, createdAt: now() });
    this.d.logger.info("address block claimed", { clusterId, block: text });
  }

  private async releaseBlockKey(clusterId: string, block: string): Promise<void> {
    const { store, health, host } = this.d;
    try {
      const kv = await health.track(store.get(blockKey(clusterId, block)));
      if (kv && parseBlockClaim(kv.value)?.host === host) {
        await health.track(store.compareAndDelete(kv.key, kv.modRevision));
      }
    } catch (err) {
      this.d.logger.debug("cannot release a block now; the cluster sweep will", {
        block,
        error: errorMessage(err),
      });
    }
  }
}
