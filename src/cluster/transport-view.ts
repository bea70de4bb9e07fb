/**
 * The transport-neutral view of the cluster: for each local network that spans hosts, the containers
 * that live on other hosts and the peer that holds each one. Every transport plans from this view;
 * none of them reads the store or the driver. Pure.
 */
import { clusterIdOf } from "../store/index.js";
import type { NetworkRecord } from "../store/index.js";
import type { ClusterNetwork, PeerRecord } from "./records.js";
import type { RemoteEndpointView } from "./view.js";

/** A container on another host. */
export interface RemoteContainer {
  /** The name of the peer that holds it. */
  peer: string;
  mac: string;
  /** Plain addresses (no prefix length). */
  ipv4?: string;
  ipv6?: string;
}

/** One local network in the cluster, with its containers on other hosts. */
export interface RemoteNetwork {
  clusterId: string;
  vni: number;
  bridge: string;
  mtu: number;
  /** The network's subnets (CIDR), both families. */
  subnets: string[];
  remotes: RemoteContainer[];
  /** The peers that hold at least one of the network's containers, sorted (complete even when
   * `remotes` is a slice, except in a slice that does not change flooding: see TransportSlice). */
  peers: string[];
}

export interface TransportView {
  /** This host's name. */
  self: string;
  /** The other registered hosts. */
  peers: PeerRecord[];
  networks: RemoteNetwork[];
}

export interface ViewInputs {
  host: string;
  /** The local networks (the state's records). */
  networks: readonly NetworkRecord[];
  cluster: readonly ClusterNetwork[];
  peers: readonly PeerRecord[];
  endpoints: readonly RemoteEndpointView[];
}

const plain = (cidr: string): string => cidr.split("/")[0] ?? "";

/** The view from the cluster's records. Containers of peers that are not registered are left out. */
export function transportView(i: ViewInputs): TransportView {
  const peers = i.peers.filter((p) => p.name !== i.host);
  const registered = new Set(peers.map((p) => p.name));
  // One walk over the endpoints, grouped by network: the view costs O(endpoints), not O(networks x endpoints).
  const byNetwork = new Map<string, RemoteContainer[]>();
  for (const ep of i.endpoints) {
    if (ep.host === i.host || !registered.has(ep.host)) continue;
    let remotes = byNetwork.get(ep.clusterId);
    if (!remotes) byNetwork.set(ep.clusterId, (remotes = []));
    remotes.push(remoteContainer(ep));
  }
  const networks = localNetworks(i, (clusterId) => {
    const remotes = byNetwork.get(clusterId) ?? [];
    return { remotes, peers: [...new Set(remotes.map((r) => r.peer))].sort() };
  });
  return { self: i.host, peers, networks };
}

/** A remote endpoint as a container of the view. */
export function remoteContainer(ep: RemoteEndpointView): RemoteContainer {
  return {
    peer: ep.host,
    mac: ep.mac,
    ...(ep.ipv4 ? { ipv4: plain(ep.ipv4) } : {}),
    ...(ep.ipv6 ? { ipv6: plain(ep.ipv6) } : {}),
  };
}

/** The local networks that span hosts, with the containers `remotesOf` gives for each. */
export function localNetworks(
  i: Pick<ViewInputs, "networks" | "cluster">,
  remotesOf: (clusterId: string) => Pick<RemoteNetwork, "remotes" | "peers">,
): RemoteNetwork[] {
  const vniOf = new Map(i.cluster.map((n) => [n.clusterId, n.vni]));
  const networks: RemoteNetwork[] = [];
  for (const n of i.networks) {
    const clusterId = clusterIdOf(n);
    const vni = clusterId ? vniOf.get(clusterId) : undefined;
    if (!clusterId || vni === undefined) continue;
    const subnets = [...n.ipv4, ...n.ipv6].map((s) => s.Pool);
    networks.push({ clusterId, vni, bridge: n.bridge, mtu: n.mtu, subnets, ...remotesOf(clusterId) });
  }
  return networks;
}
