export * from "./records.js";
export { Cluster } from "./cluster.js";
export type { ClusterOptions, ClusterStatus, PeerStatus, PeerState } from "./cluster.js";
export { ClusterIpam, poolClusterId } from "./cluster-ipam.js";
export { desiredOverlay } from "./overlay-sync.js";
export { StoreHealth } from "./health.js";
