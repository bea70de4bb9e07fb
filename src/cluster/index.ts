export * from "./records.js";
export { Cluster } from "./cluster.js";
export type { ClusterOptions } from "./cluster.js";
export type { ClusterPort, ClusterStatus } from "./port.js";
export { LocalCluster, notInCluster } from "./local-cluster.js";
export type { PeerStatus, PeerState } from "./peers.js";
export { ClusterIpam } from "./cluster-ipam.js";
export { transportView } from "./transport-view.js";
export type { TransportView, RemoteNetwork, RemoteContainer } from "./transport-view.js";
export { choosePaths, OVERHEAD, transportOverhead, TRANSPORT_MODES } from "./paths.js";
export type { PeerPath, TransportMode, TransportName } from "./paths.js";
export type { Transport, TransportInput } from "./transports/transport.js";
export { vxlanTransport, vxlanNetworks } from "./transports/vxlan.js";
export { routedTransport, routedNetworks } from "./transports/routed.js";
export { noWireguard, wireguardSpec } from "./transports/wireguard.js";
export { WireguardLayer, ENCRYPTION_OFF } from "./wireguard-layer.js";
export type { EncryptionStatus, KeyStore, WireguardKeys } from "./wireguard-layer.js";
export type { TransportChoice } from "./cluster-parts.js";
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
