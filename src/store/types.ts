/** Records of the local state, as the driver and IPAM see them. */

export interface IpamData {
  AddressSpace?: string;
  Pool: string;
  Gateway?: string;
  AuxAddresses?: Record<string, string>;
}

export interface NetworkRecord {
  id: string;
  bridge: string;
  mtu: number;
  internal: boolean;
  ipv4: IpamData[];
  ipv6: IpamData[];
  options: Record<string, unknown>;
  createdAt: number;
}

export interface EndpointRecord {
  id: string;
  networkId: string;
  hostIf: string;
  peerIf: string;
  mac: string;
  ipv4: string | null;
  ipv6: string | null;
  sandboxKey: string | null;
  createdAt: number;
}

export interface PoolRecord {
  id: string;
  family: 4 | 6;
  pool: string;
  subPool: string | null;
  addressSpace: string;
  options: Record<string, string>;
  replayPending: boolean;
  createdAt: number;
}

export type AddressKind = "gateway" | "endpoint";

/** A DNS record added by hand (`weave dns-add`). */
export interface DnsRecord {
  /** Absolute, lower case: `db.weave.local.`. */
  fqdn: string;
  address: string;
  /** Full container ID when the record lives and dies with a container, else "". */
  containerId: string;
  /** The weave network (by name) whose containers see it (`dns-add --net`); "" for every network. */
  network: string;
  createdAt: number;
}

/** An address block of a cluster network that this host owns (claimed in the cluster store). */
export interface BlockRecord {
  clusterId: string;
  /** CIDR, e.g. `10.32.0.16/28`. */
  block: string;
  createdAt: number;
}

/** A host port an endpoint publishes (`docker run -p`), for one address family. */
export interface PortBindingRecord {
  endpointId: string;
  proto: "tcp" | "udp";
  family: 4 | 6;
  /** "0.0.0.0" or "::" for every address of the family, else one canonical address. */
  hostIp: string;
  hostPort: number;
  containerPort: number;
  createdAt: number;
}

export interface AddressRecord {
  poolId: string;
  address: string;
  kind: AddressKind;
  replayPending: boolean;
  createdAt: number;
}

/**
 * The local state port. Every write is durable (synchronous, fsynced) when the call returns, so
 * whatever Docker told weave survives a kill -9 the moment weave answers. Writes are synchronous
 * JavaScript calls, so each one is atomic with respect to the event loop.
 */
export interface LocalState {
  listNetworks(): NetworkRecord[];
  getNetwork(id: string): NetworkRecord | undefined;
  putNetwork(n: NetworkRecord): void;
  deleteNetwork(id: string): void;

  listEndpoints(networkId?: string): EndpointRecord[];
  getEndpoint(id: string): EndpointRecord | undefined;
  putEndpoint(e: EndpointRecord): void;
  setEndpointSandbox(id: string, sandboxKey: string | null): void;
  deleteEndpoint(id: string): void;

  listPools(): PoolRecord[];
  getPool(id: string): PoolRecord | undefined;
  putPool(p: PoolRecord): void;
  deletePool(id: string): void;

  listAddresses(poolId?: string): AddressRecord[];
  getAddress(poolId: string, address: string): AddressRecord | undefined;
  putAddress(a: AddressRecord): void;
  deleteAddress(poolId: string, address: string): void;

  /** Marks every pool and address as "awaiting replay" (a new Docker engine is talking to us). */
  markAllReplayPending(): void;
  /** Clears every replay mark. */
  clearReplayPending(): void;
  setPoolReplayed(id: string): void;
  setAddressReplayed(poolId: string, address: string): void;

  listDnsRecords(): DnsRecord[];
  putDnsRecord(r: DnsRecord): void;
  deleteDnsRecord(r: Pick<DnsRecord, "fqdn" | "address" | "containerId" | "network">): boolean;
  deleteDnsRecordsOf(containerId: string): number;

  listBlocks(clusterId?: string): BlockRecord[];
  putBlock(b: BlockRecord): void;
  deleteBlock(clusterId: string, block: string): void;

  listPortBindings(endpointId?: string): PortBindingRecord[];
  /** Replaces the endpoint's bindings with `bindings` (all or nothing). */
  setPortBindings(endpointId: string, bindings: PortBindingRecord[]): void;

  getMeta(key: string): string | undefined;
  putMeta(key: string, value: string): void;

  /** Runs `fn` in one transaction; all or nothing. */
  transaction<T>(fn: () => T): T;
  close(): void;
}
