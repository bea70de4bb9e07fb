/**
 * The cluster port: everything the rest of weave asks of "the other hosts", in one interface with
 * two implementations.
 *   LocalCluster (local-cluster.ts)  a host alone (no --store): the local IPAM, nothing to publish
 *   Cluster (cluster.ts)             multi-host over a ClusterStore (etcd)
 * The composition (src/daemon/compose.ts) builds one of them and hands each consumer the slice it
 * needs: the driver binds new networks (NetworkBinder) and sends its events, the plugin routes send
 * Docker's IPAM calls to `ipam` and ask before a network is removed, the Docker sync asks how to
 * create the default network, the control API and the status page read `status()`.
 */
import type { CreateNetworkBody } from "../docker/index.js";
import type { DriverEvent, NetworkBinder } from "../driver/index.js";
import type { IpamPort } from "../ipam/index.js";
import type { PeerStatus } from "./peers.js";
import type { EncryptionStatus } from "./wireguard-layer.js";

export interface ClusterStatus {
  name: string;
  /** This host's encryption (WireGuard) as `weave status peers` shows it. */
  encryption: EncryptionStatus;
  address: string;
  store: { url: string; reachable: boolean; since: number; error: string };
  registered: boolean;
  conflicts: string[];
  peers: PeerStatus[];
  networks: { name: string; clusterId: string; vni: number; host: string }[];
}

export interface ClusterPort extends NetworkBinder {
  /** Where Docker's IpamDriver calls go: the local IPAM, or cluster-wide subnets and blocks around it. */
  readonly ipam: IpamPort;
  /** The driver's events (NetworkDriver.events): publish what changed. */
  driverEvent(event: DriverEvent): void;
  /** Before Docker removes a network here: remove it from the cluster, or refuse (the error fails the call). */
  beforeNetworkDelete(networkId: string): Promise<void>;
  /**
   * How the Docker sync creates the default network: from the cluster's record when it has one,
   * `undefined` for a new network of this host. Throws while the answer is not known yet.
   */
  defaultNetworkBody(): CreateNetworkBody | undefined;
  /** The cluster as `weave status peers` shows it; undefined on a host alone. */
  status(): ClusterStatus | undefined;
  /** `weave rotate-key`: a new WireGuard key pair, published; its public key. */
  rotateKey(): Promise<string>;
  /** `weave rmpeer NAME`: the number of address blocks released. */
  removePeer(name: string): Promise<number>;
  start(): void;
  close(): Promise<void>;
}
