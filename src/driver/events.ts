/**
 * What the driver tells the rest of weave, as one typed stream (NetworkDriver.events). Every event
 * is emitted after the change is in the state and in the kernel, inside the network's serial queue,
 * before Docker gets its answer. Listeners must not block: they schedule their own work (weaveDNS
 * listens on new gateways, the cluster publishes endpoints and networks, the IPAM keeps a refused
 * network's pools).
 */
import type { EndpointRecord, NetworkRecord } from "../store/index.js";

export type DriverEvent =
  | { kind: "network-created"; network: NetworkRecord }
  | { kind: "network-removed"; network: NetworkRecord }
  | { kind: "endpoint-added"; endpoint: EndpointRecord }
  | { kind: "endpoint-removed"; endpoint: EndpointRecord }
  /**
   * A network was refused because another network holds its subnets (possible only after the IPAM
   * granted them again in a replay window): Docker's rollback releases of those pools follow, and
   * must not take them from the network that holds them (IpamService.expectRollback).
   */
  | { kind: "subnets-clash"; networkId: string; pools: string[] };

/**
 * The driver's side of the cluster port (src/cluster/port.ts): the cluster ID a new network is
 * bound to. Multi-host: every pool of the network bound to one ID reserved in the cluster store.
 * One host alone: the ID the IPv4 pool was reserved under, if any (a state kept from a cluster).
 */
export interface NetworkBinder {
  bindNetwork(pools: { ipv4: readonly string[]; ipv6: readonly string[] }): Promise<string | undefined>;
}
