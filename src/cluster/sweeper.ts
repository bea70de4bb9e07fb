/**
 * Periodic clean-up of the cluster's IPAM records, run by every host for what it can decide alone:
 *  - this host's blocks: the local list (what allocation uses) and the store agree. A block the
 *    store says is ours but the state lost is taken back; a block of ours missing from the store
 *    (e.g. removed by `weave rmpeer` while this host was believed dead) is claimed again, or dropped
 *    from the local list when another host owns it now (logged: containers there may clash);
 *    a block of a network this host no longer has is released;
 *  - blocks of networks whose subnet is no longer reserved are deleted (their network is gone);
 *  - subnets this host reserved for a network that never reached the cluster (a creation that
 *    failed half way) are freed after a minute, and VXLAN IDs of networks that are gone.
 */
import { clusterIdOf, poolClusterId } from "../store/index.js";
import { BLOCKS, blockKey, keyCidr, keyParts, parseBlockClaim, poolKey, VNIS } from "./records.js";
import type { RemovalDeps } from "./network-removal.js";

/** What the sweep works with: the same as the removal of networks needs. */
export type SweepDeps = RemovalDeps;

export const ABANDONED_POOL_MS = 60_000;

export async function sweep(d: SweepDeps): Promise<void> {
  const { store, health, state, view, host, now, logger } = d;
  if (!view.synced) return;
  const localPools = new Set(
    state
      .listPools()
      .map(poolClusterId)
      .filter((c): c is string => !!c),
  );
  const reserved = new Set(view.pools().map((p) => p.clusterId));
  const published = new Set(view.networks().map((n) => n.clusterId));

  const listing = await health.track(store.list(BLOCKS));
  const inStore = new Map<string, string>();
  for (const kv of listing.items) {
    const parts = keyParts(kv.key, BLOCKS);
    const owner = parseBlockClaim(kv.value)?.host;
    if (!parts || parts.length !== 2 || !owner) continue;
    const [clusterId = "", segment = ""] = parts;
    const block = keyCidr(segment);
    if (!reserved.has(clusterId)) {
      await health.track(store.compareAndDelete(kv.key, kv.modRevision));
      logger.info("deleted a block of a network that is gone", { clusterId, block });
      continue;
    }
    inStore.set(`${clusterId} ${block}`, owner);
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
    const owner = inStore.get(`${b.clusterId} ${b.block}`);
    if (owner === host) continue;
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

  const localNetworks = new Set(
    state
      .listNetworks()
      .map(clusterIdOf)
      .filter((c): c is string => !!c),
  );
  for (const p of view.pools()) {
    if (p.host !== host || published.has(p.clusterId) || localNetworks.has(p.clusterId)) continue;
    if (now() - p.createdAt < ABANDONED_POOL_MS) continue;
    const kv = await health.track(store.get(poolKey(p.pool)));
    if (kv) await health.track(store.compareAndDelete(kv.key, kv.modRevision));
    logger.info("freed a subnet reserved for a network that never reached the cluster", { pool: p.pool });
  }
  // A VXLAN ID taken by a publication that failed half way, for a network that is gone.
  for (const kv of (await health.track(store.list(VNIS))).items) {
    if (reserved.has(kv.value) || published.has(kv.value)) continue;
    await health.track(store.compareAndDelete(kv.key, kv.modRevision));
    logger.info("freed a VXLAN ID no network uses", { vni: kv.key.slice(VNIS.length) });
  }
}
