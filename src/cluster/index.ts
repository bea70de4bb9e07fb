export * from "./records.js";
export { Cluster } from "./cluster.js";
export type { ClusterOptions } from "./cluster.js";
export type { ClusterPort, ClusterStatus } from "./port.js";
export { LocalCluster, notInCluster } from "./local-cluster.js";
export type { PeerStatus, PeerState } from "./peers.js";
export { ClusterIpam } from "./cluster-ipam.js";
export { desiredOverlay } from "./overlay-sync.js";
export { StoreHealth } from "./health.js";
export {
  derivePresharedKey,
  generateKeyPair,
  KeyFile,
  peerCheck,
  publicKeyOf,
  TUNNEL_PREFIX,
  tunnelAddress,
  verifyPeerCheck,
  wireguardDeviceName,
} from "./encryption.js";
export type { KeyPair, StoredKey } from "./encryption.js";
