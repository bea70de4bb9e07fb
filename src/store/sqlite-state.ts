import type Database from "better-sqlite3";
import type {
  AddressRecord,
  BlockRecord,
  DnsRecord,
  EndpointRecord,
  LocalState,
  NetworkRecord,
  PoolRecord,
  PortBindingRecord,
} from "./types.js";
import { SqlitePortBindings } from "./sqlite-ports.js";

interface NetworkRow {
  id: string;
  bridge: string;
  mtu: number;
  internal: number;
  ipv4: string;
  ipv6: string;
  options: string;
  created_at: number;
}
interface EndpointRow {
  id: string;
  network_id: string;
  host_if: string;
  peer_if: string;
  mac: string;
  ipv4: string | null;
  ipv6: string | null;
  sandbox_key: string | null;
  created_at: number;
}
interface PoolRow {
  id: string;
  family: number;
  pool: string;
  sub_pool: string | null;
  address_space: string;
  options: string;
  replay_pending: number;
  created_at: number;
}
interface BlockRow {
  cluster_id: string;
  block: string;
  created_at: number;
}
interface AddressRow {
  pool_id: string;
  address: string;
  kind: string;
  replay_pending: number;
  created_at: number;
}

const json = (v: unknown): string => JSON.stringify(v);

/** LocalState over an open, migrated database; made by {@link openSqliteState} (sqlite-open.ts). */
export class SqliteState implements LocalState {
  private readonly q;
  private readonly ports: SqlitePortBindings;

  constructor(private readonly db: Database.Database) {
    this.ports = new SqlitePortBindings(db);
    this.q = {
      listNetworks: db.prepare<[], NetworkRow>("SELECT * FROM networks ORDER BY created_at, id"),
      getNetwork: db.prepare<[string], NetworkRow>("SELECT * FROM networks WHERE id = ?"),
      putNetwork: db.prepare(
        `INSERT INTO networks (id, bridge, mtu, internal, ipv4, ipv6, options, created_at)
         VALUES (@id, @bridge, @mtu, @internal, @ipv4, @ipv6, @options, @created_at)
         ON CONFLICT(id) DO UPDATE SET bridge=excluded.bridge, mtu=excluded.mtu, internal=excluded.internal,
           ipv4=excluded.ipv4, ipv6=excluded.ipv6, options=excluded.options`,
      ),
      deleteNetwork: db.prepare("DELETE FROM networks WHERE id = ?"),
      listEndpoints: db.prepare<[], EndpointRow>("SELECT * FROM endpoints ORDER BY created_at, id"),
      listEndpointsOf: db.prepare<[string], EndpointRow>(
        "SELECT * FROM endpoints WHERE network_id = ? ORDER BY created_at, id",
      ),
      getEndpoint: db.prepare<[string], EndpointRow>("SELECT * FROM endpoints WHERE id = ?"),
      putEndpoint: db.prepare(
        `INSERT INTO endpoints (id, network_id, host_if, peer_if, mac, ipv4, ipv6, sandbox_key, created_at)
         VALUES (@id, @network_id, @host_if, @peer_if, @mac, @ipv4, @ipv6, @sandbox_key, @created_at)
         ON CONFLICT(id) DO UPDATE SET host_if=excluded.host_if, peer_if=excluded.peer_if, mac=excluded.mac,
           ipv4=excluded.ipv4, ipv6=excluded.ipv6, sandbox_key=excluded.sandbox_key`,
      ),
      setSandbox: db.prepare("UPDATE endpoints SET sandbox_key = ? WHERE id = ?"),
      deleteEndpoint: db.prepare("DELETE FROM endpoints WHERE id = ?"),
      listPools: db.prepare<[], PoolRow>("SELECT * FROM pools ORDER BY created_at, id"),
      getPool: db.prepare<[string], PoolRow>("SELECT * FROM pools WHERE id = ?"),
      putPool: db.prepare(
        `INSERT INTO pools (id, family, pool, sub_pool, address_space, options, replay_pending, created_at)
         VALUES (@id, @family, @pool, @sub_pool, @address_space, @options, @replay_pending, @created_at)
         ON CONFLICT(id) DO UPDATE SET options=excluded.options, replay_pending=excluded.replay_pending`,
      ),
      deletePool: db.prepare("DELETE FROM pools WHERE id = ?"),
      listAddresses: db.prepare<[], AddressRow>("SELECT * FROM addresses ORDER BY pool_id, created_at"),
      listAddressesOf: db.prepare<[string], AddressRow>(
        "SELECT * FROM addresses WHERE pool_id = ? ORDER BY created_at",
      ),
      getAddress: db.prepare<[string, string], AddressRow>(
        "SELECT * FROM addresses WHERE pool_id = ? AND address = ?",
      ),
      putAddress: db.prepare(
        `INSERT INTO addresses (pool_id, address, kind, replay_pending, created_at)
         VALUES (@pool_id, @address, @kind, @replay_pending, @created_at)
         ON CONFLICT(pool_id, address) DO UPDATE SET kind=excluded.kind, replay_pending=excluded.replay_pending`,
      ),
      deleteAddress: db.prepare("DELETE FROM addresses WHERE pool_id = ? AND address = ?"),
      listDns: db.prepare<
        [],
        { fqdn: string; address: string; container_id: string; network: string; created_at: number }
      >("SELECT * FROM dns_records ORDER BY fqdn, address, network"),
      putDns: db.prepare(
        `INSERT INTO dns_records (fqdn, address, container_id, network, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(fqdn, address, container_id, network) DO NOTHING`,
      ),
      deleteDns: db.prepare(
        "DELETE FROM dns_records WHERE fqdn = ? AND address = ? AND container_id = ? AND network = ?",
      ),
      deleteDnsOf: db.prepare("DELETE FROM dns_records WHERE container_id = ?"),
      listBlocks: db.prepare<[], BlockRow>("SELECT * FROM blocks ORDER BY cluster_id, block"),
      listBlocksOf: db.prepare<[string], BlockRow>(
        "SELECT * FROM blocks WHERE cluster_id = ? ORDER BY block",
      ),
      putBlock: db.prepare(
        `INSERT INTO blocks (cluster_id, block, created_at) VALUES (?, ?, ?)
         ON CONFLICT(cluster_id, block) DO NOTHING`,
      ),
      deleteBlock: db.prepare("DELETE FROM blocks WHERE cluster_id = ? AND block = ?"),
      getMeta: db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      putMeta: db.prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
      ),
      markPools: db.prepare("UPDATE pools SET replay_pending = ?"),
      markAddresses: db.prepare("UPDATE addresses SET replay_pending = ?"),
      poolReplayed: db.prepare("UPDATE pools SET replay_pending = 0 WHERE id = ?"),
      addressReplayed: db.prepare(
        "UPDATE addresses SET replay_pending = 0 WHERE pool_id = ? AND address = ?",
      ),
    };
  }

  listNetworks(): NetworkRecord[] {
    return this.q.listNetworks.all().map(toNetwork);
  }
  getNetwork(id: string): NetworkRecord | undefined {
    const row = this.q.getNetwork.get(id);
    return row && toNetwork(row);
  }
  putNetwork(n: NetworkRecord): void {
    this.q.putNetwork.run({
      id: n.id,
      bridge: n.bridge,
      mtu: n.mtu,
      internal: n.internal ? 1 : 0,
      ipv4: json(n.ipv4),
      ipv6: json(n.ipv6),
      options: json(n.options),
      created_at: n.createdAt,
    });
  }
  deleteNetwork(id: string): void {
    this.q.deleteNetwork.run(id);
  }

  listEndpoints(networkId?: string): EndpointRecord[] {
    const rows = networkId === undefined ? this.q.listEndpoints.all() : this.q.listEndpointsOf.all(networkId);
    return rows.map(toEndpoint);
  }
  getEndpoint(id: string): EndpointRecord | undefined {
    const row = this.q.getEndpoint.get(id);
    return row && toEndpoint(row);
  }
  putEndpoint(e: EndpointRecord): void {
    this.q.putEndpoint.run({
      id: e.id,
      network_id: e.networkId,
      host_if: e.hostIf,
      peer_if: e.peerIf,
      mac: e.mac,
      ipv4: e.ipv4,
      ipv6: e.ipv6,
      sandbox_key: e.sandboxKey,
      created_at: e.createdAt,
    });
  }
  setEndpointSandbox(id: string, sandboxKey: string | null): void {
    this.q.setSandbox.run(sandboxKey, id);
  }
  deleteEndpoint(id: string): void {
    this.q.deleteEndpoint.run(id);
  }

  listPools(): PoolRecord[] {
    return this.q.listPools.all().map(toPool);
  }
  getPool(id: string): PoolRecord | undefined {
    const row = this.q.getPool.get(id);
    return row && toPool(row);
  }
  putPool(p: PoolRecord): void {
    this.q.putPool.run({
      id: p.id,
      family: p.family,
      pool: p.pool,
      sub_pool: p.subPool,
      address_space: p.addressSpace,
      options: json(p.options),
      replay_pending: p.replayPending ? 1 : 0,
      created_at: p.createdAt,
    });
  }
  deletePool(id: string): void {
    this.q.deletePool.run(id);
  }

  listAddresses(poolId?: string): AddressRecord[] {
    const rows = poolId === undefined ? this.q.listAddresses.all() : this.q.listAddressesOf.all(poolId);
    return rows.map(toAddress);
  }
  getAddress(poolId: string, address: string): AddressRecord | undefined {
    const row = this.q.getAddress.get(poolId, address);
    return row && toAddress(row);
  }
  putAddress(a: AddressRecord): void {
    this.q.putAddress.run({
      pool_id: a.poolId,
      address: a.address,
      kind: a.kind,
      replay_pending: a.replayPending ? 1 : 0,
      created_at: a.createdAt,
    });
  }
  deleteAddress(poolId: string, address: string): void {
    this.q.deleteAddress.run(poolId, address);
  }

  markAllReplayPending(): void {
    this.transaction(() => {
      this.q.markPools.run(1);
      this.q.markAddresses.run(1);
    });
  }
  clearReplayPending(): void {
    this.transaction(() => {
      this.q.markPools.run(0);
      this.q.markAddresses.run(0);
    });
  }
  setPoolReplayed(id: string): void {
    this.q.poolReplayed.run(id);
  }
  setAddressReplayed(poolId: string, address: string): void {
    this.q.addressReplayed.run(poolId, address);
  }

  listDnsRecords(): DnsRecord[] {
    return this.q.listDns.all().map((r) => ({
      fqdn: r.fqdn,
      address: r.address,
      containerId: r.container_id,
      network: r.network,
      createdAt: r.created_at,
    }));
  }
  putDnsRecord(r: DnsRecord): void {
    this.q.putDns.run(r.fqdn, r.address, r.containerId, r.network, r.createdAt);
  }
  deleteDnsRecord(r: Pick<DnsRecord, "fqdn" | "address" | "containerId" | "network">): boolean {
    return this.q.deleteDns.run(r.fqdn, r.address, r.containerId, r.network).changes > 0;
  }
  deleteDnsRecordsOf(containerId: string): number {
    return this.q.deleteDnsOf.run(containerId).changes;
  }

  listBlocks(clusterId?: string): BlockRecord[] {
    const rows = clusterId === undefined ? this.q.listBlocks.all() : this.q.listBlocksOf.all(clusterId);
    return rows.map((r) => ({ clusterId: r.cluster_id, block: r.block, createdAt: r.created_at }));
  }
  putBlock(b: BlockRecord): void {
    this.q.putBlock.run(b.clusterId, b.block, b.createdAt);
  }
  deleteBlock(clusterId: string, block: string): void {
    this.q.deleteBlock.run(clusterId, block);
  }

  listPortBindings(endpointId?: string): PortBindingRecord[] {
    return this.ports.list(endpointId);
  }
  setPortBindings(endpointId: string, bindings: PortBindingRecord[]): void {
    this.ports.set(endpointId, bindings);
  }

  getMeta(key: string): string | undefined {
    return this.q.getMeta.get(key)?.value;
  }
  putMeta(key: string, value: string): void {
    this.q.putMeta.run(key, value);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toNetwork(r: NetworkRow): NetworkRecord {
  return {
    id: r.id,
    bridge: r.bridge,
    mtu: r.mtu,
    internal: r.internal === 1,
    ipv4: JSON.parse(r.ipv4) as NetworkRecord["ipv4"],
    ipv6: JSON.parse(r.ipv6) as NetworkRecord["ipv6"],
    options: JSON.parse(r.options) as Record<string, unknown>,
    createdAt: r.created_at,
  };
}
function toEndpoint(r: EndpointRow): EndpointRecord {
  return {
    id: r.id,
    networkId: r.network_id,
    hostIf: r.host_if,
    peerIf: r.peer_if,
    mac: r.mac,
    ipv4: r.ipv4,
    ipv6: r.ipv6,
    sandboxKey: r.sandbox_key,
    createdAt: r.created_at,
  };
}
function toPool(r: PoolRow): PoolRecord {
  return {
    id: r.id,
    family: r.family === 6 ? 6 : 4,
    pool: r.pool,
    subPool: r.sub_pool,
    addressSpace: r.address_space,
    options: JSON.parse(r.options) as Record<string, string>,
    replayPending: r.replay_pending === 1,
    createdAt: r.created_at,
  };
}
function toAddress(r: AddressRow): AddressRecord {
  return {
    poolId: r.pool_id,
    address: r.address,
    kind: r.kind === "gateway" ? "gateway" : "endpoint",
    replayPending: r.replay_pending === 1,
    createdAt: r.created_at,
  };
}
