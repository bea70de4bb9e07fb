export * from "./records.js";
export { Cluster } from "./cluster.js";
export type { ClusterOptions, ClusterStatus } from "./cluster.js";
export type { PeerStatus, PeerState } from "./peers.js";
export { ClusterIpam, poolClusterId } from "./cluster-ipam.js";
export { desiredOverlay } from "./overlay-sync.js";
export { StoreHealth } from "./health.js";
