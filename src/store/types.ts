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

/*
 * The local state, split by aggregate. Each aggregate has one owner, the only component given its
 * writer; every other component gets the read-only view it needs, so the types say who writes what:
 *
 *   aggregate                   writer              owner
 *   networks and endpoints      NetworkWriter       NetworkDriver (serialised per network)
 *   pools and addresses         IpamWriter          IpamService (its own serial queue)
 *   address blocks              BlockWriter         ClusterIpam's BlockLedger (in IpamService's queue)
 *   DNS records added by hand   DnsRecordWriter     DnsRecords (daemon/dns-records.ts)
 *   published host ports        PortBindingWriter   PortPublisher (serialised per endpoint)
 *   meta                        MetaStore           one key per user: the session lease, the ULA range
 *
 * Every write is durable (synchronous, fsynced) when the call returns, so whatever Docker told
 * weave survives a kill -9 the moment weave answers. Writes are synchronous JavaScript calls, so
 * each one is atomic with respect to the event loop.
 */

/** Networks and endpoints, read-only. */
export interface NetworkReader {
  listNetworks(): NetworkRecord[];
  getNetwork(id: string): NetworkRecord | undefined;
  listEndpoints(networkId?: string): EndpointRecord[];
  getEndpoint(id: string): EndpointRecord | undefined;
}

/** Writes to networks and endpoints: the network driver's alone. */
export interface NetworkWriter {
  putNetwork(n: NetworkRecord): void;
  deleteNetwork(id: string): void;
  putEndpoint(e: EndpointRecord): void;
  setEndpointSandbox(id: string, sandboxKey: string | null): void;
  deleteEndpoint(id: string): void;
}

/** IPAM pools and addresses, read-only. */
export interface IpamReader {
  listPools(): PoolRecord[];
  getPool(id: string): PoolRecord | undefined;
  listAddresses(poolId?: string): AddressRecord[];
  getAddress(poolId: string, address: string): AddressRecord | undefined;
}

/** Writes to pools and addresses, replay marks included: IpamService's alone. */
export interface IpamWriter {
  putPool(p: PoolRecord): void;
  deletePool(id: string): void;
  putAddress(a: AddressRecord): void;
  deleteAddress(poolId: string, address: string): void;
  /** Marks every pool and address as "awaiting replay" (a new Docker engine is talking to us). */
  markAllReplayPending(): void;
  /** Clears every replay mark. */
  clearReplayPending(): void;
  setPoolReplayed(id: string): void;
  setAddressReplayed(poolId: string, address: string): void;
}

/** This host's address blocks of cluster networks, read-only. */
export interface BlockReader {
  listBlocks(clusterId?: string): BlockRecord[];
}

/** Writes to address blocks: the block ledger's alone. */
export interface BlockWriter {
  putBlock(b: BlockRecord): void;
  deleteBlock(clusterId: string, block: string): void;
}

/** DNS records added by hand, read-only. */
export interface DnsRecordReader {
  listDnsRecords(): DnsRecord[];
}

/** Writes to DNS records added by hand: DnsRecords' alone. */
export interface DnsRecordWriter {
  putDnsRecord(r: DnsRecord): void;
  deleteDnsRecord(r: Pick<DnsRecord, "fqdn" | "address" | "containerId" | "network">): boolean;
  deleteDnsRecordsOf(containerId: string): number;
}

/** Published host ports, read-only. */
export interface PortBindingReader {
  listPortBindings(endpointId?: string): PortBindingRecord[];
}

/** Writes to published host ports: the port publisher's alone. */
export interface PortBindingWriter {
  /** Replaces the endpoint's bindings with `bindings` (all or nothing). */
  setPortBindings(endpointId: string, bindings: PortBindingRecord[]): void;
}

/** Small values under a key, each key with one user. */
export interface MetaStore {
  getMeta(key: string): string | undefined;
  putMeta(key: string, value: string): void;
}

export interface Transactional {
  /** Runs `fn` in one transaction; all or nothing. */
  transaction<T>(fn: () => T): T;
}

export type NetworkStore = NetworkReader & NetworkWriter;
export type IpamStore = IpamReader & IpamWriter & Transactional;
export type BlockStore = BlockReader & BlockWriter;
export type DnsRecordStore = DnsRecordReader & DnsRecordWriter;
export type PortBindingStore = PortBindingReader & PortBindingWriter;

/**
 * The whole local state, as the SQLite adapter implements it. Only the composition roots hold it;
 * they hand each component the ports above that it needs.
 */
export interface LocalState
  extends
    NetworkReader,
    NetworkWriter,
    IpamReader,
    IpamWriter,
    BlockReader,
    BlockWriter,
    DnsRecordReader,
    DnsRecordWriter,
    PortBindingReader,
    PortBindingWriter,
    MetaStore,
    Transactional {
  close(): void;
}
