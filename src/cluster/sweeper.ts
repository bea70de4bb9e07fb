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
 * The sweep writes no local state itself: the blocks' owner (ClusterIpam's BlockLedger) makes the
 * changes to this host's blocks in the IPAM's serialisation, so they never interleave with an
 * address request that waits on the store.
 */
import { clusterIdOf } from "../store/index.js";
import type { BlockReader, NetworkReader } from "../store/index.js";
import type { ListedBlock } from "./block-ledger.js";
import { blockName } from "./block-ledger.js";
import type { ClusterIpam } from "./cluster-ipam.js";
import { BLOCKS, keyCidr, keyParts, parseBlockClaim, poolKey, VNIS } from "./records.js";
import type { RemovalDeps } from "./network-removal.js";

/** What the sweep works with: what the removal of networks needs, and the blocks' owner. */
export type SweepDeps = RemovalDeps & {
  /** Networks and this host's blocks, read-only. */
  state: NetworkReader & BlockReader;
  blocks: Pick<ClusterIpam, "reconcileBlocks">;
};

export const ABANDONED_POOL_MS = 60_000;

export async function sweep(d: SweepDeps): Promise<void> {
  const { store, health, state, view, host, now, logger } = d;
  if (!view.synced) return;
  const reserved = new Set(view.pools().map((p) => p.clusterId));
  const published = new Set(view.networks().map((n) => n.clusterId));

  // This host's blocks before the listing: one claimed after it is not in the listing, yet ours.
  const before = new Set(state.listBlocks().map((b) => blockName(b.clusterId, b.block)));
  const listing = await health.track(store.list(BLOCKS));
  const listed: ListedBlock[] = [];
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
    listed.push({ clusterId, block, owner, kv });
  }
  await d.blocks.reconcileBlocks(listed, before, reserved);

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
