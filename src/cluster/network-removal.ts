/**
 * The removal rule of cluster networks (docs/multihost.md): `docker network rm` on any host marks
 * the network's record removed (markRemoved); hosts drop their copies once their containers are gone
 * (NetworkSync); the record, its subnets, VXLAN ID and blocks are deleted once no host has
 * containers on it any more (deleteUnused). Docker ignores a driver's DeleteNetwork error, so the
 * removal cannot be refused.
 */
import type { Logger } from "../core/index.js";
import { clusterIdOf } from "../store/index.js";
import type { ClusterStore, NetworkReader } from "../store/index.js";
import type { StoreHealth } from "./health.js";
import type { ClusterNetwork } from "./records.js";
import {
  blockPrefix,
  networkKey,
  NETWORKS,
  parseClusterNetwork,
  parsePoolClaim,
  poolKey,
  vniKey,
} from "./records.js";
import type { ClusterView } from "./view.js";

export interface RemovalDeps {
  store: ClusterStore;
  health: StoreHealth;
  state: NetworkReader;
  view: ClusterView;
  host: string;
  now: () => number;
  logger: Logger;
}

/**
 * Removes a network from the cluster when Docker removes it here (the DeleteNetwork call): marks
 * its record removed. Throws WEAVE_TIMEOUT when the store is unreachable (Docker only logs it; the
 * network then comes back here when the store answers).
 */
export async function markRemoved(o: RemovalDeps, networkId: string): Promise<void> {
  const { store, state, host, now, logger } = o;
  const local = state.getNetwork(networkId);
  const clusterId = local && clusterIdOf(local);
  if (!clusterId) return;
  const call = <T>(p: Promise<T>) => o.health.need("remove the network from the cluster", p);
  for (let attempt = 0; attempt < 5; attempt++) {
    const listing = await call(store.list(NETWORKS));
    const kv = listing.items.find((i) => parseClusterNetwork(i.value)?.clusterId === clusterId);
    const record = kv && parseClusterNetwork(kv.value);
    if (!kv || !record || record.removed) return;
    const marked: ClusterNetwork = { ...record, removed: { host, at: now() } };
    if (await call(store.compareAndSwap(kv.key, kv.modRevision, JSON.stringify(marked)))) {
      logger.info(
        "network removed from the cluster; hosts drop their copies once their containers are gone",
        {
          network: record.name,
          clusterId,
        },
      );
      return;
    }
  }
}

/** Deletes the records of removed networks that no host has containers on any more. */
export async function deleteUnused(o: RemovalDeps): Promise<void> {
  const { store, health, view, logger } = o;
  const inUse = new Set(view.endpoints().map((e) => e.clusterId));
  for (const record of view.networks()) {
    if (!record.removed || inUse.has(record.clusterId)) continue;
    const kv = await health.track(store.get(networkKey(record.name)));
    if (!kv || parseClusterNetwork(kv.value)?.clusterId !== record.clusterId) continue;
    if (!(await health.track(store.compareAndDelete(kv.key, kv.modRevision)))) continue;
    const vni = await health.track(store.get(vniKey(record.vni)));
    if (vni?.value === record.clusterId) await health.track(store.compareAndDelete(vni.key, vni.modRevision));
    for (const s of [...record.ipv4, ...record.ipv6]) {
      const claim = await health.track(store.get(poolKey(s.pool)));
      if (claim && parsePoolClaim(claim.value)?.clusterId === record.clusterId) {
        await health.track(store.compareAndDelete(claim.key, claim.modRevision));
      }
    }
    for (const b of (await health.track(store.list(blockPrefix(record.clusterId)))).items) {
      await health.track(store.delete(b.key));
    }
    logger.info("network deleted from the cluster store", {
      network: record.name,
      clusterId: record.clusterId,
    });
  }
}
