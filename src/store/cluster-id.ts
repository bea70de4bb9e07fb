/**
 * The cluster vocabulary of local records: how a network or a pool of this host is bound to its
 * record in the cluster store. One option, `weave.cluster.id`, carries the binding everywhere:
 *  - weave passes it as a driver option and as an IPAM option when it creates a network of the
 *    cluster in this host's Docker (src/cluster/network-sync.ts);
 *  - the IPAM records it in the pool's options when the pool is reserved cluster-wide;
 *  - the driver records it, as a top-level key of the network's options, for every network of the
 *    cluster, whichever host created it.
 * A record without it belongs to this host alone.
 */
import type { NetworkRecord, PoolRecord } from "./types.js";

export const CLUSTER_ID_OPTION = "weave.cluster.id";

/** A cluster ID as weave makes them: 16 lower-case hex digits. */
export const CLUSTER_ID_PATTERN = /^[0-9a-f]{16}$/;

/** The cluster ID of a network of the cluster, undefined for a network of this host alone. */
export function clusterIdOf(n: Pick<NetworkRecord, "options">): string | undefined {
  const v = n.options[CLUSTER_ID_OPTION];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** The cluster ID a local pool was reserved under, undefined for a pool of this host alone. */
export function poolClusterId(pool: Pick<PoolRecord, "options"> | undefined): string | undefined {
  return pool?.options[CLUSTER_ID_OPTION] || undefined;
}
