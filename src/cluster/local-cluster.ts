/**
 * The cluster port of a host alone (no --store): Docker's IPAM calls go to the local IPAM, nothing
 * is published, nothing is asked of other hosts.
 */
import { WeaveError } from "../core/index.js";
import type { IpamPort } from "../ipam/index.js";
import { formatPrefix, parsePrefix } from "../ipam/index.js";
import type { PoolRecord } from "../store/index.js";
import { poolClusterId } from "../store/index.js";
import type { ClusterPort, ClusterStatus } from "./port.js";

export interface LocalClusterDeps {
  ipam: IpamPort;
  /** The IPAM's pools, read only. */
  pools: { listPools(): PoolRecord[] };
}

export class LocalCluster implements ClusterPort {
  readonly ipam: IpamPort;

  constructor(private readonly deps: LocalClusterDeps) {
    this.ipam = deps.ipam;
  }

  /**
   * The ID the network's IPv4 pool was reserved under: a state kept from a cluster this host has
   * left still binds its networks to their cluster records.
   */
  bindNetwork(pools: { ipv4: readonly string[] }): Promise<string | undefined> {
    const first = pools.ipv4[0];
    if (first === undefined) return Promise.resolve(undefined);
    let cidr: string;
    try {
      cidr = formatPrefix(parsePrefix(first));
    } catch {
      return Promise.resolve(undefined);
    }
    const pool = this.deps.pools.listPools().find((p) => p.pool === cidr && p.family === 4);
    return Promise.resolve(poolClusterId(pool));
  }

  driverEvent(): void {}

  beforeNetworkDelete(): Promise<void> {
    return Promise.resolve();
  }

  defaultNetworkBody(): undefined {
    return undefined;
  }

  status(): ClusterStatus | undefined {
    return undefined;
  }

  removePeer(_name: string): Promise<number> {
    return Promise.reject(notInCluster());
  }

  rotateKey(): Promise<string> {
    return Promise.reject(notInCluster());
  }

  start(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export function notInCluster(): WeaveError {
  return new WeaveError(
    "WEAVE_UNSUPPORTED",
    "This host is not in a cluster (weave was launched without --store)",
  );
}
