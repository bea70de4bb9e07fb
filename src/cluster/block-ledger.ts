/**
 * This host's address blocks of cluster networks (see cluster-ipam.ts): the local list that
 * allocation uses, and the claims in the cluster store (blocks/<cluster id>/<cidr>, no lease).
 * The ledger is the blocks' one writer. It has no queue of its own: ClusterIpam calls it only
 * inside IpamService's serialisation (IpamService.exclusive), the cluster sweep's changes included,
 * so claiming, releasing and sweeping blocks never interleave with each other or with an address
 * request that waits on the store.
 */
import type { Logger } from "../core/index.js";
import { errorMessage, isWeaveError, WeaveError } from "../core/index.js";
import type { Prefix } from "../ipam/index.js";
import { containsPrefix, formatPrefix, freeBlock, parsePrefix } from "../ipam/index.js";
import type { BlockStore, ClusterStore, IpamReader, KeyValue } from "../store/index.js";
import { poolClusterId } from "../store/index.js";
import type { StoreHealth } from "./health.js";
import { blockKey, blockPrefix, keyCidr, keyParts, parseBlockClaim } from "./records.js";

export interface BlockLedgerDeps {
  /** Pools (read) and this host's blocks (written here alone). */
  state: IpamReader & BlockStore;
  store: ClusterStore;
  health: StoreHealth;
  /** This host's name. */
  host: string;
  now: () => number;
  logger: Logger;
}

/** A block's claim, as the cluster sweep lists it from the store. */
export interface ListedBlock {
  clusterId: string;
  /** CIDR, e.g. `10.32.0.16/28`. */
  block: string;
  /** The host that claimed it. */
  owner: string;
  kv: KeyValue;
}

/** How the sweep and the ledger name a local block: `<cluster id> <cidr>`. */
export const blockName = (clusterId: string, block: string): string => `${clusterId} ${block}`;

export class BlockLedger {
  constructor(private readonly d: BlockLedgerDeps) {}

  /** This host's blocks of a network, clipped to the allocation range, lowest first. */
  own(clusterId: string, range: Prefix): Prefix[] {
    const out: Prefix[] = [];
    for (const b of this.d.state.listBlocks(clusterId)) {
      const block = parsePrefix(b.block);
      if (containsPrefix(range, block)) out.push(block);
      else if (containsPrefix(block, range)) out.push(range);
    }
    return out.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  }

  owns(clusterId: string, block: Prefix): boolean {
    const text = formatPrefix(block);
    return this.d.state.listBlocks(clusterId).some((b) => b.block === text);
  }

  /** Claims the lowest block of `range` no host owns. */
  async claimNext(clusterId: string, range: Prefix, pool: string): Promise<void> {
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
  async claim(clusterId: string, block: Prefix, address: string): Promise<void> {
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

  /** Forgets every block of a network here and frees their claims (best effort: the sweep retries). */
  async releaseAll(clusterId: string): Promise<void> {
    for (const b of this.d.state.listBlocks(clusterId)) {
      this.d.state.deleteBlock(clusterId, b.block);
      await this.releaseKey(clusterId, b.block);
    }
  }

  /**
   * The cluster sweep's part for this host's blocks: the local list and the store agree. A claim
   * of ours the local list lost is taken back; a claim of ours for a network this host no longer
   * has is released; a local block of such a network is dropped; a local block whose claim is
   * missing is claimed again, or dropped (logged) when another host owns it now. `listed` are the
   * claims of networks still reserved (`reserved`, cluster IDs), listed before this call;
   * `before` names the local blocks (blockName) as they were before that listing, so a block
   * claimed since, missing from the listing, is left alone: its claim proved it ours.
   */
  async reconcile(
    listed: readonly ListedBlock[],
    before: ReadonlySet<string>,
    reserved: ReadonlySet<string>,
  ): Promise<void> {
    const { store, health, state, host, now, logger } = this.d;
    const localPools = new Set(
      state
        .listPools()
        .map(poolClusterId)
        .filter((c): c is string => !!c),
    );
    const inStore = new Map<string, string>();
    for (const { clusterId, block, owner, kv } of listed) {
      inStore.set(blockName(clusterId, block), owner);
      if (owner !== host) continue;
      if (!localPools.has(clusterId)) {
        await health.track(store.compareAndDelete(kv.key, kv.modRevision));
        continue;
      }
      if (!state.listBlocks(clusterId).some((b) => b.block === block)) {
        state.putBlock({ clusterId, block, createdAt: now() });
        logger.info("address block taken back from the cluster store", { clusterId, block });
      }
    }
    for (const b of state.listBlocks()) {
      if (!localPools.has(b.clusterId)) {
        state.deleteBlock(b.clusterId, b.block); // its pool is gone here (its key went above)
        continue;
      }
      const name = blockName(b.clusterId, b.block);
      const owner = inStore.get(name);
      if (owner === host || !before.has(name)) continue;
      if (owner === undefined && reserved.has(b.clusterId)) {
        const value = JSON.stringify({ host, createdAt: now() });
        if (await health.track(store.create(blockKey(b.clusterId, b.block), value))) continue;
      }
      state.deleteBlock(b.clusterId, b.block);
      logger.error("lost an address block to another host (was this host removed with weave rmpeer?)", {
        clusterId: b.clusterId,
        block: b.block,
        owner: owner ?? "(none: network gone)",
      });
    }
  }

  private async releaseKey(clusterId: string, block: string): Promise<void> {
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
